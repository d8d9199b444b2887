// An ordered parallel pipeline: one producer thread, N worker threads, and a
// consumer on the calling thread that sees items in production order.
// At most `max_in_flight` items exist at once, so memory is bounded by
// max_in_flight × item size whatever the length of the stream.
//
// The first error from any stage stops the pipeline: the producer is not
// called again, workers drain, and RunOrderedPipeline returns that error.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/status.h"

namespace casulo {

template <typename Item>
struct PipelineStages {
  // Fills `item`; returns false at the end of the stream. Called on one thread.
  std::function<Result<bool>(Item&)> produce;
  // Transforms an item; called concurrently on different items.
  std::function<Status(Item&)> work;
  // Consumes items in production order; called on the calling thread.
  std::function<Status(Item&)> consume;
};

template <typename Item>
Status RunOrderedPipeline(int workers, size_t max_in_flight, const PipelineStages<Item>& st) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<uint64_t, Item>> todo;
  std::map<uint64_t, Item> done;
  size_t in_flight = 0;
  bool produced_all = false;
  uint64_t produced = 0;
  Status error;

  auto fail = [&](Status s) {
    std::lock_guard lock(mu);
    if (error.ok()) error = std::move(s);
    cv.notify_all();
  };

  std::thread producer([&] {
    for (uint64_t seq = 0;; ++seq) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return in_flight < max_in_flight || !error.ok(); });
        if (!error.ok()) break;
        ++in_flight;
      }
      Item item{};
      Result<bool> more = st.produce(item);
      std::lock_guard lock(mu);
      if (!more.ok() || !*more) {
        --in_flight;
        if (!more.ok() && error.ok()) error = std::move(more).status();
        produced_all = true;
        produced = seq;
        cv.notify_all();
        break;
      }
      todo.emplace_back(seq, std::move(item));
      cv.notify_all();
    }
  });

  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      for (;;) {
        std::pair<uint64_t, Item> job;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return !todo.empty() || produced_all || !error.ok(); });
          if (!error.ok() || todo.empty()) return;
          job = std::move(todo.front());
          todo.pop_front();
        }
        Status s = st.work(job.second);
        if (!s.ok()) return fail(std::move(s));
        std::lock_guard lock(mu);
        done.emplace(job.first, std::move(job.second));
        cv.notify_all();
      }
    });
  }

  for (uint64_t next = 0;; ++next) {
    Item item;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] {
        return done.count(next) || (produced_all && next >= produced) || !error.ok();
      });
      if (!error.ok() || !done.count(next)) break;
      item = std::move(done[next]);
      done.erase(next);
    }
    Status s = st.consume(item);
    std::lock_guard lock(mu);
    --in_flight;
    cv.notify_all();
    if (!s.ok()) {
      if (error.ok()) error = std::move(s);
      break;
    }
  }
  {
    std::lock_guard lock(mu);
    if (error.ok() && !(produced_all)) error = Status(Code::kInternal, "pipeline ended early");
    cv.notify_all();
  }
  producer.join();
  for (auto& t : pool) t.join();
  return error;
}

}  // namespace casulo

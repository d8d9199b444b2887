// VmScheduler (engine/vm_schedule.h): the limits hold, the first VM that
// fits starts, nothing deadlocks, and a stop ends the waiting. No pool: the
// scheduler decides from placements alone.
#include "engine/vm_schedule.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <thread>

namespace casulo::engine {
namespace {

using std::chrono::milliseconds;

VmPlacement On(std::string host, std::vector<std::string> srs) { return {std::move(host), std::move(srs)}; }

// A stop that lets Next look once more, then ends it: "nothing fits now"
// shows as nullopt without waiting on a clock.
std::function<bool()> AfterOneLook() {
  auto looks = std::make_shared<int>(0);
  return [looks] { return (*looks)++ > 0; };
}

TEST(VmScheduler, OneSrSlotRunsItsVmsOneAtATime) {
  VmScheduler s({On("h1", {"sr"}), On("h2", {"sr"}), On("h3", {"other"})}, {3, 0, 1});
  EXPECT_EQ(s.Next(nullptr), 0u);
  EXPECT_EQ(s.Next(nullptr), 2u) << "VM 1 shares the busy SR; VM 2 does not";
  EXPECT_EQ(s.Next(AfterOneLook(), milliseconds(1)), std::nullopt);
  s.Done(0);
  EXPECT_EQ(s.Next(nullptr), 1u);
  EXPECT_EQ(s.Next(nullptr), std::nullopt) << "all started";
  EXPECT_EQ(s.max_running(), 2);
}

TEST(VmScheduler, PerHostAndGlobalLimits) {
  VmScheduler s({On("h1", {"a"}), On("h1", {"b"}), On("h2", {"c"}), On("", {"d"}), On("", {"e"})}, {3, 1, 0});
  EXPECT_EQ(s.Next(nullptr), 0u);
  EXPECT_EQ(s.Next(nullptr), 2u) << "h1 is full";
  EXPECT_EQ(s.Next(nullptr), 3u) << "no host: only the global limit";
  EXPECT_EQ(s.Next(AfterOneLook(), milliseconds(1)), std::nullopt) << "3 running";
  s.Done(3);
  EXPECT_EQ(s.Next(nullptr), 4u) << "VM 1 still waits for h1";
  s.Done(0);
  EXPECT_EQ(s.Next(nullptr), 1u);
  EXPECT_EQ(s.max_running(), 3);
}

TEST(VmScheduler, AVmOnSeveralSrsClaimsThemAllOrNone) {
  VmScheduler s({On("h", {"a"}), On("h", {"a", "b"}), On("h", {"b"})}, {3, 0, 1});
  EXPECT_EQ(s.Next(nullptr), 0u);
  EXPECT_EQ(s.Next(nullptr), 2u) << "VM 1 needs a, which is busy; it holds nothing of b";
  s.Done(0);
  EXPECT_EQ(s.Next(AfterOneLook(), milliseconds(1)), std::nullopt) << "b is still busy";
  s.Done(2);
  EXPECT_EQ(s.Next(nullptr), 1u);
}

TEST(VmScheduler, StopEndsTheWait) {
  VmScheduler s({On("h", {"a"}), On("h", {"a"})}, {2, 0, 1});
  EXPECT_EQ(s.Next(nullptr), 0u);
  EXPECT_EQ(s.Next([] { return true; }), std::nullopt);
}

// Worker threads over random placements: every VM starts exactly once, no
// limit is ever exceeded (checked by the workers themselves), and all of
// them finish (a deadlock would hang the test).
TEST(VmScheduler, ManyWorkersRespectEveryLimitAndFinish) {
  std::mt19937 rng(7);
  std::vector<VmPlacement> vms;
  const std::vector<std::string> hosts{"", "h1", "h2"}, srs{"a", "b", "c", "d"};
  for (int i = 0; i < 40; ++i) {
    VmPlacement p{hosts[rng() % hosts.size()], {}};
    for (const auto& sr : srs)
      if (rng() % 3 == 0) p.srs.push_back(sr);
    vms.push_back(p);
  }
  const ConcurrencyLimits limits{3, 2, 1};
  VmScheduler s(vms, limits);
  std::mutex mu;
  std::map<std::string, int> host_use, sr_use;
  int running = 0;
  std::multiset<size_t> started;
  bool violated = false;
  auto worker = [&] {
    while (auto i = s.Next(nullptr)) {
      {
        std::lock_guard l(mu);
        started.insert(*i);
        ++running;
        violated |= running > limits.total;
        if (!vms[*i].host.empty()) violated |= ++host_use[vms[*i].host] > limits.per_host;
        for (const auto& sr : vms[*i].srs) violated |= ++sr_use[sr] > limits.per_sr;
      }
      std::this_thread::yield();
      {
        std::lock_guard l(mu);
        --running;
        if (!vms[*i].host.empty()) --host_use[vms[*i].host];
        for (const auto& sr : vms[*i].srs) --sr_use[sr];
      }
      s.Done(*i);
    }
  };
  std::vector<std::thread> t;
  for (int i = 0; i < 3; ++i) t.emplace_back(worker);
  for (auto& th : t) th.join();
  EXPECT_FALSE(violated);
  EXPECT_EQ(started.size(), vms.size());
  EXPECT_EQ(std::set<size_t>(started.begin(), started.end()).size(), vms.size());
  EXPECT_LE(s.max_running(), limits.total);
}

}  // namespace
}  // namespace casulo::engine

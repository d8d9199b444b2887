#include "core/pipeline.h"

#include <gtest/gtest.h>

#include <atomic>

namespace casulo {
namespace {

TEST(Pipeline, KeepsOrderAndBoundsInFlight) {
  std::atomic<int> live{0}, peak{0};
  int next = 0;
  std::vector<int> seen;
  PipelineStages<int> st;
  st.produce = [&](int& x) -> Result<bool> {
    if (next == 1000) return false;
    x = next++;
    int l = ++live;
    int p = peak.load();
    while (l > p && !peak.compare_exchange_weak(p, l)) {
    }
    return true;
  };
  st.work = [](int& x) {
    x *= 2;
    return OkStatus();
  };
  st.consume = [&](int& x) {
    seen.push_back(x);
    --live;
    return OkStatus();
  };
  ASSERT_TRUE(RunOrderedPipeline(3, 8, st).ok());
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(seen[i], 2 * i);
  EXPECT_LE(peak.load(), 8);
}

TEST(Pipeline, FirstErrorStopsEverything) {
  int next = 0;
  PipelineStages<int> st;
  st.produce = [&](int& x) -> Result<bool> {
    x = next++;
    return true;  // endless: only the error can stop it
  };
  st.work = [](int& x) {
    return x == 50 ? Status(Code::kCorruption, "bad item") : OkStatus();
  };
  st.consume = [](int&) { return OkStatus(); };
  Status s = RunOrderedPipeline(2, 4, st);
  EXPECT_EQ(s.code(), Code::kCorruption);
}

TEST(Pipeline, ProducerAndConsumerErrors) {
  PipelineStages<int> st;
  int next = 0;
  st.produce = [&](int& x) -> Result<bool> {
    if (next == 10) return Status(Code::kIoError, "read failed");
    x = next++;
    return true;
  };
  st.work = [](int&) { return OkStatus(); };
  st.consume = [](int&) { return OkStatus(); };
  EXPECT_EQ(RunOrderedPipeline(2, 4, st).code(), Code::kIoError);
  next = 0;
  st.produce = [&](int& x) -> Result<bool> {
    if (next == 100) return false;
    x = next++;
    return true;
  };
  st.consume = [](int& x) { return x == 7 ? Status(Code::kIoError, "write") : OkStatus(); };
  EXPECT_EQ(RunOrderedPipeline(2, 4, st).code(), Code::kIoError);
  st.consume = [](int&) { return OkStatus(); };
  next = 0;
  st.produce = [&](int&) -> Result<bool> { return false; };
  EXPECT_TRUE(RunOrderedPipeline(2, 4, st).ok());
}

}  // namespace
}  // namespace casulo

// event.from / event.inject through the dispatcher.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "sim/demo.h"
#include "sim/sim.h"

namespace casulo::sim {
namespace {

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Sim::Open("");
    ASSERT_TRUE(s.ok());
    sim_ = std::move(*s);
    BuildDemoPool(sim_->store(), "citrix-8.2");
    sim_->SetUser("root", "casulo");
    session_ = sim_->Call("session.login_with_password", {"root", "casulo"})->str();
  }
  Result<XmlRpcValue> From(XmlRpcArray classes, std::string token, double timeout) {
    return sim_->Call("event.from", {session_, XmlRpcValue(std::move(classes)), token, timeout});
  }
  std::unique_ptr<Sim> sim_;
  std::string session_;
};

TEST_F(EventsTest, EmptyTokenReportsEveryObjectAsAdd) {
  auto r = From({"vm"}, "", 60.1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& events = r->Find("events")->array();
  EXPECT_EQ(events.size(), 8u);
  for (const auto& e : events) {
    EXPECT_EQ(e.Find("class")->str(), "vm");
    EXPECT_EQ(e.Find("operation")->str(), "add");
    EXPECT_TRUE(e.Find("snapshot")->is_struct());
    EXPECT_TRUE(e.Find("id")->is_string());
  }
  EXPECT_EQ(r->Find("valid_ref_counts")->Find("vm")->i(), 8);
  const std::string& token = r->Find("token")->str();
  EXPECT_EQ(token.size(), 41u);
  EXPECT_EQ(token[20], ',');
}

TEST_F(EventsTest, InjectGivesAStartingTokenAndModEvent) {
  std::string pool = sim_->store().Objects("pool").begin()->first;
  auto tok = sim_->Call("event.inject", {session_, "pool", pool});
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  auto r = From({"*"}, tok->str(), 5.0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->Find("events")->array().size(), 1u);
  const XmlRpcValue& e = r->Find("events")->array()[0];
  EXPECT_EQ(e.Find("class")->str(), "pool");
  EXPECT_EQ(e.Find("operation")->str(), "mod");
  EXPECT_EQ(e.Find("ref")->str(), pool);
}

TEST_F(EventsTest, TimeoutReturnsEmptyAndWakesOnChange) {
  std::string token = From({"VM"}, "", 0)->Find("token")->str();
  auto t0 = std::chrono::steady_clock::now();
  auto r = From({"VM"}, token, 0.2);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Find("events")->array().empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(190));
  EXPECT_EQ(r->Find("token")->str(), token);

  // A task created by another caller wakes a task/<ref> subscriber only for
  // that task; a change elsewhere does not end the wait.
  std::string vm = sim_->store().Objects("VM").begin()->first;
  std::thread other([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    (void)sim_->Call("VM.set_name_label", {session_, vm, "renamed"});
  });
  t0 = std::chrono::steady_clock::now();
  r = From({"vm/" + vm}, token, 30.0);
  other.join();
  ASSERT_TRUE(r.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ASSERT_EQ(r->Find("events")->array().size(), 1u);
  EXPECT_EQ(r->Find("events")->array()[0].Find("snapshot")->Find("name_label")->str(), "renamed");
}

TEST_F(EventsTest, TaskSubscriptionSeesCompletionAndDeletion) {
  std::string token = From({"task"}, "", 0)->Find("token")->str();
  std::string task = sim_->Call("Async.pool.sync_database", {session_})->str();
  auto r = From({"task/" + task}, token, 1.0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->Find("events")->array().size(), 1u);  // created and finished: one add
  const XmlRpcValue& e = r->Find("events")->array()[0];
  EXPECT_EQ(e.Find("operation")->str(), "add");
  EXPECT_EQ(e.Find("snapshot")->Find("status")->str(), "success");
  token = r->Find("token")->str();
  ASSERT_TRUE(sim_->Call("task.destroy", {session_, task}).ok());
  r = From({"task/" + task}, token, 1.0);
  ASSERT_EQ(r->Find("events")->array().size(), 1u);
  EXPECT_EQ(r->Find("events")->array()[0].Find("operation")->str(), "del");
  EXPECT_EQ(r->Find("events")->array()[0].Find("snapshot"), nullptr);
}

TEST_F(EventsTest, ParseFailures) {
  auto r = From({"vm"}, "garbage", 0);
  EXPECT_EQ(r.status().remote(),
            (std::vector<std::string>{"EVENT_FROM_TOKEN_PARSE_FAILURE", "garbage"}));
  r = From({"vm/a/b"}, "", 0);
  EXPECT_EQ(r.status().remote(),
            (std::vector<std::string>{"EVENT_SUBSCRIPTION_PARSE_FAILURE", "vm/a/b"}));
  r = From({"vm"}, "1,x", 0);
  EXPECT_EQ(r.status().remote()[0], "EVENT_FROM_TOKEN_PARSE_FAILURE");
}

}  // namespace
}  // namespace casulo::sim

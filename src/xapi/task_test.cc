#include "xapi/task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_transport_test.h"

namespace casulo::xapi {
namespace {

using ::testing::ElementsAre;
using testing::FakeTransport;
using testing::Script;
using std::chrono::milliseconds;

XmlRpcValue TaskRecord(const char* status, double progress, std::string result = "",
                       XmlRpcArray error_info = {}) {
  return XmlRpcValue(XmlRpcStruct{{"uuid", "t-uuid"},
                                  {"status", status},
                                  {"progress", XmlRpcValue(progress)},
                                  {"result", XmlRpcValue(std::move(result))},
                                  {"error_info", XmlRpcValue(std::move(error_info))}});
}

struct Fixture {
  std::shared_ptr<Script> script = std::make_shared<Script>();
  Session session{std::make_unique<FakeTransport>(script, "https://pool"), SessionOptions{}};
  std::vector<milliseconds> slept;
  std::vector<double> progress;
  std::atomic<bool> cancel{false};
  TaskWaitOptions wait;

  Fixture() {
    script->Ok("OpaqueRef:s");
    EXPECT_TRUE(session.Login("root", "pw").ok());
    wait.sleep = [this](milliseconds d) { slept.push_back(d); };
    wait.progress = [this](double p) { progress.push_back(p); };
    wait.cancel = &cancel;
  }
  ~Fixture() { script->Ok(""); }  // the destructor's logout
};

TEST(TaskTest, PollsWithBackoffAndParsesTheResult) {
  Fixture f;
  f.script->Ok(TaskRecord("pending", 0.0));
  f.script->Ok(TaskRecord("pending", 0.4));
  f.script->Ok(TaskRecord("pending", 0.7));
  f.script->Ok(TaskRecord("success", 1.0, "<value>OpaqueRef:snap</value>"));
  f.script->Ok("");  // task.destroy
  auto r = WaitForTask(f.session, "OpaqueRef:t", f.wait);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->str(), "OpaqueRef:snap");
  EXPECT_THAT(f.slept, ElementsAre(milliseconds(1000), milliseconds(1500), milliseconds(2250)));
  EXPECT_THAT(f.progress, ElementsAre(0.0, 0.4, 0.7, 1.0));
  EXPECT_EQ(f.script->Methods().back(), "task.destroy");
  EXPECT_EQ(f.script->calls.back().params[1].str(), "OpaqueRef:t");
}

TEST(TaskTest, EmptyAndArrayResults) {
  Fixture f;
  f.script->Ok(TaskRecord("success", 1.0, ""));
  f.script->Ok("");
  auto empty = WaitForTask(f.session, "OpaqueRef:t", f.wait);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->is_nil());
  f.script->Ok(TaskRecord("success", 1.0, "<value><array><data><value>a</value><value>b</value></data></array></value>"));
  f.script->Ok("");
  auto arr = WaitForTask(f.session, "OpaqueRef:t", f.wait);
  ASSERT_TRUE(arr.ok());
  EXPECT_EQ(arr->array().size(), 2u);
}

TEST(TaskTest, FailureCarriesErrorInfoAndTheTaskIsDestroyed) {
  Fixture f;
  f.script->Ok(TaskRecord("failure", 1.0, "", {"SR_BACKEND_FAILURE_44", "", "There is insufficient space", ""}));
  f.script->Ok("");
  auto r = WaitForTask(f.session, "OpaqueRef:t", f.wait);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kRemote);
  EXPECT_EQ(XapiCode(r.status()), "SR_BACKEND_FAILURE_44");
  EXPECT_EQ(r.status().remote().size(), 4u);
  EXPECT_EQ(f.script->Methods().back(), "task.destroy");
}

TEST(TaskTest, CancelAsksXapiAndReportsCancelled) {
  Fixture f;
  f.cancel = true;
  f.script->Ok(TaskRecord("pending", 0.1));
  f.script->Ok("");  // task.cancel
  f.script->Ok(TaskRecord("cancelled", 0.1, "", {"TASK_CANCELLED", "OpaqueRef:t"}));
  f.script->Ok("");  // task.destroy
  auto r = WaitForTask(f.session, "OpaqueRef:t", f.wait);
  EXPECT_EQ(r.status().code(), Code::kCancelled);
  EXPECT_EQ(XapiCode(r.status()), "TASK_CANCELLED");
  EXPECT_THAT(f.script->Methods(), ElementsAre("session.login_with_password", "task.get_record",
                                               "task.cancel", "task.get_record", "task.destroy"));
}

TEST(TaskTest, CancelRefusedBecauseJustFinishedStillDestroysTheTask) {
  Fixture f;
  f.cancel = true;
  f.script->Ok(TaskRecord("pending", 0.9));
  f.script->Fail({"OPERATION_NOT_ALLOWED", "task OpaqueRef:t is not pending"});  // task.cancel
  f.script->Ok("success");  // task.get_status
  f.script->Ok("");         // task.destroy
  auto r = WaitForTask(f.session, "OpaqueRef:t", f.wait);
  EXPECT_EQ(r.status().code(), Code::kCancelled);
  EXPECT_THAT(f.script->Methods(), ElementsAre("session.login_with_password", "task.get_record",
                                               "task.cancel", "task.get_status", "task.destroy"));
}

TEST(TaskTest, GoneTaskIsAnError) {
  Fixture f;
  f.script->Fail({"HANDLE_INVALID", "task", "OpaqueRef:t"});
  auto r = WaitForTask(f.session, "OpaqueRef:t", f.wait);
  EXPECT_EQ(XapiCode(r.status()), "HANDLE_INVALID");
}

TEST(RetryTest, RetriesBusyErrorsWithBackoff) {
  Fixture f;
  RetryPolicy p;
  p.sleep = [&](milliseconds d) { f.slept.push_back(d); };
  p.cancel = &f.cancel;
  f.script->Fail({"TOO_MANY_PENDING_TASKS"});
  f.script->Fail({"OTHER_OPERATION_IN_PROGRESS", "VDI", "OpaqueRef:v", "snapshot", "OpaqueRef:t"});
  f.script->Fail({"VDI_IN_USE", "OpaqueRef:v", "data_destroy"});
  f.script->Fail({"VDI_IN_USE", "OpaqueRef:v", "data_destroy"});
  f.script->Ok("");
  auto r = CallWithRetry(f.session, "VDI.data_destroy", {"OpaqueRef:v"}, p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(f.slept, ElementsAre(milliseconds(1000), milliseconds(2000), milliseconds(4000),
                                   milliseconds(5000)));
}

TEST(RetryTest, StopsOnOtherErrorsAttemptLimitAndCancel) {
  Fixture f;
  RetryPolicy p;
  p.sleep = [&](milliseconds d) { f.slept.push_back(d); };
  p.cancel = &f.cancel;
  p.max_attempts = 3;
  f.script->Fail({"VM_BAD_POWER_STATE", "OpaqueRef:vm", "halted", "running"});
  EXPECT_EQ(XapiCode(CallWithRetry(f.session, "VM.start", {}, p).status()), "VM_BAD_POWER_STATE");
  EXPECT_TRUE(f.slept.empty());

  for (int i = 0; i < 3; ++i) f.script->Fail({"TOO_MANY_PENDING_TASKS"});
  auto r = CallWithRetry(f.session, "Async.VM.snapshot", {}, p);
  EXPECT_EQ(XapiCode(r.status()), "TOO_MANY_PENDING_TASKS");
  EXPECT_THAT(r.status().ToString(), ::testing::HasSubstr("after 3 attempts"));

  f.cancel = true;
  f.script->Fail({"TOO_MANY_PENDING_TASKS"});
  EXPECT_EQ(CallWithRetry(f.session, "Async.VM.snapshot", {}, p).status().code(), Code::kCancelled);
}

}  // namespace
}  // namespace casulo::xapi

// Faults (faults.h): the spec grammar, and each RPC fault through the
// in-process dispatcher (order of checks, sync and Async. forms, counts).
#include "sim/faults.h"

#include <gtest/gtest.h>

#include "sim/demo.h"
#include "sim/sim.h"

namespace casulo::sim {
namespace {

using Desc = std::vector<std::string>;

TEST(FaultGrammar, AcceptsEveryKindAndListsThemCanonically) {
  Faults f;
  ASSERT_TRUE(f.Add("error:VM.snapshot:1:SR_BACKEND_FAILURE_44,,There is insufficient space,").ok());
  ASSERT_TRUE(f.Add("error:Async.VDI.destroy:2:OTHER_OPERATION_IN_PROGRESS,VDI,OpaqueRef:a,destroy,OpaqueRef:t").ok());
  ASSERT_TRUE(f.Add("snapshot-fails:3").ok());
  ASSERT_TRUE(f.Add("drop:/export_raw_vdi/:1M").ok());
  ASSERT_TRUE(f.Add("drop:/import_raw_vdi:4096:2").ok());
  ASSERT_TRUE(f.Add("slow:/export:2097152").ok());
  ASSERT_TRUE(f.Add("expire-sessions").ok());
  ASSERT_TRUE(f.Add("vdi-in-use:3s").ok());
  EXPECT_EQ(f.List(),
            (Desc{"error:VM.snapshot:1:SR_BACKEND_FAILURE_44,,There is insufficient space,",
                  "error:VDI.destroy:2:OTHER_OPERATION_IN_PROGRESS,VDI,OpaqueRef:a,destroy,OpaqueRef:t",
                  "error:VM.snapshot:3:SR_BACKEND_FAILURE_44,,There is insufficient space,",
                  "drop:/export_raw_vdi:1048576:1", "drop:/import_raw_vdi:4096:2",
                  "slow:/export:2097152", "expire-sessions", "vdi-in-use:3000ms"}));
  EXPECT_EQ(f.VdiInUseLinger(), std::chrono::milliseconds(3000));
  f.Clear();
  EXPECT_TRUE(f.List().empty());
  EXPECT_EQ(f.VdiInUseLinger(), std::chrono::milliseconds(0));
}

TEST(FaultGrammar, RejectsMalformedSpecsAndArmsNothingFromABadBatch) {
  Faults f;
  for (const char* bad : {"", "bogus", "error:VM.snapshot:0:X", "error:VM.snapshot:1:",
                          "error:VM.snapshot:X", "drop:export:10", "drop:/export:ten",
                          "slow:/export:0", "drop:/export:1:0", "drop:/export:1:2:3",
                          "vdi-in-use:soon", "snapshot-fails:0", "expire-sessions:1"}) {
    Status s = f.Add(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(f.AddLines("snapshot-fails\n# comment\n\nnot-a-fault\n").code(), Code::kInvalidArgument);
  EXPECT_TRUE(f.List().empty());
  ASSERT_TRUE(f.AddLines("snapshot-fails\r\n  # comment\n expire-sessions \n").ok());
  EXPECT_EQ(f.List().size(), 2u);
}

TEST(FaultGrammar, ErrorsFireTheirCountThenDisarm) {
  Faults f;
  ASSERT_TRUE(f.Add("error:VM.clean_shutdown:2:TOO_MANY_PENDING_TASKS").ok());
  EXPECT_FALSE(f.TakeError("VM.hard_shutdown"));
  EXPECT_EQ(f.TakeError("VM.clean_shutdown"), (Desc{"TOO_MANY_PENDING_TASKS"}));
  EXPECT_EQ(f.TakeError("VM.clean_shutdown"), (Desc{"TOO_MANY_PENDING_TASKS"}));
  EXPECT_FALSE(f.TakeError("VM.clean_shutdown"));
}

TEST(FaultGrammar, TransferFaultsMatchTheHandlerNotAPrefixAndCountUses) {
  Faults f;
  ASSERT_TRUE(f.Add("drop:/export:100").ok());
  ASSERT_TRUE(f.Add("slow:/export_raw_vdi:1K").ok());
  TransferFaults raw = f.TakeTransfer("/export_raw_vdi/");
  EXPECT_EQ(raw.drop_after, TransferFaults::kNever);  // "/export" is another handler
  EXPECT_EQ(raw.bytes_per_second, 1024u);
  TransferFaults xva = f.TakeTransfer("/export/");
  EXPECT_EQ(xva.drop_after, 100u);
  EXPECT_EQ(f.TakeTransfer("/export").drop_after, TransferFaults::kNever);  // used once
  EXPECT_EQ(f.TakeTransfer("/export_raw_vdi").bytes_per_second, 1024u);  // until cleared
  EXPECT_EQ(HandlerPath("/import_raw_vdi/disk.vhd"), "/import_raw_vdi");
  EXPECT_EQ(HandlerPath("/pool/xmldbdump"), "/pool/xmldbdump");
}

class FaultDispatch : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = Sim::Open("");
    ASSERT_TRUE(opened.ok());
    sim_ = std::move(opened).value();
    BuildDemoPool(sim_->store(), "citrix-8.2");
    sim_->SetUser("root", "casulo");
    session_ = Login();
    for (const auto& [ref, obj] : sim_->store().Objects("VM"))
      if (obj.record.Find("name_label")->str() == "debian-web") vm_ = ref;
    ASSERT_FALSE(vm_.empty());
  }
  std::string Login() { return sim_->Call("session.login_with_password", {"root", "casulo"})->str(); }
  Result<XmlRpcValue> Call(std::string_view m, XmlRpcArray p) {
    p.insert(p.begin(), XmlRpcValue(session_));
    return sim_->Call(m, p);
  }
  const XmlRpcValue& Task(const std::string& ref) { return *sim_->store().Find("task", ref); }
  std::unique_ptr<Sim> sim_;
  std::string session_, vm_;
};

TEST_F(FaultDispatch, SnapshotFailsWithXapisParamsThenSucceeds) {
  ASSERT_TRUE(sim_->faults().Add("snapshot-fails").ok());
  auto r = Call("VM.snapshot", {vm_, "s1"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().remote(), (Desc{"SR_BACKEND_FAILURE_44", "", "There is insufficient space", ""}));
  EXPECT_TRUE(Call("VM.snapshot", {vm_, "s2"}).ok());
}

TEST_F(FaultDispatch, MethodArityAndSessionAreCheckedFirstWithoutUsingTheFault) {
  ASSERT_TRUE(sim_->faults().Add("error:VM.snapshot:1:VM_BAD_POWER_STATE,x,halted,running").ok());
  EXPECT_EQ(Call("VM.snapshot", {vm_}).status().remote()[0], "MESSAGE_PARAMETER_COUNT_MISMATCH");
  EXPECT_EQ(sim_->Call("VM.snapshot", {"OpaqueRef:nobody", vm_, "s"}).status().remote()[0],
            "SESSION_INVALID");
  EXPECT_EQ(Call("VM.snapshot", {vm_, "s"}).status().remote(),
            (Desc{"VM_BAD_POWER_STATE", "x", "halted", "running"}));
  EXPECT_TRUE(sim_->faults().List().empty());
}

TEST_F(FaultDispatch, AsyncFormFailsTheTaskWithTheError) {
  ASSERT_TRUE(sim_->faults().Add("error:VM.snapshot:1:SR_BACKEND_FAILURE_44,,There is insufficient space,").ok());
  auto t = Call("Async.VM.snapshot", {vm_, "s"});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const XmlRpcValue& task = Task(t->str());
  EXPECT_EQ(task.Find("status")->str(), "failure");
  const auto& info = task.Find("error_info")->array();
  ASSERT_EQ(info.size(), 4u);
  EXPECT_EQ(info[0].str(), "SR_BACKEND_FAILURE_44");
  EXPECT_EQ(info[2].str(), "There is insufficient space");
  auto ok = Call("Async.VM.snapshot", {vm_, "s"});
  EXPECT_EQ(Task(ok->str()).Find("status")->str(), "success");
}

TEST_F(FaultDispatch, ExpireSessionsInvalidatesEveryCurrentSession) {
  std::string other = Login();
  ASSERT_TRUE(sim_->faults().Add("expire-sessions").ok());
  auto r = Call("VM.get_record", {vm_});
  EXPECT_EQ(r.status().remote(), (Desc{"SESSION_INVALID", session_}));
  EXPECT_EQ(sim_->Call("pool.get_all", {other}).status().remote()[0], "SESSION_INVALID");
  session_ = Login();
  EXPECT_TRUE(Call("VM.get_record", {vm_}).ok());
}

TEST_F(FaultDispatch, StatsCountCallsByWireName) {
  (void)Call("VM.get_record", {vm_});
  (void)Call("VM.get_record", {vm_});
  (void)Call("Async.VM.snapshot", {vm_, "s"});
  Json j = sim_->stats().ToJson();
  EXPECT_EQ(j["calls"]["VM.get_record"], 2);
  EXPECT_EQ(j["calls"]["Async.VM.snapshot"], 1);
  EXPECT_EQ(j["calls"]["session.login_with_password"], 1);
}

// snapshot_vms follows the snapshot VMs in the store; its max keeps the
// highest level, and a reset restarts it from the current one.
TEST_F(FaultDispatch, SnapshotVmGaugeKeepsItsMaximum) {
  auto s1 = Call("VM.snapshot", {vm_, "s1"});
  auto s2 = Call("VM.snapshot", {vm_, "s2"});
  ASSERT_TRUE(s1.ok() && s2.ok());
  ASSERT_TRUE(Call("VM.destroy", {*s2}).ok());
  Json j = sim_->stats().ToJson();
  EXPECT_EQ(j["gauges"]["snapshot_vms"]["now"], 1);
  EXPECT_EQ(j["gauges"]["snapshot_vms"]["max"], 2);
  sim_->stats().Clear();
  EXPECT_EQ(sim_->stats().ToJson()["gauges"]["snapshot_vms"]["max"], 1);
}

}  // namespace
}  // namespace casulo::sim

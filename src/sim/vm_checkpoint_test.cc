// VM.checkpoint and VM.snapshot_with_quiesce through the dispatcher
// (xapi-protocol.md §2.2, §6).
#include "ops_test_fixture.h"

namespace casulo::sim {
namespace {

using VmCheckpoint = SimOpsTest;

std::string Slurp(const std::string& path) {
  auto b = ReadFile(path);
  return b.ok() ? std::string(AsChars(*b)) : "<missing>";
}

TEST_F(VmCheckpoint, RunningVmGivesASuspendedSnapshotWithDiskCopies) {
  std::string vm = VmNamed("debian-web");
  auto r = Call("Async.VM.checkpoint", {vm, "cp"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(Str("task", r->str(), "status"), "success");
  std::string snap = Rec("VM", vm).Find("snapshots")->array().at(0).str();
  const XmlRpcValue& s = Rec("VM", snap);
  EXPECT_TRUE(s.Find("is_a_snapshot")->b());
  EXPECT_EQ(s.Find("power_state")->str(), "Suspended");
  EXPECT_EQ(s.Find("snapshot_info")->Find("power-state-at-snapshot")->str(), "Running");
  std::string image = s.Find("suspend_VDI")->str();
  EXPECT_EQ(Str("VDI", image, "type"), "suspend");
  EXPECT_EQ(Rec("VDI", image).Find("virtual_size")->i(), Rec("VM", vm).Find("memory_static_max")->i());
  int disks = 0;
  for (const auto& vbd : s.Find("VBDs")->array()) {
    const XmlRpcValue& b = Rec("VBD", vbd.str());
    if (b.Find("type")->str() != "Disk") continue;
    ++disks;
    std::string vdi = b.Find("VDI")->str();
    EXPECT_TRUE(Rec("VDI", vdi).Find("is_a_snapshot")->b());
    EXPECT_EQ(Slurp(File(vdi)), Slurp(File(Str("VDI", vdi, "snapshot_of"))));
  }
  EXPECT_EQ(disks, 2);
  EXPECT_EQ(Str("VM", vm, "power_state"), "Running") << "the VM itself is resumed";
  // The checkpoint is Suspended: hard_shutdown (allowed on snapshots) drops the image.
  Ok("VM.hard_shutdown", {snap});
  EXPECT_EQ(sim_->store().Find("VDI", image), nullptr);
}

TEST_F(VmCheckpoint, StateAndKindRules) {
  std::string halted = VmNamed("alpine-halted");
  EXPECT_EQ(Err("VM.checkpoint", {halted, "cp"}),
            (Desc{"VM_BAD_POWER_STATE", halted, "paused, suspended, running", "halted"}));
  std::string vm = VmNamed("debian-web");
  Ok("VM.add_to_blocked_operations", {vm, "checkpoint", "no"});
  EXPECT_EQ(Err("VM.checkpoint", {vm, "cp"}), (Desc{"OPERATION_BLOCKED", vm, "no"}));
  Ok("VM.remove_from_blocked_operations", {vm, "checkpoint"});
  std::string cp = Ok("VM.checkpoint", {vm, "cp"});
  EXPECT_EQ(Err("VM.checkpoint", {cp, "again"}), (Desc{"VM_IS_SNAPSHOT", cp, "checkpoint"}));
  EXPECT_EQ(Err("VM.checkpoint", {vm, 3}), (Desc{"FIELD_TYPE_ERROR", "new_name"}));
}

TEST_F(VmCheckpoint, SnapshotWithQuiesceIsRemovedFromCh81) {
  std::string vm = VmNamed("debian-web");
  EXPECT_EQ(Err("VM.snapshot_with_quiesce", {vm, "q"}), (Desc{"MESSAGE_REMOVED"}));
}

TEST_F(VmCheckpoint, SnapshotWithQuiesceNeedsTheVssConvention) {
  Open("xenserver-7.1");
  std::string vm = VmNamed("win2019");
  EXPECT_EQ(Err("VM.snapshot_with_quiesce", {vm, "q"}),
            (Desc{"VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED", vm}));
  std::string halted = VmNamed("alpine-halted");
  EXPECT_EQ(Err("VM.snapshot_with_quiesce", {halted, "q"}),
            (Desc{"VM_BAD_POWER_STATE", halted, "running", "halted"}));
  Ok("VM.add_to_other_config", {vm, "casulo-sim:vss", "true"});
  std::string snap = Ok("VM.snapshot_with_quiesce", {vm, "q"});
  const XmlRpcValue& s = Rec("VM", snap);
  EXPECT_TRUE(s.Find("is_a_snapshot")->b());
  EXPECT_EQ(s.Find("power_state")->str(), "Halted");
  EXPECT_EQ(s.Find("snapshot_info")->Find("disk-snapshot-type")->str(), "quiesced");
  EXPECT_EQ(s.Find("VBDs")->array().size(), 2u);  // 1 disk + CD
}

}  // namespace
}  // namespace casulo::sim

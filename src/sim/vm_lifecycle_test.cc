// VM.create, the power operations, blocked_operations, pool_migrate,
// update_allowed_operations and get_allowed_VBD_devices through the
// dispatcher (xapi-protocol.md §2.2).
#include "ops_test_fixture.h"

namespace casulo::sim {
namespace {

using VmLifecycle = SimOpsTest;

bool Allowed(const XmlRpcValue& vm, std::string_view op) {
  for (const auto& v : vm.Find("allowed_operations")->array())
    if (v.str() == op) return true;
  return false;
}

TEST_F(VmLifecycle, CreateTakesTheRecordAndIgnoresWhatXapiIgnores) {
  XmlRpcStruct rec{{"name_label", XmlRpcValue("[Importing…] web")},
                   {"memory_static_max", XmlRpcValue("1073741824")},  // ints may come as strings
                   {"VCPUs_max", XmlRpcValue(4)},
                   {"HVM_boot_policy", XmlRpcValue("")},
                   {"is_a_template", XmlRpcValue(false)},
                   {"blocked_operations", XmlRpcValue(XmlRpcStruct{{"start", XmlRpcValue("Importing…")}})},
                   {"other_config", XmlRpcValue(XmlRpcStruct{{"k", XmlRpcValue("v")}})},
                   {"power_state", XmlRpcValue("Running")},
                   {"actions_after_crash", XmlRpcValue("restart")},  // not in our schema: dropped
                   {"uuid", XmlRpcValue("ignored")}};
  std::string vm = Ok("VM.create", {XmlRpcValue(rec)});
  const XmlRpcValue& r = Rec("VM", vm);
  EXPECT_EQ(r.Find("name_label")->str(), "[Importing…] web");
  EXPECT_EQ(r.Find("memory_static_max")->i(), int64_t(1) << 30);
  EXPECT_EQ(r.Find("VCPUs_max")->i(), 4);
  EXPECT_EQ(r.Find("power_state")->str(), "Halted");
  EXPECT_EQ(r.Find("domain_type")->str(), "pv") << "derived from an empty HVM_boot_policy";
  EXPECT_TRUE(r.Find("blocked_operations")->members().empty()) << "VM.create ignores it";
  EXPECT_EQ(r.Find("other_config")->Find("k")->str(), "v");
  EXPECT_EQ(r.Find("other_config")->Find("mac_seed")->str().size(), 36u);
  EXPECT_NE(r.Find("uuid")->str(), "ignored");
  EXPECT_EQ(r.Find("resident_on")->str(), kNullRef);
  EXPECT_TRUE(Allowed(r, "start"));
  EXPECT_FALSE(Allowed(r, "clean_shutdown"));

  EXPECT_EQ(Err("VM.create", {XmlRpcStruct{{"VCPUs_max", XmlRpcValue("four")}}}),
            (Desc{"FIELD_TYPE_ERROR", "VCPUs_max"}));
  EXPECT_EQ(Err("VM.create", {XmlRpcValue("not a record")}), (Desc{"FIELD_TYPE_ERROR", "record"}));
  Desc d = Err("VM.create", {XmlRpcStruct{{"power_state", XmlRpcValue("Suspended")}}});
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0], "VM_BAD_POWER_STATE");
  EXPECT_EQ(d[2], "halted");
  EXPECT_EQ(d[3], "suspended");
  auto task = Call("Async.VM.create", {XmlRpcStruct{{"name_label", XmlRpcValue("a")}}});
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(Str("task", task->str(), "status"), "success");
}

TEST_F(VmLifecycle, PowerCycleFollowsTheStateRules) {
  std::string vm = VmNamed("alpine-halted");
  std::string master = sim_->store().this_host;
  EXPECT_EQ(Err("VM.clean_shutdown", {vm}), (Desc{"VM_BAD_POWER_STATE", vm, "running", "halted"}));
  EXPECT_EQ(Err("VM.hard_shutdown", {vm}),
            (Desc{"VM_BAD_POWER_STATE", vm, "paused, suspended, running", "halted"}));
  EXPECT_EQ(Err("VM.clean_reboot", {vm}), (Desc{"VM_BAD_POWER_STATE", vm, "running", "halted"}));
  EXPECT_EQ(Err("VM.start", {vm, "no", false}), (Desc{"FIELD_TYPE_ERROR", "start_paused"}));

  Ok("VM.start", {vm, false, false});
  const XmlRpcValue& r = Rec("VM", vm);
  EXPECT_EQ(r.Find("power_state")->str(), "Running");
  EXPECT_EQ(r.Find("resident_on")->str(), master);
  EXPECT_GT(r.Find("domid")->i(), 0);
  EXPECT_TRUE(Has("host", master, "resident_VMs", vm));
  for (const auto& vbd : Rec("VM", vm).Find("VBDs")->array())
    EXPECT_EQ(Rec("VBD", vbd.str()).Find("currently_attached")->b(),
              !Rec("VBD", vbd.str()).Find("empty")->b());
  for (const auto& vif : Rec("VM", vm).Find("VIFs")->array())
    EXPECT_TRUE(Rec("VIF", vif.str()).Find("currently_attached")->b());
  EXPECT_EQ(Err("VM.start", {vm, false, false}), (Desc{"VM_BAD_POWER_STATE", vm, "halted", "running"}));
  EXPECT_FALSE(Allowed(Rec("VM", vm), "start"));
  EXPECT_TRUE(Allowed(Rec("VM", vm), "clean_shutdown"));

  Ok("VM.clean_reboot", {vm});
  EXPECT_EQ(Str("VM", vm, "power_state"), "Running");
  Ok("Async.VM.clean_shutdown", {vm});
  EXPECT_EQ(Str("VM", vm, "power_state"), "Halted");
  EXPECT_EQ(Str("VM", vm, "resident_on"), kNullRef);
  EXPECT_EQ(Rec("VM", vm).Find("domid")->i(), -1);
  EXPECT_FALSE(Has("host", master, "resident_VMs", vm));
  for (const auto& vbd : Rec("VM", vm).Find("VBDs")->array())
    EXPECT_FALSE(Rec("VBD", vbd.str()).Find("currently_attached")->b());

  Ok("VM.start", {vm, true, false});
  EXPECT_EQ(Str("VM", vm, "power_state"), "Paused");
  EXPECT_EQ(Err("VM.clean_shutdown", {vm}), (Desc{"VM_BAD_POWER_STATE", vm, "running", "paused"}));
  Ok("VM.hard_shutdown", {vm});
  EXPECT_EQ(Str("VM", vm, "power_state"), "Halted");

  std::string other_host = AnyOf("host") == master ? std::next(sim_->store().Objects("host").begin())->first
                                                   : AnyOf("host");
  Ok("VM.start_on", {vm, other_host, false, false});
  EXPECT_EQ(Str("VM", vm, "resident_on"), other_host);
}

TEST_F(VmLifecycle, TemplatesAndSnapshotsDoNotStart) {
  std::string tmpl = VmNamed("debian-12-template");
  EXPECT_EQ(Err("VM.start", {tmpl, false, false}), (Desc{"VM_IS_TEMPLATE", tmpl, "start"}));
  std::string snap = Ok("VM.snapshot", {VmNamed("debian-web"), "s"});
  EXPECT_EQ(Err("VM.start", {snap, false, false}), (Desc{"VM_IS_SNAPSHOT", snap, "start"}));
  // The power state is checked before the snapshot rule (check_operation_error).
  EXPECT_EQ(Err("VM.clean_reboot", {snap}), (Desc{"VM_BAD_POWER_STATE", snap, "running", "halted"}));
  EXPECT_EQ(Err("VM.start", {"OpaqueRef:nope", false, false}), (Desc{"HANDLE_INVALID", "VM", "OpaqueRef:nope"}));
  std::string dom0 = VmNamed("Control domain on host: sim-host-1");
  ASSERT_FALSE(dom0.empty());
  EXPECT_EQ(Err("VM.clean_reboot", {dom0}),
            (Desc{"OPERATION_NOT_ALLOWED", "Operations on domain 0 are not allowed"}));
}

TEST_F(VmLifecycle, BlockedOperationsAreEnforcedFirst) {
  std::string vm = VmNamed("debian-web");
  Ok("VM.update_allowed_operations", {vm});
  EXPECT_TRUE(Allowed(Rec("VM", vm), "pool_migrate"));
  Ok("VM.add_to_blocked_operations", {vm, "clean_shutdown", "backup running"});
  Ok("VM.add_to_blocked_operations", {vm, "pool_migrate", "casulo"});
  EXPECT_EQ(Err("VM.clean_shutdown", {vm}), (Desc{"OPERATION_BLOCKED", vm, "backup running"}));
  std::string host = AnyOf("host");
  EXPECT_EQ(Err("VM.pool_migrate", {vm, host, XmlRpcStruct{}}), (Desc{"OPERATION_BLOCKED", vm, "casulo"}));
  // The blocked check comes before the power-state one.
  std::string halted = VmNamed("alpine-halted");
  Ok("VM.add_to_blocked_operations", {halted, "clean_shutdown", "x"});
  EXPECT_EQ(Err("VM.clean_shutdown", {halted}), (Desc{"OPERATION_BLOCKED", halted, "x"}));

  // The generic setter does not refresh allowed_operations; XO calls
  // update_allowed_operations for that (§2.2).
  EXPECT_TRUE(Allowed(Rec("VM", vm), "pool_migrate"));
  Ok("VM.update_allowed_operations", {vm});
  EXPECT_FALSE(Allowed(Rec("VM", vm), "pool_migrate"));
  EXPECT_FALSE(Allowed(Rec("VM", vm), "clean_shutdown"));
  EXPECT_TRUE(Allowed(Rec("VM", vm), "hard_shutdown"));

  Ok("VM.remove_from_blocked_operations", {vm, "clean_shutdown"});
  Ok("VM.clean_shutdown", {vm});
  Ok("VM.add_to_blocked_operations", {vm, "start", "Importing…"});
  EXPECT_EQ(Err("VM.start", {vm, false, false}), (Desc{"OPERATION_BLOCKED", vm, "Importing…"}));
  Ok("VM.remove_from_blocked_operations", {vm, "start"});
  Ok("VM.start", {vm, false, false});
}

TEST_F(VmLifecycle, PoolMigrateMovesARunningVm) {
  std::string vm = VmNamed("debian-web");
  std::string from = Str("VM", vm, "resident_on");
  std::string to;
  for (const auto& [ref, obj] : sim_->store().Objects("host"))
    if (ref != from) to = ref;
  Ok("VM.pool_migrate", {vm, to, XmlRpcStruct{{"live", XmlRpcValue("true")}}});
  EXPECT_EQ(Str("VM", vm, "resident_on"), to);
  EXPECT_TRUE(Has("host", to, "resident_VMs", vm));
  EXPECT_FALSE(Has("host", from, "resident_VMs", vm));
  EXPECT_EQ(Err("VM.pool_migrate", {vm, "OpaqueRef:x", XmlRpcStruct{}}),
            (Desc{"HANDLE_INVALID", "host", "OpaqueRef:x"}));
  std::string halted = VmNamed("alpine-halted");
  EXPECT_EQ(Err("VM.pool_migrate", {halted, to, XmlRpcStruct{}}),
            (Desc{"VM_BAD_POWER_STATE", halted, "running", "halted"}));
}

TEST_F(VmLifecycle, OtherOperationInProgress) {
  std::string vm = VmNamed("debian-web");
  sim_->store().Mutate("VM", vm)->Set(
      "current_operations", XmlRpcValue(XmlRpcStruct{{"OpaqueRef:task1", XmlRpcValue("snapshot")}}));
  EXPECT_EQ(Err("VM.clean_shutdown", {vm}),
            (Desc{"OTHER_OPERATION_IN_PROGRESS", "VM", vm, "snapshot", "OpaqueRef:task1"}));
  // A hard shutdown may overtake anything but another hard shutdown.
  Ok("VM.hard_shutdown", {vm});
}

TEST_F(VmLifecycle, AllowedVbdDevicesDependOnTheProduct) {
  std::string vm = VmNamed("debian-web");  // userdevices 0, 1 and the CD on 3
  auto r = Call("VM.get_allowed_VBD_devices", {vm});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->array().size(), 255u - 3);
  EXPECT_EQ(r->array()[0].str(), "2");
  EXPECT_EQ(r->array()[1].str(), "4");
  EXPECT_EQ(Err("Async.VM.get_allowed_VBD_devices", {vm}),
            (Desc{"MESSAGE_METHOD_UNKNOWN", "Async.VM.get_allowed_VBD_devices"}));
  Open("xenserver-6.5");
  r = Call("VM.get_allowed_VBD_devices", {VmNamed("debian-web")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->array().size(), 16u - 3);
  EXPECT_EQ(r->array().back().str(), "15");
}

}  // namespace
}  // namespace casulo::sim

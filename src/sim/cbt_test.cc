// CBT methods through the dispatcher: every pre-check of xapi-protocol.md
// §2.4 with its exact code and params, idempotence, Async forms, products
// without CBT (§6), and data_destroy's wait for VBDs.
#include <thread>

#include "cbt_test_util.h"
#include "core/file.h"

namespace casulo::sim {
namespace {

using V = std::vector<std::string>;

class CbtTest : public CbtFixture {};

TEST_F(CbtTest, EnableAndDisableAreIdempotentAndKeepALog) {
  std::string vdi = DiskOf("debian-web");
  std::string log = CbtLogPath(dir_->path(), Uuid(vdi));
  Ok("VDI.enable_cbt", {vdi});
  Ok("VDI.enable_cbt", {vdi});
  EXPECT_TRUE(Rec("VDI", vdi).Find("cbt_enabled")->b());
  std::string clone = Ok("VDI.clone", {vdi});  // a clone starts without CBT
  EXPECT_FALSE(Rec("VDI", clone).Find("cbt_enabled")->b());
  EXPECT_FALSE(Rec("VDI", clone).Find("is_a_snapshot")->b());
  EXPECT_TRUE(*PathExists(log));
  auto loaded = LoadCbtLog(dir_->path(), Uuid(vdi));
  ASSERT_TRUE(loaded.ok() && *loaded);
  EXPECT_EQ((*loaded)->size, uint64_t(Rec("VDI", vdi).Find("virtual_size")->i()));
  EXPECT_EQ((*loaded)->bitmap.size(), (*loaded)->blocks() / 8);
  Ok("VDI.disable_cbt", {vdi});
  Ok("VDI.disable_cbt", {vdi});
  EXPECT_FALSE(Rec("VDI", vdi).Find("cbt_enabled")->b());
  EXPECT_FALSE(*PathExists(log));
}

TEST_F(CbtTest, AsyncFormsRunInATask) {
  std::string vdi = DiskOf("debian-web");
  for (const char* m : {"Async.VDI.enable_cbt", "Async.VDI.disable_cbt"}) {
    std::string task = Ok(m, {vdi});
    EXPECT_EQ(Rec("task", task).Find("status")->str(), "success") << m;
  }
  std::string task = Ok("Async.VDI.data_destroy", {vdi});
  EXPECT_EQ(Rec("task", task).Find("status")->str(), "failure");
  EXPECT_EQ(Rec("task", task).Find("error_info")->array()[0].str(), "OPERATION_NOT_ALLOWED");
}

TEST_F(CbtTest, SnapshotsRefuseEnableAndDisable) {
  std::string snap = Ok("VDI.snapshot", {DiskOf("debian-web")});
  EXPECT_EQ(Err("VDI.enable_cbt", {snap}), (V{"OPERATION_NOT_ALLOWED", "VDI is a snapshot: " + snap}));
  EXPECT_EQ(Err("VDI.disable_cbt", {snap}), (V{"OPERATION_NOT_ALLOWED", "VDI is a snapshot: " + snap}));
}

TEST_F(CbtTest, OnlyUserAndSystemVdis) {
  std::string vdi = DiskOf("debian-web");
  sim_->store().Mutate("VDI", vdi)->Set("type", "suspend");
  EXPECT_EQ(Err("VDI.enable_cbt", {vdi}), (V{"VDI_INCOMPATIBLE_TYPE", vdi, "suspend"}));
  sim_->store().Mutate("VDI", vdi)->Set("type", "system");
  Ok("VDI.enable_cbt", {vdi});
}

// set_on_boot is not a live operation: a Halted VM's disk.
TEST_F(CbtTest, OnBootResetAndSetOnBootWhileEnabled) {
  std::string attached = DiskOf("debian-web");
  EXPECT_EQ(Err("VDI.set_on_boot", {attached, "reset"}), (V{"VDI_IN_USE", attached, "set_on_boot"}));
  std::string vdi = DiskOf("alpine-halted");
  Ok("VDI.set_on_boot", {vdi, "reset"});
  EXPECT_EQ(Err("VDI.enable_cbt", {vdi}), (V{"VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION"}));
  EXPECT_EQ(Err("VDI.disable_cbt", {vdi}), (V{"VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION"}));
  Ok("VDI.set_on_boot", {vdi, "persist"});
  Ok("VDI.enable_cbt", {vdi});
  EXPECT_EQ(Err("VDI.set_on_boot", {vdi, "reset"}), (V{"VDI_CBT_ENABLED", vdi}));
}

TEST_F(CbtTest, SrWithoutCbtCapability) {
  std::string vdi = DiskOf("debian-web");
  std::string sr = Rec("VDI", vdi).Find("SR")->str();
  sim_->store().Mutate("SR", sr)->Set("type", "rawhba");
  EXPECT_EQ(Err("VDI.enable_cbt", {vdi}), (V{"SR_OPERATION_NOT_SUPPORTED", sr}));
}

TEST_F(CbtTest, DataDestroyPreChecks) {
  std::string vdi = DiskOf("debian-web");
  EXPECT_EQ(Err("VDI.data_destroy", {vdi}), (V{"OPERATION_NOT_ALLOWED", "VDI is not a snapshot: " + vdi}));
  std::string snap = Ok("VDI.snapshot", {vdi});
  EXPECT_EQ(Err("VDI.data_destroy", {snap}), (V{"VDI_NO_CBT_METADATA", snap}));
  EXPECT_EQ(Err("VDI.data_destroy", {"OpaqueRef:nope"}), (V{"HANDLE_INVALID", "VDI", "OpaqueRef:nope"}));
}

TEST_F(CbtTest, DataDestroyMakesCbtMetadataAndRestrictsOperations) {
  std::string vdi = DiskOf("debian-web");
  Ok("VDI.enable_cbt", {vdi});
  std::string snap = Ok("VDI.snapshot", {vdi});
  EXPECT_TRUE(Rec("VDI", snap).Find("cbt_enabled")->b());
  std::string data = DiskPath(dir_->path(), Uuid(snap));
  ASSERT_TRUE(*PathExists(data));
  Ok("VDI.data_destroy", {snap});
  EXPECT_EQ(Rec("VDI", snap).Find("type")->str(), "cbt_metadata");
  EXPECT_FALSE(*PathExists(data));
  EXPECT_TRUE(*PathExists(CbtLogPath(dir_->path(), Uuid(snap))));
  Ok("VDI.data_destroy", {snap});  // idempotent on cbt_metadata
  V incompatible{"VDI_INCOMPATIBLE_TYPE", snap, "cbt_metadata"};
  EXPECT_EQ(Err("VDI.snapshot", {snap}), incompatible);
  EXPECT_EQ(Err("VDI.clone", {snap}), incompatible);
  EXPECT_EQ(Err("VDI.enable_cbt", {snap}), incompatible);
  EXPECT_EQ(Err("VDI.disable_cbt", {snap}), incompatible);
  EXPECT_EQ(Err("VDI.set_on_boot", {snap, "persist"}), incompatible);
  Ok("VDI.list_changed_blocks", {snap, Ok("VDI.snapshot", {vdi})});
  std::string log = CbtLogPath(dir_->path(), Uuid(snap));
  Ok("VDI.destroy", {snap});
  EXPECT_FALSE(*PathExists(log));
}

// A snapshot VM's VBDs keep the VDI in use: data_destroy waits up to 4 s,
// then VDI_IN_USE; XO destroys the snapshot VM first.
TEST_F(CbtTest, DataDestroyRefusesWhileAVbdRemains) {
  std::string vm = VmNamed("debian-db");
  Ok("VDI.enable_cbt", {DiskOf("debian-db")});
  std::string snap_vm = Ok("VM.snapshot", {vm, "s"});
  std::string snap_vbd = Rec("VM", snap_vm).Find("VBDs")->array()[0].str();
  std::string snap = Rec("VBD", snap_vbd).Find("VDI")->str();
  EXPECT_EQ(Err("VDI.data_destroy", {snap}), (V{"VDI_IN_USE", snap, "data_destroy"}));
  EXPECT_EQ(Rec("VDI", snap).Find("type")->str(), "user");
  Ok("VM.destroy", {snap_vm});
  Ok("VDI.data_destroy", {snap});
  EXPECT_EQ(Rec("VDI", snap).Find("type")->str(), "cbt_metadata");
}

// The wait releases the store lock: a VM.destroy from another caller during
// the wait lets data_destroy finish.
TEST_F(CbtTest, DataDestroyWaitLetsOtherCallsDestroyTheVbds) {
  std::string vm = VmNamed("debian-db");
  Ok("VDI.enable_cbt", {DiskOf("debian-db")});
  std::string snap_vm = Ok("VM.snapshot", {vm, "s"});
  std::string snap_vbd = Rec("VM", snap_vm).Find("VBDs")->array()[0].str();
  std::string snap = Rec("VBD", snap_vbd).Find("VDI")->str();
  Result<XmlRpcValue> destroyed = XmlRpcValue("");
  std::thread other([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    destroyed = sim_->Call("VM.destroy", {session_, snap_vm});
  });
  auto r = sim_->Call("VDI.data_destroy", {session_, snap});
  other.join();
  ASSERT_TRUE(destroyed.ok()) << destroyed.status().ToString();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Rec("VDI", snap).Find("type")->str(), "cbt_metadata");
}

TEST_F(CbtTest, ListChangedBlocksSameAndUnrelated) {
  std::string a = DiskOf("debian-web"), b = DiskOf("debian-db");
  Ok("VDI.enable_cbt", {a});
  Ok("VDI.enable_cbt", {b});
  std::string sa = Ok("VDI.snapshot", {a}), sb = Ok("VDI.snapshot", {b});
  const std::string msg = "Failed to calculate changed blocks for given VDIs. [opterr=";
  EXPECT_EQ(Err("VDI.list_changed_blocks", {sa, sa}),
            (V{"SR_BACKEND_FAILURE_460", "", msg + "Source and target VDI are same]", ""}));
  V unrelated{"SR_BACKEND_FAILURE_460", "", msg + "Source and target VDI are unrelated]", ""};
  EXPECT_EQ(Err("VDI.list_changed_blocks", {sa, sb}), unrelated);
  // Backwards along the chain, and to a VDI without CBT: unrelated too.
  std::string sa2 = Ok("VDI.snapshot", {a});
  EXPECT_EQ(Err("VDI.list_changed_blocks", {sa2, sa}), unrelated);
  std::string plain = Ok("VDI.snapshot", {DiskOf("win2019")});
  EXPECT_EQ(Err("VDI.list_changed_blocks", {sa, plain}), unrelated);
  EXPECT_EQ(Err("VDI.list_changed_blocks", {sa, "OpaqueRef:x"}), (V{"HANDLE_INVALID", "VDI", "OpaqueRef:x"}));
}

// The leaf of a Running VM is attached: listing up to it is not a live op.
TEST_F(CbtTest, ListChangedBlocksToAnAttachedLeafIsInUse) {
  std::string a = DiskOf("debian-web");
  Ok("VDI.enable_cbt", {a});
  std::string sa = Ok("VDI.snapshot", {a});
  EXPECT_EQ(Err("VDI.list_changed_blocks", {sa, a}), (V{"VDI_IN_USE", a, "list_changed_blocks"}));
  std::string halted = DiskOf("alpine-halted");
  Ok("VDI.enable_cbt", {halted});
  std::string sh = Ok("VDI.snapshot", {halted});
  Ok("VDI.list_changed_blocks", {sh, halted});
}

class CbtProductTest : public CbtFixture, public ::testing::WithParamInterface<const char*> {};

// XenServer 6.5 and 7.1 predate CBT (7.3): no such methods at all.
TEST_P(CbtProductTest, OldProductsHaveNoCbtMethods) {
  Open(GetParam());
  std::string vdi = DiskOf("debian-web");
  for (const char* m : {"VDI.enable_cbt", "VDI.disable_cbt", "VDI.data_destroy",
                        "Async.VDI.enable_cbt"})
    EXPECT_EQ(Err(m, {vdi}), (V{"MESSAGE_METHOD_UNKNOWN", m}));
  EXPECT_EQ(Err("VDI.list_changed_blocks", {vdi, vdi}),
            (V{"MESSAGE_METHOD_UNKNOWN", "VDI.list_changed_blocks"}));
  // The fields came with the methods: absent from records, accessors unknown.
  EXPECT_EQ(Err("VDI.get_cbt_enabled", {vdi}), (V{"MESSAGE_METHOD_UNKNOWN", "VDI.get_cbt_enabled"}));
  auto rec = sim_->Call("VDI.get_record", {session_, vdi});
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->Find("cbt_enabled"), nullptr);
  EXPECT_NE(rec->Find("virtual_size"), nullptr);
  auto nets = sim_->Call("network.get_all_records", {session_});
  ASSERT_TRUE(nets.ok());
  for (const auto& [ref, n] : nets->members()) EXPECT_EQ(n.Find("purpose"), nullptr) << ref;
  EXPECT_EQ(Err("network.add_purpose", {nets->members()[0].first, "nbd"}),
            (V{"MESSAGE_METHOD_UNKNOWN", "network.add_purpose"}));
  auto methods = sim_->Call("system.listMethods", {});
  ASSERT_TRUE(methods.ok());
  for (const auto& m : methods->array())
    for (const char* cbt : {"_cbt", "list_changed_blocks", "data_destroy", "purpose"})
      EXPECT_TRUE(m.str().find(cbt) == std::string::npos) << m.str();
  Ok("VDI.snapshot", {vdi});
}

INSTANTIATE_TEST_SUITE_P(Old, CbtProductTest, ::testing::Values("xenserver-6.5", "xenserver-7.1"));

TEST_F(CbtTest, CurrentProductsListTheMethods) {
  auto methods = sim_->Call("system.listMethods", {});
  ASSERT_TRUE(methods.ok());
  std::set<std::string> names;
  for (const auto& m : methods->array()) names.insert(m.str());
  for (const char* m : {"VDI.enable_cbt", "Async.VDI.disable_cbt", "VDI.list_changed_blocks",
                        "Async.VDI.data_destroy"})
    EXPECT_TRUE(names.count(m)) << m;
}

}  // namespace
}  // namespace casulo::sim

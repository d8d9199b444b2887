// VM.clone through the dispatcher (xapi_vm_clone.ml, Disk_op_clone): disks
// cloned with their data, a new top-level VM with new MACs, the power-state
// rule.
#include "core/file.h"
#include "ops_test_fixture.h"

namespace casulo::sim {
namespace {

using VmClone = SimOpsTest;

TEST_F(VmClone, CloneOfATemplateCopiesItsDisksAndMakesNewMacs) {
  std::string tmpl = VmNamed("debian-12-template");
  std::string vm = Ok("VM.clone", {tmpl, "web-a"});
  ASSERT_FALSE(vm.empty());
  const XmlRpcValue& r = Rec("VM", vm);
  EXPECT_EQ(r.Find("name_label")->str(), "web-a");
  EXPECT_TRUE(r.Find("is_a_template")->b())
      << "a clone of a template is a template until made a VM";
  EXPECT_FALSE(r.Find("is_a_snapshot")->b());
  EXPECT_EQ(r.Find("parent")->str(), kNullRef);
  EXPECT_EQ(r.Find("power_state")->str(), "Halted");
  EXPECT_EQ(r.Find("other_config")->Find("base_template_name")->str(), "debian-12-template");
  EXPECT_EQ(r.Find("other_config")->Find("mac_seed")->str().size(), 36u);

  size_t disks = 0;
  for (const auto& v : r.Find("VBDs")->array()) {
    const XmlRpcValue& vbd = Rec("VBD", v.str());
    EXPECT_EQ(vbd.Find("VM")->str(), vm);
    if (vbd.Find("type")->str() != "Disk") continue;
    ++disks;
    std::string vdi = vbd.Find("VDI")->str();
    EXPECT_TRUE(Has("VDI", vdi, "VBDs", v.str()));
    EXPECT_FALSE(Rec("VDI", vdi).Find("is_a_snapshot")->b());
    EXPECT_FALSE(Rec("VDI", vdi).Find("cbt_enabled")->b());
    EXPECT_EQ(vbd.Find("other_config")->Find("owner")->str(), "");
    // The template's disk: same size and data, another file.
    std::string orig;
    for (const auto& t : Rec("VM", tmpl).Find("VBDs")->array())
      if (Rec("VBD", t.str()).Find("type")->str() == "Disk")
        orig = Rec("VBD", t.str()).Find("VDI")->str();
    EXPECT_NE(vdi, orig);
    EXPECT_EQ(Rec("VDI", vdi).Find("virtual_size")->i(),
              Rec("VDI", orig).Find("virtual_size")->i());
    auto a = ReadFile(File(vdi)), b = ReadFile(File(orig));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(*a == *b) << "the clone holds the template's data";
  }
  EXPECT_EQ(disks, 1u);
  ASSERT_EQ(r.Find("VIFs")->array().size(), Rec("VM", tmpl).Find("VIFs")->array().size());
  const XmlRpcValue& vif = Rec("VIF", r.Find("VIFs")->array()[0].str());
  const XmlRpcValue& old = Rec("VIF", Rec("VM", tmpl).Find("VIFs")->array()[0].str());
  EXPECT_NE(vif.Find("MAC")->str(), old.Find("MAC")->str());
  EXPECT_EQ(vif.Find("network")->str(), old.Find("network")->str());

  // Made a VM, it can be started; two clones are independent.
  Ok("VM.set_is_a_template", {vm, XmlRpcValue(false)});
  std::string vm2 = Ok("VM.clone", {tmpl, "web-b"});
  EXPECT_NE(vm2, vm);
  EXPECT_NE(Rec("VM", vm2).Find("other_config")->Find("mac_seed")->str(),
            r.Find("other_config")->Find("mac_seed")->str());
}

TEST_F(VmClone, RunningVmCannotBeCloned) {
  std::string vm = VmNamed("debian-db");
  size_t vdis = sim_->store().Objects("VDI").size();
  EXPECT_EQ(Err("VM.clone", {vm, "copy"}), (Desc{"VM_BAD_POWER_STATE", vm, "halted", "running"}));
  EXPECT_EQ(sim_->store().Objects("VDI").size(), vdis) << "nothing made";
  EXPECT_EQ(Err("VM.clone", {vm, XmlRpcValue(int64_t{3})}), (Desc{"FIELD_TYPE_ERROR", "new_name"}));
}

}  // namespace
}  // namespace casulo::sim

// VM.snapshot / VM.destroy / VDI.snapshot / VDI.destroy through the
// dispatcher, with disk files in a temporary state dir.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "sim/demo.h"
#include "sim/disks.h"
#include "sim/sim.h"

namespace casulo::sim {
namespace {

class VmOpsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open("citrix-8.2"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Open(const char* product) {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    char tmpl[] = "/tmp/casulo-sim-vm-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto s = Sim::Open(dir_);
    ASSERT_TRUE(s.ok());
    sim_ = std::move(*s);
    BuildDemoPool(sim_->store(), product);
    ASSERT_TRUE(CreateDemoDisks(sim_->store(), dir_).ok());
    sim_->SetUser("root", "casulo");
    session_ = sim_->Call("session.login_with_password", {"root", "casulo"})->str();
  }
  std::string VmNamed(std::string_view name) {
    for (const auto& [ref, obj] : sim_->store().Objects("VM"))
      if (obj.record.Find("name_label")->str() == name) return ref;
    return "";
  }
  Result<XmlRpcValue> Call(std::string_view m, XmlRpcArray p) {
    p.insert(p.begin(), XmlRpcValue(session_));
    return sim_->Call(m, p);
  }
  const XmlRpcValue& Rec(std::string_view cls, const std::string& ref) {
    return *sim_->store().Find(cls, ref);
  }
  std::string File(const std::string& vdi) { return DiskPath(dir_, UuidOf(Rec("VDI", vdi))); }
  std::string dir_;
  std::unique_ptr<Sim> sim_;
  std::string session_;
};

std::string Slurp(const std::string& path) {
  auto b = ReadFile(path);
  return b.ok() ? std::string(AsChars(*b)) : "<missing>";
}

TEST_F(VmOpsTest, SnapshotOfRunningVmCopiesDisksAndIsATemplate) {
  std::string vm = VmNamed("debian-web");
  auto r = Call("VM.snapshot", {vm, "before upgrade"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string snap = r->str();
  const XmlRpcValue& s = Rec("VM", snap);
  EXPECT_TRUE(s.Find("is_a_snapshot")->b());
  EXPECT_TRUE(s.Find("is_a_template")->b());
  EXPECT_EQ(s.Find("power_state")->str(), "Halted");
  EXPECT_EQ(s.Find("snapshot_of")->str(), vm);
  EXPECT_EQ(s.Find("name_label")->str(), "before upgrade");
  EXPECT_EQ(s.Find("snapshot_info")->Find("power-state-at-snapshot")->str(), "Running");
  EXPECT_EQ(Rec("VM", vm).Find("snapshots")->array(), (XmlRpcArray{XmlRpcValue(snap)}));
  EXPECT_EQ(s.Find("VBDs")->array().size(), 3u);  // 2 disks + CD
  EXPECT_EQ(s.Find("VIFs")->array().size(), 1u);
  int disks = 0;
  for (const auto& vbd : s.Find("VBDs")->array()) {
    const XmlRpcValue& b = Rec("VBD", vbd.str());
    if (b.Find("type")->str() != "Disk") continue;
    ++disks;
    std::string vdi = b.Find("VDI")->str();
    const XmlRpcValue& d = Rec("VDI", vdi);
    EXPECT_TRUE(d.Find("is_a_snapshot")->b());
    std::string orig = d.Find("snapshot_of")->str();
    EXPECT_NE(orig, vdi);
    EXPECT_EQ(Slurp(File(vdi)), Slurp(File(orig)));
    EXPECT_NE(Slurp(File(vdi)).find("casulo-sim demo disk"), std::string::npos);
  }
  EXPECT_EQ(disks, 2);
}

TEST_F(VmOpsTest, DestroyRulesAndVdisSurvive) {
  std::string vm = VmNamed("debian-web");
  EXPECT_EQ(Call("VM.destroy", {vm}).status().remote(),
            (std::vector<std::string>{"VM_BAD_POWER_STATE", vm, "halted, suspended", "running"}));
  std::string snap = Call("VM.snapshot", {vm, "s"})->str();
  XmlRpcArray vbds = Rec("VM", snap).Find("VBDs")->array();
  std::string vdi;
  for (const auto& v : vbds)
    if (Rec("VBD", v.str()).Find("type")->str() == "Disk") vdi = Rec("VBD", v.str()).Find("VDI")->str();
  EXPECT_EQ(Call("VDI.destroy", {vdi}).status().remote(),
            (std::vector<std::string>{"VDI_IN_USE", vdi, "destroy"}));
  EXPECT_EQ(Call("VM.snapshot", {snap, "x"}).status().remote(),
            (std::vector<std::string>{"VM_IS_SNAPSHOT", snap, "snapshot"}));
  ASSERT_TRUE(Call("VM.destroy", {snap}).ok());
  EXPECT_EQ(sim_->store().Find("VM", snap), nullptr);
  EXPECT_TRUE(Rec("VM", vm).Find("snapshots")->array().empty());
  for (const auto& v : vbds) EXPECT_EQ(sim_->store().Find("VBD", v.str()), nullptr);
  ASSERT_NE(sim_->store().Find("VDI", vdi), nullptr);  // VDIs are not destroyed
  EXPECT_TRUE(Rec("VDI", vdi).Find("VBDs")->array().empty());
  std::string path = File(vdi);
  EXPECT_TRUE(*PathExists(path));
  ASSERT_TRUE(Call("VDI.destroy", {vdi}).ok());
  EXPECT_FALSE(*PathExists(path));
  EXPECT_EQ(Call("VDI.destroy", {vdi}).status().remote()[0], "HANDLE_INVALID");
}

TEST_F(VmOpsTest, IgnoreVdisOnlyWhereTheProductHasIt) {
  std::string vm = VmNamed("debian-web");
  EXPECT_EQ(Call("VM.snapshot", {vm, "s", XmlRpcArray{}}).status().remote()[0],
            "MESSAGE_PARAMETER_COUNT_MISMATCH");
  Open("xcp-ng-8.3");
  vm = VmNamed("debian-web");
  std::string first_disk;
  for (const auto& v : Rec("VM", vm).Find("VBDs")->array())
    if (Rec("VBD", v.str()).Find("userdevice")->str() == "0") first_disk = Rec("VBD", v.str()).Find("VDI")->str();
  auto r = Call("Async.VM.snapshot", {vm, "s", XmlRpcArray{XmlRpcValue(first_disk)}});
  ASSERT_TRUE(r.ok());
  const XmlRpcValue& task = Rec("task", r->str());
  ASSERT_EQ(task.Find("status")->str(), "success");
  auto parsed = formats::ParseXmlRpcValue(task.Find("result")->str());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(Rec("VM", parsed->str()).Find("VBDs")->array().size(), 2u);  // 1 disk + CD
}

}  // namespace
}  // namespace casulo::sim

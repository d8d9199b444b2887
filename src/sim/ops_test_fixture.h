// The fixture of the dispatcher-level tests of vm_lifecycle.cc,
// vm_checkpoint.cc, vdi_ops.cc and vbd_vif.cc: an in-process Sim over the
// demo pool of a product, with its disk files in a temporary state dir.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "sim/demo.h"
#include "sim/disks.h"
#include "sim/sim.h"

namespace casulo::sim {

class SimOpsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open("citrix-8.2"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Open(const char* product) {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    char tmpl[] = "/tmp/casulo-sim-ops-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto s = Sim::Open(dir_);
    ASSERT_TRUE(s.ok());
    sim_ = std::move(*s);
    BuildDemoPool(sim_->store(), product);
    ASSERT_TRUE(CreateDemoDisks(sim_->store(), dir_).ok());
    sim_->SetUser("root", "casulo");
    session_ = sim_->Call("session.login_with_password", {"root", "casulo"})->str();
  }
  std::string Named(std::string_view cls, std::string_view name) {
    for (const auto& [ref, obj] : sim_->store().Objects(cls))
      if (obj.record.Find("name_label")->str() == name) return ref;
    return "";
  }
  std::string VmNamed(std::string_view name) { return Named("VM", name); }
  std::string AnyOf(std::string_view cls) { return sim_->store().Objects(cls).begin()->first; }
  Result<XmlRpcValue> Call(std::string_view m, XmlRpcArray p) {
    p.insert(p.begin(), XmlRpcValue(session_));
    return sim_->Call(m, p);
  }
  // The ErrorDescription of a call that must fail ({} when it succeeded).
  std::vector<std::string> Err(std::string_view m, XmlRpcArray p) {
    auto r = Call(m, std::move(p));
    return r.ok() ? std::vector<std::string>{} : ErrorDescription(r.status());
  }
  std::string Ok(std::string_view m, XmlRpcArray p) {
    auto r = Call(m, std::move(p));
    EXPECT_TRUE(r.ok()) << m << ": " << r.status().ToString();
    return r.ok() && r->is_string() ? r->str() : "";
  }
  const XmlRpcValue& Rec(std::string_view cls, const std::string& ref) {
    return *sim_->store().Find(cls, ref);
  }
  const std::string& Str(std::string_view cls, const std::string& ref, std::string_view f) {
    return Rec(cls, ref).Find(f)->str();
  }
  bool Has(std::string_view cls, const std::string& ref, std::string_view set,
           const std::string& item) {
    for (const auto& v : Rec(cls, ref).Find(set)->array())
      if (v.str() == item) return true;
    return false;
  }
  std::string File(const std::string& vdi) { return DiskPath(dir_, UuidOf(Rec("VDI", vdi))); }
  // A Halted VM made by VM.create with the fields a restore passes.
  std::string NewVm(std::string name = "restored") {
    return Ok("VM.create", {XmlRpcStruct{{"name_label", XmlRpcValue(name)},
                                         {"memory_static_max", XmlRpcValue(int64_t(1) << 30)},
                                         {"HVM_boot_policy", XmlRpcValue("BIOS order")}}});
  }
  std::string NewVdi(int64_t size = 4 << 20, std::string sr = "") {
    if (sr.empty()) sr = Named("SR", "NFS storage");
    return Ok("VDI.create", {XmlRpcStruct{{"name_label", XmlRpcValue("disk")},
                                          {"SR", XmlRpcValue(sr)},
                                          {"virtual_size", XmlRpcValue(size)},
                                          {"type", XmlRpcValue("user")}}});
  }
  Result<XmlRpcValue> NewVbd(const std::string& vm, const std::string& vdi, std::string dev,
                             XmlRpcStruct extra = {}) {
    XmlRpcStruct r{{"VM", XmlRpcValue(vm)}, {"VDI", XmlRpcValue(vdi)},
                   {"userdevice", XmlRpcValue(dev)}, {"mode", XmlRpcValue("RW")},
                   {"type", XmlRpcValue("Disk")}, {"bootable", XmlRpcValue(true)}};
    for (auto& e : extra) r.push_back(std::move(e));
    return Call("VBD.create", {XmlRpcValue(std::move(r))});
  }
  std::string dir_;
  std::unique_ptr<Sim> sim_;
  std::string session_;
};

using Desc = std::vector<std::string>;

}  // namespace casulo::sim

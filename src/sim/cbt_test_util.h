// A dispatcher-level fixture for the CBT tests: a --demo pool with disk
// files in a scratch state dir, a logged-in session, and helpers.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <set>
#include <string>
#include <vector>

#include "core/testing/sim_process.h"
#include "sim/cbt.h"
#include "sim/demo.h"
#include "sim/disks.h"
#include "sim/sim.h"

namespace casulo::sim {

class CbtFixture : public ::testing::Test {
 protected:
  void SetUp() override { Open("citrix-8.2"); }
  void Open(const char* product) {
    sim_.reset();
    dir_.reset();  // before the new one: both would name the same path
    dir_ = std::make_unique<testing::ScratchDir>(std::string("casulo-cbt-") + product);
    auto s = Sim::Open(dir_->path());
    ASSERT_TRUE(s.ok());
    sim_ = std::move(*s);
    BuildDemoPool(sim_->store(), product);
    ASSERT_TRUE(CreateDemoDisks(sim_->store(), dir_->path()).ok());
    ASSERT_TRUE(sim_->Save().ok());
    sim_->SetUser("root", "casulo");
    session_ = sim_->Call("session.login_with_password", {"root", "casulo"})->str();
  }
  // Reloads the state dir in a new Sim, as a restart does.
  void Reopen() {
    sim_.reset();
    auto s = Sim::Open(dir_->path());
    ASSERT_TRUE(s.ok());
    sim_ = std::move(*s);
  }
  std::string VmNamed(std::string_view name) {
    for (const auto& [ref, obj] : sim_->store().Objects("VM"))
      if (obj.record.Find("name_label")->str() == name) return ref;
    return "";
  }
  // The VDI of the VM's VBD with this userdevice.
  std::string DiskOf(std::string_view vm_name, std::string_view userdevice = "0") {
    for (const auto& vbd : Rec("VM", VmNamed(vm_name)).Find("VBDs")->array()) {
      const XmlRpcValue& b = Rec("VBD", vbd.str());
      if (b.Find("userdevice")->str() == userdevice) return b.Find("VDI")->str();
    }
    return "";
  }
  Result<XmlRpcValue> Call(std::string_view m, XmlRpcArray p) {
    p.insert(p.begin(), XmlRpcValue(session_));
    return sim_->Call(m, p);
  }
  std::string Ok(std::string_view m, XmlRpcArray p) {
    auto r = Call(m, std::move(p));
    EXPECT_TRUE(r.ok()) << m << ": " << r.status().ToString();
    return r.ok() && r->is_string() ? r->str() : "";
  }
  // The ErrorDescription of a call expected to fail.
  std::vector<std::string> Err(std::string_view m, XmlRpcArray p) {
    auto r = Call(m, std::move(p));
    EXPECT_FALSE(r.ok()) << m << " succeeded";
    return r.ok() ? std::vector<std::string>{} : ErrorDescription(r.status());
  }
  const XmlRpcValue& Rec(std::string_view cls, const std::string& ref) {
    return *sim_->store().Find(cls, ref);
  }
  std::string Uuid(const std::string& vdi) { return UuidOf(Rec("VDI", vdi)); }
  // Guest writes of `n` blocks on the VM's disk `dev`; the block indexes.
  std::vector<uint64_t> Write(std::string_view vm, uint64_t n, uint64_t seed,
                              std::string_view dev = "0") {
    auto r = GuestWrite(*sim_, Json{{"vm", vm}, {"blocks", n}, {"seed", seed}, {"disk", dev}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    return (*r)["disks"][0]["blocks"].get<std::vector<uint64_t>>();
  }

  std::unique_ptr<testing::ScratchDir> dir_;
  std::unique_ptr<Sim> sim_;
  std::string session_;
};

inline std::vector<uint8_t> Unbase64(const std::string& s) {
  std::vector<uint8_t> out(3 * s.size() / 4 + 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()),
                          int(s.size()));
  if (n < 0) return {};
  size_t pad = 0;
  for (size_t i = s.size(); i > 0 && s[i - 1] == '=' && pad < 2; --i) ++pad;
  out.resize(size_t(n) - pad);
  return out;
}

// The set bits of a list_changed_blocks answer (bit 0x80 >> (i % 8) of byte i / 8).
inline std::set<uint64_t> Bits(const std::vector<uint8_t>& bitmap) {
  std::set<uint64_t> out;
  for (size_t i = 0; i < bitmap.size() * 8; ++i)
    if (bitmap[i / 8] & (0x80u >> (i % 8))) out.insert(i);
  return out;
}

}  // namespace casulo::sim

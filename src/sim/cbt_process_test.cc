// CBT end to end with the real binary: enable CBT, snapshot, `casulo-sim
// write` N blocks, snapshot again; list_changed_blocks names exactly the
// written blocks and the two snapshots' files differ exactly there;
// data_destroy waits for the snapshot VM's VBDs, then leaves cbt_metadata
// that still answers list_changed_blocks, also after a restart.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdio>
#include <set>

#include "cbt_test_util.h"
#include "core/file.h"
#include "formats/xmlrpc.h"

namespace casulo::sim {
namespace {

using formats::XmlRpcArray;
using formats::XmlRpcValue;

struct Shell {
  int status = -1;
  std::string out;
};
Shell RunShell(const std::string& cmd) {
  Shell r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  r.status = pclose(p);
  return r;
}

class CbtProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void Start() {
    sim_ = std::make_unique<testing::SimProcess>(
        CASULO_SIM_BINARY,
        std::vector<std::string>{"--state", dir_.path(), "--listen", "127.0.0.1:0", "--demo"});
    ASSERT_TRUE(sim_->ok());
    client_ = std::make_unique<httplib::Client>(sim_->url());
    client_->set_read_timeout(30, 0);
    auto s = Rpc("session.login_with_password", {"root", "casulo"});
    ASSERT_TRUE(s.ok());
    session_ = s->str();
  }
  // The Value, or the ErrorDescription as a kRemote Status.
  Result<XmlRpcValue> Rpc(std::string_view method, const XmlRpcArray& params) {
    auto res = client_->Post("/", formats::PrintMethodCall(method, params), "text/xml");
    if (!res || res->status != 200) return Error(Code::kIoError, "{} failed", method);
    ASSIGN_OR_RETURN(auto reply, formats::ParseMethodResponse(res->body));
    if (reply.value.Find("Status")->str() == "Success") return *reply.value.Find("Value");
    std::vector<std::string> desc;
    for (const auto& e : reply.value.Find("ErrorDescription")->array()) desc.push_back(e.str());
    return XapiError(desc);
  }
  XmlRpcValue S(std::string_view method, XmlRpcArray p) {
    p.insert(p.begin(), XmlRpcValue(session_));
    auto r = Rpc(method, p);
    EXPECT_TRUE(r.ok()) << method << ": " << r.status().ToString();
    return r.ok() ? *r : XmlRpcValue("");
  }
  std::string Str(std::string_view method, XmlRpcArray p) {
    XmlRpcValue v = S(method, std::move(p));
    return v.is_string() ? v.str() : "";
  }
  // The VDI behind userdevice 0 of a VM.
  std::string Disk0(const std::string& vm) {
    XmlRpcValue vbds = S("VM.get_VBDs", {vm});
    for (const auto& vbd : vbds.array())
      if (Str("VBD.get_userdevice", {vbd}) == "0") return Str("VBD.get_VDI", {vbd});
    return "";
  }
  std::string File(const std::string& vdi) {
    return DiskPath(dir_.path(), Str("VDI.get_uuid", {vdi}));
  }
  std::set<uint64_t> Changed(const std::string& from, const std::string& to) {
    std::vector<uint8_t> bitmap = Unbase64(Str("VDI.list_changed_blocks", {from, to}));
    EXPECT_FALSE(bitmap.empty());
    return Bits(bitmap);
  }
  std::string Write(const std::string& args) {
    return std::string(CASULO_SIM_BINARY) + " write --state " + dir_.path() + " " + args;
  }

  testing::ScratchDir dir_{"casulo-cbt-process"};
  std::unique_ptr<testing::SimProcess> sim_;
  std::unique_ptr<httplib::Client> client_;
  std::string session_;
};

// The 64 KiB blocks where two equally long files differ.
std::set<uint64_t> DifferingBlocks(const std::string& a, const std::string& b) {
  auto fa = casulo::File::OpenRead(a), fb = casulo::File::OpenRead(b);
  EXPECT_TRUE(fa.ok() && fb.ok());
  std::set<uint64_t> out;
  if (!fa.ok() || !fb.ok()) return out;
  EXPECT_EQ(*fa->Size(), *fb->Size());
  Bytes x(kCbtBlockSize), y(kCbtBlockSize);
  for (uint64_t blk = 0;; ++blk) {
    auto na = fa->PRead(blk * kCbtBlockSize, x), nb = fb->PRead(blk * kCbtBlockSize, y);
    if (!na.ok() || !nb.ok() || *na == 0) break;
    if (*na != *nb || std::memcmp(x.data(), y.data(), *na) != 0) out.insert(blk);
  }
  return out;
}

TEST_F(CbtProcessTest, WrittenBlocksAreExactlyTheChangedBlocks) {
  std::string vm = S("VM.get_by_name_label", {"debian-web"}).array()[0].str();
  std::string leaf = Disk0(vm);
  S("VDI.enable_cbt", {leaf});
  std::string snap1 = Str("VM.snapshot", {vm, "cbt-1"});
  std::string base = Disk0(snap1);

  Shell w = RunShell(Write("debian-web --blocks 24 --disk 0 --seed 42 --json"));
  ASSERT_EQ(w.status, 0) << w.out;
  Json written = Json::parse(w.out, nullptr, false);
  ASSERT_TRUE(written.is_object()) << w.out;
  ASSERT_EQ(written["disks"].size(), 1u);
  auto blocks = written["disks"][0]["blocks"].get<std::vector<uint64_t>>();
  std::set<uint64_t> expected(blocks.begin(), blocks.end());
  ASSERT_EQ(expected.size(), 24u);
  EXPECT_GT(written["disks"][0]["new_blocks"].get<uint64_t>(), 0u);
  EXPECT_TRUE(written["disks"][0]["cbt"].get<bool>());

  std::string snap2 = Str("Async.VM.snapshot", {vm, "cbt-2"});  // a task
  for (int i = 0; i < 100 && Str("task.get_status", {snap2}) == "pending"; ++i) {}
  std::string result = Str("task.get_result", {snap2});
  auto parsed = formats::ParseXmlRpcValue(result);
  ASSERT_TRUE(parsed.ok()) << result;
  snap2 = parsed->str();
  std::string next = Disk0(snap2);

  EXPECT_EQ(Changed(base, next), expected);
  EXPECT_EQ(DifferingBlocks(File(base), File(next)), expected);

  // The snapshot VM's VBD keeps `base` in use (after XAPI's 4 s wait).
  auto in_use = Rpc("VDI.data_destroy", {session_, base});
  ASSERT_FALSE(in_use.ok());
  EXPECT_EQ(in_use.status().remote(), (std::vector<std::string>{"VDI_IN_USE", base, "data_destroy"}));
  S("VM.destroy", {snap1});
  S("VDI.data_destroy", {base});
  EXPECT_EQ(Str("VDI.get_type", {base}), "cbt_metadata");
  EXPECT_FALSE(*PathExists(DiskPath(dir_.path(), Str("VDI.get_uuid", {base}))));
  EXPECT_EQ(Changed(base, next), expected);

  // The logs and records survive a restart.
  sim_->Stop();
  Start();
  EXPECT_EQ(Changed(base, next), expected);
}

TEST_F(CbtProcessTest, WriteCommandSummaryAndErrors) {
  Shell ok = RunShell(Write("debian-web --blocks 3 --seed 7"));
  ASSERT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("(userdevice 0): 3 blocks of 64 KiB, 196608 bytes"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("(userdevice 1): 3 blocks"), std::string::npos) << ok.out;
  Shell halted = RunShell(Write("alpine-halted"));
  EXPECT_NE(halted.status, 0);
  EXPECT_NE(halted.out.find("is Halted"), std::string::npos) << halted.out;
  Shell usage = RunShell(Write("debian-web --blocks -3"));
  EXPECT_NE(usage.status, 0);
  EXPECT_NE(usage.out.find("usage:"), std::string::npos) << usage.out;
}

}  // namespace
}  // namespace casulo::sim

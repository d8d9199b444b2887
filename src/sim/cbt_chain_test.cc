// CBT chains through the dispatcher: guest writes between snapshots, the
// logs moving to snapshots, list_changed_blocks as the OR of the chain,
// deletes coalescing into the child, disable_cbt, and a restart.
#include <map>

#include "cbt_test_util.h"
#include "core/file.h"

namespace casulo::sim {
namespace {

using V = std::vector<std::string>;
using Blocks = std::set<uint64_t>;

class CbtChainTest : public CbtFixture {
 protected:
  Blocks Changed(const std::string& from, const std::string& to) {
    auto r = Call("VDI.list_changed_blocks", {from, to});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    std::vector<uint8_t> bitmap = Unbase64(r->str());
    uint64_t size = uint64_t(Rec("VDI", to).Find("virtual_size")->i());
    EXPECT_EQ(bitmap.size(), (size / kCbtBlockSize + 7) / 8);
    return Bits(bitmap);
  }
};

Blocks Set(const std::vector<uint64_t>& v) { return Blocks(v.begin(), v.end()); }
Blocks Union(Blocks a, const Blocks& b) {
  a.insert(b.begin(), b.end());
  return a;
}

TEST_F(CbtChainTest, ChangedBlocksAreTheWritesBetweenSnapshots) {
  std::string vdi = DiskOf("debian-web");
  Ok("VDI.enable_cbt", {vdi});
  Write("debian-web", 5, 100);  // before the first snapshot: not reported
  std::string s1 = Ok("VDI.snapshot", {vdi});
  Blocks w1 = Set(Write("debian-web", 12, 1));
  ASSERT_EQ(w1.size(), 12u);
  std::string s2 = Ok("VDI.snapshot", {vdi});
  Blocks w2 = Set(Write("debian-web", 7, 2));
  std::string s3 = Ok("VDI.snapshot", {vdi});
  EXPECT_EQ(Changed(s1, s2), w1);
  EXPECT_EQ(Changed(s2, s3), w2);
  EXPECT_EQ(Changed(s1, s3), Union(w1, w2));
  // Nothing written since s3.
  EXPECT_EQ(Changed(s3, Ok("VDI.snapshot", {vdi})), Blocks{});
  // Snapshots of a CBT VDI are CBT-enabled; the logs link them.
  auto l2 = LoadCbtLog(dir_->path(), Uuid(s2));
  ASSERT_TRUE(l2.ok() && *l2);
  EXPECT_EQ((*l2)->parent, Uuid(s1));
  EXPECT_EQ((*l2)->child, Uuid(s3));
  EXPECT_TRUE(Rec("VDI", s2).Find("cbt_enabled")->b());
}

TEST_F(CbtChainTest, VmSnapshotMovesTheLogsOfEveryCbtDisk) {
  std::string d0 = DiskOf("debian-web", "0"), d1 = DiskOf("debian-web", "1");
  Ok("VDI.enable_cbt", {d0});
  Ok("VDI.enable_cbt", {d1});
  std::string vm = VmNamed("debian-web");
  auto snap_disks = [&](const std::string& snap_vm) {
    std::map<std::string, std::string> out;  // userdevice -> VDI
    for (const auto& vbd : Rec("VM", snap_vm).Find("VBDs")->array()) {
      const XmlRpcValue& b = Rec("VBD", vbd.str());
      if (b.Find("type")->str() == "Disk") out[b.Find("userdevice")->str()] = b.Find("VDI")->str();
    }
    return out;
  };
  auto a = snap_disks(Ok("VM.snapshot", {vm, "a"}));
  Blocks w0 = Set(Write("debian-web", 9, 3, "0"));
  Blocks w1 = Set(Write("debian-web", 4, 4, "1"));
  auto b = snap_disks(Ok("VM.snapshot", {vm, "b"}));
  EXPECT_EQ(Changed(a["0"], b["0"]), w0);
  EXPECT_EQ(Changed(a["1"], b["1"]), w1);
}

// Deleting a middle snapshot ORs its log into the next one (SM delete), so
// the outer range still reports everything; data_destroy keeps the log.
TEST_F(CbtChainTest, DestroyCoalescesAndDataDestroyKeepsTheChain) {
  std::string vdi = DiskOf("debian-web", "1");
  Ok("VDI.enable_cbt", {vdi});
  std::string s1 = Ok("VDI.snapshot", {vdi});
  Blocks w1 = Set(Write("debian-web", 8, 7, "1"));
  std::string s2 = Ok("VDI.snapshot", {vdi});
  Blocks w2 = Set(Write("debian-web", 8, 8, "1"));
  std::string s3 = Ok("VDI.snapshot", {vdi});
  Ok("VDI.destroy", {s2});
  EXPECT_EQ(Changed(s1, s3), Union(w1, w2));
  Ok("VDI.data_destroy", {s1});
  Ok("VDI.data_destroy", {s3});
  EXPECT_EQ(Rec("VDI", s1).Find("type")->str(), "cbt_metadata");
  EXPECT_EQ(Changed(s1, s3), Union(w1, w2));
  Blocks w3 = Set(Write("debian-web", 2, 9, "1"));
  EXPECT_EQ(Changed(s3, Ok("VDI.snapshot", {vdi})), w3);
}

TEST_F(CbtChainTest, DisableCbtCutsTheChain) {
  std::string vdi = DiskOf("debian-web");
  Ok("VDI.enable_cbt", {vdi});
  std::string s1 = Ok("VDI.snapshot", {vdi});
  Ok("VDI.disable_cbt", {vdi});
  EXPECT_FALSE(*PathExists(CbtLogPath(dir_->path(), Uuid(vdi))));
  EXPECT_TRUE(*PathExists(CbtLogPath(dir_->path(), Uuid(s1))));
  Write("debian-web", 3, 5);  // not tracked
  Ok("VDI.enable_cbt", {vdi});
  std::string s2 = Ok("VDI.snapshot", {vdi});
  const std::string msg = "Failed to calculate changed blocks for given VDIs. [opterr=";
  EXPECT_EQ(Err("VDI.list_changed_blocks", {s1, s2}),
            (V{"SR_BACKEND_FAILURE_460", "", msg + "Source and target VDI are unrelated]", ""}));
}

TEST_F(CbtChainTest, LogsSurviveARestart) {
  std::string vdi = DiskOf("debian-web");
  Ok("VDI.enable_cbt", {vdi});
  std::string s1 = Ok("VDI.snapshot", {vdi});
  Blocks w = Set(Write("debian-web", 6, 6));
  Reopen();  // the session lives in db.json and stays valid
  std::string s2 = Ok("VDI.snapshot", {vdi});
  EXPECT_EQ(Changed(s1, s2), w);
}

TEST_F(CbtChainTest, GuestWriteErrors) {
  auto halted = GuestWrite(*sim_, Json{{"vm", "alpine-halted"}, {"blocks", 1}});
  ASSERT_FALSE(halted.ok());
  EXPECT_EQ(halted.status().code(), Code::kUnsupported);
  EXPECT_NE(halted.status().message().find("Halted"), std::string::npos);
  auto missing = GuestWrite(*sim_, Json{{"vm", "no-such-vm"}});
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  auto bad = GuestWrite(*sim_, Json{{"vm", "debian-web"}, {"blocks", -1}});
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  auto nodisk = GuestWrite(*sim_, Json{{"vm", "debian-web"}, {"disk", "7"}});
  EXPECT_EQ(nodisk.status().code(), Code::kNotFound);
}

// Writes land on both allocated and fresh regions, deterministically.
TEST_F(CbtChainTest, GuestWritesMixOldAndNewRegions) {
  auto r = GuestWrite(*sim_, Json{{"vm", "debian-web"}, {"blocks", 40}, {"seed", 9}, {"disk", "0"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Json& d = (*r)["disks"][0];
  EXPECT_EQ(d["count"], 40);
  EXPECT_EQ(d["bytes"], 40 * kCbtBlockSize);
  EXPECT_GT(d["new_blocks"].get<uint64_t>(), 0u);
  EXPECT_LT(d["new_blocks"].get<uint64_t>(), 40u);
  EXPECT_FALSE(d["cbt"].get<bool>());
  auto offset = GuestWrite(*sim_, Json{{"vm", "debian-web"}, {"blocks", 3}, {"disk", "0"},
                                      {"offset", 10 * kCbtBlockSize + 5}});
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ((*offset)["disks"][0]["blocks"], Json({10, 11, 12}));
}

}  // namespace
}  // namespace casulo::sim

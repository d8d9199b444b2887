// `casulo restore vm --overwrite [--differential] [--into VM]` end to end
// against casulo-sim's demo pool: refused without --overwrite and over a
// running VM; a full overwrite and a differential one leave the VM's disks
// byte-identical to the point, the differential sending only the blocks the
// guest changed (the simulator's byte counter says so); a point without a
// CBT base is written whole with the reason; an older point whose base is
// gone goes through a later point's base; a failed swap leaves the VM as it
// was; and the pool keeps no extra VDI, VBD or task.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_harness.h"
#include "core/testing/sim_process.h"
#include "sim_pool_util.h"
#include "formats/xmlrpc.h"

namespace casulo::testing {
namespace {

using Json = nlohmann::json;
using formats::XmlRpcValue;

class VmRestoreDiffCli : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = h_.Path("sim");
    sim_ = std::make_unique<SimProcess>(
        CASULO_SIM_BIN, std::vector<std::string>{"--state", state_, "--listen", "127.0.0.1:0", "--demo"});
    ASSERT_TRUE(sim_->ok());
    std::ofstream(h_.Path("pool.pw")) << "casulo\n";
    env_ = {{"CASULO_CONFIG_DIR", h_.Path("config")}};
    RunResult r = h_.Run({"pool", "add", "demo", sim_->url(), "--user", "root", "--password-file",
                          h_.Path("pool.pw")}, env_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    h_.Init();
  }

  // A call as root; the Value, or nil after a test failure.
  XmlRpcValue Xapi(std::string_view method, formats::XmlRpcArray params) {
    if (session_.empty()) {
      auto r = formats::ParseMethodResponse(
          HttpBody(sim_->port(), "POST", "/", formats::PrintMethodCall("session.login_with_password",
                                                                   {XmlRpcValue("root"), XmlRpcValue("casulo")})));
      if (r.ok() && r->value.Find("Value") != nullptr) session_ = r->value.Find("Value")->str();
    }
    params.insert(params.begin(), XmlRpcValue(session_));
    auto r = formats::ParseMethodResponse(HttpBody(sim_->port(), "POST", "/", formats::PrintMethodCall(method, params)));
    if (!r.ok() || r->value.Find("Status") == nullptr || r->value.Find("Status")->str() != "Success") {
      ADD_FAILURE() << method << " failed";
      return XmlRpcValue();
    }
    return *r->value.Find("Value");
  }
  std::string VmRef(const std::string& name) { return Xapi("VM.get_by_name_label", {XmlRpcValue(name)}).array()[0].str(); }
  void Shutdown(const std::string& name) { Xapi("VM.clean_shutdown", {XmlRpcValue(VmRef(name))}); }

  std::string Backup(const std::string& vm, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"--json", "backup", "vm", "demo", vm};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = h_.Run(args, env_);
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    Json j = Json::parse(r.out, nullptr, false);
    return j.is_array() && !j.empty() ? j[0]["snapshot"].get<std::string>() : "";
  }

  // Guest writes of `blocks` 64 KiB blocks on each disk of a running VM.
  void GuestWrite(const std::string& vm, int blocks, int seed) {
    std::string cmd = std::string(CASULO_SIM_BIN) + " write --state " + state_ + " " + vm + " --blocks " +
                      std::to_string(blocks) + " --seed " + std::to_string(seed) + " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }

  Json Restore(const std::vector<std::string>& extra, int want_exit = 0) {
    std::vector<std::string> args{"--json", "restore", "vm"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"--pool", "demo"});
    last_ = h_.Run(args, env_);
    EXPECT_EQ(last_.exit_code, want_exit) << last_.err << last_.out;
    return Json::parse(last_.out, nullptr, false);
  }

  uint64_t ImportedBytes() {
    Json s = Json::parse(HttpBody(sim_->port(), "GET", "/casulo-sim/stats"), nullptr, false);
    return s.is_object() && s["http"].contains("/import_raw_vdi")
               ? s["http"]["/import_raw_vdi"]["bytes_received"].get<uint64_t>() : 0;
  }

  Json Db() {
    std::ifstream f(state_ + "/db.json");
    return Json::parse(f, nullptr, false);
  }
  std::map<std::string, size_t> Counts() {
    Json db = Db();
    std::map<std::string, size_t> n;
    for (const char* cls : {"VM", "VDI", "VBD", "VIF", "task"})
      n[cls] = db["objects"].contains(cls) ? db["objects"][cls].size() : 0;
    return n;
  }
  // userdevice -> VDI uuid of the VM's disks.
  std::map<std::string, std::string> Disks(const std::string& name) {
    Json db = Db();
    std::map<std::string, std::string> out;
    for (const auto& [ref, vm] : db["objects"]["VM"].items()) {
      if (vm["name_label"] != name || vm["is_a_snapshot"] == true) continue;
      for (const auto& b : vm["VBDs"]) {
        const auto& vbd = db["objects"]["VBD"][b.get<std::string>()];
        if (vbd["type"] == "Disk") out[vbd["userdevice"]] = db["objects"]["VDI"][vbd["VDI"].get<std::string>()]["uuid"];
      }
    }
    return out;
  }

  // Every disk of `point` equals the VM's disk of the same userdevice.
  void ExpectDisksEqualPoint(const std::string& point, const std::string& vm) {
    Json snaps = Json::parse(h_.Run({"--json", "snapshots"}, env_).out, nullptr, false);
    auto disks = Disks(vm);
    int checked = 0;
    for (const auto& s : snaps) {
      if (s["id"] != point) continue;
      for (const auto& d : s["disks"]) {
        std::string out = h_.Path("point-" + d["key"].get<std::string>() + ".img");
        std::filesystem::remove(out);
        RunResult r = h_.Run({"restore", "disk", point, d["key"], "--to", out}, env_);
        ASSERT_EQ(r.exit_code, 0) << r.err;
        std::string vdi = disks[d["labels"]["userdevice"].get<std::string>()];
        std::string cmd = "cmp -s " + out + " " + state_ + "/vdi/" + vdi + ".img";
        EXPECT_EQ(std::system(cmd.c_str()), 0) << "disk " << d["key"] << " differs from VDI " << vdi;
        std::filesystem::remove(out);
        ++checked;
      }
    }
    EXPECT_GT(checked, 0) << "point " << point << " has disks";
  }

  CliHarness h_;
  std::string state_, session_;
  std::unique_ptr<SimProcess> sim_;
  std::map<std::string, std::string> env_;
  RunResult last_;
};

TEST_F(VmRestoreDiffCli, RefusedWithoutOverwriteAndOverARunningVm) {
  std::string point = Backup("debian-db");
  ASSERT_FALSE(point.empty());
  auto before = Counts();
  auto disks = Disks("debian-db");
  Restore({point, "--differential"}, 4);
  EXPECT_NE(last_.err.find("--overwrite"), std::string::npos) << last_.err;
  Restore({point, "--into", "debian-web"}, 4);
  EXPECT_NE(last_.err.find("debian-web"), std::string::npos) << last_.err;
  Restore({point, "--overwrite", "--sr", "Local storage"}, 2);
  EXPECT_NE(last_.err.find("--sr"), std::string::npos) << last_.err;
  Restore({point, "--overwrite"}, 2);
  EXPECT_NE(last_.err.find("Running"), std::string::npos) << last_.err;
  EXPECT_NE(last_.err.find("shut it down"), std::string::npos) << last_.err;
  EXPECT_EQ(Counts(), before);
  EXPECT_EQ(Disks("debian-db"), disks);
}

TEST_F(VmRestoreDiffCli, FullOverwriteIsByteIdenticalAndLeavesThePoolClean) {
  std::string point = Backup("debian-web");
  ASSERT_FALSE(point.empty());
  GuestWrite("debian-web", 16, 3);
  Shutdown("debian-web");
  auto before = Counts();
  auto old = Disks("debian-web");
  Json out = Restore({point, "--overwrite"});
  ASSERT_TRUE(out.is_object()) << last_.out;
  EXPECT_EQ(out["overwrote"], true);
  ASSERT_EQ(out["disks"].size(), 2u);
  for (const auto& d : out["disks"]) {
    EXPECT_EQ(d["mode"], "full");
    EXPECT_EQ(d["replaced_vdi"], old[d["userdevice"].get<std::string>()]);
  }
  ExpectDisksEqualPoint(point, "debian-web");
  auto now = Disks("debian-web");
  for (const auto& [ud, uuid] : old) {
    EXPECT_NE(now[ud], uuid) << "disk " << ud << " is a new VDI";
    EXPECT_FALSE(std::filesystem::exists(state_ + "/vdi/" + uuid + ".img")) << "the replaced VDI is gone";
  }
  EXPECT_EQ(Counts(), before) << "no VDI, VBD or task more or less";
  Json db = Db();
  const auto& vm = db["objects"]["VM"][VmRef("debian-web")];
  EXPECT_EQ(vm["power_state"], "Halted");
  EXPECT_FALSE(vm["blocked_operations"].contains("start")) << vm["blocked_operations"].dump();
}

TEST_F(VmRestoreDiffCli, DifferentialSendsOnlyTheChangedBlocks) {
  std::string point = Backup("debian-db");  // turns CBT on, keeps a base
  ASSERT_FALSE(point.empty());
  Shutdown("debian-db");
  auto before = Counts();
  auto disks = Disks("debian-db");
  // Nothing changed since the point: nothing is sent, the disk is kept.
  Json same = Restore({point, "--overwrite", "--differential"});
  ASSERT_TRUE(same.is_object()) << last_.out;
  EXPECT_EQ(same["disks"][0]["mode"], "differential") << same.dump();
  EXPECT_EQ(same["disks"][0]["sent_bytes"], 0);
  EXPECT_EQ(same["disks"][0]["replaced_vdi"], "");
  EXPECT_EQ(Disks("debian-db"), disks);
  EXPECT_EQ(Counts(), before);

  Xapi("VM.start", {XmlRpcValue(VmRef("debian-db")), XmlRpcValue(false), XmlRpcValue(false)});
  GuestWrite("debian-db", 8, 5);
  Shutdown("debian-db");
  uint64_t imported = ImportedBytes();
  Json out = Restore({point, "--overwrite", "--differential"});
  ASSERT_TRUE(out.is_object()) << last_.out;
  ASSERT_EQ(out["disks"].size(), 1u);
  const auto& d = out["disks"][0];
  EXPECT_EQ(d["mode"], "differential") << d.dump();
  EXPECT_EQ(d["changed_blocks"], 8);
  uint64_t sent = d["sent_bytes"];
  EXPECT_GE(sent, 8u * 65536);
  EXPECT_LE(sent, 8u * (65536 + 12) + 12) << "the 8 blocks and the chunk headers only";
  EXPECT_EQ(ImportedBytes() - imported, sent) << "the simulator received what casulo says it sent";
  ExpectDisksEqualPoint(point, "debian-db");
  EXPECT_EQ(Counts(), before);
  Json db = Db();
  std::string vdi = Disks("debian-db")["0"];
  for (const auto& [ref, rec] : db["objects"]["VDI"].items())
    if (rec["uuid"] == vdi) {
      EXPECT_EQ(rec["cbt_enabled"], true) << "the new disk keeps CBT on";
    }

  // The same point written whole, for the comparison.
  imported = ImportedBytes();
  Json full = Restore({point, "--overwrite"});
  ASSERT_TRUE(full.is_object()) << last_.out;
  uint64_t full_sent = full["disks"][0]["sent_bytes"];
  EXPECT_EQ(ImportedBytes() - imported, full_sent);
  EXPECT_LT(sent * 10, full_sent);
  std::cout << "[ measure  ] 256 MiB disk, 8 guest blocks: differential sent " << sent << " bytes, full "
            << full_sent << " bytes\n";
  ExpectDisksEqualPoint(point, "debian-db");
  EXPECT_EQ(Counts(), before);

  // The VM's disk is now a VDI of its own CBT chain, unrelated to the
  // point's base: CBT cannot answer, the disk is written whole.
  Json again = Restore({point, "--overwrite", "--differential"});
  ASSERT_TRUE(again.is_object()) << last_.out;
  EXPECT_EQ(again["disks"][0]["mode"], "full") << again.dump();
  EXPECT_NE(again["disks"][0]["fallback"].get<std::string>().find("unrelated"), std::string::npos) << again.dump();
  EXPECT_EQ(Counts(), before);
}

TEST_F(VmRestoreDiffCli, WithoutACbtBaseTheDiskIsWrittenWhole) {
  std::string point = Backup("debian-db", {"--no-cbt"});
  ASSERT_FALSE(point.empty());
  GuestWrite("debian-db", 8, 7);
  Shutdown("debian-db");
  auto before = Counts();
  Json out = Restore({point, "--overwrite", "--differential"});
  ASSERT_TRUE(out.is_object()) << last_.out;
  const auto& d = out["disks"][0];
  EXPECT_EQ(d["mode"], "full");
  EXPECT_NE(d["fallback"].get<std::string>().find("CBT"), std::string::npos) << d.dump();
  ExpectDisksEqualPoint(point, "debian-db");
  EXPECT_EQ(Counts(), before);
}

TEST_F(VmRestoreDiffCli, AnOlderPointGoesThroughALaterPointsBase) {
  std::string first = Backup("debian-db");
  GuestWrite("debian-db", 6, 11);
  std::string second = Backup("debian-db");  // destroys the first point's base
  ASSERT_FALSE(second.empty());
  GuestWrite("debian-db", 4, 13);
  Shutdown("debian-db");
  Json out = Restore({first, "--overwrite", "--differential"});
  ASSERT_TRUE(out.is_object()) << last_.out;
  const auto& d = out["disks"][0];
  EXPECT_EQ(d["mode"], "differential") << d.dump();
  // 6 + 4 blocks at random places (seeded): their union, more than either
  // source alone gives, and no more than both.
  EXPECT_GT(d["changed_blocks"].get<uint64_t>(), 6u) << "the repository's difference and CBT's, together";
  EXPECT_LE(d["changed_blocks"].get<uint64_t>(), 10u);
  ExpectDisksEqualPoint(first, "debian-db");
}

TEST_F(VmRestoreDiffCli, AFailedSwapLeavesTheVmAsFound) {
  std::string point = Backup("debian-web");
  ASSERT_FALSE(point.empty());
  GuestWrite("debian-web", 8, 17);
  Shutdown("debian-web");
  auto before = Counts();
  auto disks = Disks("debian-web");
  std::string data = h_.Path("before.img");
  ASSERT_EQ(std::system(("cp --sparse=always " + state_ + "/vdi/" + disks["0"] + ".img " + data).c_str()), 0);
  // The first new VBD fails after its old VBD was destroyed: the old one is
  // made again and the new VDIs go.
  std::string cmd = std::string(CASULO_SIM_BIN) + " fault --state " + state_ +
                    " error:VBD.create:1:INTERNAL_ERROR,injected >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  Restore({point, "--overwrite", "--differential"}, 10);
  EXPECT_NE(last_.err.find("VBD.create"), std::string::npos) << last_.err;
  EXPECT_EQ(last_.err.find("cleanup"), std::string::npos) << "cleanup went through: " << last_.err;
  EXPECT_EQ(Counts(), before);
  EXPECT_EQ(Disks("debian-web"), disks);
  EXPECT_EQ(std::system(("cmp -s " + data + " " + state_ + "/vdi/" + disks["0"] + ".img").c_str()), 0);
  Json db = Db();
  EXPECT_FALSE(db["objects"]["VM"][VmRef("debian-web")]["blocked_operations"].contains("start"));
}

TEST_F(VmRestoreDiffCli, BackupsGoOnAfterADifferentialRestore) {
  std::string point = Backup("debian-db");
  ASSERT_FALSE(point.empty());
  GuestWrite("debian-db", 8, 19);
  Shutdown("debian-db");
  Json out = Restore({point, "--overwrite", "--differential"});
  ASSERT_TRUE(out.is_object()) << last_.out;
  ASSERT_EQ(out["disks"][0]["mode"], "differential");
  // The VM's disk is a new VDI (a clone with CBT turned on): the next
  // backup starts a new CBT chain, removes the old disk's base, and the one
  // after reads only what the guest wrote.
  Xapi("VM.start", {XmlRpcValue(VmRef("debian-db")), XmlRpcValue(false), XmlRpcValue(false)});
  ASSERT_FALSE(Backup("debian-db").empty());
  GuestWrite("debian-db", 3, 23);
  RunResult r = h_.Run({"--json", "backup", "vm", "demo", "debian-db"}, env_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && !j.empty()) << r.out;
  EXPECT_EQ(j[0]["disks"][0]["transport"], "cbt-nbd") << j[0].dump();
  Json snaps = Json::parse(h_.Run({"--json", "snapshots"}, env_).out, nullptr, false);
  std::vector<std::string> left = Leftovers(Db(), LatestBases(snaps));
  std::string text;
  for (const auto& l : left) text += "\n  " + l;
  EXPECT_TRUE(left.empty()) << "leftovers in the pool:" << text;
}

}  // namespace
}  // namespace casulo::testing

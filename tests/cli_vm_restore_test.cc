// `casulo restore vm` end to end against casulo-sim's demo pool: a backup
// of debian-web restored as a new VM into another SR (disks byte-identical,
// VIFs on the same network, start unblocked), started with --start, and
// failures (an unmappable network, a VIF.create error after the disks were
// written) that leave no VM, VDI, VBD or VIF behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_harness.h"
#include "core/testing/sim_process.h"

namespace casulo::testing {
namespace {

class VmRestoreCli : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = h_.Path("sim");
    StartSim({"--demo"});
    std::ofstream(h_.Path("pool.pw")) << "casulo\n";
    env_ = {{"CASULO_CONFIG_DIR", h_.Path("config")}};
    AddPool("demo");
    h_.Init();
  }

  void StartSim(std::vector<std::string> extra) {
    std::vector<std::string> args{"--state", state_, "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    sim_ = std::make_unique<SimProcess>(CASULO_SIM_BIN, args);
    ASSERT_TRUE(sim_->ok());
  }

  void AddPool(const std::string& name) {
    RunResult r = h_.Run({"pool", "add", name, sim_->url(), "--user", "root", "--password-file",
                          h_.Path("pool.pw")}, env_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Backs up debian-web; returns the recovery point id.
  std::string Backup() {
    RunResult r = h_.Run({"--json", "backup", "vm", "demo", "debian-web"}, env_);
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    if (!j.is_array() || j.empty()) return "";
    return j[0]["snapshot"];
  }

  nlohmann::json Db() {
    std::ifstream f(state_ + "/db.json");
    return nlohmann::json::parse(f, nullptr, false);
  }

  // Objects a restore creates, by class.
  std::map<std::string, size_t> Counts() {
    nlohmann::json db = Db();
    std::map<std::string, size_t> n;
    for (const char* cls : {"VM", "VDI", "VBD", "VIF"})
      n[cls] = db["objects"].contains(cls) ? db["objects"][cls].size() : 0;
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(state_ + "/vdi")) files += e.is_regular_file();
    n["vdi files"] = files;
    return n;
  }

  Bytes VdiFile(const std::string& uuid) {
    std::ifstream f(state_ + "/vdi/" + uuid + ".img", std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(f), {});
  }

  std::string RefOf(const nlohmann::json& db, const std::string& cls, const std::string& field,
                    const std::string& value) {
    for (const auto& [ref, rec] : db["objects"][cls].items())
      if (rec[field] == value) return ref;
    return "";
  }

  // The networks of VM `ref`'s VIFs.
  std::multiset<std::string> Networks(const nlohmann::json& db, const std::string& ref) {
    std::multiset<std::string> out;
    for (const auto& vif : db["objects"]["VM"][ref]["VIFs"]) out.insert(db["objects"]["VIF"][vif.get<std::string>()]["network"]);
    return out;
  }

  CliHarness h_;
  std::string state_;
  std::unique_ptr<SimProcess> sim_;
  std::map<std::string, std::string> env_;
};

TEST_F(VmRestoreCli, NewVmInAnotherSrWithIdenticalDisksThenStart) {
  std::string point = Backup();
  ASSERT_FALSE(point.empty());
  nlohmann::json db = Db();
  std::string local = RefOf(db, "SR", "name_label", "Local storage");
  std::string source = RefOf(db, "VM", "name_label", "debian-web");
  ASSERT_FALSE(local.empty());
  ASSERT_FALSE(source.empty());

  RunResult r = h_.Run({"--json", "restore", "vm", point, "--pool", "demo", "--sr", db["objects"]["SR"][local]["uuid"].get<std::string>(), "--name",
                        "web-restored"}, env_);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  nlohmann::json out = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(out.is_object()) << r.out;
  EXPECT_EQ(out["name"], "web-restored");
  ASSERT_EQ(out["disks"].size(), 2u);

  db = Db();
  std::string vm = RefOf(db, "VM", "uuid", out["vm"]);
  ASSERT_FALSE(vm.empty()) << "the new VM exists";
  EXPECT_NE(vm, source);
  const auto& rec = db["objects"]["VM"][vm];
  EXPECT_EQ(rec["name_label"], "web-restored");
  EXPECT_EQ(rec["power_state"], "Halted");
  EXPECT_EQ(rec["is_a_template"], false);
  EXPECT_FALSE(rec["blocked_operations"].contains("start")) << rec["blocked_operations"].dump();
  EXPECT_EQ(rec["memory_static_max"], db["objects"]["VM"][source]["memory_static_max"]);
  EXPECT_EQ(db["objects"]["VM"][source]["name_label"], "debian-web") << "the source is untouched";

  int disks = 0;
  for (const auto& vbd_ref : rec["VBDs"]) {
    const auto& vbd = db["objects"]["VBD"][vbd_ref.get<std::string>()];
    ASSERT_EQ(vbd["type"], "Disk");
    const auto& vdi = db["objects"]["VDI"][vbd["VDI"].get<std::string>()];
    EXPECT_EQ(vdi["SR"], local);
    const nlohmann::json* d = nullptr;
    for (const auto& x : out["disks"])
      if (x["vdi"] == vdi["uuid"]) d = &x;
    ASSERT_NE(d, nullptr) << "VDI " << vdi["uuid"] << " is in the report";
    EXPECT_EQ((*d)["userdevice"], vbd["userdevice"]);
    Bytes got = VdiFile(vdi["uuid"]), want = VdiFile((*d)["key"]);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << "VDI " << vdi["uuid"] << " differs from " << (*d)["key"];
    EXPECT_LT((*d)["sent_bytes"].get<uint64_t>(), (*d)["size"].get<uint64_t>()) << "holes are not sent";
    ++disks;
  }
  EXPECT_EQ(disks, 2);
  EXPECT_EQ(Networks(db, vm), Networks(db, source));
  for (const auto& vif : rec["VIFs"]) {
    std::string mac = db["objects"]["VIF"][vif.get<std::string>()]["MAC"];
    EXPECT_FALSE(mac.empty());
    for (const auto& old : db["objects"]["VM"][source]["VIFs"])
      EXPECT_NE(mac, db["objects"]["VIF"][old.get<std::string>()]["MAC"]) << "a new MAC without --keep-macs";
  }

  r = h_.Run({"--json", "restore", "vm", point, "--pool", "demo", "--start"}, env_);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  out = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_EQ(out["name"], "debian-web");
  EXPECT_EQ(out["started"], true);
  db = Db();
  std::string started = RefOf(db, "VM", "uuid", out["vm"]);
  ASSERT_FALSE(started.empty());
  EXPECT_EQ(db["objects"]["VM"][started]["power_state"], "Running");
  EXPECT_EQ(db["objects"]["VDI"][db["objects"]["VBD"][db["objects"]["VM"][started]["VBDs"][0].get<std::string>()]["VDI"].get<std::string>()]["SR"],
            db["objects"]["pool"].begin().value()["default_SR"]) << "default SR";
}

TEST_F(VmRestoreCli, UnmappableNetworkFailsAndLeavesNothing) {
  std::string point = Backup();
  ASSERT_FALSE(point.empty());
  // Another pool, as far as the network goes: the VIF's network gets a new
  // uuid and name while the simulator is down.
  sim_->Stop();
  nlohmann::json db = Db();
  std::string net;
  for (auto& [ref, rec] : db["objects"]["network"].items())
    if (rec["name_label"] == "Bond 0+1") {
      rec["name_label"] = "Bond renamed";
      rec["uuid"] = "0b0b0b0b-0000-4000-8000-000000000001";
      net = ref;
    }
  ASSERT_FALSE(net.empty());
  std::ofstream(state_ + "/db.json") << db.dump(1);
  StartSim({});
  AddPool("other");

  auto before = Counts();
  RunResult r = h_.Run({"restore", "vm", point, "--pool", "other"}, env_);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find("Bond 0+1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--network-map"), std::string::npos) << r.err;
  EXPECT_EQ(Counts(), before);

  // Mapped, it goes through onto the renamed network, with the MAC kept.
  r = h_.Run({"--json", "restore", "vm", point, "--pool", "other", "--network-map", "Bond 0+1=Bond renamed",
              "--keep-macs"}, env_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json out = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_EQ(out["vifs"].size(), 1u);
  EXPECT_EQ(out["vifs"][0]["network_name"], "Bond renamed");
  EXPECT_EQ(out["vifs"][0]["matched_by"], "map");
  db = Db();
  EXPECT_EQ(Networks(db, RefOf(db, "VM", "uuid", out["vm"])), std::multiset<std::string>{net});
  std::string source;
  for (const auto& [ref, rec] : db["objects"]["VM"].items())
    if (rec["name_label"] == "debian-web" && rec["uuid"] != out["vm"]) source = ref;
  ASSERT_FALSE(source.empty());
  std::string old_vif = db["objects"]["VM"][source]["VIFs"][0];
  EXPECT_EQ(out["vifs"][0]["mac"], db["objects"]["VIF"][old_vif]["MAC"]);
}

TEST_F(VmRestoreCli, FailureAfterDisksAreWrittenLeavesNothing) {
  std::string point = Backup();
  ASSERT_FALSE(point.empty());
  auto before = Counts();
  std::string cmd = std::string(CASULO_SIM_BIN) + " fault --state " + state_ +
                    " error:VIF.create:1:INTERNAL_ERROR,injected >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  // Two hosts have a "Local storage" SR: the uuid names one.
  nlohmann::json sdb = Db();
  std::string sr = sdb["objects"]["SR"][RefOf(sdb, "SR", "name_label", "Local storage")]["uuid"];
  RunResult r = h_.Run({"restore", "vm", point, "--pool", "demo", "--sr", sr}, env_);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find("VIF.create"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("cleanup"), std::string::npos) << "cleanup went through: " << r.err;
  EXPECT_EQ(Counts(), before);
}

TEST_F(VmRestoreCli, ExportVmXvaHoldsTheDisks) {
  std::string point = Backup();
  ASSERT_FALSE(point.empty());
  RunResult r = h_.Run({"--json", "export", "vm", point, "--to", h_.Path("web.xva"), "--name", "web-export"}, env_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json out = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_EQ(out["disks"], 2);
  EXPECT_EQ(out["vifs"], 1);
  r = h_.Run({"--json", "inspect", h_.Path("web.xva")}, env_);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("web-export"), std::string::npos) << r.out;
  nlohmann::json snaps = nlohmann::json::parse(h_.Run({"--json", "snapshots"}, env_).out, nullptr, false);
  ASSERT_TRUE(snaps.is_array() && !snaps.empty());
  int checked = 0;
  for (const auto& d : snaps.back()["disks"]) {
    std::string name = "debian-web disk " + d["labels"]["userdevice"].get<std::string>();
    std::string raw = h_.Path("disk" + d["labels"]["userdevice"].get<std::string>() + ".raw");
    r = h_.Run({"convert", h_.Path("web.xva"), raw, "--to", "raw", "--disk", name}, env_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Bytes got = h_.Read(std::filesystem::path(raw).filename()), want = VdiFile(d["key"]);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << name << " differs from VDI " << d["key"];
    ++checked;
  }
  EXPECT_EQ(checked, 2);
  r = h_.Run({"export", "vm", point, "--to", h_.Path("web.xva")}, env_);
  EXPECT_NE(r.exit_code, 0) << "an existing file is not replaced without --overwrite";
}

}  // namespace
}  // namespace casulo::testing

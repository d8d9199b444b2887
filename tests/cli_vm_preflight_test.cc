// `casulo backup vm` preflight and snapshot choices end to end against
// casulo-sim: a VM whose SR has no room for its snapshot, or whose disk's VHD
// chain is long, is skipped with a reason and nothing is created in the
// pool; disks tagged out are left out (ignore_vdis); --quiesce takes a VSS
// snapshot where the host has it and says so where it does not.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_harness.h"
#include "core/file.h"
#include "core/testing/sim_process.h"
#include "formats/xmlrpc.h"

namespace casulo::testing {
namespace {

using formats::XmlRpcStruct;
using formats::XmlRpcValue;
using nlohmann::json;

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class VmPreflight : public ::testing::Test {
 protected:
  void StartPool(std::vector<std::string> extra = {}) {
    state_ = h_.Path("sim");
    std::vector<std::string> args{"--state", state_, "--listen", "127.0.0.1:0", "--demo"};
    args.insert(args.end(), extra.begin(), extra.end());
    sim_ = std::make_unique<SimProcess>(CASULO_SIM_BIN, args);
    ASSERT_TRUE(sim_->ok());
    std::ofstream(h_.Path("pool.pw")) << "casulo\n";
    env_ = {{"CASULO_CONFIG_DIR", h_.Path("config")}};
    RunResult r = h_.Run({"pool", "add", "demo", sim_->url(), "--user", "root", "--password-file",
                          h_.Path("pool.pw")}, env_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    h_.Init();
    session_ = Xapi("session.login_with_password", {XmlRpcValue("root"), XmlRpcValue("casulo")}).str();
  }

  // One XML-RPC call through curl; the Value, or a failed expectation.
  XmlRpcValue Xapi(std::string_view method, formats::XmlRpcArray params) {
    if (!session_.empty()) params.insert(params.begin(), XmlRpcValue(session_));
    std::string req = h_.Path("req.xml");
    EXPECT_TRUE(WriteFileAtomic(req, AsBytes(formats::PrintMethodCall(method, params))).ok());
    auto r = formats::ParseMethodResponse(Shell("curl -sS --data-binary @" + req + " '" + sim_->url() + "/'"));
    if (!r.ok() || r->value.Find("Status") == nullptr || r->value.Find("Status")->str() != "Success") {
      ADD_FAILURE() << method << " failed";
      return XmlRpcValue();
    }
    return *r->value.Find("Value");
  }

  json Backup(std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "backup", "vm", "demo"});
    RunResult r = h_.Run(args, env_);
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    json j = json::parse(r.out, nullptr, false);
    return j.is_array() && !j.empty() ? j[0] : json();
  }

  json Db() {
    std::ifstream f(state_ + "/db.json");
    return json::parse(f, nullptr, false);
  }
  size_t SnapshotVms() {
    size_t n = 0;
    for (const auto& [ref, vm] : Db()["objects"]["VM"].items()) n += vm["is_a_snapshot"].get<bool>();
    return n;
  }
  // The refs of VM `name`'s disk VDIs, by userdevice order.
  std::vector<std::string> Disks(const std::string& name) {
    json db = Db();
    std::map<std::string, std::string> by_dev;
    for (const auto& [ref, vm] : db["objects"]["VM"].items()) {
      if (vm["name_label"] != name || vm["is_a_snapshot"].get<bool>()) continue;
      for (const auto& vbd : vm["VBDs"]) {
        const json& b = db["objects"]["VBD"][vbd.get<std::string>()];
        if (b["type"] == "Disk") by_dev[b["userdevice"]] = b["VDI"];
      }
    }
    std::vector<std::string> out;
    for (const auto& [dev, vdi] : by_dev) out.push_back(vdi);
    return out;
  }
  std::string NewVdi(const std::string& sr, int64_t size, const std::string& name) {
    XmlRpcStruct rec{{"name_label", XmlRpcValue(name)},
                     {"name_description", XmlRpcValue("")},
                     {"SR", XmlRpcValue(sr)},
                     {"virtual_size", XmlRpcValue(std::to_string(size))},
                     {"type", XmlRpcValue("user")},
                     {"sharable", XmlRpcValue(false)},
                     {"read_only", XmlRpcValue(false)},
                     {"other_config", XmlRpcValue(XmlRpcStruct{})},
                     {"xenstore_data", XmlRpcValue(XmlRpcStruct{})},
                     {"sm_config", XmlRpcValue(XmlRpcStruct{})},
                     {"tags", XmlRpcValue(formats::XmlRpcArray{})}};
    return Xapi("VDI.create", {XmlRpcValue(std::move(rec))}).str();
  }

  CliHarness h_;
  std::string state_, session_;
  std::unique_ptr<SimProcess> sim_;
  std::map<std::string, std::string> env_;
};

TEST_F(VmPreflight, SrWithoutRoomSkipsTheVmAndCreatesNothing) {
  StartPool();
  // alpine-halted's 32 MiB disk is on the master's thick LVM SR (50 GiB):
  // a 48 GiB volume leaves less than 5% of it free.
  std::string disk = Disks("alpine-halted").at(0);
  std::string sr = Xapi("VDI.get_SR", {XmlRpcValue(disk)}).str();
  ASSERT_EQ(Xapi("SR.get_type", {XmlRpcValue(sr)}).str(), "lvm");
  NewVdi(sr, int64_t(48) << 30, "filler");
  json r = Backup({"alpine-halted"});
  EXPECT_TRUE(r["skipped"].get<bool>()) << r.dump();
  EXPECT_NE(r["note"].get<std::string>().find("--min-sr-free"), std::string::npos) << r.dump();
  EXPECT_EQ(SnapshotVms(), 0u);
  EXPECT_TRUE(Db()["objects"]["task"].empty());
  // Told to keep nothing free, the 32 MiB snapshot fits in what is left.
  r = Backup({"alpine-halted", "--min-sr-free", "0"});
  EXPECT_FALSE(r["skipped"].get<bool>()) << r.dump();
  EXPECT_FALSE(r["snapshot"].get<std::string>().empty());
}

TEST_F(VmPreflight, LongVhdChainSkipsTheVm) {
  StartPool();
  std::string disk = Disks("alpine-halted").at(0);
  std::string sr = Xapi("VDI.get_SR", {XmlRpcValue(disk)}).str();
  // disk -> p3 -> p2 -> p1: a chain of 4 VHDs, as sm_config shows it.
  std::string child = disk;
  for (int i = 3; i >= 1; --i) {
    std::string parent = NewVdi(sr, 1 << 20, "hidden parent " + std::to_string(i));
    std::string uuid = Xapi("VDI.get_uuid", {XmlRpcValue(parent)}).str();
    Xapi("VDI.add_to_sm_config", {XmlRpcValue(child), XmlRpcValue("vhd-parent"), XmlRpcValue(uuid)});
    child = parent;
  }
  json r = Backup({"alpine-halted", "--max-chain", "4"});
  EXPECT_TRUE(r["skipped"].get<bool>()) << r.dump();
  EXPECT_NE(r["note"].get<std::string>().find("VHD chain of 4"), std::string::npos) << r.dump();
  EXPECT_EQ(SnapshotVms(), 0u);
  r = Backup({"alpine-halted", "--max-chain", "5"});
  EXPECT_FALSE(r["skipped"].get<bool>()) << r.dump();
}

TEST_F(VmPreflight, TaggedDiskIsLeftOut) {
  StartPool();
  std::vector<std::string> disks = Disks("debian-web");
  ASSERT_EQ(disks.size(), 2u);
  std::string left_out = Xapi("VDI.get_uuid", {XmlRpcValue(disks[1])}).str();
  Xapi("VDI.add_tags", {XmlRpcValue(disks[1]), XmlRpcValue("no-backup")});
  json r = Backup({"debian-web", "--exclude-disk-tag", "no-backup"});
  ASSERT_EQ(r["disks"].size(), 1u) << r.dump();
  EXPECT_NE(r["disks"][0]["key"], left_out);
  EXPECT_NE(r["notes"].dump().find("left out"), std::string::npos) << r.dump();
  // The recovery point holds the one disk; the pool keeps no snapshot.
  RunResult snaps = h_.Run({"snapshots", "--json"}, env_);
  json points = json::parse(snaps.out, nullptr, false);
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0]["disks"].size(), 1u);
  EXPECT_EQ(SnapshotVms(), 0u);
}

TEST_F(VmPreflight, QuiesceWhereTheHostHasIt) {
  // XenServer 7.1 still has VM.snapshot_with_quiesce; the simulator's VSS
  // agent is other_config casulo-sim:vss=true.
  StartPool({"--product", "xenserver-7.1"});
  std::string vm = Xapi("VM.get_by_name_label", {XmlRpcValue("debian-web")}).array().at(0).str();
  Xapi("VM.add_to_other_config", {XmlRpcValue(vm), XmlRpcValue("casulo-sim:vss"), XmlRpcValue("true")});
  json r = Backup({"debian-web", "--quiesce"});
  EXPECT_NE(r["notes"].dump().find("quiesced snapshot"), std::string::npos) << r.dump();
  // debian-db has no VSS agent: crash-consistent, and said so.
  r = Backup({"debian-db", "--quiesce"});
  EXPECT_NE(r["notes"].dump().find("VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED"), std::string::npos) << r.dump();
  RunResult snaps = h_.Run({"snapshots", "--json"}, env_);
  json points = json::parse(snaps.out, nullptr, false);
  std::map<std::string, std::string> consistency;
  for (const auto& p : points) consistency[p["labels"]["vm_name"]] = p["labels"]["consistency"];
  EXPECT_EQ(consistency["debian-web"], "quiesced");
  EXPECT_EQ(consistency["debian-db"], "crash-consistent");
  EXPECT_EQ(SnapshotVms(), 0u);
}

TEST_F(VmPreflight, QuiesceRemovedSinceCitrix81FallsBack) {
  StartPool();  // XCP-ng 8.3: MESSAGE_REMOVED
  json r = Backup({"alpine-halted", "--quiesce"});
  EXPECT_FALSE(r["snapshot"].get<std::string>().empty()) << r.dump();
  EXPECT_NE(r["notes"].dump().find("MESSAGE_REMOVED"), std::string::npos) << r.dump();
}

}  // namespace
}  // namespace casulo::testing

// `casulo backup vm` when CBT + NBD is not the way (docs/design/vm-backup.md,
// "Transports" and "Verified"): CBT turned off (--no-cbt), a host playing
// XenServer 6.5 (neither CBT nor NBD), CBT on but no NBD (no network with
// an NBD purpose, or get_nbd_info failing). Each incremental must go as a
// VHD delta against the snapshot the previous run kept, restore
// byte-identical, record why the better transports were not used, and leave
// the pool one base snapshot per disk. Last, two VMs cloned from one
// template: the second stores (almost) nothing new.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_harness.h"
#include "core/testing/sim_process.h"
#include "formats/xmlrpc.h"

namespace casulo::testing {
namespace {

using Json = nlohmann::json;
using formats::XmlRpcArray;
using formats::XmlRpcValue;

constexpr uint64_t kVhdBlock = 2 << 20;

std::string AllOf(const Json& strings) {
  std::string s;
  for (const auto& e : strings) s += e.get<std::string>() + "\n";
  return s;
}

class VmDelta : public ::testing::Test {
 protected:
  void StartSim(const std::string& product = "citrix-8.2",
                const std::vector<std::string>& faults = {}) {
    state_ = h_.Path("sim");
    std::vector<std::string> args{"--state", state_,      "--listen", "127.0.0.1:0",
                                  "--demo",  "--product", product};
    for (const auto& f : faults) args.insert(args.end(), {"--fault", f});
    sim_ = std::make_unique<SimProcess>(CASULO_SIM_BIN, args);
    ASSERT_TRUE(sim_->ok());
    std::ofstream(h_.Path("pool.pw")) << "casulo\n";
    env_ = {{"CASULO_CONFIG_DIR", h_.Path("config")}};
    RunResult r = h_.Run({"pool", "add", "demo", sim_->url(), "--user", "root", "--password-file",
                          h_.Path("pool.pw")},
                         env_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    h_.Init();
  }

  // `backup vm demo VMS... EXTRA...` with --json; one report per VM.
  Json Backup(const std::vector<std::string>& vms, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"--json", "backup", "vm", "demo"};
    args.insert(args.end(), vms.begin(), vms.end());
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = h_.Run(args, env_);
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    Json j = Json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_array() && j.size() == vms.size()) << r.out;
    return j.is_array() ? j : Json::array();
  }

  void GuestWrite(const std::string& vm, int blocks) {
    std::string cmd = std::string(CASULO_SIM_BIN) + " write --state " + state_ + " " + vm +
                      " --blocks " + std::to_string(blocks) + " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }

  // A XenAPI call to the simulator (XML-RPC at POST /), as any client would
  // make it; the session is logged in on first use.
  XmlRpcValue Xapi(const std::string& method, XmlRpcArray params) {
    if (method != "session.login_with_password") {
      if (session_.empty())
        session_ = Xapi("session.login_with_password", {"root", "casulo"}).str();
      params.insert(params.begin(), XmlRpcValue(session_));
    }
    std::string body =
        HttpBody(sim_->port(), "POST", "/", formats::PrintMethodCall(method, params));
    auto resp = formats::ParseMethodResponse(body);
    EXPECT_TRUE(resp.ok() && !resp->fault) << method << ": " << body;
    if (!resp.ok()) return XmlRpcValue();
    const XmlRpcValue* status = resp->value.Find("Status");
    EXPECT_TRUE(status != nullptr && status->is_string() && status->str() == "Success")
        << method << ": " << body;
    const XmlRpcValue* v = resp->value.Find("Value");
    return v != nullptr ? *v : XmlRpcValue();
  }
  std::string VmRef(const std::string& name) {
    XmlRpcValue refs = Xapi("VM.get_by_name_label", {name});
    return refs.is_array() && !refs.array().empty() ? refs.array()[0].str() : "";
  }

  Json Stats() {
    Json j = Json::parse(HttpBody(sim_->port(), "GET", "/casulo-sim/stats"), nullptr, false);
    return j.is_object() ? j : Json::object({{"calls", Json::object()}});
  }
  int64_t Calls(const std::string& method) {
    Json s = Stats();
    return s["calls"].contains(method) ? s["calls"][method].get<int64_t>() : 0;
  }

  Json Db() {
    std::ifstream f(state_ + "/db.json");
    return Json::parse(f, nullptr, false);
  }
  // The point with this id, from `snapshots --json` (its disks' labels).
  Json Point(const std::string& id) {
    RunResult r = h_.Run({"--json", "snapshots"}, env_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (const auto& p : Json::parse(r.out, nullptr, false))
      if (p["id"] == id) return p;
    ADD_FAILURE() << "no point " << id << " in " << r.out;
    return Json::object({{"disks", Json::array()}});
  }

  // Restores disk `key` of `point` and compares it with the simulator's
  // file of VDI `vdi_uuid`.
  void ExpectDiskEquals(const std::string& point, const std::string& key,
                        const std::string& vdi_uuid) {
    std::string out = h_.Path("restored-" + key + ".img");
    std::filesystem::remove(out);
    RunResult r = h_.Run({"restore", "disk", point, key, "--to", out}, env_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Bytes got = h_.Read("restored-" + key + ".img");
    Bytes want;
    {
      std::ifstream f(state_ + "/vdi/" + vdi_uuid + ".img", std::ios::binary);
      want.assign(std::istreambuf_iterator<char>(f), {});
    }
    ASSERT_EQ(got.size(), want.size()) << "VDI " << vdi_uuid;
    EXPECT_TRUE(got == want) << "disk " << key << " of " << point << " differs from VDI "
                             << vdi_uuid;
  }

  // After a run whose points kept whole snapshots (VHD-delta bases): per disk
  // of `report`, the point names its base, the base is the only snapshot
  // VDI of that disk in the pool and holds the data the point restores to;
  // no snapshot VM, no cbt_metadata VDI, no task is left.
  void ExpectOneVhdBasePerDisk(const Json& report) {
    Json point = Point(report["snapshot"]);
    Json db = Db();
    const Json& vdis = db["objects"]["VDI"];
    for (const auto& d : point["disks"]) {
      std::string key = d["key"];
      ASSERT_TRUE(d["labels"].contains("vhd_base")) << d.dump();
      EXPECT_FALSE(d["labels"].contains("cbt_base")) << d.dump();
      std::string base = d["labels"]["vhd_base"];
      std::string source_ref;
      for (const auto& [ref, v] : vdis.items())
        if (v["uuid"] == key) source_ref = ref;
      std::vector<std::string> snaps;
      for (const auto& [ref, v] : vdis.items())
        if (v["is_a_snapshot"] == true && v["snapshot_of"] == source_ref)
          snaps.push_back(v["uuid"]);
      EXPECT_EQ(snaps, std::vector<std::string>{base}) << "one base snapshot for disk " << key;
      ExpectDiskEquals(report["snapshot"], key, base);  // the snapshot's bytes
    }
    for (const auto& [ref, vm] : db["objects"]["VM"].items())
      EXPECT_NE(vm["is_a_snapshot"], true) << "snapshot VM " << vm["name_label"];
    for (const auto& [ref, v] : vdis.items()) EXPECT_NE(v["type"], "cbt_metadata") << v["uuid"];
    EXPECT_TRUE(!db["objects"].contains("task") || db["objects"]["task"].empty())
        << db["objects"]["task"].dump();
  }

  // Every disk of `report` went by `transport`, and each restores to its VDI
  // (no guest writes since the snapshot).
  void ExpectTransport(const Json& report, const std::string& transport) {
    ASSERT_FALSE(report["disks"].empty()) << report.dump();
    for (const auto& d : report["disks"]) {
      EXPECT_EQ(d["transport"], transport) << d.dump();
      ExpectDiskEquals(report["snapshot"], d["key"], d["key"]);
    }
  }

  CliHarness h_;
  std::string state_, session_;
  std::unique_ptr<SimProcess> sim_;
  std::map<std::string, std::string> env_;
};

// --no-cbt twice with guest writes between: the second run is a VHD delta
// over the snapshot the first kept, which it then replaces.
TEST_F(VmDelta, NoCbtIncrementalIsAVhdDelta) {
  StartSim();
  Json first = Backup({"debian-db", "debian-web"}, {"--no-cbt"});
  for (const auto& vm : first) {
    ExpectTransport(vm, "nbd");  // NBD works without CBT: allocated blocks
    ExpectOneVhdBasePerDisk(vm);
  }
  GuestWrite("debian-db", 8);
  GuestWrite("debian-web", 8);
  Json second = Backup({"debian-db", "debian-web"}, {"--no-cbt"});
  for (const auto& vm : second) {
    ExpectTransport(vm, "vhd-delta");
    for (const auto& d : vm["disks"]) {
      EXPECT_NE(AllOf(d["fallbacks"]).find("cbt-nbd: "), std::string::npos) << d.dump();
      EXPECT_NE(AllOf(d["fallbacks"]).find("CBT is off"), std::string::npos) << d.dump();
      // A VHD delta carries whole 2 MiB blocks: at most one per write.
      EXPECT_LE(d["read_bytes"].get<uint64_t>(), 8u * kVhdBlock) << "a delta, not a full";
    }
    ExpectOneVhdBasePerDisk(vm);
  }
  EXPECT_EQ(Calls("VDI.enable_cbt"), 0);
  EXPECT_EQ(Calls("VDI.data_destroy"), 0);
  RunResult check = h_.Run({"check", "--read-data"}, env_);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

// XenServer 6.5: no CBT, no NBD. The first run streams the VHD, the next
// a VHD delta; both gaps are probed once per run, not per VM or disk.
TEST_F(VmDelta, XenServer65GoesByVhdStreamsAndSaysWhy) {
  StartSim("xenserver-6.5");
  Json first = Backup({"debian-db", "debian-web"});
  for (const auto& vm : first) {
    ExpectTransport(vm, "vhd");
    for (const auto& d : vm["disks"]) {
      std::string why = AllOf(d["fallbacks"]);
      EXPECT_NE(why.find("cbt-nbd: "), std::string::npos) << why;
      EXPECT_NE(why.find("no CBT"), std::string::npos) << why;
      EXPECT_NE(why.find("before 7.3"), std::string::npos) << why;
      EXPECT_NE(why.find("vhd-delta: "), std::string::npos) << why;
      EXPECT_NE(why.find("no kept snapshot"), std::string::npos) << why;
      EXPECT_NE(why.find("nbd: "), std::string::npos) << why;
      EXPECT_NE(why.find("no NBD"), std::string::npos) << why;
    }
    ExpectOneVhdBasePerDisk(vm);
  }
  EXPECT_EQ(Calls("VDI.enable_cbt"), 1) << "CBT probed once for the run's 3 disks";
  EXPECT_EQ(Calls("VDI.get_nbd_info"), 1) << "NBD probed once for the run's 3 disks";
  EXPECT_EQ(Calls("VDI.data_destroy"), 0);

  GuestWrite("debian-db", 5);
  Json second = Backup({"debian-db", "debian-web"});
  for (const auto& vm : second) {
    ExpectTransport(vm, "vhd-delta");
    for (const auto& d : vm["disks"]) {
      EXPECT_NE(AllOf(d["fallbacks"]).find("no CBT"), std::string::npos) << d.dump();
      EXPECT_LE(d["read_bytes"].get<uint64_t>(), 5u * kVhdBlock) << d.dump();
    }
    ExpectOneVhdBasePerDisk(vm);
  }
  EXPECT_EQ(Calls("VDI.enable_cbt"), 2);
  EXPECT_EQ(Calls("VDI.get_nbd_info"), 1) << "the delta needed no NBD";
  RunResult check = h_.Run({"check", "--read-data"}, env_);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

// CBT on, but no network carries the NBD purpose: the disks are read as VHD
// streams, so the run keeps whole snapshots (not cbt_metadata, which would
// leave the next run nothing to diff against) and the next is a VHD delta.
// Once NBD is back, the kept snapshot serves as the CBT base.
TEST_F(VmDelta, CbtWithoutNbdNetworkKeepsAVhdBase) {
  StartSim();
  std::string net;
  XmlRpcValue nets = Xapi("network.get_all_records", {});
  for (const auto& [ref, rec] : nets.members())
    if (rec.Find("name_label")->str() == "Bond 0+1") net = ref;
  ASSERT_FALSE(net.empty());
  Xapi("network.remove_purpose", {net, "nbd"});

  Json first = Backup({"debian-db", "debian-web"});
  for (const auto& vm : first) {
    ExpectTransport(vm, "vhd");
    for (const auto& d : vm["disks"])
      EXPECT_NE(AllOf(d["fallbacks"]).find("no network with an NBD purpose"), std::string::npos)
          << d.dump();
    ExpectOneVhdBasePerDisk(vm);
  }
  EXPECT_EQ(Calls("VDI.get_nbd_info"), 1) << "one SR, asked once";
  EXPECT_EQ(Calls("VDI.data_destroy"), 0) << "whole snapshots kept";

  GuestWrite("debian-db", 6);
  int64_t lcb = Calls("VDI.list_changed_blocks");
  Json second = Backup({"debian-db", "debian-web"});
  for (const auto& vm : second) {
    ExpectTransport(vm, "vhd-delta");
    for (const auto& d : vm["disks"]) {
      std::string why = AllOf(d["fallbacks"]);
      EXPECT_NE(why.find("cbt-nbd: "), std::string::npos) << why;
      EXPECT_NE(why.find("NBD purpose"), std::string::npos) << why;
    }
    ExpectOneVhdBasePerDisk(vm);
  }
  EXPECT_EQ(Calls("VDI.list_changed_blocks"), lcb) << "no bitmap asked for without NBD to use it";

  Xapi("network.add_purpose", {net, "nbd"});
  GuestWrite("debian-db", 3);
  Json third = Backup({"debian-db"});
  ASSERT_EQ(third.size(), 1u);
  ExpectTransport(third[0], "cbt-nbd");
  EXPECT_EQ(third[0]["disks"][0]["read_bytes"].get<uint64_t>(), 3u * 65536)
      << "only the written blocks";
  Json point = Point(third[0]["snapshot"]);
  ASSERT_TRUE(point["disks"][0]["labels"].contains("cbt_base")) << point.dump();
  std::string base = point["disks"][0]["labels"]["cbt_base"];
  int old_bases = 0;
  Json db = Db();
  for (const auto& [ref, v] : db["objects"]["VDI"].items()) {
    if (v["uuid"] == base)
      EXPECT_EQ(v["type"], "cbt_metadata");
    else if (v["is_a_snapshot"] == true &&
             v["name_label"].get<std::string>().find("debian-db") != std::string::npos)
      ++old_bases;
  }
  EXPECT_EQ(old_bases, 0) << "the VHD base it replaced is gone";
  RunResult check = h_.Run({"check", "--read-data"}, env_);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

// CBT on, get_nbd_info failing: the same fallbacks, the error in them.
TEST_F(VmDelta, CbtWithNbdInfoFailingKeepsAVhdBase) {
  StartSim("citrix-8.2", {"error:VDI.get_nbd_info:1000:INTERNAL_ERROR,nbd is off"});
  Json first = Backup({"debian-db"});
  ASSERT_EQ(first.size(), 1u);
  ExpectTransport(first[0], "vhd");
  EXPECT_NE(AllOf(first[0]["disks"][0]["fallbacks"]).find("nbd is off"), std::string::npos);
  ExpectOneVhdBasePerDisk(first[0]);
  GuestWrite("debian-db", 4);
  Json second = Backup({"debian-db"});
  ASSERT_EQ(second.size(), 1u);
  ExpectTransport(second[0], "vhd-delta");
  std::string why = AllOf(second[0]["disks"][0]["fallbacks"]);
  EXPECT_NE(why.find("cbt-nbd: "), std::string::npos) << why;
  EXPECT_NE(why.find("nbd is off"), std::string::npos) << why;
  ExpectOneVhdBasePerDisk(second[0]);
}

// Two VMs cloned from one template (VM.clone, as `xe vm-install` does): the
// second's disks are the first's bytes, so its point adds almost nothing.
TEST_F(VmDelta, TwoVmsFromOneTemplateDeduplicate) {
  StartSim();
  std::string tmpl = VmRef("alpine-halted");
  ASSERT_FALSE(tmpl.empty());
  Xapi("VM.set_is_a_template", {tmpl, XmlRpcValue(true)});
  for (const char* name : {"web-a", "web-b"}) {
    std::string vm = Xapi("VM.clone", {tmpl, name}).str();
    ASSERT_FALSE(vm.empty());
    Xapi("VM.set_is_a_template", {vm, XmlRpcValue(false)});
  }
  Json a = Backup({"web-a"});
  Json b = Backup({"web-b"});
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  uint64_t data = 0;
  for (const auto& d : b[0]["disks"]) {
    data += d["read_bytes"].get<uint64_t>();
    EXPECT_EQ(d["new_bytes"], 0) << "the disk's chunks are web-a's: " << d.dump();
    ExpectDiskEquals(b[0]["snapshot"], d["key"], d["key"]);
  }
  ASSERT_GT(data, 0u) << "the template's disk has data: " << b.dump();
  uint64_t new_bytes = b[0]["new_bytes"];
  std::printf("web-b: %llu bytes of disk data read, %llu new (web-a: %llu new)\n", (unsigned long long)data,
              (unsigned long long)new_bytes, (unsigned long long)a[0]["new_bytes"].get<uint64_t>());
  EXPECT_GT(new_bytes, 0u) << "the metadata document is new and counted";
  EXPECT_LT(new_bytes, data / 10) << b.dump();
  EXPECT_GT(a[0]["new_bytes"].get<uint64_t>(), data / 2) << "web-a stored the data: " << a.dump();
}

}  // namespace
}  // namespace casulo::testing

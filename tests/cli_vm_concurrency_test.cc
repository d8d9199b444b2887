// `casulo backup vm --concurrency N [--per-host N] [--per-sr N]` against
// casulo-sim's demo pool (docs/design/vm-backup.md, "Several VMs at once"):
// every VM is backed up and its point is whole, the simulator saw several
// snapshots alive at once (its snapshot_vms gauge, a fact rather than a
// timing), the limits hold, the summary keeps the VMs' name order, and
// SIGINT mid-run stops every worker with the pool left clean.
//
// Demo pool: debian-web (NFS, host 1), debian-db (NFS, host 2), win2019
// (local SR, host 1), alpine-halted (halted, local SR of host 1).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cli_harness.h"
#include "core/testing/sim_process.h"
#include "sim_pool_util.h"

namespace casulo::testing {
namespace {

using Json = nlohmann::json;

class VmConcurrency : public ::testing::Test {
 protected:
  void StartSim(const std::vector<std::string>& faults = {}) {
    state_ = h_.Path("sim");
    std::vector<std::string> args{"--state", state_, "--listen", "127.0.0.1:0", "--demo"};
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

  std::vector<std::string> BackupArgs(const std::vector<std::string>& extra) {
    std::vector<std::string> args{"--json", "backup", "vm", "demo"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  Json Stats() {
    Json j = Json::parse(HttpBody(sim_->port(), "GET", "/casulo-sim/stats"), nullptr, false);
    return j.is_object() ? j : Json::object();
  }
  // The most snapshot VMs the pool held at once since the simulator started.
  int64_t MaxSnapshotsAtOnce() {
    Json s = Stats();
    if (!s.contains("gauges") || !s["gauges"].contains("snapshot_vms")) return 0;
    return s["gauges"]["snapshot_vms"]["max"].get<int64_t>();
  }
  int64_t Requests(const std::string& path) {
    Json s = Stats();
    return s.contains("http") && s["http"].contains(path) ? s["http"][path]["requests"].get<int64_t>() : 0;
  }

  Json Points() {
    RunResult r = h_.Run({"--json", "snapshots"}, env_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return Json::parse(r.out, nullptr, false);
  }
  Kept Bases() { return LatestBases(Points()); }
  void ExpectClean() {
    std::ifstream f(state_ + "/db.json");
    std::vector<std::string> left = Leftovers(Json::parse(f, nullptr, false), Bases());
    std::string text;
    for (const auto& l : left) text += "\n  " + l;
    EXPECT_TRUE(left.empty()) << "leftovers in the pool:" << text;
    RunResult check = h_.Run({"check", "--read-data"}, env_);
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  }

  // Restores disk `key` of `point` and compares it with the simulator's VDI
  // file (the source disk: no guest writes happened since).
  void ExpectDiskEquals(const std::string& point, const std::string& key) {
    std::string out = h_.Path("restored-" + key + ".img");
    std::filesystem::remove(out);
    RunResult r = h_.Run({"restore", "disk", point, key, "--to", out}, env_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Bytes got = h_.Read("restored-" + key + ".img");
    std::ifstream f(state_ + "/vdi/" + key + ".img", std::ios::binary);
    Bytes want((std::istreambuf_iterator<char>(f)), {});
    ASSERT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << "disk " << key << " differs from its VDI";
  }

  // Polls `ready` until it holds; false after 15 s (a wait for a state,
  // not a measured time).
  static bool WaitFor(const std::function<bool()>& ready) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < end) {
      if (ready()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  CliHarness h_;
  std::string state_;
  std::unique_ptr<SimProcess> sim_;
  std::map<std::string, std::string> env_;
};

// The first three disk transfers are slowed (over the VHD stream, NBD being
// off), so the three workers are all in their disk phase together: the
// overlap does not depend on how fast the machine is.
const std::vector<std::string> kSlowFirstDisks{"error:VDI.get_nbd_info:100:INTERNAL_ERROR,nbd is off",
                                                "slow:/export_raw_vdi:4M:3"};

TEST_F(VmConcurrency, ThreeAtOnceBackUpEveryVmInOrder) {
  StartSim(kSlowFirstDisks);
  RunResult r = h_.Run(BackupArgs({"--all", "--concurrency", "3"}), env_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << r.out;
  std::vector<std::string> names;
  for (const auto& vm : j) {
    names.push_back(vm["name"]);
    EXPECT_FALSE(vm["snapshot"].get<std::string>().empty()) << vm.dump();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"alpine-halted", "debian-db", "debian-web", "win2019"}))
      << "the summary keeps the name order";
  EXPECT_GT(MaxSnapshotsAtOnce(), 1) << "several VMs were snapshotted at once";
  EXPECT_LE(MaxSnapshotsAtOnce(), 3) << "never more than --concurrency";
  EXPECT_EQ(Points().size(), 4u);
  for (const auto& vm : j)
    if (vm["name"] == "debian-db") ExpectDiskEquals(vm["snapshot"], vm["disks"][0]["key"]);
  ExpectClean();
}

// debian-web and debian-db have their disks on the one NFS SR: with
// --per-sr 1 they are backed up one after the other, whatever --concurrency.
TEST_F(VmConcurrency, PerSrOneSerialisesVmsOnOneSr) {
  StartSim(kSlowFirstDisks);
  RunResult r = h_.Run(BackupArgs({"debian-web", "debian-db", "--concurrency", "3", "--per-sr", "1"}), env_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out, nullptr, false).size(), 2u) << r.out;
  EXPECT_EQ(MaxSnapshotsAtOnce(), 1);
  EXPECT_EQ(Points().size(), 2u);
  ExpectClean();
}

// --per-host 1: debian-web, win2019 and alpine-halted (halted on host 1's
// local SR) all count against host 1, so at most two VMs (one of them
// debian-db, on host 2) run at once.
TEST_F(VmConcurrency, PerHostLimitHolds) {
  StartSim(kSlowFirstDisks);
  RunResult r = h_.Run(BackupArgs({"--all", "--concurrency", "3", "--per-host", "1"}), env_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out, nullptr, false).size(), 4u) << r.out;
  EXPECT_LE(MaxSnapshotsAtOnce(), 2);
  EXPECT_EQ(Points().size(), 4u);
  ExpectClean();
}

// SIGINT while several VMs are in their disk phase: every worker stops and
// undoes its pool changes, exit 130, no point is half written.
TEST_F(VmConcurrency, SigintStopsEveryWorkerAndLeavesThePoolClean) {
  StartSim({"error:VDI.get_nbd_info:100:INTERNAL_ERROR,nbd is off", "slow:/export_raw_vdi:1M"});
  pid_t pid = h_.Start(BackupArgs({"--all", "--concurrency", "3"}), "bg", env_);
  ASSERT_TRUE(WaitFor([&] { return Requests("/export_raw_vdi") >= 2; }));
  EXPECT_GE(MaxSnapshotsAtOnce(), 2);
  kill(pid, SIGINT);
  int rc = CliHarness::Wait(pid);
  Bytes err = h_.Read("bg.err");
  EXPECT_EQ(rc, 130) << std::string(err.begin(), err.end());
  for (const auto& p : Points()) EXPECT_FALSE(p["disks"].empty()) << "a committed point is whole";
  ExpectClean();
}

}  // namespace
}  // namespace casulo::testing

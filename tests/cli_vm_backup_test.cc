// `casulo backup vm` and `restore disk` end to end against casulo-sim's
// demo pool: a first backup over NBD (allocated blocks only), guest writes,
// an incremental over CBT + NBD that reads exactly the written blocks, each
// restored disk byte-identical to the VDI it came from, and a pool left with
// nothing of ours but the CBT bases.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_harness.h"
#include "core/testing/sim_process.h"

namespace casulo::testing {
namespace {

class VmBackupCli : public ::testing::Test {
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

  nlohmann::json Backup(const std::vector<std::string>& vms) {
    std::vector<std::string> args{"--json", "backup", "vm", "demo"};
    args.insert(args.end(), vms.begin(), vms.end());
    RunResult r = h_.Run(args, env_);
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  nlohmann::json Db() {
    std::ifstream f(state_ + "/db.json");
    return nlohmann::json::parse(f, nullptr, false);
  }

  // Restores disk `key` of `point` and compares it with the simulator's file
  // of VDI `vdi_uuid`.
  void ExpectDiskEquals(const std::string& point, const std::string& key, const std::string& vdi_uuid) {
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
    ASSERT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << "disk " << key << " differs from VDI " << vdi_uuid;
  }

  CliHarness h_;
  std::string state_;
  std::unique_ptr<SimProcess> sim_;
  std::map<std::string, std::string> env_;
};

// Runs `cmd` in a shell; its stdout and stderr go to `out`.
int Shell(const std::string& cmd, std::string& out) {
  out.clear();
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST_F(VmBackupCli, FullThenCbtIncrementalRestoresByteIdentical) {
  nlohmann::json first = Backup({"debian-web"});
  ASSERT_TRUE(first.is_array() && first.size() == 1) << first.dump();
  const auto& vm1 = first[0];
  ASSERT_EQ(vm1["disks"].size(), 2u);
  for (const auto& d : vm1["disks"]) {
    EXPECT_EQ(d["transport"], "nbd") << d.dump();
    EXPECT_LT(d["read_bytes"].get<uint64_t>(), d["size"].get<uint64_t>()) << "holes are not read";
    ExpectDiskEquals(vm1["snapshot"], d["key"], d["key"]);
  }

  std::string cmd = std::string(CASULO_SIM_BIN) + " write --state " + state_ + " debian-web --blocks 16 >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);

  nlohmann::json second = Backup({"debian-web"});
  ASSERT_TRUE(second.is_array() && second.size() == 1) << second.dump();
  const auto& vm2 = second[0];
  EXPECT_EQ(vm2["parent"], vm1["snapshot"]);
  for (const auto& d : vm2["disks"]) {
    EXPECT_EQ(d["transport"], "cbt-nbd") << d.dump();
    EXPECT_EQ(d["read_bytes"].get<uint64_t>(), 16u * 65536) << "only the written blocks are read";
    ExpectDiskEquals(vm2["snapshot"], d["key"], d["key"]);
  }

  // The pool keeps nothing of ours but one cbt_metadata base per disk.
  nlohmann::json db = Db();
  int snapshot_vms = 0, snapshot_vdis = 0, bases = 0, tasks = 0;
  for (const auto& [ref, vm] : db["objects"]["VM"].items())
    if (vm["is_a_snapshot"] == true) ++snapshot_vms;
  for (const auto& [ref, vdi] : db["objects"]["VDI"].items()) {
    if (vdi["type"] == "cbt_metadata") ++bases;
    else if (vdi["is_a_snapshot"] == true) ++snapshot_vdis;
  }
  if (db["objects"].contains("task")) tasks = int(db["objects"]["task"].size());
  EXPECT_EQ(snapshot_vms, 0);
  EXPECT_EQ(snapshot_vdis, 0);
  EXPECT_EQ(bases, 2);
  EXPECT_EQ(tasks, 0) << "every task we made is destroyed";
  for (const auto& [ref, vm] : db["objects"]["VM"].items())
    EXPECT_FALSE(vm["blocked_operations"].contains("pool_migrate")) << "migration unblocked";

  RunResult check = h_.Run({"check", "--read-data"}, env_);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

// `restore disk --format vhd`: a dynamic VHD that qemu-img reads as the
// VDI's bytes, holding only the 2 MiB blocks with data; also to stdout.
TEST_F(VmBackupCli, RestoreDiskAsVhdIsTheVdi) {
  nlohmann::json first = Backup({"debian-db"});
  ASSERT_TRUE(first.is_array() && first.size() == 1) << first.dump();
  const auto& d = first[0]["disks"][0];
  const std::string key = d["key"], point = first[0]["snapshot"];
  std::string vhd = h_.Path("disk.vhd");
  RunResult r = h_.Run({"restore", "disk", point, "0", "--to", vhd, "--format", "vhd"}, env_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string vdi = state_ + "/vdi/" + key + ".img";
  std::string out;
  EXPECT_EQ(Shell("qemu-img compare --image-opts driver=raw,file.filename=" + vdi +
                      " driver=vpc,force_size_calc=current_size,file.filename=" + vhd,
                  out),
            0)
      << out;
  EXPECT_EQ(Shell("vhdiinfo " + vhd, out), 0) << out;
  EXPECT_NE(out.find("Dynamic"), std::string::npos) << out;
  EXPECT_LT(std::filesystem::file_size(vhd), d["size"].get<uint64_t>()) << "holes are not in the VHD";

  RunResult piped = h_.Run({"restore", "disk", point, "0", "--to", "-", "--format", "vhd"}, env_);
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  {
    std::ofstream f(h_.Path("piped.vhd"), std::ios::binary);
    f << piped.out;
  }
  // Footers differ (time stamp, unique id), the contents must not.
  EXPECT_EQ(piped.out.size(), std::filesystem::file_size(vhd));
  EXPECT_EQ(Shell("qemu-img compare --image-opts driver=raw,file.filename=" + vdi +
                      " driver=vpc,force_size_calc=current_size,file.filename=" + h_.Path("piped.vhd"),
                  out),
            0)
      << out;
  RunResult exists = h_.Run({"restore", "disk", point, "0", "--to", vhd, "--format", "vhd"}, env_);
  EXPECT_EQ(exists.exit_code, 4) << "an existing file needs --overwrite: " << exists.err;
  RunResult bad = h_.Run({"restore", "disk", point, "0", "--to", vhd, "--format", "qcow2"}, env_);
  EXPECT_NE(bad.exit_code, 0);
}

TEST_F(VmBackupCli, UnknownVmIsAClearError) {
  RunResult r = h_.Run({"backup", "vm", "demo", "no-such-vm"}, env_);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("no-such-vm"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace casulo::testing

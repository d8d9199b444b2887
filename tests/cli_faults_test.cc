// Faults an administrator will meet: a backup killed at any moment, two
// backups at once, prune while a backup runs. Afterwards the repository must
// check clean and every earlier snapshot must restore byte for byte.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli_harness.h"

namespace casulo::testing {
namespace {

constexpr uint64_t kMiB = 1 << 20;

void ExpectRestores(const CliHarness& h, const std::string& snap, const std::string& image) {
  std::string out = h.Path("check-" + snap.substr(0, 8) + ".img");
  auto r = h.Run({"restore", "image", snap, out, "--overwrite"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(h.Read(out.substr(h.dir().string().size() + 1)) == h.Read(image))
      << "snapshot " << snap << " does not restore " << image;
  std::filesystem::remove(out);
}

TEST(CliFaults, BackupKilledAtRandomPointsLeavesRepositoryConsistent) {
  CliHarness h;
  h.Init({"--compression", "1"});
  h.MakeImage("base.img", 24 * kMiB, 64 * 1024, 10);
  auto first = h.Run({"backup", "image", h.Path("base.img"), "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string base = h.LatestSnapshot();
  // A bigger image whose backup takes long enough to be killed mid-way; a
  // small pack size makes packs and index files appear during the run.
  h.MakeImage("big.img", 160 * kMiB, 64 * 1024, 11);
  std::mt19937 rng(1234);
  int killed = 0;
  for (int round = 0; round < 6; ++round) {
    pid_t pid = h.Start({"backup", "image", h.Path("big.img"), "--quiet"}, "bg");
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<>(
        20, 1200)(rng)));
    kill(pid, SIGKILL);
    int code = CliHarness::Wait(pid);
    if (code == 128 + SIGKILL) ++killed;
    auto check = h.Run({"check"});
    EXPECT_EQ(check.exit_code, 0) << "round " << round << ": " << check.out << check.err;
  }
  EXPECT_GT(killed, 0) << "no backup was actually interrupted";
  ExpectRestores(h, base, "base.img");
  // The killed runs left a stale lock of a dead process: the next backup
  // proceeds, and reuses what the killed runs indexed.
  auto done = h.Run({"backup", "image", h.Path("big.img"), "--json"});
  ASSERT_EQ(done.exit_code, 0) << done.err;
  ExpectRestores(h, h.LatestSnapshot(), "big.img");
  auto check = h.Run({"check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST(CliFaults, TwoBackupsAtOnce) {
  CliHarness h;
  h.Init();
  h.MakeImage("a.img", 48 * kMiB, 64 * 1024, 20);
  h.MakeImage("b.img", 48 * kMiB, 2 * 64 * 1024, 21);
  pid_t a = h.Start({"backup", "image", h.Path("a.img"), "--quiet"}, "a");
  pid_t b = h.Start({"backup", "image", h.Path("b.img"), "--quiet"}, "b");
  EXPECT_EQ(CliHarness::Wait(a), 0);
  EXPECT_EQ(CliHarness::Wait(b), 0);
  auto list = h.Run({"snapshots", "--json"});
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("a.img"), std::string::npos);
  EXPECT_NE(list.out.find("b.img"), std::string::npos);
  auto check = h.Run({"check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  for (const auto& snap : nlohmann::json::parse(list.out)) {
    std::string source = snap["source"];
    ExpectRestores(h, snap["id"], source.substr(source.rfind('/') + 1));
  }
}

TEST(CliFaults, PruneWhileBackupRunsIsRefused) {
  CliHarness h;
  h.Init();
  h.MakeImage("a.img", 8 * kMiB, 64 * 1024, 30);
  ASSERT_EQ(h.Run({"backup", "image", h.Path("a.img")}).exit_code, 0);
  std::string keep = h.LatestSnapshot();
  h.MakeImage("big.img", 200 * kMiB, 64 * 1024, 31);
  pid_t pid = h.Start({"backup", "image", h.Path("big.img"), "--quiet"}, "bg");
  // Wait until the backup holds its lock.
  for (int i = 0; i < 200 && std::filesystem::is_empty(h.Path("repo/locks")); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto prune = h.Run({"prune"});
  int backup = CliHarness::Wait(pid);
  EXPECT_EQ(backup, 0);
  EXPECT_EQ(prune.exit_code, 8) << "prune must wait for backups: " << prune.out << prune.err;
  EXPECT_NE(prune.err.find("lock"), std::string::npos) << prune.err;
  auto check = h.Run({"check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  ExpectRestores(h, keep, "a.img");
  ExpectRestores(h, h.LatestSnapshot(), "big.img");
}

}  // namespace
}  // namespace casulo::testing

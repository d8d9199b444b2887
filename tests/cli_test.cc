// The casulo command line end to end: what an administrator types, the
// output and the documented exit codes (docs/cli-exit-codes.md).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_harness.h"

namespace casulo::testing {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(Cli, BackupIncrementalRestoreRoundTrip) {
  CliHarness h;
  h.Init();
  h.MakeImage("day1.img", 40 * kMiB + 4321, 3 * 64 * 1024, 1);
  auto b1 = h.Run({"backup", "image", h.Path("day1.img"), "--json", "--tag", "nightly"});
  ASSERT_EQ(b1.exit_code, 0) << b1.err;
  auto j1 = nlohmann::json::parse(b1.out);
  std::string s1 = j1["snapshot"];
  // Day 2: a few 64 KiB blocks change; the bitmap says which.
  std::filesystem::copy_file(h.Path("day1.img"), h.Path("day2.img"));
  {
    std::fstream f(h.Path("day2.img"), std::ios::in | std::ios::out | std::ios::binary);
    for (int blk : {0, 7, 300}) {
      f.seekp(blk * 65536);
      f << std::string(65536, char('A' + blk % 26));
    }
  }
  std::string bitmap((640 + 7) / 8 + 1, '\0');
  for (int blk : {0, 7, 300}) bitmap[blk / 8] |= char(0x80 >> (blk % 8));
  std::ofstream(h.Path("day2.cbt"), std::ios::binary) << bitmap;
  auto b2 = h.Run({"backup", "image", h.Path("day2.img"), "--parent", s1.substr(0, 8),
                   "--changed-blocks", h.Path("day2.cbt"), "--json"});
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  auto j2 = nlohmann::json::parse(b2.out);
  EXPECT_EQ(j2["read_bytes"], 3 * 65536);
  std::string s2 = j2["snapshot"];

  auto r1 = h.Run({"restore", "image", s1, h.Path("out1.img")});
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  EXPECT_EQ(h.Read("out1.img"), h.Read("day1.img"));
  auto r2 = h.Run({"restore", "image", "latest", h.Path("out2.img")});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(h.Read("out2.img"), h.Read("day2.img"));

  auto list = h.Run({"snapshots", "--json"});
  ASSERT_EQ(list.exit_code, 0);
  auto arr = nlohmann::json::parse(list.out);
  ASSERT_EQ(arr.size(), 2u);
  EXPECT_EQ(arr[0]["tags"][0], "nightly");
  EXPECT_EQ(arr[1]["parent"], s1);
  auto stats = h.Run({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_EQ(nlohmann::json::parse(stats.out)["snapshots"], 2);
}

TEST(Cli, StdinBackupAndStdoutRestore) {
  CliHarness h;
  h.Init({"--encryption", "none"});
  h.MakeImage("a.img", 3 * kMiB + 5, 65536, 2);
  // The harness gives casulo /dev/null as stdin: an empty stream.
  auto b = h.Run({"backup", "image", "-", "--source", "piped", "--json"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(nlohmann::json::parse(b.out)["size"], 0);
  auto b2 = h.Run({"backup", "image", h.Path("a.img"), "--json"});
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  std::string id = nlohmann::json::parse(b2.out)["snapshot"];
  auto r = h.Run({"restore", "image", id, "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Bytes expect = h.Read("a.img");
  EXPECT_EQ(r.out, std::string(expect.begin(), expect.end()));
}

TEST(Cli, WrongOrMissingPassword) {
  CliHarness h;
  h.Init();
  std::ofstream(h.Path("wrong")) << "not the password\n";
  auto r = h.Run({"snapshots"}, {{"CASULO_PASSWORD_FILE", h.Path("wrong")}});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("wrong password"), std::string::npos) << r.err;
  auto none = h.Run({"snapshots"}, {{"CASULO_PASSWORD_FILE", ""}});
  EXPECT_EQ(none.exit_code, 2) << none.err;
  EXPECT_NE(none.err.find("CASULO_PASSWORD_FILE"), std::string::npos) << none.err;
}

TEST(Cli, KeyPasswdReplacesThePassword) {
  CliHarness h;
  h.Init();
  std::ofstream(h.Path("new")) << "a new password\n";
  auto p = h.Run({"key", "passwd"}, {{"CASULO_NEW_PASSWORD_FILE", h.Path("new")}});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(h.Run({"snapshots"}).exit_code, 7);
  EXPECT_EQ(h.Run({"snapshots"}, {{"CASULO_PASSWORD_FILE", h.Path("new")}}).exit_code, 0);
}

TEST(Cli, NotARepository) {
  CliHarness h;
  std::filesystem::create_directories(h.Path("empty"));
  auto r = h.Run({"snapshots", "-r", h.Path("empty")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("not a casulo repository"), std::string::npos) << r.err;
  std::ofstream(h.Path("file")) << "hello";
  auto f = h.Run({"snapshots", "-r", h.Path("file")});
  EXPECT_EQ(f.exit_code, 2) << f.err;
  EXPECT_NE(f.err.find("not a directory"), std::string::npos) << f.err;
  // A truncated config.
  h.Init();
  std::filesystem::resize_file(h.Path("repo/config"), 10);
  auto t = h.Run({"snapshots"});
  EXPECT_EQ(t.exit_code, 5) << t.err;
  EXPECT_NE(t.err.find("config"), std::string::npos) << t.err;
}

TEST(Cli, BadInputsGetClearErrors) {
  CliHarness h;
  h.Init();
  h.MakeImage("a.img", 2 * kMiB, 65536, 3);
  auto missing = h.Run({"backup", "image", h.Path("nope.img")});
  EXPECT_EQ(missing.exit_code, 3) << missing.err;
  EXPECT_NE(missing.err.find("nope.img"), std::string::npos);
  ASSERT_EQ(h.Run({"backup", "image", h.Path("a.img")}).exit_code, 0);
  std::ofstream(h.Path("short.cbt")) << "x";
  auto bm = h.Run({"backup", "image", h.Path("a.img"), "--parent", "latest", "--changed-blocks",
                   h.Path("short.cbt"), "--bitmap-format", "raw"});
  EXPECT_EQ(bm.exit_code, 2) << bm.err;
  EXPECT_NE(bm.err.find("bitmap"), std::string::npos) << bm.err;
  auto nosnap = h.Run({"restore", "image", "deadbeef", h.Path("out.img")});
  EXPECT_EQ(nosnap.exit_code, 3) << nosnap.err;
  std::ofstream(h.Path("exists.img")) << "precious";
  auto over = h.Run({"restore", "image", "latest", h.Path("exists.img")});
  EXPECT_EQ(over.exit_code, 4) << over.err;
  EXPECT_EQ(h.Read("exists.img"), Bytes({'p', 'r', 'e', 'c', 'i', 'o', 'u', 's'}));
  auto usage = h.Run({"backup", "image"});
  EXPECT_EQ(usage.exit_code, 2);
  auto again = h.Run({"init"});
  EXPECT_EQ(again.exit_code, 4) << again.err;
}

TEST(Cli, ForgetPruneCheckKeepsWhatThePolicyKeeps) {
  CliHarness h;
  h.Init();
  std::vector<std::string> ids;
  for (uint32_t day = 0; day < 3; ++day) {
    h.MakeImage("disk.img", 6 * kMiB, 64 * 1024, 100 + day);  // a different disk each day
    auto b = h.Run({"backup", "image", h.Path("disk.img"), "--source", "vm1", "--json"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ids.push_back(nlohmann::json::parse(b.out)["snapshot"]);
  }
  auto empty = h.Run({"forget"});
  EXPECT_EQ(empty.exit_code, 2) << "an empty policy must be refused: " << empty.out;
  auto dry = h.Run({"forget", "--keep-last", "1", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(nlohmann::json::parse(h.Run({"snapshots", "--json"}).out).size(), 3u);
  auto before = nlohmann::json::parse(h.Run({"stats", "--json"}).out);
  auto f = h.Run({"forget", "--keep-last", "1", "--prune"});
  ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
  auto left = nlohmann::json::parse(h.Run({"snapshots", "--json"}).out);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["id"], ids.back());
  auto after = nlohmann::json::parse(h.Run({"stats", "--json"}).out);
  EXPECT_LT(after["stored_bytes"].get<uint64_t>(), before["stored_bytes"].get<uint64_t>() / 2)
      << "prune must free the forgotten days' data";
  auto check = h.Run({"check", "--read-data"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto r = h.Run({"restore", "image", "latest", h.Path("out.img")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(h.Read("out.img"), h.Read("disk.img"));
}

}  // namespace
}  // namespace casulo::testing

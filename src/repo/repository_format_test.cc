// Decodes the examples of docs/format/repository.md with the real decoders,
// so the page and the code cannot drift apart.
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "core/file.h"
#include "core/testing/doc_example.h"
#include "repo/lock.h"
#include "repo/repository.h"

namespace casulo::repo {
namespace {

std::string Example(std::string_view name) {
  auto block = testing::ExampleBlock(testing::ReadFormatDoc("repository.md"), name);
  EXPECT_TRUE(block.ok()) << block.status().ToString();
  return block.ok() ? *block : std::string();
}

TEST(RepositoryFormat, ConfigExampleDecodes) {
  auto c = DecodeConfig(AsBytes(Example("config")));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->version, 1u);
  EXPECT_EQ(c->id, "6f1e2d3c4b5a69788796a5b4c3d2e1f0");
  EXPECT_EQ(c->chunk_size, 65536u);
  EXPECT_EQ(c->pack_size, 16u << 20);
  EXPECT_EQ(c->compression, 3);
  EXPECT_TRUE(c->encrypted);
  EXPECT_EQ(FormatTime(c->created), "2026-11-27T18:00:00Z");
  // The encoder writes exactly the documented text.
  EXPECT_EQ(std::string(AsChars(EncodeConfig(*c))) + "\n", Example("config"));
}

TEST(RepositoryFormat, ConfigRejectsBadValues) {
  std::string good = Example("config");
  auto bad = [&](std::string from, std::string to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return DecodeConfig(AsBytes(s)).status().code();
  };
  EXPECT_EQ(bad("\"version\": 1", "\"version\": 2"), Code::kUnsupported);
  EXPECT_EQ(bad("65536", "65537"), Code::kCorruption);
  EXPECT_EQ(bad("aes-256-gcm", "rot13"), Code::kUnsupported);
  EXPECT_EQ(bad("6f1e2d3c", "zz1e2d3c"), Code::kCorruption);
  EXPECT_EQ(DecodeConfig(AsBytes("[]")).status().code(), Code::kCorruption);
}

TEST(RepositoryFormat, LockExampleDecodes) {
  auto dir = std::filesystem::temp_directory_path() / fmt::format("casulo-lockdoc-{}", getpid());
  auto be = NewLocalBackend(dir);
  ASSERT_TRUE(be->Create().ok());
  Sealer plain(std::nullopt, 0);
  std::string json = Example("lock");
  ASSERT_TRUE(
      be->Save(FileType::kLock, "0123456789abcdef0123456789abcdef",
               plain.Seal(ObjectType::kLock, {}, AsBytes(json)))
          .ok());
  auto l = LoadLock(*be, plain, "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->host, "backup01");
  EXPECT_EQ(l->pid, 4242);
  EXPECT_EQ(l->purpose, "backup");
  EXPECT_FALSE(l->exclusive);
  EXPECT_EQ(l->refreshed - l->time, 300);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace casulo::repo

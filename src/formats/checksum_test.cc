#include "formats/checksum.h"

#include <gtest/gtest.h>

#include "xva_test_util.h"

namespace casulo::formats {
namespace {

using xva_testing::Shell;
using xva_testing::TempDir;

TEST(ChecksumTest, KnownValuesOfOneMiBOfZeros) {
  const Bytes zeros(1 << 20, 0);
  EXPECT_EQ(Sha1Hex(zeros), "3b71f43ff30f4b15b5cd85dd9e95ebc7e84eb5a3");
  EXPECT_EQ(Xxh64Hex(zeros), "87D2A1B6E1163EF1");
  EXPECT_EQ(ChunkChecksumText(ChunkChecksum::kSha1, zeros), Sha1Hex(zeros));
  EXPECT_EQ(ChunkChecksumText(ChunkChecksum::kXxh64, zeros), Xxh64Hex(zeros));
  // Keep-alive members carry the digest of nothing.
  EXPECT_EQ(Sha1Hex({}), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(Xxh64Hex({}), "EF46DB3751D8E999");
}

TEST(ChecksumTest, SuffixesAndSizes) {
  EXPECT_EQ(ChunkChecksumSuffix(ChunkChecksum::kSha1), ".checksum");
  EXPECT_EQ(ChunkChecksumSuffix(ChunkChecksum::kXxh64), ".xxhash");
  EXPECT_EQ(ChunkChecksumFromName("Ref:4/00000001.checksum"), ChunkChecksum::kSha1);
  EXPECT_EQ(ChunkChecksumFromName("Ref:4/00000001.xxhash"), ChunkChecksum::kXxh64);
  EXPECT_EQ(ChunkChecksumFromName("Ref:4/00000001"), std::nullopt);
  EXPECT_EQ(ChunkChecksumTextSize(ChunkChecksum::kSha1), 40u);
  EXPECT_EQ(ChunkChecksumTextSize(ChunkChecksum::kXxh64), 16u);
}

TEST(ChecksumTest, MatchIgnoresCaseAndTrailingWhitespaceOnly) {
  EXPECT_TRUE(ChunkChecksumMatches("87D2A1B6E1163EF1", "87D2A1B6E1163EF1"));
  EXPECT_TRUE(ChunkChecksumMatches("87d2a1b6e1163ef1", "87D2A1B6E1163EF1"));
  EXPECT_TRUE(ChunkChecksumMatches("87D2A1B6E1163EF1\n", "87D2A1B6E1163EF1"));
  EXPECT_FALSE(ChunkChecksumMatches("87D2A1B6E1163EF0", "87D2A1B6E1163EF1"));
  EXPECT_FALSE(ChunkChecksumMatches(" 87D2A1B6E1163EF1", "87D2A1B6E1163EF1"));
  EXPECT_FALSE(ChunkChecksumMatches("87D2A1B6E1163EF", "87D2A1B6E1163EF1"));
  EXPECT_FALSE(ChunkChecksumMatches("", "87D2A1B6E1163EF1"));
}

// sha1sum and xxh64sum print lowercase; XAPI's .xxhash text is uppercase.
TEST(ChecksumTest, AgreesWithSha1sumAndXxh64sum) {
  REQUIRE_TOOL("sha1sum");
  REQUIRE_TOOL("xxh64sum");
  TempDir dir;
  const Bytes chunk = xva_testing::RandomBytes((1 << 20) - 4096, 11);
  xva_testing::WriteAll(dir / "chunk", chunk);
  ASSERT_EQ(Shell("sha1sum " + dir / "chunk" + " | cut -c1-40 > " + dir / "sha1"), 0);
  ASSERT_EQ(Shell("xxh64sum " + dir / "chunk" + " | cut -c1-16 > " + dir / "xxh"), 0);
  const std::string sha1(AsChars(xva_testing::ReadAll(dir / "sha1")));
  const std::string xxh(AsChars(xva_testing::ReadAll(dir / "xxh")));
  EXPECT_EQ(sha1, Sha1Hex(chunk) + "\n");
  EXPECT_TRUE(ChunkChecksumMatches(xxh, Xxh64Hex(chunk))) << xxh << " vs " << Xxh64Hex(chunk);
}

}  // namespace
}  // namespace casulo::formats

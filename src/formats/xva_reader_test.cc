#include "formats/xva_reader.h"

#include <gtest/gtest.h>

#include "formats/compress.h"
#include "xva_test_util.h"

namespace casulo::formats {
namespace {

using xva_testing::Ova;
using xva_testing::RandomBytes;
using xva_testing::ReadXva;
using xva_testing::TarBuilder;

constexpr uint64_t kMiB = 1 << 20;

std::string Name(std::string_view id, uint64_t n) { return fmt::format("{}/{:08d}", id, n); }

// Bytes of `size` with `data` placed at each offset.
Bytes Disk(uint64_t size, std::vector<std::pair<uint64_t, Bytes>> parts) {
  Bytes d(size, 0);
  for (auto& [off, b] : parts) std::memcpy(d.data() + off, b.data(), b.size());
  return d;
}

TEST(XvaReaderTest, KeepAliveMembersConsumeANumber) {
  const Bytes a = RandomBytes(kMiB, 1), b = RandomBytes(kMiB, 2), c = RandomBytes(kMiB, 3);
  const std::string ova = Ova({{"Ref:4", 3 * kMiB}});
  TarBuilder t;
  t.Member("ova.xml", ova)
      .Chunk(Name("Ref:4", 0), a)
      .Chunk(Name("Ref:4", 1), {})  // keep-alive: names after it shift by one
      .Chunk(Name("Ref:4", 2), b)
      .Chunk(Name("Ref:4", 3), c)
      .End();
  auto r = ReadXva(t.bytes(), XvaReaderOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ova_xml, ova);
  EXPECT_TRUE(r->disks["Ref:4"] == Disk(3 * kMiB, {{0, a}, {kMiB, b}, {2 * kMiB, c}}));
  const XvaDiskStats& s = r->stats["Ref:4"];
  EXPECT_EQ(s.chunks, 3u);
  EXPECT_EQ(s.keep_alives, 1u);
  EXPECT_EQ(s.verified, 4u);
  EXPECT_EQ(s.checksum, ChunkChecksum::kXxh64);
  EXPECT_EQ(s.data_bytes, 3 * kMiB);
}

TEST(XvaReaderTest, MissingMiddleChunksAreZerosAndNotEmitted) {
  const Bytes a = RandomBytes(kMiB, 1), b = RandomBytes(kMiB, 2), c = RandomBytes(kMiB, 3);
  TarBuilder t;
  t.Member("ova.xml", Ova({{"Ref:4", 5 * kMiB}}))
      .Chunk(Name("Ref:4", 0), a, ChunkChecksum::kSha1)
      .Chunk(Name("Ref:4", 3), b, ChunkChecksum::kSha1)
      .Chunk(Name("Ref:4", 4), c, ChunkChecksum::kSha1)
      .End();
  MemorySource src(t.bytes());
  auto r = XvaReader::Open(src, XvaReaderOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto d = (*r)->NextDisk();
  ASSERT_TRUE(d.ok() && *d);
  EXPECT_EQ((*d)->id(), "Ref:4");
  EXPECT_EQ((*d)->info().virtual_size, 5 * kMiB);
  EXPECT_EQ((*d)->info().kind, DiskKind::kFull);
  std::vector<uint64_t> offsets;
  for (;;) {
    auto e = (*d)->Next();
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    if (!*e) break;
    offsets.push_back((*e)->offset);
    EXPECT_EQ((*e)->data.size(), kMiB);
  }
  EXPECT_EQ(offsets, (std::vector<uint64_t>{0, 3 * kMiB, 4 * kMiB}));
  EXPECT_EQ((*d)->stats().checksum, ChunkChecksum::kSha1);
  EXPECT_EQ((*r)->chunk_unit(), kMiB);
  auto end = (*r)->NextDisk();
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, nullptr);
}

TEST(XvaReaderTest, DisksComeInStreamOrderRef10BeforeRef9) {
  const Bytes a = RandomBytes(kMiB, 1), b = RandomBytes(kMiB, 2), c = RandomBytes(512, 3);
  TarBuilder t;
  t.Member("ova.xml", Ova({{"Ref:9", kMiB + 512}, {"Ref:10", 2 * kMiB}}))
      .Chunk(Name("Ref:10", 0), a)
      .Chunk(Name("Ref:10", 1), b)
      .Chunk(Name("Ref:9", 0), b)
      .Chunk(Name("Ref:9", 1), c)
      .End();
  auto r = ReadXva(t.bytes(), XvaReaderOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->order, (std::vector<std::string>{"Ref:10", "Ref:9"}));
  EXPECT_TRUE(r->disks["Ref:10"] == Disk(2 * kMiB, {{0, a}, {kMiB, b}}));
  EXPECT_TRUE(r->disks["Ref:9"] == Disk(kMiB + 512, {{0, b}, {kMiB, c}}));
}

TEST(XvaReaderTest, ShortLastChunk) {
  const Bytes a = RandomBytes(kMiB, 1), tail = RandomBytes(4096, 2);
  TarBuilder t;
  t.Member("ova.xml", Ova({{"Ref:3", 2 * kMiB + 4096}}))
      .Chunk(Name("Ref:3", 0), a)
      .Chunk(Name("Ref:3", 2), tail)
      .End();
  auto r = ReadXva(t.bytes(), XvaReaderOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->disks["Ref:3"] == Disk(2 * kMiB + 4096, {{0, a}, {2 * kMiB, tail}}));
}

TEST(XvaReaderTest, ChecksumTextInEitherCase) {
  const Bytes a = RandomBytes(kMiB, 1), b = RandomBytes(1000, 2);
  std::string upper_sha1 = Sha1Hex(a), lower_xxh = Xxh64Hex(b);
  for (char& ch : upper_sha1) ch = char(std::toupper(ch));
  for (char& ch : lower_xxh) ch = char(std::tolower(ch));
  ASSERT_NE(upper_sha1, Sha1Hex(a));
  TarBuilder t;
  t.Member("ova.xml", Ova({{"Ref:1", kMiB + 1000}}))
      .Chunk(Name("Ref:1", 0), a, ChunkChecksum::kSha1, upper_sha1)
      .Chunk(Name("Ref:1", 1), b, ChunkChecksum::kXxh64, lower_xxh)
      .End();
  auto r = ReadXva(t.bytes(), XvaReaderOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stats["Ref:1"].verified, 2u);
  EXPECT_TRUE(r->stats["Ref:1"].mixed_checksums);
  EXPECT_TRUE(r->disks["Ref:1"] == Disk(kMiB + 1000, {{0, a}, {kMiB, b}}));
}

TEST(XvaReaderTest, BadChecksumNamesTheMember) {
  const Bytes a = RandomBytes(kMiB, 1);
  TarBuilder t;
  t.Member("ova.xml", Ova({{"Ref:1", kMiB}}))
      .Chunk(Name("Ref:1", 0), a, ChunkChecksum::kXxh64, "0123456789ABCDEF");
  t.End();
  auto r = ReadXva(t.bytes(), XvaReaderOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("Ref:1/00000000.xxhash"), std::string::npos)
      << r.status().message();
  // verify=false reads it anyway.
  XvaReaderOptions o = XvaReaderOptions{};
  o.verify = false;
  auto lax = ReadXva(t.bytes(), o);
  ASSERT_TRUE(lax.ok()) << lax.status().ToString();
  EXPECT_EQ(lax->stats["Ref:1"].unverified, 1u);
  EXPECT_EQ(lax->stats["Ref:1"].verified, 0u);
}

TEST(XvaReaderTest, MissingChecksumMemberFailsUnlessNotVerifying) {
  const Bytes a = RandomBytes(kMiB, 1), b = RandomBytes(kMiB, 2);
  TarBuilder t;
  t.Member("ova.xml", Ova({{"Ref:1", 2 * kMiB}}))
      .Member(Name("Ref:1", 0), a)
      .Chunk(Name("Ref:1", 1), b)
      .End();
  auto r = ReadXva(t.bytes(), XvaReaderOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("'Ref:1/00000000' is not followed by its"), std::string::npos)
      << r.status().message();
  XvaReaderOptions o = XvaReaderOptions{};
  o.verify = false;
  auto lax = ReadXva(t.bytes(), o);
  ASSERT_TRUE(lax.ok()) << lax.status().ToString();
  EXPECT_TRUE(lax->disks["Ref:1"] == Disk(2 * kMiB, {{0, a}, {kMiB, b}}));
}

TEST(XvaReaderTest, TruncatedStreamFails) {
  const Bytes a = RandomBytes(kMiB, 1), b = RandomBytes(kMiB, 2);
  TarBuilder t;
  t.Member("ova.xml", Ova({{"Ref:1", 3 * kMiB}}))
      .Chunk(Name("Ref:1", 0), a)
      .Chunk(Name("Ref:1", 2), b)
      .End();
  const Bytes& full = t.bytes();
  // Cuts: inside the first chunk, right after its checksum member (a member
  // boundary: the last chunk is missing), inside the last checksum member.
  const size_t first_end = 512 + 512 + 512 + kMiB + 1024;
  for (size_t cut : {size_t{4000}, first_end, full.size() - 1024 - 400}) {
    SCOPED_TRACE(cut);
    Bytes part(full.begin(), full.begin() + cut);
    auto r = ReadXva(part, XvaReaderOptions{});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  }
  // Without the end blocks the archive is still complete.
  Bytes no_end(full.begin(), full.end() - 1024);
  EXPECT_TRUE(ReadXva(no_end, XvaReaderOptions{}).ok());
}

TEST(XvaReaderTest, OvaXmlMustBeFirst) {
  TarBuilder t;
  t.Chunk(Name("Ref:1", 0), RandomBytes(512, 1)).Member("ova.xml", Ova({{"Ref:1", 512}})).End();
  auto r = ReadXva(t.bytes(), XvaReaderOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("first member is 'Ref:1/00000000', not ova.xml"),
            std::string::npos)
      << r.status().message();
  TarBuilder empty;
  empty.End();
  EXPECT_EQ(ReadXva(empty.bytes(), {}).status().code(), Code::kCorruption);
}

TEST(XvaReaderTest, NonTarInputFails) {
  for (Bytes garbage : {RandomBytes(100000, 7), RandomBytes(100, 8), Bytes{}}) {
    auto r = ReadXva(garbage, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  }
  Bytes fake_gzip = {0x1F, 0x8B, 0x08, 0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(ReadXva(fake_gzip, {}).status().code(), Code::kCorruption);
}

TEST(XvaReaderTest, CompressedWithOurCodecsAndTheCommands) {
  REQUIRE_TOOL("gzip");
  REQUIRE_TOOL("zstd");
  const Bytes a = RandomBytes(kMiB, 1), b = RandomBytes(3000, 2);
  TarBuilder t;
  t.Member("ova.xml", Ova({{"Ref:1", kMiB + 3000}}))
      .Chunk(Name("Ref:1", 0), a)
      .Chunk(Name("Ref:1", 1), b)
      .End();
  const Bytes want = Disk(kMiB + 3000, {{0, a}, {kMiB, b}});
  xva_testing::TempDir dir;
  xva_testing::WriteAll(dir / "x.xva", t.bytes());
  ASSERT_EQ(xva_testing::Shell("gzip -c " + dir / "x.xva" + " > " + dir / "x.gz"), 0);
  ASSERT_EQ(xva_testing::Shell("zstd -q -c " + dir / "x.xva" + " > " + dir / "x.zst"), 0);
  std::vector<std::pair<Compression, Bytes>> cases = {
      {Compression::kGzip, xva_testing::ReadAll(dir / "x.gz")},
      {Compression::kZstd, xva_testing::ReadAll(dir / "x.zst")}};
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    Bytes z;
    BytesSink sink(&z);
    auto s = OpenCompressingSink(sink, c);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Write(t.bytes()).ok());
    ASSERT_TRUE((*s)->Finish().ok());
    cases.push_back({c, z});
  }
  for (auto& [c, bytes] : cases) {
    SCOPED_TRACE(std::string(CompressionName(c)));
    MemorySource src(bytes);
    auto r = XvaReader::Open(src, XvaReaderOptions{});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)->compression(), c);
    auto back = ReadXva(bytes, XvaReaderOptions{});
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(back->disks["Ref:1"] == want);
  }
}

}  // namespace
}  // namespace casulo::formats

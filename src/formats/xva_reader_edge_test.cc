// XvaReader on unusual and malformed layouts: names, units, limits, order.
#include <gtest/gtest.h>

#include "formats/xva_reader.h"
#include "xva_test_util.h"

namespace casulo::formats {
namespace {

using xva_testing::RandomBytes;
using xva_testing::ReadXva;
using xva_testing::TarBuilder;

constexpr uint64_t kMiB = 1 << 20;
const std::string kOva = "<value/>";

std::string Name(std::string_view id, uint64_t n) { return fmt::format("{}/{:08d}", id, n); }

// These streams carry a placeholder ova.xml; sizes come from the caller.
XvaReaderOptions Sizes(std::map<std::string, uint64_t, std::less<>> sizes) {
  XvaReaderOptions o;
  o.parse_ova_xml = false;
  o.disk_sizes = std::move(sizes);
  return o;
}

void ExpectError(const Result<xva_testing::ReadBack>& r, Code code, std::string_view text) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_NE(r.status().ToString().find(text), std::string::npos) << r.status().ToString();
}

TEST(XvaReaderEdgeTest, OtherDigitWidthsDotSlashAndDirectories) {
  const Bytes a = RandomBytes(kMiB, 1), b = RandomBytes(kMiB, 2);
  TarBuilder t;
  t.Member("./ova.xml", kOva)
      .Chunk("./Ref:VDI-1-root/0", a)
      .Chunk("./Ref:VDI-1-root/00000000000000000002", b)
      .End();
  auto r = ReadXva(t.bytes(), Sizes({{"Ref:VDI-1-root", 3 * kMiB}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Bytes want(3 * kMiB, 0);
  std::copy(a.begin(), a.end(), want.begin());
  std::copy(b.begin(), b.end(), want.begin() + 2 * kMiB);
  EXPECT_TRUE(r->disks["Ref:VDI-1-root"] == want);
}

// XAPI takes the gap unit from the stream's first chunk; a first disk below
// 1 MiB would make that unit its size. Its lone chunk does not fix the unit.
TEST(XvaReaderEdgeTest, LoneChunkOfSmallFirstDiskDoesNotFixTheUnit) {
  const Bytes small = RandomBytes(4096, 1), a = RandomBytes(kMiB, 2), b = RandomBytes(kMiB, 3);
  TarBuilder t;
  t.Member("ova.xml", kOva)
      .Chunk(Name("Ref:1", 0), small)
      .Chunk(Name("Ref:2", 0), a)
      .Chunk(Name("Ref:2", 2), b)
      .End();
  auto r = ReadXva(t.bytes(), Sizes({{"Ref:1", 4096}, {"Ref:2", 3 * kMiB}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->disks["Ref:1"] == small);
  Bytes want(3 * kMiB, 0);
  std::copy(a.begin(), a.end(), want.begin());
  std::copy(b.begin(), b.end(), want.begin() + 2 * kMiB);
  EXPECT_TRUE(r->disks["Ref:2"] == want);
}

// XO pads the last chunk to 1 MiB; bytes past the virtual size are dropped.
TEST(XvaReaderEdgeTest, PaddedLastChunkIsClipped) {
  const Bytes a = RandomBytes(kMiB, 1), b = RandomBytes(kMiB, 2);
  TarBuilder t;
  t.Member("ova.xml", kOva).Chunk(Name("Ref:1", 0), a).Chunk(Name("Ref:1", 1), b).End();
  auto r = ReadXva(t.bytes(), Sizes({{"Ref:1", kMiB + 4096}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Bytes want(a);
  want.insert(want.end(), b.begin(), b.begin() + 4096);
  EXPECT_TRUE(r->disks["Ref:1"] == want);
  EXPECT_EQ(r->stats["Ref:1"].data_bytes, kMiB + 4096);
}

TEST(XvaReaderEdgeTest, TrailingMembersAreTolerated) {
  TarBuilder t;
  t.Member("ova.xml", kOva)
      .Chunk(Name("Ref:1", 0), RandomBytes(512, 1))
      .Member("checksums.xml", "<x/>")
      .Member("Ref:1/00000000.checksum", "stray")
      .End();
  auto r = ReadXva(t.bytes(), Sizes({{"Ref:1", 512}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->order.size(), 1u);
}

TEST(XvaReaderEdgeTest, MembersBeyondTheVirtualSizeFail) {
  TarBuilder t;
  t.Member("ova.xml", kOva)
      .Chunk(Name("Ref:1", 0), RandomBytes(kMiB, 1))
      .Chunk(Name("Ref:1", 1), RandomBytes(kMiB, 2))
      .End();
  ExpectError(ReadXva(t.bytes(), Sizes({{"Ref:1", kMiB}})), Code::kCorruption,
              "'Ref:1/00000001' lies beyond the virtual size 1048576 of disk Ref:1");
  TarBuilder gap;
  gap.Member("ova.xml", kOva)
      .Chunk(Name("Ref:1", 0), RandomBytes(kMiB, 1))
      .Chunk(Name("Ref:1", 9), RandomBytes(kMiB, 2))
      .End();
  ExpectError(ReadXva(gap.bytes(), Sizes({{"Ref:1", 4 * kMiB}})), Code::kCorruption,
              "'Ref:1/00000009' lies beyond the virtual size");
}

TEST(XvaReaderEdgeTest, NumbersMustIncrease) {
  TarBuilder t;
  t.Member("ova.xml", kOva)
      .Chunk(Name("Ref:1", 1), RandomBytes(kMiB, 1))
      .Chunk(Name("Ref:1", 1), RandomBytes(kMiB, 2))
      .End();
  ExpectError(ReadXva(t.bytes(), Sizes({{"Ref:1", 4 * kMiB}})), Code::kCorruption,
              "numbers must increase");
}

TEST(XvaReaderEdgeTest, DiskSplitByAnotherDiskFails) {
  TarBuilder t;
  t.Member("ova.xml", kOva)
      .Chunk(Name("Ref:1", 0), RandomBytes(kMiB, 1))
      .Chunk(Name("Ref:2", 0), RandomBytes(512, 2))
      .Chunk(Name("Ref:1", 1), RandomBytes(kMiB, 3))
      .End();
  // Ref:1 ends early (its last chunk is not where it should be).
  ExpectError(ReadXva(t.bytes(), Sizes({{"Ref:1", 2 * kMiB}, {"Ref:2", 512}})), Code::kCorruption,
              "disk Ref:1 ends at offset 1048576, before its virtual size");
  // With Ref:1 complete after its first chunk, its later member is a repeat.
  ExpectError(ReadXva(t.bytes(), Sizes({{"Ref:1", kMiB}, {"Ref:2", 512}})), Code::kCorruption,
              "disk Ref:1 appears again");
}

TEST(XvaReaderEdgeTest, UnknownDiskSizeFails) {
  TarBuilder t;
  t.Member("ova.xml", kOva).Chunk(Name("Ref:7", 0), RandomBytes(512, 1)).End();
  ExpectError(ReadXva(t.bytes(), Sizes({{"Ref:1", 512}})), Code::kCorruption,
              "disk Ref:7 (member 'Ref:7/00000000') has no VDI record");
}

TEST(XvaReaderEdgeTest, LimitsAreUnsupported) {
  TarBuilder t;
  t.Member("ova.xml", kOva).Chunk(Name("Ref:1", 0), RandomBytes(2 * kMiB, 1)).End();
  ExpectError(ReadXva(t.bytes(), Sizes({{"Ref:1", 2 * kMiB}})), Code::kUnsupported,
              "exceeds the limit");
  XvaReaderOptions o = Sizes({{"Ref:1", 2 * kMiB}});
  o.max_chunk_size = 2 * kMiB;
  EXPECT_TRUE(ReadXva(t.bytes(), o).ok());
  o.max_ova_xml_size = 4;
  ExpectError(ReadXva(t.bytes(), o), Code::kUnsupported, "ova.xml of 8 bytes");
}

TEST(XvaReaderEdgeTest, NextDiskReadsWhatTheCallerSkipped) {
  const Bytes a = RandomBytes(kMiB, 1), b = RandomBytes(kMiB, 2);
  TarBuilder t;
  t.Member("ova.xml", kOva)
      .Chunk(Name("Ref:1", 0), a)
      .Chunk(Name("Ref:1", 1), a)
      .Chunk(Name("Ref:2", 0), b)
      .End();
  MemorySource src(t.bytes());
  auto r = XvaReader::Open(src, Sizes({{"Ref:1", 2 * kMiB}, {"Ref:2", kMiB}}));
  ASSERT_TRUE(r.ok());
  auto d1 = (*r)->NextDisk();
  ASSERT_TRUE(d1.ok() && *d1);
  auto d2 = (*r)->NextDisk();  // Ref:1 unread: drained and verified first
  ASSERT_TRUE(d2.ok() && *d2) << d2.status().ToString();
  EXPECT_EQ((*d2)->id(), "Ref:2");
  auto e = (*d2)->Next();
  ASSERT_TRUE(e.ok() && *e);
  EXPECT_TRUE(Bytes((*e)->data.begin(), (*e)->data.end()) == b);
}

TEST(XvaReaderEdgeTest, ErrorsAreSticky) {
  TarBuilder t;
  t.Member("ova.xml", kOva)
      .Chunk(Name("Ref:1", 0), RandomBytes(512, 1), ChunkChecksum::kSha1, std::string(40, '0'))
      .Chunk(Name("Ref:2", 0), RandomBytes(512, 2))
      .End();
  MemorySource src(t.bytes());
  auto r = XvaReader::Open(src, Sizes({{"Ref:1", 512}, {"Ref:2", 512}}));
  ASSERT_TRUE(r.ok());
  auto d = (*r)->NextDisk();
  ASSERT_TRUE(d.ok() && *d);
  EXPECT_EQ((*d)->Next().status().code(), Code::kCorruption);
  EXPECT_FALSE((*d)->Next().ok());
  EXPECT_FALSE((*r)->NextDisk().ok());
}

}  // namespace
}  // namespace casulo::formats

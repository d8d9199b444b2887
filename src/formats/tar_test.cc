#include "formats/tar.h"

#include <gtest/gtest.h>

#include <string>

#include "xva_test_util.h"

namespace casulo::formats {
namespace {

using xva_testing::Shell;
using xva_testing::TempDir;

std::string Field(std::string_view s, size_t len) {
  std::string f(s);
  f.resize(len, '\0');
  return f;
}

// The header ocaml-tar (V7) writes for XAPI's first chunk member, spelled
// out field by field; checksum worked out by hand: the byte sum with the
// checksum field as 8 spaces is 06122 octal.
TEST(TarTest, V7HeaderIsByteExact) {
  std::string want = Field("Ref:4/00000000", 100) + Field("0000400", 8) + Field("0000000", 8) +
                     Field("0000000", 8) + Field("00004000000", 12) + Field("00000000000", 12) +
                     Field("0006122", 8) + std::string(1, '\0') /* typeflag */;
  want.resize(512, '\0');  // link name, no ustar magic, nothing else
  auto h = EncodeV7Header("Ref:4/00000000", 1 << 20);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(std::string(AsChars(*h)), want);
}

TEST(TarTest, V7HeaderOfOvaXmlCarriesMtime) {
  auto h = EncodeV7Header("ova.xml", 1234, 1700000000);
  ASSERT_TRUE(h.ok());
  const std::string_view s = AsChars(*h);
  EXPECT_EQ(s.substr(124, 12), std::string_view("00000002322\0", 12));
  EXPECT_EQ(s.substr(136, 12), std::string_view("14524770400\0", 12));
  EXPECT_EQ(s.substr(148, 8), std::string_view("0006004\0", 8));
  EXPECT_EQ(s[156], '\0');
  EXPECT_EQ(s.substr(257, 6), std::string_view("\0\0\0\0\0\0", 6));
}

TEST(TarTest, V7HeaderRejectsBadNamesAndSizes) {
  EXPECT_EQ(EncodeV7Header("", 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeV7Header(std::string(100, 'a'), 1).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(EncodeV7Header(std::string(99, 'a'), 1).ok());
  EXPECT_EQ(EncodeV7Header(std::string("a\0b", 3), 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeV7Header("big", uint64_t(1) << 33).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(EncodeV7Header("big", (uint64_t(1) << 33) - 1).ok());
}

TEST(TarTest, RoundTripReadsDataInPieces) {
  const Bytes a = xva_testing::RandomBytes(1000, 1), b = xva_testing::RandomBytes(512, 2);
  xva_testing::TarBuilder t;
  t.Member("a", a).Member("empty", Bytes{}).Member("dir/b", b).End();
  MemorySource src(t.bytes());
  TarReader r(src);
  auto m = r.Next();
  ASSERT_TRUE(m.ok() && *m);
  EXPECT_EQ((*m)->name, "a");
  EXPECT_EQ((*m)->size, 1000u);
  EXPECT_EQ((*m)->mode, 0400u);
  EXPECT_TRUE((*m)->IsRegularFile());
  Bytes got;
  uint8_t piece[7];
  for (;;) {
    auto n = r.Read(piece);
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    got.insert(got.end(), piece, piece + *n);
  }
  EXPECT_EQ(got, a);
  m = r.Next();
  ASSERT_TRUE(m.ok() && *m);
  EXPECT_EQ((*m)->name, "empty");
  m = r.Next();  // skips the unread "empty" (nothing) and reads "dir/b" header
  ASSERT_TRUE(m.ok() && *m);
  EXPECT_EQ((*m)->name, "dir/b");
  m = r.Next();  // skips b's data unread
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, nullptr);
  EXPECT_EQ(r.end(), TarEnd::kTwoZeroBlocks);
}

TEST(TarTest, EndVariants) {
  xva_testing::TarBuilder t;
  t.Member("a", "x");
  Bytes one = t.bytes();
  one.resize(one.size() + 512, 0);
  for (auto [bytes, want] :
       {std::pair{t.bytes(), TarEnd::kEndOfStream}, std::pair{one, TarEnd::kOneZeroBlock}}) {
    MemorySource src(bytes);
    TarReader r(src);
    ASSERT_TRUE(r.Next().ok());
    auto end = r.Next();
    ASSERT_TRUE(end.ok()) << end.status().ToString();
    EXPECT_EQ(*end, nullptr);
    EXPECT_EQ(r.end(), want);
  }
  // A lone zero block between members is padding (ocaml-tar reads it so).
  Bytes gap = one;
  xva_testing::TarBuilder t2;
  t2.Member("b", "y").End();
  gap.insert(gap.end(), t2.bytes().begin(), t2.bytes().end());
  MemorySource src(gap);
  TarReader r(src);
  ASSERT_TRUE(r.Next().ok());
  auto b = r.Next();
  ASSERT_TRUE(b.ok() && *b);
  EXPECT_EQ((*b)->name, "b");
}

TEST(TarTest, TruncationIsCorruption) {
  xva_testing::TarBuilder t;
  t.Member("data", xva_testing::RandomBytes(2000, 3));
  {  // inside a header
    Bytes cut(t.bytes().begin(), t.bytes().begin() + 100);
    MemorySource src(cut);
    TarReader r(src);
    EXPECT_EQ(r.Next().status().code(), Code::kCorruption);
  }
  {  // inside the data, read
    Bytes cut(t.bytes().begin(), t.bytes().begin() + 1500);
    MemorySource src(cut);
    TarReader r(src);
    ASSERT_TRUE(r.Next().ok());
    Bytes buf(2000);
    Status s = r.ReadExact(buf);
    EXPECT_EQ(s.code(), Code::kCorruption);
    EXPECT_NE(s.message().find("'data'"), std::string::npos) << s.message();
  }
  {  // inside the data, skipped
    Bytes cut(t.bytes().begin(), t.bytes().begin() + 1500);
    MemorySource src(cut);
    TarReader r(src);
    ASSERT_TRUE(r.Next().ok());
    EXPECT_EQ(r.Next().status().code(), Code::kCorruption);
  }
}

TEST(TarTest, BadChecksumAndGarbage) {
  xva_testing::TarBuilder t;
  t.Member("a", "x").End();
  Bytes bad = t.bytes();
  bad[0] = 'b';  // the stored checksum no longer matches
  MemorySource src(bad);
  TarReader r(src);
  auto m = r.Next();
  EXPECT_EQ(m.status().code(), Code::kCorruption);
  EXPECT_NE(m.status().message().find("checksum"), std::string::npos);

  Bytes garbage = xva_testing::RandomBytes(4096, 9);
  MemorySource g(garbage);
  TarReader rg(g);
  EXPECT_EQ(rg.Next().status().code(), Code::kCorruption);
}

TEST(TarTest, SignedChecksumAndBase256SizeAccepted) {
  auto h = EncodeV7Header("x", 0);
  ASSERT_TRUE(h.ok());
  std::array<uint8_t, 512> b = *h;
  b[1] = 0xE9;  // a high byte in the name: signed and unsigned sums now differ
  // Size 600 in GNU base-256: 0x80, then big-endian.
  std::memset(&b[124], 0, 12);
  b[124] = 0x80;
  b[134] = 0x02;
  b[135] = 0x58;
  int64_t ssum = 0;
  for (size_t i = 0; i < 512; ++i) ssum += (i >= 148 && i < 156) ? ' ' : static_cast<int8_t>(b[i]);
  const std::string chk = fmt::format("{:06o}", ssum) + std::string("\0 ", 2);
  std::memcpy(&b[148], chk.data(), 8);
  Bytes stream(b.begin(), b.end());
  stream.resize(512 + 1024 + 1024, 0);  // 600 bytes of data + padding, end blocks
  MemorySource src(stream);
  TarReader r(src);
  auto m = r.Next();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_NE(*m, nullptr);
  EXPECT_EQ((*m)->size, 600u);
  auto end = r.Next();
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_EQ(*end, nullptr);
}

// Archives made by GNU tar in each of its formats read back with the right
// names (a long name needs ustar's prefix, GNU 'L' members or pax records)
// and contents.
TEST(TarTest, ReadsGnuTarFormats) {
  REQUIRE_TOOL("tar");
  TempDir dir;
  const std::string long_dir = std::string(60, 'd');
  const std::string long_name = long_dir + "/" + std::string(70, 'f');  // 131 bytes
  ASSERT_EQ(Shell("mkdir -p " + dir / ("in/" + long_dir)), 0);
  const Bytes big = xva_testing::RandomBytes(70000, 4), small = xva_testing::RandomBytes(10, 5);
  xva_testing::WriteAll(dir / "in/ova.xml", small);
  xva_testing::WriteAll(dir / ("in/" + long_name), big);
  xva_testing::WriteAll(dir / "in/empty", Bytes{});
  for (std::string format : {"gnu", "ustar", "pax", "oldgnu"}) {
    SCOPED_TRACE(format);
    const std::string out = dir / (format + ".tar");
    ASSERT_EQ(Shell("tar --format=" + format + " -C " + dir / "in" + " -cf " + out +
                    " ova.xml empty " + long_name),
              0);
    Bytes archive = xva_testing::ReadAll(out);
    MemorySource src(archive);
    TarReader r(src);
    std::map<std::string, Bytes> got;
    for (;;) {
      auto m = r.Next();
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      if (!*m) break;
      if (!(*m)->IsRegularFile()) continue;
      Bytes data((*m)->size);
      ASSERT_TRUE(r.ReadExact(data).ok());
      got[(*m)->name] = data;
    }
    EXPECT_EQ(r.end(), TarEnd::kTwoZeroBlocks);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got["ova.xml"], small);
    EXPECT_EQ(got["empty"], Bytes{});
    EXPECT_EQ(got[long_name], big);
  }
}

// What we write, GNU tar lists with the V7 attributes XAPI's have.
TEST(TarTest, GnuTarListsOurHeaders) {
  REQUIRE_TOOL("tar");
  TempDir dir;
  xva_testing::TarBuilder t;
  t.Member("ova.xml", "<value/>").Member("Ref:4/00000000", xva_testing::RandomBytes(600, 6)).End();
  xva_testing::WriteAll(dir / "x.tar", t.bytes());
  ASSERT_EQ(Shell("TZ=UTC tar -tvf " + dir / "x.tar" + " > " + dir / "list 2>&1"), 0);
  const Bytes list = xva_testing::ReadAll(dir / "list");
  const std::string text(AsChars(list));
  EXPECT_NE(text.find("-r-------- 0/0"), std::string::npos) << text;
  EXPECT_NE(text.find(" 8 1970-01-01 00:00 ova.xml"), std::string::npos) << text;
  EXPECT_NE(text.find("Ref:4/00000000"), std::string::npos) << text;
  EXPECT_EQ(text.find("warning"), std::string::npos) << text;
}

}  // namespace
}  // namespace casulo::formats

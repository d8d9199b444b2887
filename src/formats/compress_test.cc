#include "formats/compress.h"

#include <gtest/gtest.h>

#include "xva_test_util.h"

namespace casulo::formats {
namespace {

using xva_testing::RandomBytes;
using xva_testing::Shell;
using xva_testing::TempDir;

// Compressible but not trivial: runs of random bytes and zeros.
Bytes Sample(size_t n, uint32_t seed) {
  Bytes b = RandomBytes(n, seed);
  for (size_t i = 0; i < n; i += 8192) std::memset(b.data() + i, 0, std::min<size_t>(4096, n - i));
  return b;
}

Result<Bytes> Compress(Compression c, ByteSpan data, int level = -1) {
  Bytes out;
  BytesSink sink(&out);
  ASSIGN_OR_RETURN(std::unique_ptr<Sink> z, OpenCompressingSink(sink, c, level));
  for (size_t i = 0; i < data.size(); i += 100000)  // several writes
    RETURN_IF_ERROR(z->Write(data.subspan(i, std::min<size_t>(100000, data.size() - i))));
  RETURN_IF_ERROR(z->Finish());
  if (z->position() != data.size()) return Error(Code::kInternal, "position");
  return out;
}

// Decompresses through OpenMaybeCompressed with reads of `piece` bytes.
Result<Bytes> Decompress(ByteSpan data, Compression* detected = nullptr, size_t piece = 65536) {
  MemorySource src(data);
  ASSIGN_OR_RETURN(std::unique_ptr<Source> s, OpenMaybeCompressed(src, detected));
  Bytes out, buf(piece);
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, s->Read(buf));
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  if (s->position() != out.size()) return Error(Code::kInternal, "position");
  return out;
}

TEST(CompressTest, Detect) {
  const uint8_t gz[] = {0x1F, 0x8B, 0x08}, zs[] = {0x28, 0xB5, 0x2F, 0xFD, 0}, tar[] = {'o', 'v'};
  EXPECT_EQ(DetectCompression(gz), Compression::kGzip);
  EXPECT_EQ(DetectCompression(zs), Compression::kZstd);
  EXPECT_EQ(DetectCompression(tar), Compression::kNone);
  EXPECT_EQ(DetectCompression(ByteSpan(zs, 3)), Compression::kNone);
  EXPECT_EQ(DetectCompression({}), Compression::kNone);
}

TEST(CompressTest, RoundTripEachCodec) {
  const Bytes data = Sample(3 << 20, 1);
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(std::string(CompressionName(c)));
    auto z = Compress(c, data);
    ASSERT_TRUE(z.ok()) << z.status().ToString();
    if (c != Compression::kNone) {
      EXPECT_LT(z->size(), data.size());
    } else {
      EXPECT_EQ(*z, data);
    }
    Compression detected;
    for (size_t piece : {size_t{1} << 20, size_t{1000}}) {
      auto back = Decompress(*z, &detected, piece);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(detected, c);
      EXPECT_TRUE(*back == data);
    }
  }
}

TEST(CompressTest, EmptyInputRoundTrips) {
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    auto z = Compress(c, {});
    ASSERT_TRUE(z.ok());
    auto back = Decompress(*z);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(back->empty());
  }
  auto back = Decompress({});
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->empty());
}

TEST(CompressTest, ConcatenatedMembersAndFrames) {
  const Bytes a = Sample(300000, 2), b = Sample(5000, 3);
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(std::string(CompressionName(c)));
    Bytes z = *Compress(c, a);
    const Bytes zb = *Compress(c, b);
    z.insert(z.end(), zb.begin(), zb.end());
    auto back = Decompress(z);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    Bytes want = a;
    want.insert(want.end(), b.begin(), b.end());
    EXPECT_TRUE(*back == want);
  }
}

TEST(CompressTest, GzipTrailingZerosToleratedGarbageNot) {
  const Bytes a = Sample(10000, 4);
  Bytes z = *Compress(Compression::kGzip, a);
  z.resize(z.size() + 600, 0);
  auto back = Decompress(z);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == a);
  z.push_back('x');
  EXPECT_EQ(Decompress(z).status().code(), Code::kCorruption);
}

TEST(CompressTest, CorruptAndTruncatedStreamsFail) {
  const Bytes a = Sample(1 << 20, 5);
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(std::string(CompressionName(c)));
    const Bytes z = *Compress(c, a);
    Bytes truncated(z.begin(), z.begin() + z.size() / 2);
    Status s = Decompress(truncated).status();
    EXPECT_EQ(s.code(), Code::kCorruption);
    EXPECT_NE(s.message().find(CompressionName(c)), std::string::npos) << s.message();
    Bytes tail_cut(z.begin(), z.end() - 3);  // loses part of the trailer
    EXPECT_EQ(Decompress(tail_cut).status().code(), Code::kCorruption);
    Bytes flipped = z;
    for (size_t i = 100; i < flipped.size(); i += 997) flipped[i] ^= 0x5A;
    EXPECT_EQ(Decompress(flipped).status().code(), Code::kCorruption);
    Bytes magic_only(z.begin(), z.begin() + 4);
    EXPECT_EQ(Decompress(magic_only).status().code(), Code::kCorruption);
  }
}

TEST(CompressTest, BadLevelsAreInvalidArgument) {
  Bytes out;
  BytesSink sink(&out);
  EXPECT_EQ(GzipSink::Create(sink, 10).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(GzipSink::Create(sink, -2).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ZstdSink::Create(sink, 1000).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ZstdSink::Create(sink, 3, -1).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(GzipSink::Create(sink, 1).ok());
  EXPECT_TRUE(ZstdSink::Create(sink, 19, 2).ok());
}

// The reference tools read what we write and we read what they write.
TEST(CompressTest, InteroperatesWithGzipAndZstdCommands) {
  REQUIRE_TOOL("gzip");
  REQUIRE_TOOL("zstd");
  TempDir dir;
  const Bytes data = Sample(2 << 20, 6);
  xva_testing::WriteAll(dir / "plain", data);
  struct Tool {
    Compression c;
    std::string compress, decompress;
  };
  for (const Tool& t : {Tool{Compression::kGzip, "gzip -c", "gzip -dc"},
                        Tool{Compression::kZstd, "zstd -q -c", "zstd -q -dc"}}) {
    SCOPED_TRACE(t.compress);
    ASSERT_EQ(Shell(t.compress + " " + dir / "plain" + " > " + dir / "theirs"), 0);
    auto back = Decompress(xva_testing::ReadAll(dir / "theirs"));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(*back == data);

    auto ours = Compress(t.c, data, 1);
    ASSERT_TRUE(ours.ok());
    xva_testing::WriteAll(dir / "ours", *ours);
    ASSERT_EQ(Shell(t.decompress + " " + dir / "ours" + " > " + dir / "back"), 0);
    EXPECT_TRUE(xva_testing::ReadAll(dir / "back") == data);
  }
}

}  // namespace
}  // namespace casulo::formats

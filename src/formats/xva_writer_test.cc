#include "formats/xva_writer.h"

#include <gtest/gtest.h>

#include "formats/compress.h"
#include "xva_test_util.h"

namespace casulo::formats {
namespace {

using xva_testing::RandomBytes;
using xva_testing::ReadXva;

constexpr uint64_t kMiB = 1 << 20;
const std::string kOva = "<value><struct/></value>";

struct Listed {
  std::string name;
  uint64_t size;
  int64_t mtime;
  Bytes data;  // only for small members
};
std::vector<Listed> List(ByteSpan xva) {
  MemorySource src(xva);
  TarReader r(src);
  std::vector<Listed> out;
  for (;;) {
    auto m = r.Next();
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (!m.ok() || !*m) break;
    Listed l{(*m)->name, (*m)->size, (*m)->mtime, {}};
    if (l.size <= 64) {
      l.data.resize(l.size);
      EXPECT_TRUE(r.ReadExact(l.data).ok());
    }
    out.push_back(std::move(l));
  }
  EXPECT_EQ(r.end(), TarEnd::kTwoZeroBlocks);
  return out;
}

// Writes one disk from `extents` and returns the stream.
Result<Bytes> WriteOne(std::string_view id, uint64_t size,
                       const std::vector<std::pair<uint64_t, Bytes>>& extents,
                       XvaWriterOptions o = {}) {
  Bytes out;
  BytesSink sink(&out);
  XvaWriter w(sink, o);
  RETURN_IF_ERROR(w.WriteOvaXml(xva_testing::Ova({{std::string(id), size}})));
  ASSIGN_OR_RETURN(ExtentWriter * d, w.BeginDisk(id, size));
  for (auto& [off, b] : extents) RETURN_IF_ERROR(d->Write(Extent{off, b}));
  RETURN_IF_ERROR(d->Finish());
  RETURN_IF_ERROR(w.Finish());
  return out;
}

TEST(XvaWriterTest, RoundTripWithGapsAndUnalignedExtents) {
  const uint64_t size = 5 * kMiB + 1536;
  std::vector<std::pair<uint64_t, Bytes>> extents = {
      {100, RandomBytes(4900, 1)},                   // inside chunk 0
      {kMiB - 10, RandomBytes(30, 2)},               // across chunks 0 and 1
      {2 * kMiB, RandomBytes(kMiB, 3)},              // chunk 2 whole, in place
      {3 * kMiB + 512, RandomBytes(kMiB + 100, 4)},  // chunk 3 tail, chunk 4 head
      {5 * kMiB + 1000, RandomBytes(536, 5)},        // up to the end
  };
  Bytes want(size, 0);
  for (auto& [off, b] : extents) std::memcpy(want.data() + off, b.data(), b.size());
  for (ChunkChecksum kind : {ChunkChecksum::kXxh64, ChunkChecksum::kSha1}) {
    auto xva = WriteOne("Ref:4", size, extents, {.checksum = kind, .ova_xml_mtime = 0});
    ASSERT_TRUE(xva.ok()) << xva.status().ToString();
    auto r = ReadXva(*xva, {});  // the size from ova.xml
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->disks["Ref:4"] == want);
    EXPECT_EQ(r->stats["Ref:4"].checksum, kind);
    EXPECT_EQ(r->stats["Ref:4"].chunks, 6u);
    EXPECT_EQ(r->stats["Ref:4"].verified, 6u);
  }
}

// The member list XAPI would write: ova.xml (with its mtime), then chunk and
// checksum members; zero chunks left out but the first and the last; the
// last holds the remainder.
TEST(XvaWriterTest, MemberLayout) {
  const uint64_t size = 6 * kMiB + 4096;
  auto xva = WriteOne("Ref:4", size, {{3 * kMiB + 7, RandomBytes(10, 1)}},
                      {.checksum = ChunkChecksum::kXxh64, .ova_xml_mtime = 1700000000});
  ASSERT_TRUE(xva.ok()) << xva.status().ToString();
  std::vector<Listed> l = List(*xva);
  std::vector<std::string> names;
  for (auto& m : l) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"ova.xml", "Ref:4/00000000", "Ref:4/00000000.xxhash",
                                             "Ref:4/00000003", "Ref:4/00000003.xxhash",
                                             "Ref:4/00000006", "Ref:4/00000006.xxhash"}));
  ASSERT_EQ(l.size(), 7u);
  EXPECT_EQ(l[0].mtime, 1700000000);
  EXPECT_EQ(l[1].mtime, 0);
  EXPECT_EQ(l[1].size, kMiB);
  EXPECT_EQ(std::string(AsChars(l[2].data)), "87D2A1B6E1163EF1");  // 1 MiB of zeros
  EXPECT_EQ(l[5].size, 4096u);
  EXPECT_EQ(l[6].size, 16u);
  // The stream ends right after the two zero blocks.
  EXPECT_EQ(xva->size() % 512, 0u);
  EXPECT_TRUE(IsAllZero(ByteSpan(*xva).last(1024)));
  EXPECT_FALSE(IsAllZero(ByteSpan(*xva).last(1024 + 512)));
}

TEST(XvaWriterTest, Sha1ModeWritesLowercaseChecksumMembers) {
  auto xva = WriteOne("Ref:1", kMiB, {}, {.checksum = ChunkChecksum::kSha1, .ova_xml_mtime = 0});
  ASSERT_TRUE(xva.ok());
  std::vector<Listed> l = List(*xva);
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[2].name, "Ref:1/00000000.checksum");
  EXPECT_EQ(std::string(AsChars(l[2].data)), "3b71f43ff30f4b15b5cd85dd9e95ebc7e84eb5a3");
}

TEST(XvaWriterTest, AllZeroAndEmptyDisks) {
  Bytes out;
  BytesSink sink(&out);
  XvaWriter w(sink);
  ASSERT_TRUE(w.WriteOvaXml(kOva).ok());
  auto d = w.BeginDisk("Ref:1", 10 * kMiB);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE((*d)->Finish().ok());
  auto e = w.BeginDisk("Ref:2", 0);  // nothing to write
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE((*e)->Finish().ok());
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(w.stats().chunks_written, 2u);
  EXPECT_EQ(w.stats().zero_chunks_skipped, 8u);
  std::vector<std::string> names;
  for (auto& m : List(out)) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"ova.xml", "Ref:1/00000000", "Ref:1/00000000.xxhash",
                                             "Ref:1/00000009", "Ref:1/00000009.xxhash"}));
}

// XAPI's importer sizes every gap by the stream's first chunk; after a first
// disk below 1 MiB, later disks are written without gaps.
TEST(XvaWriterTest, ShortFirstDiskTurnsOffZeroSkipping) {
  Bytes out;
  BytesSink sink(&out);
  XvaWriter w(sink);
  ASSERT_TRUE(w.WriteOvaXml(kOva).ok());
  auto a = w.BeginDisk("Ref:1", 4096);
  ASSERT_TRUE(a.ok() && (*a)->Finish().ok());
  auto b = w.BeginDisk("Ref:2", 3 * kMiB);
  ASSERT_TRUE(b.ok() && (*b)->Finish().ok());
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(w.stats().chunks_written, 4u);  // Ref:1/0, Ref:2/0, /1, /2
  EXPECT_EQ(w.stats().zero_chunks_skipped, 0u);
}

TEST(XvaWriterTest, OrderAndArgumentErrors) {
  Bytes out;
  BytesSink sink(&out);
  XvaWriter w(sink);
  EXPECT_EQ(w.BeginDisk("Ref:1", kMiB).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(w.Finish().code(), Code::kInvalidArgument);
  ASSERT_TRUE(w.WriteOvaXml(kOva).ok());
  EXPECT_EQ(w.WriteOvaXml(kOva).code(), Code::kInvalidArgument);
  EXPECT_EQ(w.BeginDisk("", kMiB).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(w.BeginDisk("Ref:1/", kMiB).status().code(), Code::kInvalidArgument);
  auto d = w.BeginDisk("Ref:9", 2 * kMiB);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(w.BeginDisk("Ref:91", kMiB).status().code(), Code::kInvalidArgument);  // open disk
  EXPECT_EQ(w.Finish().code(), Code::kInvalidArgument);
  const Bytes b = RandomBytes(100, 1);
  ASSERT_TRUE((*d)->Write(Extent{1000, b}).ok());
  ASSERT_TRUE((*d)->Finish().ok());
  EXPECT_EQ(w.BeginDisk("Ref:10", kMiB).status().code(),
            Code::kInvalidArgument);  // "Ref:10" < "Ref:9"
  EXPECT_EQ(w.BeginDisk("Ref:9", kMiB).status().code(), Code::kInvalidArgument);  // twice
  EXPECT_EQ((*d)->Write(Extent{2000, b}).code(), Code::kInvalidArgument);         // finished
  auto e = w.BeginDisk("Ref:90", kMiB);
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE((*e)->Write(Extent{1000, b}).ok());
  EXPECT_EQ((*e)->Write(Extent{1050, b}).code(), Code::kInvalidArgument);  // overlaps
}

TEST(XvaWriterTest, ExtentBeyondVirtualSizeIsInvalid) {
  auto r = WriteOne("Ref:1", kMiB, {{kMiB - 10, RandomBytes(11, 1)}});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

class FailingSink final : public Sink {
 public:
  explicit FailingSink(uint64_t limit) : limit_(limit) {}
  Status Write(ByteSpan data) override {
    if (pos_ + data.size() > limit_) return Error(Code::kIoError, "disk full");
    pos_ += data.size();
    return OkStatus();
  }
  uint64_t position() const override { return pos_; }

 private:
  uint64_t limit_, pos_ = 0;
};

TEST(XvaWriterTest, SinkErrorsStopTheWriter) {
  FailingSink sink(3 * kMiB);
  XvaWriter w(sink);
  ASSERT_TRUE(w.WriteOvaXml(kOva).ok());
  auto d = w.BeginDisk("Ref:1", 8 * kMiB);
  ASSERT_TRUE(d.ok());
  const Bytes data = RandomBytes(8 * kMiB, 2);
  Status s = (*d)->Write(Extent{0, data});
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_FALSE((*d)->Finish().ok());
  EXPECT_FALSE(w.Finish().ok());
}

TEST(XvaWriterTest, CompressedStreamReadsBack) {
  const Bytes data = RandomBytes(kMiB + 512, 3);
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    Bytes out;
    BytesSink base(&out);
    auto z = OpenCompressingSink(base, c, 1);
    ASSERT_TRUE(z.ok());
    XvaWriter w(**z);
    ASSERT_TRUE(w.WriteOvaXml(kOva).ok());
    auto d = w.BeginDisk("Ref:1", data.size());
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE((*d)->Write(Extent{0, data}).ok());
    ASSERT_TRUE((*d)->Finish().ok());
    ASSERT_TRUE(w.Finish().ok());  // finishes the compressor too
    EXPECT_EQ(DetectCompression(out), c);
    XvaReaderOptions o;
    o.parse_ova_xml = false;
    o.disk_sizes = {{"Ref:1", data.size()}};
    auto r = ReadXva(out, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->disks["Ref:1"] == data);
  }
}

}  // namespace
}  // namespace casulo::formats

// VhdWriter: the XAPI import layout byte for byte, bitmaps, option and extent
// errors, and round trips through both readers.
#include "formats/vhd_writer.h"

#include <gtest/gtest.h>

#include <random>

#include "formats/vhd_reader.h"
#include "vhd_test_util.h"

namespace casulo::formats {
namespace {

using vhd_testing::Fill;
using vhd_testing::Flatten;

constexpr uint64_t kMiB = 1 << 20;

uint32_t Be32(const Bytes& b, size_t at) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3];
}

// Writes a VHD of `disk`'s size holding the given [offset, length) ranges of
// `disk`, declaring exactly the blocks they touch.
Result<Bytes> WriteVhd(VhdWriteOptions opts, const Bytes& disk,
                       const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  opts.virtual_size = disk.size();
  Bytes out;
  BytesSink sink(&out);
  ASSIGN_OR_RETURN(auto w,
                   VhdWriter::Create(sink, opts, VhdBlocksOfRanges(ranges, opts.block_size)));
  for (auto [off, len] : ranges) RETURN_IF_ERROR(w->Write({off, ByteSpan(disk).subspan(off, len)}));
  RETURN_IF_ERROR(w->Finish());
  return out;
}

TEST(VhdWriter, XapiImportLayout) {
  Bytes disk(5 * kMiB + 4096);
  Fill(MutableByteSpan(disk).first(2 * kMiB), 1);
  Fill(MutableByteSpan(disk).subspan(4 * kMiB + 512, 1000), 2);
  VhdWriteOptions opts;
  opts.timestamp = 1234;
  opts.unique_id = VhdUuid::Random();
  Result<Bytes> f = WriteVhd(opts, disk, {{0, 2 * kMiB}, {4 * kMiB + 512, 1000}});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const Bytes& b = *f;
  const uint64_t stride = 512 + 2 * kMiB;
  ASSERT_EQ(b.size(), VhdWriter::EncodedSize(disk.size(), 2));
  ASSERT_EQ(b.size(), 1536 + 512 + 2 * stride + 512);
  // Footer copy at 0 identical to the trailing footer.
  EXPECT_TRUE(std::equal(b.begin(), b.begin() + 512, b.end() - 512));
  Result<VhdFooter> foot = DecodeVhdFooter(ByteSpan(b).first(512));
  ASSERT_TRUE(foot.ok());
  EXPECT_EQ(foot->disk_type, VhdDiskType::kDynamic);
  EXPECT_EQ(foot->data_offset, 512u);
  EXPECT_EQ(foot->current_size, disk.size());
  EXPECT_EQ(foot->original_size, disk.size());
  EXPECT_EQ(foot->timestamp, 1234u);
  EXPECT_EQ(foot->unique_id, opts.unique_id);
  EXPECT_EQ(foot->features, 2u);
  EXPECT_EQ(foot->creator_app, FourCc("cslo"));
  EXPECT_EQ(foot->geometry, VhdGeometry::Max());  // 5 MiB + 4 KiB is no exact CHS
  Result<VhdHeader> head = DecodeVhdHeader(ByteSpan(b).subspan(512, 1024));
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->table_offset, 1536u);
  EXPECT_EQ(head->max_table_entries, 3u);
  EXPECT_EQ(head->block_size, 2 * kMiB);
  // BAT at 1536: blocks 0 and 2 back to back after the BAT sector, padding 0xFF.
  EXPECT_EQ(Be32(b, 1536), 2048u / 512);
  EXPECT_EQ(Be32(b, 1540), kVhdUnusedBatEntry);
  EXPECT_EQ(Be32(b, 1544), (2048u + stride) / 512);
  EXPECT_EQ(Be32(b, 2044), 0xFFFFFFFFu);
  // Full-disk bitmaps are all ones, holes in a declared block zero-filled.
  for (uint64_t at : {uint64_t(2048), 2048 + stride})
    EXPECT_TRUE(
        std::all_of(b.begin() + at, b.begin() + at + 512, [](uint8_t x) { return x == 0xFF; }));
  EXPECT_TRUE(std::equal(b.begin() + 2560, b.begin() + 2560 + 2 * kMiB, disk.begin()));
  // The last block is cut by the disk's end: data up to it, zeros after.
  const auto last = b.begin() + 2048 + stride + 512;
  EXPECT_TRUE(std::equal(last, last + kMiB + 4096, disk.begin() + 4 * kMiB));
  EXPECT_TRUE(std::all_of(last + kMiB + 4096, b.end() - 512, [](uint8_t x) { return x == 0; }));

  MemoryRandomSource rs(b);
  Result<std::unique_ptr<VhdImage>> img = OpenVhdImage(rs);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ((*img)->AllocatedBlocks(), (std::vector<uint32_t>{0, 2}));
  Result<Bytes> flat = Flatten(*(*img)->Extents());
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  EXPECT_EQ(*flat, disk);
  MemorySource ss(b);
  Result<std::unique_ptr<ExtentReader>> sr = OpenVhdStream(ss, {.total_length = b.size()});
  ASSERT_TRUE(sr.ok()) << sr.status().ToString();
  flat = Flatten(**sr);
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  EXPECT_EQ(*flat, disk);
}

TEST(VhdWriter, ExactChsIsStored) {
  Bytes disk(10514432);  // 302/4/17
  Result<Bytes> f = WriteVhd({}, disk, {});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(DecodeVhdFooter(ByteSpan(*f).first(512))->geometry, (VhdGeometry{302, 4, 17}));
  EXPECT_EQ(f->size(), VhdWriter::EncodedSize(disk.size(), 0));
}

TEST(VhdWriter, DeltaBitmapHasExactlyTheWrittenSectors) {
  Bytes disk(3 * 4096);
  Fill(disk, 7);
  VhdWriteOptions opts;
  opts.type = VhdDiskType::kDifferencing;
  opts.block_size = 4096;
  opts.parent_id = VhdUuid::Random();
  opts.parent_timestamp = 99;
  opts.parent_name = "base.vhd";
  // Block 0: sectors 1-2 and 7; block 1 untouched but declared; block 2 whole.
  opts.virtual_size = disk.size();
  Bytes out;
  BytesSink sink(&out);
  auto w = VhdWriter::Create(sink, opts, {0, 1, 2});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Write({512, ByteSpan(disk).subspan(512, 1024)}).ok());
  ASSERT_TRUE((*w)->Write({7 * 512, ByteSpan(disk).subspan(7 * 512, 512)}).ok());
  ASSERT_TRUE((*w)->Write({8192, ByteSpan(disk).subspan(8192, 4096)}).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  ASSERT_EQ(out.size(), VhdWriter::EncodedSize(disk.size(), 3, 4096));
  const size_t blocks_at = 1536 + 512, stride = 512 + 4096;
  EXPECT_EQ(out[blocks_at], 0b01100001);
  EXPECT_EQ(out[blocks_at + 1], 0);
  EXPECT_EQ(out[blocks_at + stride], 0);
  EXPECT_EQ(out[blocks_at + 2 * stride], 0xFF);

  MemoryRandomSource rs(out);
  auto img = OpenVhdImage(rs);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ((*img)->info().kind, DiskKind::kDelta);
  EXPECT_EQ((*img)->info().parent_id, opts.parent_id.ToString());
  EXPECT_EQ(Utf16ToUtf8((*img)->header()->parent_name), "base.vhd");
  EXPECT_EQ((*img)->header()->parent_timestamp, 99u);
  Bytes got(1536);
  bool from_parent = false;
  ASSERT_TRUE((*img)->ReadAt(0, got, &from_parent).ok());
  EXPECT_TRUE(from_parent);
  EXPECT_TRUE(std::equal(got.begin() + 512, got.end(), disk.begin() + 512));
  ASSERT_TRUE((*img)->ReadAt(8192, MutableByteSpan(got).first(1024), &from_parent).ok());
  EXPECT_FALSE(from_parent);
  // The stream reader yields the same three runs.
  MemorySource ss(out);
  auto sr = OpenVhdStream(ss);
  ASSERT_TRUE(sr.ok()) << sr.status().ToString();
  std::vector<std::pair<uint64_t, size_t>> seen;
  for (;;) {
    auto e = (*sr)->Next();
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    if (!*e) break;
    seen.push_back({(*e)->offset, (*e)->data.size()});
  }
  EXPECT_EQ(seen,
            (std::vector<std::pair<uint64_t, size_t>>{{512, 1024}, {3584, 512}, {8192, 4096}}));
}

TEST(VhdWriter, RejectsBadOptionsAndExtents) {
  Bytes out;
  BytesSink sink(&out);
  auto create = [&](VhdWriteOptions o, std::vector<uint32_t> blocks) {
    return VhdWriter::Create(sink, o, std::move(blocks)).status();
  };
  VhdWriteOptions o;
  o.virtual_size = 4 * kMiB;
  EXPECT_TRUE(create(o, {0, 1}).ok());
  o.virtual_size = kVhdMaxWriteSize + kMiB * 2;
  EXPECT_EQ(create(o, {}).code(), Code::kInvalidArgument);
  o.virtual_size = kVhdMaxWriteSize;
  EXPECT_TRUE(create(o, {}).ok());
  o.virtual_size = 1000;
  EXPECT_EQ(create(o, {}).code(), Code::kInvalidArgument);
  o.virtual_size = 4 * kMiB;
  EXPECT_EQ(create(o, {1, 0}).code(), Code::kInvalidArgument);
  EXPECT_EQ(create(o, {1, 1}).code(), Code::kInvalidArgument);
  EXPECT_EQ(create(o, {2}).code(), Code::kInvalidArgument);
  o.block_size = 3000;
  EXPECT_EQ(create(o, {}).code(), Code::kInvalidArgument);
  o.block_size = kVhdDefaultBlockSize;
  o.type = VhdDiskType::kFixed;
  EXPECT_EQ(create(o, {}).code(), Code::kInvalidArgument);
  o.type = VhdDiskType::kDifferencing;
  EXPECT_EQ(create(o, {}).code(), Code::kInvalidArgument);  // no parent UUID
  o.parent_id = VhdUuid::Random();
  o.parent_name = std::string(257, 'x');
  EXPECT_EQ(create(o, {}).code(), Code::kInvalidArgument);
  o.parent_name = "\xFF";
  EXPECT_EQ(create(o, {}).code(), Code::kInvalidArgument);
  o.parent_name = "p";
  EXPECT_TRUE(create(o, {}).ok());
  VhdWriteOptions full;
  full.virtual_size = 4 * kMiB;
  full.parent_name = "p";
  EXPECT_EQ(create(full, {}).code(), Code::kInvalidArgument);

  Bytes data(8192, 1);
  o.parent_name = "";
  auto w = VhdWriter::Create(sink, o, {1});
  ASSERT_TRUE(w.ok());
  Status s = (*w)->Write({4096, ByteSpan(data).first(4096)});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("not declared"), std::string::npos) << s.message();
  s = (*w)->Write({2 * kMiB + 100, ByteSpan(data).first(512)});
  EXPECT_NE(s.message().find("not sector-aligned"), std::string::npos) << s.message();
  EXPECT_TRUE((*w)->Write({2 * kMiB, ByteSpan(data).first(512)}).ok());
  s = (*w)->Write({2 * kMiB, ByteSpan(data).first(512)});
  EXPECT_NE(s.message().find("out of order"), std::string::npos) << s.message();
  s = (*w)->Write({4 * kMiB - 512, ByteSpan(data).first(1024)});
  EXPECT_NE(s.message().find("past the VHD virtual size"), std::string::npos) << s.message();
}

// Random extents with small blocks: what goes in comes out of both readers.
TEST(VhdWriter, RandomExtentsRoundTrip) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 20; ++round) {
    const uint32_t bs = 4096u << (rng() % 3);
    const uint64_t size = (1 + rng() % 200) * 512;
    Bytes disk(size);
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (uint64_t pos = rng() % 4 * 512; pos < size;) {
      const uint64_t len = std::min<uint64_t>(size - pos, (1 + rng() % 24) * 512);
      Fill(MutableByteSpan(disk).subspan(pos, len), rng());
      ranges.push_back({pos, len});
      pos += len + rng() % 16 * 512;
    }
    for (VhdDiskType type : {VhdDiskType::kDynamic, VhdDiskType::kDifferencing}) {
      VhdWriteOptions opts;
      opts.block_size = bs;
      opts.type = type;
      if (type == VhdDiskType::kDifferencing) opts.parent_id = VhdUuid::Random();
      Result<Bytes> f = WriteVhd(opts, disk, ranges);
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      MemoryRandomSource rs(*f);
      auto img = OpenVhdImage(rs);
      ASSERT_TRUE(img.ok()) << img.status().ToString();
      Result<Bytes> flat = Flatten(*(*img)->Extents());
      ASSERT_TRUE(flat.ok()) << flat.status().ToString();
      EXPECT_EQ(*flat, disk) << "round " << round;
      MemorySource ss(*f);
      auto sr = OpenVhdStream(ss);
      ASSERT_TRUE(sr.ok()) << sr.status().ToString();
      flat = Flatten(**sr);
      ASSERT_TRUE(flat.ok()) << flat.status().ToString();
      EXPECT_EQ(*flat, disk) << "round " << round;
      Bytes back(size);
      ASSERT_TRUE((*img)->ReadAt(0, back).ok());
      EXPECT_EQ(back, disk);
    }
  }
}

}  // namespace
}  // namespace casulo::formats

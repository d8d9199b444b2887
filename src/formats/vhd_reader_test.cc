// Both VHD readers on hand-built layouts: blktap-style gaps, locators and
// batmap, unsorted blocks, differencing chains, fixed disks, and damage.
#include "formats/vhd_reader.h"

#include <gtest/gtest.h>

#include "vhd_test_util.h"

namespace casulo::formats {
namespace {

using vhd_testing::Fill;
using vhd_testing::Flatten;
using vhd_testing::HandVhd;

constexpr uint64_t kMiB = 1 << 20;

Result<Bytes> ReadStream(const Bytes& file, uint64_t total_length = 0) {
  MemorySource src(file);
  ASSIGN_OR_RETURN(auto r, OpenVhdStream(src, {.total_length = total_length}));
  return Flatten(*r);
}

Result<Bytes> ReadRandom(const Bytes& file) {
  MemoryRandomSource src(file);
  ASSIGN_OR_RETURN(auto img, OpenVhdImage(src));
  return Flatten(*img->Extents());
}

void ExpectError(const Status& s, Code code, std::string_view words) {
  ASSERT_FALSE(s.ok()) << "expected an error with: " << words;
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.ToString().find(words), std::string::npos) << s.ToString();
}

// `file` with its header (at 512) replaced by `h`.
Bytes WithHeader(Bytes file, const VhdHeader& h) {
  const auto bytes = EncodeVhdHeader(h);
  std::copy(bytes.begin(), bytes.end(), file.begin() + 512);
  return file;
}

// tapdisk's layout: BAT at 1536, batmap after it, locators after the batmap,
// block data starting on 4 KiB boundaries with gaps before the bitmaps.
HandVhd BlktapLike() {
  HandVhd v(6 * kMiB + 8192, 2 * kMiB, VhdDiskType::kDifferencing);
  v.footer.creator_app = FourCc("tap\0");
  v.header.parent_id = VhdUuid::Random();
  v.header.parent_name = *Utf8ToUtf16("parent.vhd");
  Bytes batmap(512, 0);
  std::memcpy(batmap.data(), "tdbatmap", 8);
  v.extra[2048] = batmap;
  v.extra[2560] = Bytes(512, 0xA0);  // the batmap itself
  const std::string macx = "file://./parent.vhd";
  v.extra[3072] = Bytes(macx.begin(), macx.end());
  v.header.locators[0] = {kVhdLocatorMacX, 512, uint32_t(macx.size()), 0, 3072};
  Bytes w2ku;
  for (char c : std::string(".\\parent.vhd")) w2ku.insert(w2ku.end(), {uint8_t(c), 0});
  v.extra[3584] = w2ku;
  v.header.locators[1] = {kVhdLocatorW2ku, 512, uint32_t(w2ku.size()), 0, 3584};
  // Data 4 KiB-aligned: bitmap at 8192 - 512, next after a gap.
  v.Add(1, 8192 - 512, 11);
  v.Add(2, 8192 + 2 * kMiB + 4096 - 512, 12, {{0, 8}, {100, 1}, {4000, 96}});
  v.Add(3, 8192 + 4 * kMiB + 8192 - 512, 13);  // cut by the disk's end at 8 KiB
  return v;
}

TEST(VhdReader, BlktapLayoutWithGapsLocatorsAndBatmap) {
  const HandVhd v = BlktapLike();
  const Bytes file = v.Build();
  const Bytes want = v.Expected();
  Result<Bytes> got = ReadRandom(file);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, want);
  got = ReadStream(file);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, want);
  got = ReadStream(file, file.size());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, want);

  MemoryRandomSource src(file);
  auto img = OpenVhdImage(src);
  ASSERT_TRUE(img.ok());
  EXPECT_EQ((*img)->info().kind, DiskKind::kDelta);
  EXPECT_EQ((*img)->info().parent_id, v.header.parent_id.ToString());
  EXPECT_EQ((*img)->AllocatedBlocks(), (std::vector<uint32_t>{1, 2, 3}));
  auto locs = (*img)->ParentLocators();
  ASSERT_TRUE(locs.ok()) << locs.status().ToString();
  ASSERT_EQ(locs->size(), 2u);
  EXPECT_EQ((*locs)[0].path, "file://./parent.vhd");
  EXPECT_EQ((*locs)[1].path, ".\\parent.vhd");
  EXPECT_TRUE((*img)->warning().empty());
}

TEST(VhdReader, StreamSplitsBlocksAtBitmapRunsAndStopsAtTheDiskEnd) {
  const HandVhd v = BlktapLike();
  const Bytes file = v.Build();
  MemorySource src(file);
  auto r = OpenVhdStream(src);
  ASSERT_TRUE(r.ok());
  std::vector<std::pair<uint64_t, size_t>> seen;
  for (;;) {
    auto e = (*r)->Next();
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    if (!*e) break;
    seen.push_back({(*e)->offset, (*e)->data.size()});
  }
  const std::vector<std::pair<uint64_t, size_t>> want = {{2 * kMiB, 2 * kMiB},
                                                         {4 * kMiB, 8 * 512},
                                                         {4 * kMiB + 100 * 512, 512},
                                                         {4 * kMiB + 4000 * 512, 96 * 512},
                                                         {6 * kMiB, 8192}};
  EXPECT_EQ(seen, want);
}

TEST(VhdReader, UnsortedBlocks) {
  HandVhd v(3 * 4096, 4096);
  v.Add(2, 4096, 1);
  v.Add(0, 4096 + 4608, 2);
  v.Add(1, 4096 + 2 * 4608, 3);
  const Bytes file = v.Build();
  Result<Bytes> got = ReadRandom(file);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, v.Expected());
  ExpectError(ReadStream(file).status(), Code::kUnsupported, "not stored in ascending order");
}

TEST(VhdReader, DifferencingChainOfThree) {
  constexpr uint32_t kBs = 4096;
  HandVhd base(16 * kBs, kBs);
  for (uint32_t i : {0u, 1u, 2u, 5u, 9u}) base.Add(i, 8192 + i * 8192, 100 + i);
  base.Add(15, 8192 + 15 * 8192, 115, {{0, 3}});  // clear bits read as zeros
  HandVhd mid(16 * kBs, kBs, VhdDiskType::kDifferencing);
  mid.header.parent_id = base.footer.unique_id;
  mid.Add(1, 8192, 201, {{2, 3}});
  mid.Add(3, 16384, 203);
  mid.Add(9, 24576, 209, {{0, 1}, {7, 1}});
  HandVhd top(16 * kBs, kBs, VhdDiskType::kDifferencing);
  top.header.parent_id = mid.footer.unique_id;
  top.Add(1, 8192, 301, {{3, 1}});
  top.Add(4, 16384, 304, {{4, 4}});
  top.Add(9, 24576, 309, {{7, 1}});
  const Bytes fb = base.Build(), fm = mid.Build(), ft = top.Build();
  const Bytes want = top.Expected(mid.Expected(base.Expected()));

  MemoryRandomSource sb(fb), sm(fm), st(ft);
  std::vector<std::unique_ptr<VhdImage>> images;
  for (const RandomSource* s :
       {static_cast<const RandomSource*>(&st), static_cast<const RandomSource*>(&sm),
        static_cast<const RandomSource*>(&sb)}) {
    auto img = OpenVhdImage(*s);
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    images.push_back(std::move(*img));
  }
  // Wrong order: the top's parent is not the base.
  {
    std::vector<std::unique_ptr<VhdImage>> wrong;
    wrong.push_back(std::move(images[0]));
    wrong.push_back(std::move(images[2]));
    auto c = OpenVhdChain(std::move(wrong));
    ExpectError(c.status(), Code::kInvalidArgument,
                "has parent " + mid.footer.unique_id.ToString());
    auto i0 = OpenVhdImage(st), i2 = OpenVhdImage(sb);
    images[0] = std::move(*i0);
    images[2] = std::move(*i2);
  }
  auto chain = OpenVhdChain(std::move(images));
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  EXPECT_EQ((*chain)->info().kind, DiskKind::kFull);
  Result<Bytes> flat = Flatten(*(*chain)->Extents());
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  EXPECT_EQ(*flat, want);
  // ReadAt at odd offsets and lengths crossing blocks.
  for (auto [off, len] : std::vector<std::pair<uint64_t, size_t>>{
           {0, want.size()}, {1, 4095}, {4096 + 1000, 9000}, {9 * 4096 + 3583, 1026}}) {
    Bytes got(len);
    ASSERT_TRUE((*chain)->ReadAt(off, got).ok());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin() + ptrdiff_t(off))) << off;
  }
  // A delta chain (no base) is itself a delta over the base.
  {
    std::vector<std::unique_ptr<VhdImage>> two;
    two.push_back(OpenVhdImage(st).value());
    two.push_back(OpenVhdImage(sm).value());
    auto c = OpenVhdChain(std::move(two));
    ASSERT_TRUE(c.ok());
    EXPECT_EQ((*c)->info().kind, DiskKind::kDelta);
    EXPECT_EQ((*c)->info().parent_id, base.footer.unique_id.ToString());
    bool from_parent = false;
    Bytes got(4096);
    ASSERT_TRUE((*c)->ReadAt(3 * 4096, got, &from_parent).ok());
    EXPECT_FALSE(from_parent);  // block 3 is whole in mid
    ASSERT_TRUE((*c)->ReadAt(1 * 4096, got, &from_parent).ok());
    EXPECT_TRUE(from_parent);
  }
  // XAPI's import applies each file as a patch: base, then mid, then top.
  Bytes patched;
  for (const Bytes* f : {&fb, &fm, &ft}) {
    MemorySource s(*f);
    auto r = OpenVhdStream(s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(vhd_testing::ApplyExtents(**r, &patched).ok());
  }
  EXPECT_EQ(patched, want);
}

TEST(VhdReader, FixedDisk) {
  Bytes disk(5 * kMiB + 4096);  // 2 MiB blocks: data, zeros, data
  Fill(MutableByteSpan(disk).subspan(kMiB, 5000), 5);
  Fill(MutableByteSpan(disk).last(512), 6);
  VhdFooter f;
  f.disk_type = VhdDiskType::kFixed;
  f.data_offset = kVhdFixedDataOffset;
  f.current_size = f.original_size = disk.size();
  Bytes file = disk;
  const auto foot = EncodeVhdFooter(f);
  file.insert(file.end(), foot.begin(), foot.end());
  Result<Bytes> got = ReadRandom(file);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, disk);
  got = ReadStream(file, file.size());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, disk);
  // Without its length a stream cannot tell a fixed VHD's data from its footer.
  ExpectError(ReadStream(file).status(), Code::kCorruption, "not a dynamic VHD");
  // The all-zero 2 MiB block is skipped: 2 extents only.
  MemoryRandomSource rs(file);
  auto img = OpenVhdImage(rs);
  ASSERT_TRUE(img.ok());
  auto r = (*img)->Extents();
  int n = 0;
  for (;;) {
    auto e = r->Next();
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    if (!*e) break;
    ++n;
  }
  EXPECT_EQ(n, 2);
  // A size mismatch between data and footer is corruption.
  file.erase(file.begin(), file.begin() + 512);
  ExpectError(ReadRandom(file).status(), Code::kCorruption, "fixed VHD holds");
  ExpectError(ReadStream(file, file.size()).status(), Code::kCorruption, "fixed VHD holds");
}

TEST(VhdReader, DamagedTrailingFooterFallsBackToTheCopy) {
  HandVhd v(2 * 4096, 4096);
  v.Add(0, 4096, 1);
  Bytes file = v.Build();
  file[file.size() - 512 + 70] ^= 0xFF;  // the UUID: checksum now wrong
  MemoryRandomSource src(file);
  auto img = OpenVhdImage(src);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_NE((*img)->warning().find("trailing VHD footer"), std::string::npos);
  EXPECT_NE((*img)->warning().find("checksum mismatch"), std::string::npos);
  // The stream reader insists on a valid trailing footer.
  ExpectError(ReadStream(file).status(), Code::kCorruption, "VHD footer checksum mismatch");
  file[70] ^= 0xFF;
  ExpectError(ReadRandom(file).status(), Code::kCorruption, "VHD footer checksum mismatch");
}

TEST(VhdReader, TrailingFooterMustMatchTheCopy) {
  HandVhd v(2 * 4096, 4096);
  v.Add(0, 4096, 1);
  Bytes file = v.Build();
  VhdFooter other = v.footer;
  other.unique_id = VhdUuid::Random();
  const auto foot = EncodeVhdFooter(other);
  std::copy(foot.begin(), foot.end(), file.end() - 512);
  ExpectError(ReadStream(file).status(), Code::kCorruption, "differs from the copy");
}

TEST(VhdReader, DamageGivesClearErrors) {
  HandVhd v(4 * 4096, 4096);
  v.Add(0, 4096, 1);
  v.Add(1, 4096 + 4608, 2);
  const Bytes good = v.Build();

  // Truncated in the middle of block 1.
  Bytes cut(good.begin(), good.begin() + 4096 + 4608 + 1000);
  ExpectError(ReadRandom(cut).status(), Code::kCorruption, "past the end of the data");
  ExpectError(ReadStream(cut).status(), Code::kCorruption, "truncated");
  ExpectError(ReadStream(Bytes(good.begin(), good.begin() + 700)).status(), Code::kCorruption,
              "truncated");
  // A stream that ends right after the data, with no trailing footer.
  Bytes nofoot(good.begin(), good.end() - 512);
  ExpectError(ReadStream(nofoot).status(), Code::kCorruption, "without a trailing footer");

  // Point block 1 past EOF (sector 0x00100000 = 512 MiB) by editing the BAT.
  Bytes f = good;
  f[1536 + 4] = 0x00, f[1536 + 5] = 0x10, f[1536 + 6] = 0x00, f[1536 + 7] = 0x00;
  ExpectError(ReadRandom(f).status(), Code::kCorruption, "BAT entry for block 1");
  ExpectError(ReadStream(f, f.size()).status(), Code::kCorruption, "BAT entry for block 1");

  HandVhd overlap = v;
  overlap.blocks[1].offset = 4096 + 4096;
  ExpectError(ReadRandom(overlap.Build()).status(), Code::kCorruption, "overlap");
  ExpectError(ReadStream(overlap.Build()).status(), Code::kCorruption, "overlap");

  HandVhd in_bat = v;  // a longer BAT whose tail (unused entries) holds block 0
  in_bat.header.max_table_entries = 200;
  in_bat.blocks[0].offset = 2048;
  ExpectError(ReadRandom(in_bat.Build()).status(), Code::kCorruption, "inside the footer copy");
  ExpectError(ReadStream(in_bat.Build()).status(), Code::kCorruption, "inside the footer copy");

  VhdHeader huge = v.header;
  huge.max_table_entries = 0xFFFFFF00;
  const Bytes fh = WithHeader(good, huge);
  ExpectError(ReadRandom(fh).status(), Code::kUnsupported, "BAT of 4294967040 entries");
  ExpectError(ReadStream(fh).status(), Code::kUnsupported, "BAT of 4294967040 entries");
  HandVhd tiny = v;
  tiny.header.max_table_entries = 2;
  ExpectError(ReadRandom(tiny.Build()).status(), Code::kCorruption, "BAT too small");

  HandVhd bad_bs = v;
  bad_bs.header.block_size = 4096 + 512;
  ExpectError(ReadRandom(bad_bs.Build()).status(), Code::kCorruption, "block size 4608");
  ExpectError(ReadStream(bad_bs.Build()).status(), Code::kCorruption, "block size 4608");

  Bytes bad_header = good;
  bad_header[512 + 40] ^= 1;
  ExpectError(ReadRandom(bad_header).status(), Code::kCorruption, "header checksum mismatch");
  ExpectError(ReadStream(bad_header).status(), Code::kCorruption, "header checksum mismatch");

  // A BAT before the header is fine for a file, impossible for a stream.
  HandVhd bat_first = v;
  bat_first.footer.data_offset = 2048;
  bat_first.header.table_offset = 512;
  for (auto& b : bat_first.blocks) b.offset += 8192;
  Result<Bytes> got = ReadRandom(bat_first.Build());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, bat_first.Expected());
  ExpectError(ReadStream(bat_first.Build()).status(), Code::kUnsupported, "cannot go back");

  ExpectError(ReadRandom(Bytes(100, 0)).status(), Code::kCorruption, "too small");
  ExpectError(ReadRandom(Bytes(4096, 0)).status(), Code::kCorruption, "cookie");
}

TEST(VhdReader, ReadAtChecksBounds) {
  HandVhd v(2 * 4096, 4096);
  v.Add(1, 4096, 1, {{1, 2}});
  const Bytes file = v.Build();
  MemoryRandomSource src(file);
  auto img = OpenVhdImage(src);
  ASSERT_TRUE(img.ok());
  Bytes buf(100);
  EXPECT_EQ((*img)->ReadAt(8192 - 50, buf).code(), Code::kInvalidArgument);
  ASSERT_TRUE((*img)->ReadAt(4096 + 500, buf).ok());
  const Bytes want = v.Expected();
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), want.begin() + 4096 + 500));
  bool from_parent = true;
  ASSERT_TRUE((*img)->ReadAt(0, buf, &from_parent).ok());
  EXPECT_FALSE(from_parent);  // a dynamic disk has no parent
}

}  // namespace
}  // namespace casulo::formats

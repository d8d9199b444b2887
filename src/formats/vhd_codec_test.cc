// Footer/header codecs, checksums, geometry, UUIDs, times, text helpers.
#include <gtest/gtest.h>

#include "formats/vhd.h"

namespace casulo::formats {
namespace {

VhdFooter SampleFooter() {
  VhdFooter f;
  f.timestamp = 0x2FA1B2C3;
  f.current_size = f.original_size = 10ull << 30;
  f.geometry = VhdChsForSize(f.current_size);
  f.unique_id = *VhdUuid::FromString("6ba7b810-9dad-41d1-80b4-00c04fd430c8");
  return f;
}

TEST(VhdCodec, FooterRoundTrip) {
  VhdFooter f = SampleFooter();
  f.hidden = 1;
  f.disk_type = VhdDiskType::kDifferencing;
  const auto bytes = EncodeVhdFooter(f);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), 8), "conectix");
  Result<VhdFooter> d = DecodeVhdFooter(bytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->current_size, f.current_size);
  EXPECT_EQ(d->timestamp, f.timestamp);
  EXPECT_EQ(d->geometry, f.geometry);
  EXPECT_EQ(d->unique_id, f.unique_id);
  EXPECT_EQ(d->disk_type, VhdDiskType::kDifferencing);
  EXPECT_EQ(d->hidden, 1);
  EXPECT_EQ(d->creator_app, FourCc("cslo"));
  EXPECT_EQ(EncodeVhdFooter(*d), bytes);
}

TEST(VhdCodec, ChecksumIsOnesComplementOfByteSum) {
  const auto bytes = EncodeVhdFooter(SampleFooter());
  uint32_t sum = 0;
  for (size_t i = 0; i < bytes.size(); ++i)
    if (i < 64 || i >= 68) sum += bytes[i];
  const uint32_t stored = uint32_t(bytes[64]) << 24 | bytes[65] << 16 | bytes[66] << 8 | bytes[67];
  EXPECT_EQ(stored, ~sum);
  EXPECT_EQ(VhdChecksum(bytes, 64), ~sum);
}

TEST(VhdCodec, FooterChecksumMismatchNamesBothValues) {
  auto bytes = EncodeVhdFooter(SampleFooter());
  bytes[100] ^= 1;
  Result<VhdFooter> d = DecodeVhdFooter(bytes);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kCorruption);
  EXPECT_NE(d.status().message().find("VHD footer checksum mismatch: stored 0x"), std::string::npos)
      << d.status().message();
  EXPECT_NE(d.status().message().find("computed 0x"), std::string::npos);
}

TEST(VhdCodec, FooterRejectsBadFields) {
  auto reject = [](VhdFooter f, Code code, std::string_view words) {
    Result<VhdFooter> d = DecodeVhdFooter(EncodeVhdFooter(f));
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), code) << d.status().message();
    EXPECT_NE(d.status().message().find(words), std::string::npos) << d.status().message();
  };
  VhdFooter f = SampleFooter();
  f.format_version = 0x00020000;
  reject(f, Code::kUnsupported, "format version");
  f = SampleFooter();
  f.disk_type = VhdDiskType(5);
  reject(f, Code::kUnsupported, "disk type 5");
  f.disk_type = VhdDiskType(77);
  reject(f, Code::kCorruption, "disk type 77");
  f = SampleFooter();
  f.data_offset = 100;
  reject(f, Code::kCorruption, "data offset");
  f = SampleFooter();
  f.disk_type = VhdDiskType::kFixed;
  reject(f, Code::kCorruption, "fixed VHD footer data offset");
  f.data_offset = 0xFFFFFFFF;  // what the spec text shows: accepted
  EXPECT_TRUE(DecodeVhdFooter(EncodeVhdFooter(f)).ok());
  f = SampleFooter();
  f.current_size = 1000;
  reject(f, Code::kUnsupported, "multiple of 512");
  f.current_size = kVhdMaxReadSize + 512;
  reject(f, Code::kUnsupported, "2 TiB");

  auto bytes = EncodeVhdFooter(SampleFooter());
  bytes[0] = 'X';
  Result<VhdFooter> d = DecodeVhdFooter(bytes);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("cookie is 'Xonectix'"), std::string::npos)
      << d.status().message();
  EXPECT_FALSE(DecodeVhdFooter(ByteSpan(bytes).first(511)).ok());
}

TEST(VhdCodec, HeaderRoundTripWithParentFields) {
  VhdHeader h;
  h.table_offset = 2048;
  h.max_table_entries = 5120;
  h.parent_id = VhdUuid::Random();
  h.parent_timestamp = 12345;
  h.parent_name = *Utf8ToUtf16("/srv/sr/b\xC3\xA4se.vhd");
  h.locators[0] = {kVhdLocatorMacX, 512, 23, 0, 1536};
  const auto bytes = EncodeVhdHeader(h);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), 8), "cxsparse");
  // UTF-16 big-endian: '/' is 00 2F.
  EXPECT_EQ(bytes[64], 0x00);
  EXPECT_EQ(bytes[65], 0x2F);
  Result<VhdHeader> d = DecodeVhdHeader(bytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->table_offset, 2048u);
  EXPECT_EQ(d->max_table_entries, 5120u);
  EXPECT_EQ(d->parent_id, h.parent_id);
  EXPECT_EQ(Utf16ToUtf8(d->parent_name), "/srv/sr/b\xC3\xA4se.vhd");
  EXPECT_EQ(d->locators[0], h.locators[0]);
  EXPECT_EQ(EncodeVhdHeader(*d), bytes);
}

TEST(VhdCodec, HeaderRejectsBadFields) {
  VhdHeader h;
  h.table_offset = 1536;
  h.max_table_entries = 1;
  auto bytes = EncodeVhdHeader(h);
  bytes[500] ^= 0x40;
  Result<VhdHeader> d = DecodeVhdHeader(bytes);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("VHD dynamic header checksum mismatch"), std::string::npos);
  for (uint32_t bad : {0u, 256u, 3u << 20, 64u << 20}) {
    h.block_size = bad;
    d = DecodeVhdHeader(EncodeVhdHeader(h));
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.status().code(), Code::kCorruption);
    EXPECT_NE(d.status().message().find("block size"), std::string::npos);
  }
  h.block_size = 512;
  EXPECT_TRUE(DecodeVhdHeader(EncodeVhdHeader(h)).ok());
  for (uint64_t bad : {uint64_t(1537), ~uint64_t(511)}) {
    h.table_offset = bad;
    d = DecodeVhdHeader(EncodeVhdHeader(h));
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_NE(d.status().message().find("BAT offset"), std::string::npos);
  }
  h.table_offset = 1536;
  h.header_version = 0x00010001;
  EXPECT_EQ(DecodeVhdHeader(EncodeVhdHeader(h)).status().code(), Code::kUnsupported);
}

TEST(VhdCodec, UsedBatEntriesBoundsTheTable) {
  VhdFooter f = SampleFooter();
  f.current_size = (10ull << 20) + 4096;
  VhdHeader h;
  h.max_table_entries = 6;
  ASSERT_TRUE(VhdUsedBatEntries(f, h).ok());
  EXPECT_EQ(*VhdUsedBatEntries(f, h), 6u);
  h.max_table_entries = 5;
  EXPECT_EQ(VhdUsedBatEntries(f, h).status().code(), Code::kCorruption);
  h.max_table_entries = 0xFFFFFFFF;
  EXPECT_EQ(VhdUsedBatEntries(f, h).status().code(), Code::kUnsupported);
  h.max_table_entries = 1u << 20;  // blktap preallocates for 2 TiB: fine
  EXPECT_TRUE(VhdUsedBatEntries(f, h).ok());
  f.current_size = 1ull << 40;
  h.block_size = 4096;  // 2^28 entries needed
  h.max_table_entries = 1u << 28;
  EXPECT_EQ(VhdUsedBatEntries(f, h).status().code(), Code::kUnsupported);
}

TEST(VhdCodec, GeometryMatchesTheSpecAlgorithm) {
  // 10 GiB and 1 GiB read 40 KiB and 256 KiB short through CHS (reference 2.3).
  EXPECT_EQ(VhdChsForSize(10ull << 30), (VhdGeometry{20805, 16, 63}));
  EXPECT_EQ((10ull << 30) - VhdChsForSize(10ull << 30).bytes(), 40u << 10);
  EXPECT_EQ(VhdChsForSize(1ull << 30), (VhdGeometry{2080, 16, 63}));
  EXPECT_EQ((1ull << 30) - VhdChsForSize(1ull << 30).bytes(), 256u << 10);
  EXPECT_EQ(VhdChsForSize(3ull << 20), (VhdGeometry{90, 4, 17}));
  EXPECT_EQ(VhdChsForSize(32ull << 20), (VhdGeometry{963, 4, 17}));
  // More than 16 heads at 17 sectors per track switches to 31: 200 MiB.
  EXPECT_EQ(VhdChsForSize(200ull << 20), (VhdGeometry{825, 16, 31}));
  // Large disks use 255 sectors per track; beyond the cap it saturates.
  EXPECT_EQ(VhdChsForSize(100ull << 30), (VhdGeometry{51400, 16, 255}));
  EXPECT_EQ(VhdChsForSize(2040ull << 30), VhdGeometry::Max());
  EXPECT_EQ(VhdGeometry::Max().bytes(), 65535ull * 16 * 255 * 512);
  // qemu's file for a 10489856-byte raw is sized 10514432 = its CHS.
  EXPECT_EQ(VhdChsForSize(10514432).bytes(), 10514432u);
}

TEST(VhdCodec, UuidText) {
  Result<VhdUuid> u = VhdUuid::FromString("6BA7B810-9DAD-11D1-80B4-00C04FD430C8");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->b[0], 0x6B);
  EXPECT_EQ(u->b[15], 0xC8);
  EXPECT_EQ(u->ToString(), "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
  for (const char* bad :
       {"", "6ba7b810-9dad-11d1-80b4-00c04fd430c", "6ba7b810x9dad-11d1-80b4-00c04fd430c8",
        "6ba7b810-9dad-11d1-80b4-00c04fd430cg"})
    EXPECT_EQ(VhdUuid::FromString(bad).status().code(), Code::kInvalidArgument) << bad;
  const VhdUuid r = VhdUuid::Random();
  EXPECT_FALSE(r.IsZero());
  EXPECT_EQ(r.b[6] >> 4, 4);
  EXPECT_EQ(r.b[8] & 0xC0, 0x80);
  EXPECT_NE(r, VhdUuid::Random());
}

TEST(VhdCodec, EpochAndText) {
  EXPECT_EQ(VhdTimeFromUnix(946684800), 0u);
  EXPECT_EQ(VhdTimeFromUnix(946684800 + 86400), 86400u);
  EXPECT_EQ(VhdTimeFromUnix(0), 0u);  // before 2000: clamped
  EXPECT_EQ(VhdTimeToUnix(1), 946684801);
  EXPECT_GT(VhdTimeNow(), 700000000u);  // after 2022

  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a é € 😀
  Result<std::u16string> u = Utf8ToUtf16(s);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->size(), 5u);  // the emoji is a surrogate pair
  EXPECT_EQ(Utf16ToUtf8(*u), s);
  EXPECT_FALSE(Utf8ToUtf16("\xC3").ok());
  EXPECT_FALSE(Utf8ToUtf16("\xC0\x80").ok());  // overlong
  EXPECT_EQ(Utf16ToUtf8(std::u16string(1, char16_t(0xD800))), "\xEF\xBF\xBD");

  const Bytes w2ku = {'C', 0, ':', 0, '\\', 0, 'x', 0, 0, 0};
  EXPECT_EQ(*DecodeVhdLocatorPath(kVhdLocatorW2ku, w2ku), "C:\\x");
  EXPECT_EQ(*DecodeVhdLocatorPath(kVhdLocatorMacX, AsBytes(std::string("file://./p.vhd\0", 15))),
            "file://./p.vhd");
  EXPECT_EQ(DecodeVhdLocatorPath(kVhdLocatorMac, w2ku).status().code(), Code::kUnsupported);
}

TEST(VhdCodec, BitmapAndBatSizes) {
  EXPECT_EQ(VhdBitmapBytes(2u << 20), 512u);
  EXPECT_EQ(VhdBitmapBytes(4096), 512u);
  EXPECT_EQ(VhdBitmapBytes(512), 512u);
  EXPECT_EQ(VhdBitmapBytes(32u << 20), 8192u);
  EXPECT_EQ(VhdBatBytes(0), 0u);
  EXPECT_EQ(VhdBatBytes(1), 512u);
  EXPECT_EQ(VhdBatBytes(128), 512u);
  EXPECT_EQ(VhdBatBytes(129), 1024u);
}

}  // namespace
}  // namespace casulo::formats

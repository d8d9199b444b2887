// Microsoft VHD 1.0 as XenServer / XCP-ng use it: the 512-byte footer, the
// 1024-byte dynamic disk header, parent locators, checksums, CHS geometry and
// the VHD epoch. Pure codecs; the readers are in vhd_reader.h and the writer
// in vhd_writer.h. docs/format/vhd.md describes the bytes and our rules.
//
// All integers on disk are big-endian; a sector is 512 bytes.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"

namespace casulo::formats {

inline constexpr uint64_t kVhdSectorSize = 512;
inline constexpr size_t kVhdFooterSize = 512;
inline constexpr size_t kVhdHeaderSize = 1024;
// XenServer, qemu and XO always use 2 MiB blocks.
inline constexpr uint32_t kVhdDefaultBlockSize = 2u << 20;
// Block sizes we accept (powers of two). Small blocks keep test files and
// fuzz seeds tiny; 32 MiB bounds the per-block buffer a reader allocates.
inline constexpr uint32_t kVhdMinBlockSize = 512;
inline constexpr uint32_t kVhdMaxBlockSize = 32u << 20;
// The largest disk we write: XAPI refuses VHD export above it (VDI_TOO_LARGE)
// and qemu and vhd-tool share the limit.
inline constexpr uint64_t kVhdMaxWriteSize = 2040ull << 30;
// The largest disk we read: BAT entries are 32-bit sector numbers, so no
// dynamic file can hold more than 2 TiB of blocks; vhd-util can create
// somewhat more than 2040 GiB, so reading allows the full 2 TiB.
inline constexpr uint64_t kVhdMaxReadSize = 2048ull << 30;
// Bound on the BAT entries a reader loads (64 MiB of BAT): enough for 2 TiB
// in 128 KiB blocks. BATs longer than the disk needs (blktap preallocates for
// resizing up to 2 TiB) are skipped, not loaded.
inline constexpr uint32_t kVhdMaxBatEntries = 1u << 24;
inline constexpr uint32_t kVhdUnusedBatEntry = 0xFFFFFFFF;
// Seconds from the unix epoch to the VHD epoch, 2000-01-01 00:00:00 UTC.
inline constexpr int64_t kVhdEpochUnix = 946684800;
inline constexpr uint32_t kVhdVersion = 0x00010000;  // footer and header
inline constexpr uint64_t kVhdFixedDataOffset = ~0ull;

enum class VhdDiskType : uint32_t {
  kFixed = 2,
  kDynamic = 3,
  kDifferencing = 4,
};
std::string_view VhdDiskTypeName(VhdDiskType t);  // "fixed", "dynamic", "differencing"

// A four-character code as a big-endian u32 ("conectix"-style tags, creator
// application, locator platform codes): FourCc("tap\0").
constexpr uint32_t FourCc(const char (&s)[5]) {
  return uint32_t(uint8_t(s[0])) << 24 | uint32_t(uint8_t(s[1])) << 16 |
         uint32_t(uint8_t(s[2])) << 8 | uint32_t(uint8_t(s[3]));
}
inline constexpr uint32_t kVhdCreatorCasulo = FourCc("cslo");

// A UUID as its 16 raw bytes in RFC 4122 order, which is how VHD stores it.
struct VhdUuid {
  std::array<uint8_t, 16> b{};
  auto operator<=>(const VhdUuid&) const = default;
  bool IsZero() const;
  // Canonical lower-case text, "6ba7b810-9dad-11d1-80b4-00c04fd430c8".
  std::string ToString() const;
  // Accepts the canonical form in either case; kInvalidArgument otherwise.
  static Result<VhdUuid> FromString(std::string_view text);
  // A random (version 4) UUID from OpenSSL's generator.
  static VhdUuid Random();
};

struct VhdGeometry {
  uint16_t cylinders = 0;
  uint8_t heads = 0;
  uint8_t sectors_per_track = 0;
  auto operator<=>(const VhdGeometry&) const = default;
  uint64_t bytes() const { return uint64_t(cylinders) * heads * sectors_per_track * 512; }
  // The largest geometry: qemu reads such disks by current_size.
  static constexpr VhdGeometry Max() { return {65535, 16, 255}; }
};
// The CHS algorithm of the spec's appendix (also blktap's vhd_chs), sizes
// above 65535*16*255 sectors capped. Its bytes() is at most `size`.
VhdGeometry VhdChsForSize(uint64_t size);

// VHD epoch seconds <-> unix seconds. Out-of-range unix times clamp to the
// u32 range.
uint32_t VhdTimeFromUnix(int64_t unix_seconds);
inline int64_t VhdTimeToUnix(uint32_t vhd_seconds) { return int64_t(vhd_seconds) + kVhdEpochUnix; }
uint32_t VhdTimeNow();

// One's complement of the byte sum of `bytes`, skipping the four checksum
// bytes at `checksum_offset`.
uint32_t VhdChecksum(ByteSpan bytes, size_t checksum_offset);

struct VhdFooter {
  uint32_t features = 2;  // bit 1 is reserved and always set
  uint32_t format_version = kVhdVersion;
  uint64_t data_offset = 512;  // the dynamic header; all ones for fixed disks
  uint32_t timestamp = 0;      // VHD epoch
  uint32_t creator_app = kVhdCreatorCasulo;
  uint32_t creator_version = 1;
  uint32_t creator_host_os = 0;
  uint64_t original_size = 0;
  uint64_t current_size = 0;  // the virtual size; the only size we believe
  VhdGeometry geometry;
  VhdDiskType disk_type = VhdDiskType::kDynamic;
  uint32_t checksum = 0;  // as decoded; EncodeVhdFooter computes its own
  VhdUuid unique_id;
  uint8_t saved_state = 0;
  uint8_t hidden = 0;  // blktap's "hidden" flag in the first reserved byte
};

// The 512 bytes, checksum computed over them.
std::array<uint8_t, kVhdFooterSize> EncodeVhdFooter(const VhdFooter& f);
// Validates the cookie "conectix", the checksum, the format version (1.0),
// the disk type, the data offset (all ones, or the 32-bit all ones the spec
// text shows, for fixed; sector-aligned and >= 512 otherwise) and the current
// size (a sector multiple, at most kVhdMaxReadSize). kCorruption for damage,
// kUnsupported for valid values we do not handle. `bytes` must be 512 long.
Result<VhdFooter> DecodeVhdFooter(ByteSpan bytes);

// Parent locator platform codes.
inline constexpr uint32_t kVhdLocatorNone = 0;
inline constexpr uint32_t kVhdLocatorWi2r = FourCc("Wi2r");  // deprecated
inline constexpr uint32_t kVhdLocatorWi2k = FourCc("Wi2k");  // deprecated
inline constexpr uint32_t kVhdLocatorW2ru = FourCc("W2ru");  // relative Windows path, UTF-16
inline constexpr uint32_t kVhdLocatorW2ku = FourCc("W2ku");  // absolute Windows path, UTF-16
inline constexpr uint32_t kVhdLocatorMac = FourCc("Mac ");   // Mac alias blob
inline constexpr uint32_t kVhdLocatorMacX = FourCc("MacX");  // file URL, UTF-8

struct VhdParentLocator {
  uint32_t platform_code = kVhdLocatorNone;
  // Sectors per the spec, bytes in blktap/Hyper-V files: never trusted for
  // reading, which uses data_length.
  uint32_t data_space = 0;
  uint32_t data_length = 0;  // bytes
  uint32_t reserved = 0;
  uint64_t data_offset = 0;  // absolute file offset
  auto operator<=>(const VhdParentLocator&) const = default;
};

struct VhdHeader {
  uint64_t data_offset = ~0ull;  // unused; all ones
  uint64_t table_offset = 0;     // the BAT, absolute
  uint32_t header_version = kVhdVersion;
  uint32_t max_table_entries = 0;
  uint32_t block_size = kVhdDefaultBlockSize;
  uint32_t checksum = 0;  // as decoded
  VhdUuid parent_id;      // differencing: the parent footer's unique_id
  uint32_t parent_timestamp = 0;
  // UTF-16 code units of the parent's name, stored big-endian and NUL-padded
  // in 512 bytes (so at most 256 units); decoding stops at the first NUL.
  std::u16string parent_name;
  std::array<VhdParentLocator, 8> locators{};
};

// The 1024 bytes, checksum computed. REQUIRES parent_name.size() <= 256.
std::array<uint8_t, kVhdHeaderSize> EncodeVhdHeader(const VhdHeader& h);
// Validates the cookie "cxsparse", the checksum, the header version (1.0)
// and the block size (a power of two in [kVhdMinBlockSize, kVhdMaxBlockSize]).
Result<VhdHeader> DecodeVhdHeader(ByteSpan bytes);

// How many BAT entries a dynamic or differencing disk uses:
// ceil(current_size / block_size). Fails with kCorruption when
// max_table_entries is smaller (qemu: "page table too small") or absurdly
// larger than the disk could ever need, and with kUnsupported when the disk
// needs more than kVhdMaxBatEntries.
Result<uint32_t> VhdUsedBatEntries(const VhdFooter& f, const VhdHeader& h);
// Bytes of a block's sector bitmap: one bit per sector, padded to a sector.
uint32_t VhdBitmapBytes(uint32_t block_size);
// Bytes the BAT occupies on disk, padded to a sector.
uint64_t VhdBatBytes(uint32_t max_table_entries);

// UTF-8 <-> UTF-16 for parent names and locators. Decoding replaces broken
// surrogates with U+FFFD; encoding fails with kInvalidArgument on malformed
// UTF-8.
std::string Utf16ToUtf8(std::u16string_view s);
Result<std::u16string> Utf8ToUtf16(std::string_view s);
// Decodes a locator payload as text: MacX as UTF-8, W2ku/W2ru as UTF-16LE
// (what blktap, Hyper-V and XO write); trailing NULs dropped. Other codes
// yield kUnsupported.
Result<std::string> DecodeVhdLocatorPath(uint32_t platform_code, ByteSpan data);

}  // namespace casulo::formats

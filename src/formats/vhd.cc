#include "formats/vhd.h"

#include <openssl/rand.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <ctime>

#include "vhd_internal.h"

namespace casulo::formats {

using vhd_internal::LoadBe16;
using vhd_internal::LoadBe32;
using vhd_internal::LoadBe64;
using vhd_internal::StoreBe16;
using vhd_internal::StoreBe32;
using vhd_internal::StoreBe64;

namespace {

constexpr char kFooterCookie[] = "conectix";
constexpr char kHeaderCookie[] = "cxsparse";
constexpr size_t kFooterChecksumAt = 64;
constexpr size_t kHeaderChecksumAt = 36;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view VhdDiskTypeName(VhdDiskType t) {
  switch (t) {
    case VhdDiskType::kFixed:
      return "fixed";
    case VhdDiskType::kDynamic:
      return "dynamic";
    case VhdDiskType::kDifferencing:
      return "differencing";
  }
  return "unknown";
}

bool VhdUuid::IsZero() const {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

std::string VhdUuid::ToString() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[b[i] >> 4]);
    s.push_back(kHex[b[i] & 15]);
  }
  return s;
}

Result<VhdUuid> VhdUuid::FromString(std::string_view text) {
  VhdUuid u;
  size_t n = 0;
  bool ok = text.size() == 36;
  for (size_t i = 0; ok && i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      ok = text[i] == '-';
      continue;
    }
    const int hi = HexValue(text[i]);
    const int lo = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
    ok = hi >= 0 && lo >= 0;
    if (ok) u.b[n++] = uint8_t(hi << 4 | lo);
    ++i;
  }
  if (!ok || n != 16)
    return Error(Code::kInvalidArgument,
                 "'{}' is not a UUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", text);
  return u;
}

VhdUuid VhdUuid::Random() {
  VhdUuid u;
  // RAND_bytes only fails when the OS has no entropy source at all; a zero
  // UUID would then be returned, which writers treat as "pick one" again, so
  // abort instead of writing colliding identities.
  if (RAND_bytes(u.b.data(), int(u.b.size())) != 1) std::abort();
  u.b[6] = uint8_t((u.b[6] & 0x0F) | 0x40);  // version 4
  u.b[8] = uint8_t((u.b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return u;
}

VhdGeometry VhdChsForSize(uint64_t size) {
  uint64_t sectors = std::min<uint64_t>(size / 512, 65535ull * 16 * 255);
  uint64_t spt, heads, cth;
  if (sectors >= 65535ull * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = sectors / spt;
  } else {
    spt = 17;
    cth = sectors / spt;
    heads = std::max<uint64_t>((cth + 1023) / 1024, 4);
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = sectors / spt;
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = sectors / spt;
    }
  }
  return {uint16_t(cth / heads), uint8_t(heads), uint8_t(spt)};
}

uint32_t VhdTimeFromUnix(int64_t unix_seconds) {
  const int64_t v = unix_seconds - kVhdEpochUnix;
  return uint32_t(std::clamp<int64_t>(v, 0, int64_t(UINT32_MAX)));
}

uint32_t VhdTimeNow() { return VhdTimeFromUnix(int64_t(std::time(nullptr))); }

uint32_t VhdChecksum(ByteSpan bytes, size_t checksum_offset) {
  uint32_t sum = 0;
  for (size_t i = 0; i < bytes.size(); ++i)
    if (i - checksum_offset >= 4) sum += bytes[i];  // unsigned wrap skips [off, off+4)
  return ~sum;
}

std::array<uint8_t, kVhdFooterSize> EncodeVhdFooter(const VhdFooter& f) {
  std::array<uint8_t, kVhdFooterSize> o{};
  uint8_t* p = o.data();
  std::memcpy(p, kFooterCookie, 8);
  StoreBe32(p + 8, f.features);
  StoreBe32(p + 12, f.format_version);
  StoreBe64(p + 16, f.data_offset);
  StoreBe32(p + 24, f.timestamp);
  StoreBe32(p + 28, f.creator_app);
  StoreBe32(p + 32, f.creator_version);
  StoreBe32(p + 36, f.creator_host_os);
  StoreBe64(p + 40, f.original_size);
  StoreBe64(p + 48, f.current_size);
  StoreBe16(p + 56, f.geometry.cylinders);
  p[58] = f.geometry.heads;
  p[59] = f.geometry.sectors_per_track;
  StoreBe32(p + 60, uint32_t(f.disk_type));
  std::memcpy(p + 68, f.unique_id.b.data(), 16);
  p[84] = f.saved_state;
  p[85] = f.hidden;
  StoreBe32(p + kFooterChecksumAt, VhdChecksum(o, kFooterChecksumAt));
  return o;
}

Result<VhdFooter> DecodeVhdFooter(ByteSpan bytes) {
  if (bytes.size() != kVhdFooterSize)
    return Error(Code::kCorruption, "VHD footer is {} bytes, want 512", bytes.size());
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kFooterCookie, 8) != 0)
    return Error(Code::kCorruption, "no VHD footer: cookie is '{}', want 'conectix'",
                 vhd_internal::Printable(bytes.first(8)));
  VhdFooter f;
  f.checksum = LoadBe32(p + kFooterChecksumAt);
  const uint32_t computed = VhdChecksum(bytes, kFooterChecksumAt);
  if (f.checksum != computed)
    return Error(Code::kCorruption,
                 "VHD footer checksum mismatch: stored {:#010x}, computed {:#010x}", f.checksum,
                 computed);
  f.features = LoadBe32(p + 8);
  f.format_version = LoadBe32(p + 12);
  f.data_offset = LoadBe64(p + 16);
  f.timestamp = LoadBe32(p + 24);
  f.creator_app = LoadBe32(p + 28);
  f.creator_version = LoadBe32(p + 32);
  f.creator_host_os = LoadBe32(p + 36);
  f.original_size = LoadBe64(p + 40);
  f.current_size = LoadBe64(p + 48);
  f.geometry = {LoadBe16(p + 56), p[58], p[59]};
  const uint32_t type = LoadBe32(p + 60);
  std::memcpy(f.unique_id.b.data(), p + 68, 16);
  f.saved_state = p[84];
  f.hidden = p[85];

  if (f.format_version != kVhdVersion)
    return Error(Code::kUnsupported, "VHD format version {:#010x} not supported (want 0x00010000)",
                 f.format_version);
  if (type < 2 || type > 4) {
    if (type <= 6)
      return Error(Code::kUnsupported,
                   "VHD disk type {} not supported (only fixed 2, dynamic 3, "
                   "differencing 4)",
                   type);
    return Error(Code::kCorruption, "VHD footer has invalid disk type {}", type);
  }
  f.disk_type = VhdDiskType(type);
  if (f.disk_type == VhdDiskType::kFixed) {
    if (f.data_offset != kVhdFixedDataOffset && f.data_offset != 0xFFFFFFFFull)
      return Error(Code::kCorruption, "fixed VHD footer data offset is {:#x}, want all ones",
                   f.data_offset);
  } else if (f.data_offset < 512 || f.data_offset % 512 != 0 ||
             f.data_offset > kVhdMaxReadSize * 2) {
    return Error(Code::kCorruption, "VHD footer data offset {:#x} is not a plausible header offset",
                 f.data_offset);
  }
  if (f.current_size % 512 != 0)
    return Error(Code::kUnsupported, "VHD current size {} is not a multiple of 512",
                 f.current_size);
  if (f.current_size > kVhdMaxReadSize)
    return Error(Code::kUnsupported, "VHD current size {} exceeds the 2 TiB we read",
                 f.current_size);
  return f;
}

std::array<uint8_t, kVhdHeaderSize> EncodeVhdHeader(const VhdHeader& h) {
  std::array<uint8_t, kVhdHeaderSize> o{};
  uint8_t* p = o.data();
  std::memcpy(p, kHeaderCookie, 8);
  StoreBe64(p + 8, h.data_offset);
  StoreBe64(p + 16, h.table_offset);
  StoreBe32(p + 24, h.header_version);
  StoreBe32(p + 28, h.max_table_entries);
  StoreBe32(p + 32, h.block_size);
  std::memcpy(p + 40, h.parent_id.b.data(), 16);
  StoreBe32(p + 56, h.parent_timestamp);
  const size_t units = std::min<size_t>(h.parent_name.size(), 256);
  for (size_t i = 0; i < units; ++i) StoreBe16(p + 64 + 2 * i, h.parent_name[i]);
  for (size_t i = 0; i < 8; ++i) {
    uint8_t* e = p + 576 + 24 * i;
    const VhdParentLocator& l = h.locators[i];
    StoreBe32(e, l.platform_code);
    StoreBe32(e + 4, l.data_space);
    StoreBe32(e + 8, l.data_length);
    StoreBe32(e + 12, l.reserved);
    StoreBe64(e + 16, l.data_offset);
  }
  StoreBe32(p + kHeaderChecksumAt, VhdChecksum(o, kHeaderChecksumAt));
  return o;
}

Result<VhdHeader> DecodeVhdHeader(ByteSpan bytes) {
  if (bytes.size() != kVhdHeaderSize)
    return Error(Code::kCorruption, "VHD dynamic header is {} bytes, want 1024", bytes.size());
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kHeaderCookie, 8) != 0)
    return Error(Code::kCorruption, "no VHD dynamic header: cookie is '{}', want 'cxsparse'",
                 vhd_internal::Printable(bytes.first(8)));
  VhdHeader h;
  h.checksum = LoadBe32(p + kHeaderChecksumAt);
  const uint32_t computed = VhdChecksum(bytes, kHeaderChecksumAt);
  if (h.checksum != computed)
    return Error(Code::kCorruption,
                 "VHD dynamic header checksum mismatch: stored {:#010x}, computed {:#010x}",
                 h.checksum, computed);
  h.data_offset = LoadBe64(p + 8);
  h.table_offset = LoadBe64(p + 16);
  h.header_version = LoadBe32(p + 24);
  h.max_table_entries = LoadBe32(p + 28);
  h.block_size = LoadBe32(p + 32);
  std::memcpy(h.parent_id.b.data(), p + 40, 16);
  h.parent_timestamp = LoadBe32(p + 56);
  for (size_t i = 0; i < 256; ++i) {
    const char16_t c = char16_t(LoadBe16(p + 64 + 2 * i));
    if (c == 0) break;
    h.parent_name.push_back(c);
  }
  for (size_t i = 0; i < 8; ++i) {
    const uint8_t* e = p + 576 + 24 * i;
    h.locators[i] = {LoadBe32(e), LoadBe32(e + 4), LoadBe32(e + 8), LoadBe32(e + 12),
                     LoadBe64(e + 16)};
  }
  if (h.header_version != kVhdVersion)
    return Error(Code::kUnsupported, "VHD header version {:#010x} not supported (want 0x00010000)",
                 h.header_version);
  if (!std::has_single_bit(h.block_size) || h.block_size < kVhdMinBlockSize ||
      h.block_size > kVhdMaxBlockSize)
    return Error(Code::kCorruption,
                 "VHD block size {} is not a power of two between 512 B and 32 MiB", h.block_size);
  // BAT entries address at most 2 TiB of file, so a BAT far beyond that is
  // damage (and the bound keeps offset arithmetic far from overflow).
  if (h.table_offset % 512 != 0 || h.table_offset > kVhdMaxReadSize * 2)
    return Error(Code::kCorruption, "VHD BAT offset {:#x} is not a plausible sector offset",
                 h.table_offset);
  return h;
}

Result<uint32_t> VhdUsedBatEntries(const VhdFooter& f, const VhdHeader& h) {
  const uint64_t needed = (f.current_size + h.block_size - 1) / h.block_size;
  if (needed > kVhdMaxBatEntries)
    return Error(Code::kUnsupported,
                 "VHD of {} bytes in {}-byte blocks needs {} BAT entries, more than our limit {}",
                 f.current_size, h.block_size, needed, kVhdMaxBatEntries);
  if (h.max_table_entries < needed)
    return Error(Code::kCorruption,
                 "VHD BAT too small: {} entries for a {}-byte disk in {}-byte blocks (needs {})",
                 h.max_table_entries, f.current_size, h.block_size, needed);
  if (h.max_table_entries > kVhdMaxBatEntries)
    return Error(Code::kUnsupported, "VHD BAT of {} entries exceeds our limit {}",
                 h.max_table_entries, kVhdMaxBatEntries);
  return uint32_t(needed);
}

uint32_t VhdBitmapBytes(uint32_t block_size) {
  const uint32_t bits = block_size / 512;
  const uint32_t bytes = (bits + 7) / 8;
  return (bytes + 511) / 512 * 512;
}

uint64_t VhdBatBytes(uint32_t max_table_entries) {
  return (uint64_t(max_table_entries) * 4 + 511) / 512 * 512;
}

std::string Utf16ToUtf8(std::u16string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    uint32_t c = s[i];
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < s.size() && s[i + 1] >= 0xDC00 &&
        s[i + 1] <= 0xDFFF) {
      c = 0x10000 + ((c - 0xD800) << 10) + (uint32_t(s[i + 1]) - 0xDC00);
      ++i;
    } else if (c >= 0xD800 && c <= 0xDFFF) {
      c = 0xFFFD;
    }
    if (c < 0x80) {
      out.push_back(char(c));
    } else if (c < 0x800) {
      out.push_back(char(0xC0 | c >> 6));
      out.push_back(char(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(char(0xE0 | c >> 12));
      out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(char(0x80 | (c & 0x3F)));
    } else {
      out.push_back(char(0xF0 | c >> 18));
      out.push_back(char(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(char(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

Result<std::u16string> Utf8ToUtf16(std::string_view s) {
  std::u16string out;
  for (size_t i = 0; i < s.size();) {
    const uint8_t b0 = uint8_t(s[i]);
    const int len = b0 < 0x80         ? 1
                    : (b0 >> 5) == 6  ? 2
                    : (b0 >> 4) == 14 ? 3
                    : (b0 >> 3) == 30 ? 4
                                      : 0;
    if (len == 0 || i + len > s.size())
      return Error(Code::kInvalidArgument, "malformed UTF-8 at byte {}", i);
    uint32_t c = len == 1 ? b0 : b0 & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
      const uint8_t b = uint8_t(s[i + k]);
      if ((b & 0xC0) != 0x80) return Error(Code::kInvalidArgument, "malformed UTF-8 at byte {}", i);
      c = c << 6 | (b & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
      return Error(Code::kInvalidArgument, "malformed UTF-8 at byte {}", i);
    if (c >= 0x10000) {
      out.push_back(char16_t(0xD800 + ((c - 0x10000) >> 10)));
      out.push_back(char16_t(0xDC00 + ((c - 0x10000) & 0x3FF)));
    } else {
      out.push_back(char16_t(c));
    }
    i += size_t(len);
  }
  return out;
}

Result<std::string> DecodeVhdLocatorPath(uint32_t platform_code, ByteSpan data) {
  if (platform_code == kVhdLocatorMacX) {
    std::string s(AsChars(data));
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
  }
  if (platform_code == kVhdLocatorW2ku || platform_code == kVhdLocatorW2ru) {
    std::u16string u;
    for (size_t i = 0; i + 1 < data.size(); i += 2)
      u.push_back(char16_t(data[i] | data[i + 1] << 8));
    while (!u.empty() && u.back() == 0) u.pop_back();
    return Utf16ToUtf8(u);
  }
  return Error(Code::kUnsupported, "VHD parent locator code {:#010x} is not a path we decode",
               platform_code);
}

}  // namespace casulo::formats

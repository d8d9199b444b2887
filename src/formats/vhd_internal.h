// Helpers shared by the VHD codec, readers and writer; not part of the
// formats API.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace casulo::formats {
class VhdImage;
struct DiskInfo;
class ExtentReader;
}  // namespace casulo::formats

namespace casulo::formats::vhd_internal {

inline uint16_t LoadBe16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t LoadBe32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}
inline uint64_t LoadBe64(const uint8_t* p) { return uint64_t(LoadBe32(p)) << 32 | LoadBe32(p + 4); }
inline void StoreBe16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void StoreBe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (24 - 8 * i));
}
inline void StoreBe64(uint8_t* p, uint64_t v) {
  StoreBe32(p, uint32_t(v >> 32));
  StoreBe32(p + 4, uint32_t(v));
}

// Bytes as text for error messages, non-printable ones as '.'.
inline std::string Printable(ByteSpan b) {
  std::string s;
  for (uint8_t c : b) s.push_back(c >= 0x20 && c < 0x7F ? char(c) : '.');
  return s;
}

// A run of set bits in a sector bitmap: sectors [first, first + count).
struct Run {
  uint32_t first = 0;
  uint32_t count = 0;
};

// True when the first `nbits` bits of the MSB-first bitmap are all set; whole
// bytes are compared eight at a time, so a 4096-sector bitmap costs ~64 loads.
bool AllSet(const uint8_t* bitmap, uint32_t nbits);
// True when none of the first `nbits` bits is set.
bool NoneSet(const uint8_t* bitmap, uint32_t nbits);
// Replaces *out with the runs of set bits among the first `nbits`.
void SetRuns(const uint8_t* bitmap, uint32_t nbits, std::vector<Run>* out);
inline bool TestBit(const uint8_t* bitmap, uint32_t i) {
  return (bitmap[i >> 3] & (0x80u >> (i & 7))) != 0;
}
// Sets bits [first, first + count).
void SetBits(uint8_t* bitmap, uint32_t first, uint32_t count);

// A byte range [begin, end) of a file.
struct Range {
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Checks where BAT entries put blocks (each `span` bytes: bitmap + data):
// inside [0, limit) (limit 0: unknown), clear of every `reserved` range, and
// not overlapping each other. On success *by_offset holds the allocated block
// indices sorted by file offset. Errors are kCorruption naming the block.
Status CheckBlockLayout(std::span<const uint32_t> bat, uint64_t span,
                        std::span<const Range> reserved, uint64_t limit,
                        std::vector<uint32_t>* by_offset);

// --- Chains (vhd_chain.cc) ---------------------------------------------------
// `images` are child first and share one block size; the first image's
// virtual size is the chain's.

// Fills the sectors [s0, s1) of block `index` that some image holds into
// `data` (which points at sector s0), taking each from the first image that
// has its bit set, and sets their bits in `covered` (a whole-block bitmap the
// caller cleared). Sectors no image holds are left untouched.
Status FillBlock(std::span<const VhdImage* const> images, uint32_t index, uint32_t s0, uint32_t s1,
                 uint8_t* data, uint8_t* covered);
Status ChainReadAt(std::span<const VhdImage* const> images, bool delta, uint64_t offset,
                   MutableByteSpan out, bool* any_from_parent);
// Extents of the chain; with info.kind == kFull all-zero runs are dropped.
std::unique_ptr<ExtentReader> ChainExtents(std::vector<const VhdImage*> images,
                                           const DiskInfo& info);

}  // namespace casulo::formats::vhd_internal

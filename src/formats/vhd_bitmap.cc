// Sector bitmap scans. Bit 7 (0x80) of byte 0 is sector 0 (MSB first).
#include <algorithm>

#include "vhd_internal.h"

namespace casulo::formats::vhd_internal {

bool AllSet(const uint8_t* bitmap, uint32_t nbits) {
  const uint32_t whole = nbits / 8;
  uint32_t i = 0;
  for (; i + 8 <= whole; i += 8) {
    uint64_t w;
    std::memcpy(&w, bitmap + i, 8);
    if (w != ~uint64_t(0)) return false;
  }
  for (; i < whole; ++i)
    if (bitmap[i] != 0xFF) return false;
  const uint32_t rest = nbits % 8;
  if (rest == 0) return true;
  const uint8_t mask = uint8_t(0xFF00u >> rest);
  return (bitmap[whole] & mask) == mask;
}

bool NoneSet(const uint8_t* bitmap, uint32_t nbits) {
  const uint32_t whole = nbits / 8;
  uint32_t i = 0;
  for (; i + 8 <= whole; i += 8) {
    uint64_t w;
    std::memcpy(&w, bitmap + i, 8);
    if (w != 0) return false;
  }
  for (; i < whole; ++i)
    if (bitmap[i] != 0) return false;
  const uint32_t rest = nbits % 8;
  return rest == 0 || (bitmap[whole] & uint8_t(0xFF00u >> rest)) == 0;
}

void SetRuns(const uint8_t* bitmap, uint32_t nbits, std::vector<Run>* out) {
  out->clear();
  uint32_t i = 0;
  while (i < nbits) {
    // Skip clear bits a byte at a time where possible.
    if ((i & 7) == 0 && bitmap[i >> 3] == 0) {
      i += 8;
      continue;
    }
    if (!TestBit(bitmap, i)) {
      ++i;
      continue;
    }
    const uint32_t first = i;
    while (i < nbits) {
      if ((i & 7) == 0 && i + 8 <= nbits && bitmap[i >> 3] == 0xFF) {
        i += 8;
      } else if (TestBit(bitmap, i)) {
        ++i;
      } else {
        break;
      }
    }
    out->push_back({first, std::min(i, nbits) - first});
  }
}

void SetBits(uint8_t* bitmap, uint32_t first, uint32_t count) {
  uint32_t i = first;
  const uint32_t end = first + count;
  while (i < end && (i & 7) != 0) bitmap[i >> 3] |= uint8_t(0x80u >> (i & 7)), ++i;
  if (i + 8 <= end) {
    std::memset(bitmap + (i >> 3), 0xFF, (end - i) / 8);
    i += (end - i) / 8 * 8;
  }
  while (i < end) bitmap[i >> 3] |= uint8_t(0x80u >> (i & 7)), ++i;
}

}  // namespace casulo::formats::vhd_internal

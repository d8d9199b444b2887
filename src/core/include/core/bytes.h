// Byte buffers, little-endian integer coding and hex, shared by every codec.
#pragma once

#include <array>
#include <memory>
#include <utility>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace casulo {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;
using MutableByteSpan = std::span<uint8_t>;

inline ByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsChars(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

inline void PutU8(Bytes& out, uint8_t v) { out.push_back(v); }
inline void PutU16(Bytes& out, uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void PutU32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void PutU64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void PutBytes(Bytes& out, ByteSpan b) { out.insert(out.end(), b.begin(), b.end()); }

inline uint32_t LoadU32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline uint64_t LoadU64(const uint8_t* p) {
  return uint64_t(LoadU32(p)) | uint64_t(LoadU32(p + 4)) << 32;
}

// Forward-only reader over a byte span. Every getter fails with kCorruption
// naming `what` when the input is too short, so decoders of untrusted bytes
// never read out of bounds.
class ByteReader {
 public:
  explicit ByteReader(ByteSpan data) : data_(data) {}
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  Result<uint8_t> U8(std::string_view what);
  Result<uint16_t> U16(std::string_view what);
  Result<uint32_t> U32(std::string_view what);
  Result<uint64_t> U64(std::string_view what);
  Result<ByteSpan> Take(size_t n, std::string_view what);

 private:
  Status Need(size_t n, std::string_view what) const;
  ByteSpan data_;
  size_t pos_ = 0;
};

std::string ToHex(ByteSpan b);
// Fails with kInvalidArgument on odd length or a non-hex character.
Result<Bytes> FromHex(std::string_view hex);

// A 32-byte digest or identifier (BLAKE3 output, pack and object names).
struct Hash256 {
  std::array<uint8_t, 32> b{};
  auto operator<=>(const Hash256&) const = default;
  bool IsZero() const {
    for (uint8_t x : b)
      if (x) return false;
    return true;
  }
  std::string Hex() const { return ToHex(b); }
  std::string ShortHex() const { return Hex().substr(0, 12); }
  static Result<Hash256> FromHexString(std::string_view hex);
  static Hash256 FromSpan(ByteSpan s);  // REQUIRES: s.size() == 32
};

struct Hash256Hasher {
  size_t operator()(const Hash256& h) const {
    size_t v;
    std::memcpy(&v, h.b.data(), sizeof v);  // ids are uniformly random
    return v;
  }
};

// True when every byte is zero; vectorises well and is the first test a
// chunk passes, before any hashing or compression.
bool IsAllZero(ByteSpan data);

}  // namespace casulo

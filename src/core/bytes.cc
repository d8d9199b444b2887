#include "core/bytes.h"

#include <algorithm>

namespace casulo {

Status ByteReader::Need(size_t n, std::string_view what) const {
  if (remaining() < n)
    return Error(Code::kCorruption, "truncated at byte {}: {} needs {} bytes, {} left", pos_, what,
                 n, remaining());
  return OkStatus();
}

Result<uint8_t> ByteReader::U8(std::string_view what) {
  RETURN_IF_ERROR(Need(1, what));
  return data_[pos_++];
}
Result<uint16_t> ByteReader::U16(std::string_view what) {
  RETURN_IF_ERROR(Need(2, what));
  uint16_t v = uint16_t(data_[pos_] | data_[pos_ + 1] << 8);
  pos_ += 2;
  return v;
}
Result<uint32_t> ByteReader::U32(std::string_view what) {
  RETURN_IF_ERROR(Need(4, what));
  uint32_t v = LoadU32(data_.data() + pos_);
  pos_ += 4;
  return v;
}
Result<uint64_t> ByteReader::U64(std::string_view what) {
  RETURN_IF_ERROR(Need(8, what));
  uint64_t v = LoadU64(data_.data() + pos_);
  pos_ += 8;
  return v;
}
Result<ByteSpan> ByteReader::Take(size_t n, std::string_view what) {
  RETURN_IF_ERROR(Need(n, what));
  ByteSpan s = data_.subspan(pos_, n);
  pos_ += n;
  return s;
}

std::string ToHex(ByteSpan b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(b.size() * 2, '0');
  for (size_t i = 0; i < b.size(); ++i) {
    out[2 * i] = kDigits[b[i] >> 4];
    out[2 * i + 1] = kDigits[b[i] & 15];
  }
  return out;
}

static int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2) return Error(Code::kInvalidArgument, "hex string has odd length {}", hex.size());
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return Error(Code::kInvalidArgument, "not a hex string: '{}'", hex.substr(0, 80));
    out[i] = uint8_t(hi << 4 | lo);
  }
  return out;
}

Result<Hash256> Hash256::FromHexString(std::string_view hex) {
  if (hex.size() != 64)
    return Error(Code::kInvalidArgument, "'{}' is not a 64-digit hex id", hex.substr(0, 80));
  ASSIGN_OR_RETURN(Bytes raw, FromHex(hex));
  return FromSpan(raw);
}

Hash256 Hash256::FromSpan(ByteSpan s) {
  Hash256 h;
  std::copy_n(s.begin(), 32, h.b.begin());
  return h;
}

bool IsAllZero(ByteSpan data) {
  const uint8_t* p = data.data();
  size_t n = data.size();
  // Word-at-a-time OR; the compiler turns the inner loop into wide vector ops.
  while (n >= 64) {
    uint64_t acc = 0, w[8];
    std::memcpy(w, p, 64);
    for (uint64_t x : w) acc |= x;
    if (acc) return false;
    p += 64;
    n -= 64;
  }
  for (size_t i = 0; i < n; ++i)
    if (p[i]) return false;
  return true;
}

}  // namespace casulo

#include "formats/checksum.h"

#include <openssl/evp.h>
#include <xxhash.h>

#include <cassert>

namespace casulo::formats {

namespace {

void HexInto(const uint8_t* p, size_t n, const char* digits, char* out) {
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
}

constexpr char kLower[] = "0123456789abcdef";
constexpr char kUpper[] = "0123456789ABCDEF";

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

}  // namespace

std::string Sha1Hex(ByteSpan data) {
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // EVP_Digest cannot fail for SHA-1 over memory short of an allocation
  // failure inside OpenSSL; treat that as the bug it would be.
  [[maybe_unused]] int ok = EVP_Digest(data.data(), data.size(), md, &len, EVP_sha1(), nullptr);
  assert(ok == 1 && len == 20);
  std::string out(40, '\0');
  HexInto(md, 20, kLower, out.data());
  return out;
}

std::string Xxh64Hex(ByteSpan data) {
  XXH64_canonical_t c;
  XXH64_canonicalFromHash(&c, XXH64(data.data(), data.size(), 0));  // big-endian digits
  std::string out(16, '\0');
  HexInto(c.digest, 8, kUpper, out.data());
  return out;
}

std::string ChunkChecksumText(ChunkChecksum kind, ByteSpan data) {
  return kind == ChunkChecksum::kSha1 ? Sha1Hex(data) : Xxh64Hex(data);
}

std::string_view ChunkChecksumSuffix(ChunkChecksum kind) {
  return kind == ChunkChecksum::kSha1 ? ".checksum" : ".xxhash";
}

std::optional<ChunkChecksum> ChunkChecksumFromName(std::string_view name) {
  if (name.ends_with(".xxhash")) return ChunkChecksum::kXxh64;
  if (name.ends_with(".checksum")) return ChunkChecksum::kSha1;
  return std::nullopt;
}

size_t ChunkChecksumTextSize(ChunkChecksum kind) { return kind == ChunkChecksum::kSha1 ? 40 : 16; }

bool ChunkChecksumMatches(std::string_view stored, std::string_view computed) {
  while (!stored.empty() && (stored.back() == '\n' || stored.back() == '\r' ||
                             stored.back() == ' ' || stored.back() == '\t'))
    stored.remove_suffix(1);
  if (stored.size() != computed.size()) return false;
  for (size_t i = 0; i < stored.size(); ++i)
    if (Lower(stored[i]) != Lower(computed[i])) return false;
  return true;
}

}  // namespace casulo::formats

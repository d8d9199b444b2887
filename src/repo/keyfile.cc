// The key file codec (docs/format/keyfile.md). All integers little-endian:
//   0  magic "CASULOKY"     20 salt[16]
//   8  u16 version = 1      36 nonce[12]
//   10 u8 kdf = 1           48 u32 sealed_len = 80
//   11 u8 aead = 1          52 sealed: AES-256-GCM(enc_key || id_key) || tag
//   12 u32 mem_kib          132 end
//   16 u32 ops
// The 52 header bytes are the associated data, so the KDF parameters cannot
// be weakened without the passphrase.
#include "repo/keyfile.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "keyfile_internal.h"

namespace casulo::repo {

namespace {

using internal::kKeyFileSaltSize;
using internal::kKeyFileSize;

constexpr std::string_view kMagic = "CASULOKY";
constexpr uint16_t kVersion = 1;
constexpr uint8_t kKdfArgon2id13 = 1;
constexpr uint8_t kAeadAes256Gcm = 1;
constexpr size_t kMasterKeySize = 64;
constexpr uint32_t kSealedSize = kMasterKeySize + kGcmTagSize;
constexpr size_t kHeaderSize = 52;
static_assert(kHeaderSize + kSealedSize == kKeyFileSize);
static_assert(crypto_pwhash_SALTBYTES == kKeyFileSaltSize);

// Bounds on the KDF parameters. The lower ones keep a key file from being
// cheap to brute-force; the upper ones keep a hostile file from making us
// allocate or compute without bound.
constexpr uint32_t kMinMemKib = 8 * 1024;          // 8 MiB
constexpr uint32_t kMaxMemKib = 4u * 1024 * 1024;  // 4 GiB
constexpr uint32_t kMinOps = 1;
constexpr uint32_t kMaxOps = 100;

bool ParamsInBounds(const KdfParams& p) {
  return p.mem_kib >= kMinMemKib && p.mem_kib <= kMaxMemKib && p.ops >= kMinOps && p.ops <= kMaxOps;
}


// A 32-byte key that wipes itself: the wrapping key must not outlive its use.
struct SecretKey {
  std::array<uint8_t, 32> b{};
  SecretKey() = default;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey() { sodium_memzero(b.data(), b.size()); }
};

Status DeriveWrappingKey(std::string_view passphrase, ByteSpan salt, const KdfParams& params,
                         SecretKey& out) {
  EnsureSodium();
  if (crypto_pwhash(out.b.data(), out.b.size(), passphrase.data(), passphrase.size(), salt.data(),
                    params.ops, size_t{params.mem_kib} * 1024, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Error(Code::kInvalidArgument,
                 "Argon2id with {} MiB and {} passes failed (out of memory?)",
                 params.mem_kib / 1024, params.ops);
  return OkStatus();
}

struct ParsedKeyFile {
  KdfParams params;
  ByteSpan salt;
  ByteSpan nonce;
  ByteSpan header;  // the associated data
  ByteSpan sealed;
};

// Validates everything but the MAC, in an order that gives the most useful
// error: a foreign file is kCorruption, a newer format kUnsupported even when
// its length differs, and only then are lengths and bounds checked.
Result<ParsedKeyFile> Parse(ByteSpan file) {
  if (file.size() < kMagic.size() || AsChars(file.first(kMagic.size())) != kMagic)
    return Error(Code::kCorruption, "not a casulo key file (bad magic)");
  ByteReader r(file.subspan(kMagic.size()));
  ASSIGN_OR_RETURN(const uint16_t version, r.U16("version"));
  if (version != kVersion)
    return Error(Code::kUnsupported, "key file version {} (this build reads version {})", version,
                 kVersion);
  ASSIGN_OR_RETURN(const uint8_t kdf, r.U8("kdf"));
  if (kdf != kKdfArgon2id13) return Error(Code::kUnsupported, "key file KDF {} is unknown", kdf);
  ASSIGN_OR_RETURN(const uint8_t aead, r.U8("aead"));
  if (aead != kAeadAes256Gcm)
    return Error(Code::kUnsupported, "key file cipher {} is unknown", aead);

  ParsedKeyFile k;
  ASSIGN_OR_RETURN(k.params.mem_kib, r.U32("mem_kib"));
  ASSIGN_OR_RETURN(k.params.ops, r.U32("ops"));
  if (!ParamsInBounds(k.params))
    return Error(Code::kCorruption, "key file KDF parameters out of bounds: {} KiB, {} passes",
                 k.params.mem_kib, k.params.ops);
  ASSIGN_OR_RETURN(k.salt, r.Take(kKeyFileSaltSize, "salt"));
  ASSIGN_OR_RETURN(k.nonce, r.Take(kGcmNonceSize, "nonce"));
  ASSIGN_OR_RETURN(const uint32_t sealed_len, r.U32("sealed_len"));
  if (sealed_len != kSealedSize)
    return Error(Code::kCorruption, "key file sealed length {} (expected {})", sealed_len,
                 kSealedSize);
  ASSIGN_OR_RETURN(k.sealed, r.Take(kSealedSize, "sealed key"));
  if (r.remaining() != 0)
    return Error(Code::kCorruption, "key file has {} trailing bytes", r.remaining());
  k.header = file.first(kHeaderSize);
  return k;
}

Result<Bytes> Encode(const MasterKey& key, std::string_view passphrase, const KdfParams& params,
                     ByteSpan salt, ByteSpan nonce) {
  if (passphrase.empty()) return Error(Code::kInvalidArgument, "the passphrase is empty");
  if (!ParamsInBounds(params))
    return Error(Code::kInvalidArgument,
                 "KDF parameters {} KiB, {} passes outside {}..{} KiB, {}..{} passes",
                 params.mem_kib, params.ops, kMinMemKib, kMaxMemKib, kMinOps, kMaxOps);
  Bytes file;
  file.reserve(kKeyFileSize);
  PutBytes(file, AsBytes(kMagic));
  PutU16(file, kVersion);
  PutU8(file, kKdfArgon2id13);
  PutU8(file, kAeadAes256Gcm);
  PutU32(file, params.mem_kib);
  PutU32(file, params.ops);
  PutBytes(file, salt);
  PutBytes(file, nonce);
  PutU32(file, kSealedSize);

  SecretKey wrap;
  RETURN_IF_ERROR(DeriveWrappingKey(passphrase, salt, params, wrap));
  std::array<uint8_t, kMasterKeySize> secret;
  std::memcpy(secret.data(), key.enc_key.data(), 32);
  std::memcpy(secret.data() + 32, key.id_key.data(), 32);
  Bytes sealed;
  Status s = AesGcmEncrypt(wrap.b, nonce, file, secret, sealed);
  sodium_memzero(secret.data(), secret.size());
  RETURN_IF_ERROR(s);
  PutBytes(file, sealed);
  return file;
}

}  // namespace

namespace internal {

Result<Bytes> EncodeKeyFileForTest(const MasterKey& key, std::string_view passphrase,
                                   const KdfParams& params,
                                   const std::array<uint8_t, kKeyFileSaltSize>& salt,
                                   const std::array<uint8_t, kGcmNonceSize>& nonce) {
  return Encode(key, passphrase, params, salt, nonce);
}

}  // namespace internal

Result<Bytes> EncodeKeyFile(const MasterKey& key, std::string_view passphrase,
                            const KdfParams& params) {
  std::array<uint8_t, kKeyFileSaltSize> salt;
  std::array<uint8_t, kGcmNonceSize> nonce;
  RandomBytes(salt);
  RandomBytes(nonce);
  return Encode(key, passphrase, params, salt, nonce);
}

Result<MasterKey> DecodeKeyFile(ByteSpan file, std::string_view passphrase) {
  ASSIGN_OR_RETURN(const ParsedKeyFile k, Parse(file));
  SecretKey wrap;
  RETURN_IF_ERROR(DeriveWrappingKey(passphrase, k.salt, k.params, wrap));
  Result<Bytes> secret = AesGcmDecrypt(wrap.b, k.nonce, k.header, k.sealed);
  if (!secret.ok()) {
    // The header is authenticated too, so a MAC failure means a wrong
    // passphrase or a file altered after writing; only the first is likely.
    if (secret.status().code() == Code::kCorruption)
      return Error(Code::kAuth, "wrong passphrase for this key file (or the file was altered)");
    return std::move(secret).status();
  }
  MasterKey key;
  std::memcpy(key.enc_key.data(), secret->data(), 32);
  std::memcpy(key.id_key.data(), secret->data() + 32, 32);
  sodium_memzero(secret->data(), secret->size());
  return key;
}

Result<KdfParams> KeyFileParams(ByteSpan file) {
  ASSIGN_OR_RETURN(const ParsedKeyFile k, Parse(file));
  return k.params;
}

}  // namespace casulo::repo

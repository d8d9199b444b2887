// Key material and the AEAD primitive. docs/design/repository.md section 7
// explains the scheme: every object gets a fresh AES-256-GCM key derived from
// the master encryption key and a random 16-byte salt, used exactly once.
#pragma once

#include <array>

#include "core/bytes.h"

namespace casulo::repo {

// The repository's secret: 64 random bytes made at `init`, stored only wrapped
// in key files. Never logged, never written unencrypted.
struct MasterKey {
  std::array<uint8_t, 32> enc_key{};  // derives per-object AES-256-GCM keys
  std::array<uint8_t, 32> id_key{};   // keys BLAKE3 for chunk ids
};

// Initialises libsodium once (thread-safe); aborts if it cannot, since then
// there is no usable randomness. Every libsodium user calls it first.
void EnsureSodium();

// Cryptographically secure random bytes (libsodium's randombytes_buf).
void RandomBytes(MutableByteSpan out);
MasterKey NewMasterKey();

inline constexpr size_t kGcmTagSize = 16;
inline constexpr size_t kGcmNonceSize = 12;

// AES-256-GCM (OpenSSL EVP). Encrypt appends ciphertext then the 16-byte tag to
// `out`. Decrypt takes ciphertext||tag and fails with kCorruption ("MAC
// mismatch") when authentication fails. Thread-safe.
Status AesGcmEncrypt(const std::array<uint8_t, 32>& key, ByteSpan nonce, ByteSpan aad,
                     ByteSpan plain, Bytes& out);
Result<Bytes> AesGcmDecrypt(const std::array<uint8_t, 32>& key, ByteSpan nonce, ByteSpan aad,
                            ByteSpan sealed);

}  // namespace casulo::repo

// Test-only hooks into the key file codec. Not part of the repository API:
// production code must call EncodeKeyFile, which draws a fresh salt and nonce.
#pragma once

#include <string_view>

#include "repo/keyfile.h"

namespace casulo::repo::internal {

inline constexpr size_t kKeyFileSaltSize = 16;  // crypto_pwhash_SALTBYTES
inline constexpr size_t kKeyFileSize = 132;     // header 52 + sealed 80

// EncodeKeyFile with a caller-chosen salt and nonce, so tests and the worked
// example in docs/format/keyfile.md are reproducible. Never call this outside
// tests: a fixed salt makes the wrapping key the same for everyone who picks
// the same passphrase.
Result<Bytes> EncodeKeyFileForTest(const MasterKey& key, std::string_view passphrase,
                                   const KdfParams& params,
                                   const std::array<uint8_t, kKeyFileSaltSize>& salt,
                                   const std::array<uint8_t, kGcmNonceSize>& nonce);

}  // namespace casulo::repo::internal

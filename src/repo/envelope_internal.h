// Test-only hooks into the envelope codec. Not part of the repository API:
// production code must call Sealer::Seal, which draws a fresh random salt.
#pragma once

#include <array>
#include <optional>

#include "repo/envelope.h"

namespace casulo::repo::internal {

inline constexpr size_t kEnvelopeSaltSize = 16;

// Seal() with a caller-chosen salt, so tests and the worked examples in
// docs/format/envelope.md are reproducible. Reusing a salt under one key
// reuses an AES-GCM key and nonce, which is catastrophic: never call this
// outside tests. `salt` is ignored when `key` is empty.
Bytes SealWithSaltForTest(const std::optional<MasterKey>& key, int zstd_level, ObjectType type,
                          ByteSpan id, ByteSpan plain, bool compress,
                          const std::array<uint8_t, kEnvelopeSaltSize>& salt);

}  // namespace casulo::repo::internal

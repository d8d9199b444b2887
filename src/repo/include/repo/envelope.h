// The envelope: how every stored object (a blob in a pack, a pack header, an
// index file, a snapshot, the config, a lock) is compressed, encrypted and
// authenticated. Layout in docs/format/envelope.md.
#pragma once

#include <optional>

#include "core/bytes.h"
#include "repo/crypto.h"

namespace casulo::repo {

// The kind of object inside an envelope; bound into the associated data so an
// object cannot be presented as another kind. Values are on disk: never renumber.
enum class ObjectType : uint8_t {
  kData = 1,        // a chunk of user data (blob in a pack)
  kTree = 2,        // a tree node (blob in a pack)
  kPackHeader = 3,  // the header at the end of a pack
  kIndex = 4,
  kSnapshot = 5,
  kConfig = 6,
  kLock = 7,
};

inline constexpr uint8_t kEnvelopeCompressed = 0x01;
inline constexpr uint8_t kEnvelopeEncrypted = 0x02;

// Seals and opens envelopes for one repository: with a master key (encrypted
// repository) or without (plain repository, integrity by content hash only).
// All methods are const and thread-safe.
class Sealer {
 public:
  // zstd_level 0 disables compression; 1..19 are zstd levels.
  Sealer(std::optional<MasterKey> key, int zstd_level);

  bool encrypted() const { return key_.has_value(); }
  int zstd_level() const { return zstd_level_; }

  // The chunk id of `data`: BLAKE3 keyed with id_key when encrypted, plain
  // BLAKE3 otherwise.
  Hash256 ChunkId(ByteSpan data) const;

  // Seals `plain`. `id` is bound as associated data (the chunk id for blobs,
  // empty for files). Compression is tried when `compress` and the level is
  // non-zero; the result is kept only when smaller than the input. Cannot
  // fail (it aborts only if OpenSSL itself breaks). Allocates no zstd or
  // cipher context per call: those are per thread.
  Bytes Seal(ObjectType type, ByteSpan id, ByteSpan plain, bool compress = true) const;

  // Opens an envelope. kCorruption on unknown flags, a MAC mismatch, a zstd
  // error, or a plaintext larger than `max_plain` (guards allocations from
  // hostile input); kAuth is never returned here. An encrypted envelope given
  // to a Sealer without a key is kInvalidArgument. A plain envelope given to a
  // Sealer with a key is kCorruption: accepting it would let anyone who can
  // write to the storage substitute unauthenticated objects.
  Result<Bytes> Open(ObjectType type, ByteSpan id, ByteSpan sealed,
                     size_t max_plain = 64u << 20) const;

  // True when an envelope's flags byte says it is encrypted (for opening a
  // repository before the key is known).
  static Result<bool> IsEncrypted(ByteSpan sealed);

 private:
  std::optional<MasterKey> key_;
  int zstd_level_;
};

}  // namespace casulo::repo

// Key files: the master key wrapped by a passphrase (Argon2id, then
// AES-256-GCM). Layout in docs/format/keyfile.md.
#pragma once

#include <string_view>

#include "core/bytes.h"
#include "repo/crypto.h"

namespace casulo::repo {

struct KdfParams {
  // 64 MiB, 3 passes: libsodium's "interactive" memory with a third pass. 256 MiB
  // would alone exceed the 128 MiB peak-RSS budget of a backup process.
  uint32_t mem_kib = 64 * 1024;  // Argon2id memory; at least 8 MiB
  uint32_t ops = 3;               // Argon2id passes; at least 1
};

// Wraps `key` under `passphrase` with a fresh random salt and nonce.
// kInvalidArgument when the parameters are below the minimum or the passphrase
// is empty.
Result<Bytes> EncodeKeyFile(const MasterKey& key, std::string_view passphrase,
                            const KdfParams& params);

// Unwraps a key file. kAuth for a wrong passphrase (and for a file altered
// after writing: the MAC covers every byte and cannot tell the two apart;
// callers try the next key file on kAuth only); kCorruption for a file
// that is not a key file or is damaged; kUnsupported for an unknown version,
// KDF or cipher. Refuses KDF parameters above 4 GiB / 100 passes (a hostile
// file must not make us allocate without bound).
Result<MasterKey> DecodeKeyFile(ByteSpan file, std::string_view passphrase);

// The KDF parameters recorded in a key file (for `key list`).
Result<KdfParams> KeyFileParams(ByteSpan file);

}  // namespace casulo::repo

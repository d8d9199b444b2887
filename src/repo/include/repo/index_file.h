// Index files: which blobs each pack holds, so nobody has to read pack
// headers to find a chunk. Written after the packs they name (design section
// 8); named by the BLAKE3 of their sealed bytes. Layout: docs/format/index.md.
#pragma once

#include <vector>

#include "repo/pack.h"

namespace casulo::repo {

inline constexpr char kIndexMagic[8] = {'C', 'A', 'S', 'U', 'L', 'O', 'I', 'X'};
inline constexpr uint32_t kIndexVersion = 1;

struct PackIndex {
  Hash256 pack;
  std::vector<BlobEntry> blobs;
};

struct IndexFile {
  // Index files this one replaces (written by prune); readers that see both
  // ignore the superseded ones.
  std::vector<Hash256> supersedes;
  std::vector<PackIndex> packs;
};

// The plaintext payload (before sealing).
Bytes EncodeIndex(const IndexFile& index);
Result<IndexFile> DecodeIndex(ByteSpan payload);

}  // namespace casulo::repo

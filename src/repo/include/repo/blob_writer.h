// BlobWriter: the write side of the repository for one backup. Takes sealed
// frames of blobs, skips blobs already stored, fills packs, saves each full pack, and
// writes an index file every kPacksPerIndex packs and at Flush — in the order
// of design section 8, so a crash leaves nothing a snapshot could depend on
// half-written.
//
// Not thread-safe: one writer thread owns it (workers build and seal frames in
// parallel and hand them over).
#pragma once

#include <unordered_set>
#include <vector>

#include "repo/pack.h"
#include "repo/repository.h"

namespace casulo::repo {

inline constexpr size_t kPacksPerIndex = 64;

struct WriterStats {
  uint64_t new_blobs = 0;
  uint64_t new_bytes = 0;     // plaintext
  uint64_t stored_bytes = 0;  // sealed, in packs
  uint64_t packs = 0;
  uint64_t index_files = 0;
};

class BlobWriter {
 public:
  explicit BlobWriter(Repository& repo) : repo_(repo) {}
  // Does not flush: blobs not yet flushed are simply lost, which is safe.
  ~BlobWriter() = default;

  // True when `id` is stored, in an index already or in this writer.
  Result<bool> Known(const Hash256& id);

  // Adds a sealed frame. Blobs already known are not indexed again (their
  // bytes stay as dead space); a frame whose blobs are all known is dropped.
  // Returns how many blobs were added.
  Result<size_t> AddFrame(const SealedFrame& frame);

  // Computes the id of `plain` and stores it alone in a frame unless known
  // (tree nodes).
  Result<Hash256> AddPlain(ObjectType type, ByteSpan plain);

  // Saves the partial pack and writes an index for every pack not yet indexed.
  // After Flush, every blob added is reachable through the index.
  Status Flush();

  const WriterStats& stats() const { return stats_; }

 private:
  Status SavePack();
  Status WriteIndex();

  Repository& repo_;
  PackBuilder pack_;
  std::unordered_set<Hash256, Hash256Hasher> pending_;  // added, not yet indexed
  std::vector<PackIndex> unindexed_;
  WriterStats stats_;
};

}  // namespace casulo::repo

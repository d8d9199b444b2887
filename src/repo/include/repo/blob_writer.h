// BlobWriter: the write side of the repository for one backup. Takes sealed
// frames of blobs, skips blobs already stored, fills packs, saves each full pack, and
// writes an index file every kPacksPerIndex packs and at Flush — in the order
// of design section 8, so a crash leaves nothing a snapshot could depend on
// half-written.
//
// Not thread-safe: one writer thread owns it (workers build and seal frames in
// parallel and hand them over). Several BlobWriters of one Repository may
// run at once, each in its own thread (repository.h, "Thread-safety").
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
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
  // Full packs are saved (written, fsynced, renamed) by a background thread
  // while the caller goes on filling the next one; at most one pack waits.
  explicit BlobWriter(Repository& repo);
  // Waits for a pack being saved, but does not flush: blobs not yet flushed
  // are simply lost, which is safe (design section 8).
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

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
  Status SavePack();      // hands the current pack to the saver
  Status WaitSaved();     // until the saver is idle; its first error
  Status WriteIndex();    // indexes the packs saved so far
  void SaverLoop();

  Repository& repo_;
  PackBuilder pack_;
  std::unordered_set<Hash256, Hash256Hasher> pending_;  // added, not yet indexed
  WriterStats stats_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::pair<PackIndex, Bytes>> to_save_;  // GUARDED_BY(mu_)
  std::vector<PackIndex> saved_;                        // GUARDED_BY(mu_): not yet indexed
  Status save_error_;                                   // GUARDED_BY(mu_)
  bool saving_ = false;                                 // GUARDED_BY(mu_)
  bool stop_ = false;                                   // GUARDED_BY(mu_)
  std::thread saver_;
};

}  // namespace casulo::repo

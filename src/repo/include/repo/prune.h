// `casulo prune`: removes data no snapshot needs (design section 10). Plan
// first, a pure reading of the repository that `--dry-run` prints; then
// execute, in the write order of design section 8 so that a crash at any
// point leaves a repository that loses nothing a snapshot needs and that the
// next prune finishes cleaning:
//   1. new packs with the live blobs of the packs being repacked (opened,
//      verified and sealed into new frames: a frame is the unit of
//      encryption, so its dead blobs can only be dropped by re-sealing);
//   2. new index file(s) describing every surviving pack, the last one
//      superseding every old index file;
//   3. the old index files are removed;
//   4. the dead, repacked and unreferenced packs are removed.
//
// The caller must hold the repository's EXCLUSIVE lock from planning to the
// end of execution: the plan assumes nobody adds packs, index files or
// snapshots meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "repo/index_file.h"
#include "repo/repository.h"

namespace casulo::repo {

struct PruneStats {
  uint64_t snapshots = 0;
  uint64_t index_files = 0;  // present before prune
  uint64_t packs = 0;        // in data/ before prune
  // Blobs listed in index files, with their plaintext bytes: reachable ones
  // (one copy each), and unreachable ones plus extra copies.
  uint64_t live_blobs = 0, live_bytes = 0;
  uint64_t dead_blobs = 0, dead_bytes = 0;
  uint64_t duplicate_blobs = 0;  // extra copies of reachable blobs (counted in dead)
};

struct PrunePlan {
  // A pack whose live blobs are copied into new packs before it is removed.
  struct Repack {
    Hash256 pack;
    std::vector<BlobEntry> live;  // in pack order
  };

  double repack_below = 0.8;
  std::vector<std::string> index_files;  // every index file present
  // True when new index files replace all of `index_files`: some indexed pack
  // goes away, some index file is superseded, or there are more index files
  // than needed (they are merged).
  bool rewrite_index = false;
  std::vector<PackIndex> keep;              // packs kept as they are, all their entries
  std::vector<Hash256> delete_packs;        // indexed packs without a live blob
  std::vector<Repack> repack;               // indexed packs below repack_below live
  std::vector<Hash256> unreferenced_packs;  // in data/, named by no (current) index file
  uint64_t bytes_removed = 0;  // size of every pack removed: delete, repack, unreferenced
  // Estimated stored size of the blobs written again: each live blob's share
  // of its frame's envelope, in proportion to plaintext.
  uint64_t bytes_repacked = 0;
  PruneStats stats;

  // About what the repository shrinks by (new pack headers not counted).
  uint64_t bytes_freed() const { return bytes_removed - bytes_repacked; }
  // True when executing the plan would change nothing.
  bool empty() const {
    return !rewrite_index && delete_packs.empty() && repack.empty() && unreferenced_packs.empty();
  }
};

// An index file written by prune holds at most this many blob entries (about
// 23 MiB); more surviving blobs are spread over several files.
inline constexpr size_t kPruneIndexMaxBlobs = size_t(1) << 19;

// Marks every blob reachable from any snapshot (tree nodes and non-zero
// chunk ids) and plans. A pack with no live blob is deleted; one whose live
// blobs' estimated stored bytes (see bytes_repacked) are less than
// `repack_below_live_fraction` of its frames' bytes is repacked; of several
// copies of a live blob the one in the pack with the most live bytes is kept. Refuses with
// kCorruption (pointing to `casulo check`) when an index file or snapshot cannot be read, a tree
// node or chunk a snapshot needs is in no index, or a pack holding live blobs is missing: pruning a
// damaged repository could delete what a repair needs. Snapshots named in `ignore_snapshots` count
// as already removed (for `forget --prune --dry-run`, which shows the prune its removals allow).
Result<PrunePlan> PlanPrune(Repository& repo, double repack_below_live_fraction = 0.8,
                            const std::vector<std::string>& ignore_snapshots = {});

// Executes `plan` in the order above, then re-syncs the index cache
// (repo.SyncIndex()). Every repacked blob is opened and its id recomputed
// before it is written again; a damaged one stops prune before anything is
// removed.
// `still_locked`, when given, is called before the first removal and must
// return OK (the CLI passes Lock::status()). Removing a file already gone is
// not an error.
Status ExecutePrune(Repository& repo, const PrunePlan& plan,
                    const std::function<Status()>& still_locked = {});

}  // namespace casulo::repo

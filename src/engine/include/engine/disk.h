// Backing up one disk of a multi-disk recovery point (a VM disk) from the
// shapes XAPI hands disks out in: a stream of extents (VHD, XVA, raw) or
// random access with an allocation map and a changed-block bitmap (NBD).
// The result is a tree in the repository; the caller puts it in a
// version-2 snapshot (docs/format/snapshot.md) with the other disks.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "core/stream.h"
#include "engine/image.h"
#include "formats/disk.h"
#include "repo/repository.h"
#include "repo/snapshot.h"

namespace casulo::engine {

struct DiskBackupOptions {
  // The same disk in the previous recovery point: unchanged chunks are
  // taken from it, and a delta stream is completed with its bytes.
  std::optional<repo::SnapshotDisk> parent;
  int threads = 0;  // 0: one per core
  ProgressFn progress;
};

struct DiskBackupResult {
  uint64_t size = 0;
  repo::TreeRoot tree;
  repo::SnapshotStats stats;
};

// Extents in ascending order. A delta stream (DiskKind::kDelta) needs a
// parent of the same size: what the stream leaves out is the parent's.
Result<DiskBackupResult> BackupDiskExtents(repo::Repository& repo, formats::ExtentReader& in,
                                           const DiskBackupOptions& options);

struct RandomDisk {
  const RandomSource* data = nullptr;
  // (offset, length) ranges that hold data, ascending; the rest reads as zeros.
  std::vector<std::pair<uint64_t, uint64_t>> allocated;
  // One bit per 64 KiB since the parent (VDI.list_changed_blocks, MSB
  // first); REQUIRES options.parent when set.
  std::optional<Bytes> changed_blocks;
};

Result<DiskBackupResult> BackupDiskRandom(repo::Repository& repo, const RandomDisk& disk,
                                          const DiskBackupOptions& options);

}  // namespace casulo::engine

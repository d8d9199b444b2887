// Backup and restore of raw disk images (a file, a block device, or a
// stream) to and from a repository, pipelined over all cores with bounded
// memory (design section 11).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/file.h"
#include "repo/repository.h"

namespace casulo::engine {

// Called from the consuming thread after each batch: bytes done of total
// (total 0 when unknown, as for a stream).
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// A source image. Seekable sources (regular files, block devices) are read
// with pread and their holes skipped; streams are read in order to EOF.
struct ImageInput {
  File file;
  File direct;  // the same file opened O_DIRECT, when the file system allows it
  bool seekable = false;
  uint64_t size = 0;  // when seekable
};
Result<ImageInput> OpenImageInput(const std::string& path);  // "-" is stdin

struct ImageBackupOptions {
  std::string source;                  // recorded in the snapshot
  std::optional<std::string> parent;   // resolved parent snapshot id
  std::optional<Bytes> changed_blocks; // CBT bitmap, one bit per 64 KiB, MSB first
  std::vector<std::string> tags;
  std::string kind = "image";
  int threads = 0;  // 0: one per core
  ProgressFn progress;
};

struct ImageBackupResult {
  std::string snapshot_id;
  repo::Snapshot snapshot;
};

Result<ImageBackupResult> BackupImage(repo::Repository& repo, ImageInput& input,
                                      const ImageBackupOptions& options);

// The XenServer CBT bitmap granularity.
inline constexpr uint64_t kCbtBlockSize = 64 * 1024;

// Parses a changed-block bitmap file: raw bytes, or the base64 text that
// VDI.list_changed_blocks returns. `format` is "raw", "base64" or "auto"
// (base64 when the file is non-empty base64 text of a plausible length).
Result<Bytes> ParseChangedBlocks(ByteSpan file, std::string_view format, uint64_t image_size);

struct ImageRestoreOptions {
  int threads = 0;
  ProgressFn progress;
  bool sync = false;  // fsync the output before returning (--sync)
};

struct ImageRestoreStats {
  uint64_t bytes = 0;
  uint64_t data_chunks = 0;
  uint64_t zero_chunks = 0;
  double seconds = 0;
};

// Writes the image of `snap` to `out`. A seekable output is truncated to the
// image size and zero chunks are left as holes; a stream gets every byte.
Result<ImageRestoreStats> RestoreImage(repo::Repository& repo, const repo::Snapshot& snap,
                                       const File& out, bool seekable,
                                       const ImageRestoreOptions& options);

}  // namespace casulo::engine

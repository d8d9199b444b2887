// The backup pipeline's input, whatever the disk's shape (design
// docs/design/vm-backup.md, "Reading disks"): a source hands out batches of
// chunk-sized blocks, each a hole, a chunk reused from the parent, or data
// read into the batch's buffer. Hashing, sealing and the tree are the same
// for every source (disk_backup.cc). Internal to the engine.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/bytes.h"
#include "core/stream.h"
#include "engine/image.h"
#include "formats/disk.h"
#include "repo/pack.h"
#include "repo/repository.h"
#include "repo/tree.h"

namespace casulo::engine::internal {

inline constexpr size_t kMaxDataBlocksPerBatch = 32;  // 2 MiB of 64 KiB chunks
inline constexpr size_t kMaxBlocksPerBatch = 4096;    // cheap ones: holes, reused
inline constexpr size_t kMaxBatchesInFlight = 8;      // ~16 MiB read + ~16 MiB sealed

struct Block {
  enum Kind : uint8_t { kHole, kReuse, kData } kind = kData;
  bool zero = false;  // set by the worker for all-zero data
  bool has_parent = false;
  uint32_t length = 0;
  uint32_t data_offset = 0;  // into Batch::data, for kData
  Hash256 id;
  Hash256 parent_id;
};

struct Batch {
  uint64_t first = 0;
  std::vector<Block> blocks;
  AlignedPtr data;  // kMaxDataBlocksPerBatch chunks, from the source's pool
  std::vector<repo::SealedFrame> frames;  // the batch's new chunks, compressed
};

class BlockSource {
 public:
  virtual ~BlockSource() = default;
  // Fills the next batch (b.data from the pool when unset); false at the end.
  virtual Result<bool> Next(Batch& b) = 0;
  virtual uint64_t size() const = 0;        // the image size (so far, for a stream)
  virtual uint64_t total() const = 0;       // for progress; 0 when unknown
  virtual uint64_t bytes_read() const = 0;  // bytes taken from the source
};

// Calls fn(first block index, bytes) for every run of adjacent data blocks of
// `b` whose buffers are adjacent too, so a source reads each run at once.
template <typename Fn>
Status ForEachDataRun(const Batch& b, uint32_t chunk, Fn&& fn) {
  size_t i = 0;
  while (i < b.blocks.size()) {
    if (b.blocks[i].kind != Block::kData) {
      ++i;
      continue;
    }
    size_t j = i;
    uint64_t len = 0;
    while (j < b.blocks.size() && b.blocks[j].kind == Block::kData &&
           b.blocks[j].data_offset == b.blocks[i].data_offset + (j - i) * chunk) {
      len += b.blocks[j].length;
      ++j;
    }
    RETURN_IF_ERROR(fn(i, len));
    i = j;
  }
  return OkStatus();
}

// The parent image an incremental is made against.
struct ParentImage {
  repo::TreeReader* tree = nullptr;
  uint64_t size = 0;
};

// Sets blk.parent_id / has_parent for block `index` of `length` bytes: a
// block is comparable with the parent's only if it has the same extent.
Status AttachParent(const ParentImage& parent, uint32_t chunk, uint64_t index, Block& blk);

// True when bit `block` (of chunk size `chunk`) of a 64 KiB CBT bitmap, MSB
// first, says changed; bits past the bitmap count as changed.
bool BitmapChanged(const Bytes& bitmap, uint32_t chunk, uint64_t block);

// A file or block device (seekable: holes skipped, bitmap honoured) or a
// stream read to EOF.
std::unique_ptr<BlockSource> NewFileBlockSource(ImageInput& in, uint32_t chunk, const Bytes* bitmap,
                                                ParentImage parent, BufferPool& pool);

// Ascending extents (formats::ExtentReader): outside every extent a full
// disk is zeros and a delta disk is its parent's bytes. `load_chunk` loads a
// parent chunk by id, to complete a partly covered block of a delta.
std::unique_ptr<BlockSource> NewExtentBlockSource(formats::ExtentReader& in, uint32_t chunk,
                                                  ParentImage parent, BufferPool& pool,
                                                  std::function<Result<Bytes>(const Hash256&)> load_chunk);

// Random access with a list of allocated ranges (ascending) and optionally
// a changed-block bitmap against the parent (NBD with CBT).
std::unique_ptr<BlockSource> NewRandomBlockSource(const RandomSource& src,
                                                  std::vector<std::pair<uint64_t, uint64_t>> allocated,
                                                  const Bytes* bitmap, uint32_t chunk, ParentImage parent,
                                                  BufferPool& pool);

struct DiskResult {
  uint64_t size = 0;
  repo::TreeRoot tree;
  repo::SnapshotStats stats;
};

// Runs the pipeline over `src` into the repository: chunks stored, tree
// built, index flushed. No snapshot is written.
Result<DiskResult> RunDiskBackup(repo::Repository& repo, BlockSource& src, BufferPool& pool,
                                 int threads, const ProgressFn& progress);

}  // namespace casulo::engine::internal

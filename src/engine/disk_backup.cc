#include <chrono>
#include <thread>
#include <unordered_set>

#include "block_source.h"
#include "core/pipeline.h"
#include "repo/blob_writer.h"

namespace casulo::engine::internal {

using repo::ObjectType;

namespace {
// New chunks more than this many blocks apart go to different frames.
constexpr uint64_t kFrameMaxGapBlocks = 32;
}  // namespace

Result<DiskResult> RunDiskBackup(repo::Repository& repo, BlockSource& src, BufferPool& pool,
                                 int threads, const ProgressFn& progress) {
  auto t0 = std::chrono::steady_clock::now();
  const repo::Sealer& sealer = repo.sealer();
  repo::BlobWriter writer(repo);
  repo::TreeBuilder tree([&writer](ByteSpan node) {
    return writer.AddPlain(ObjectType::kTree, node);
  });
  repo::SnapshotStats stats;

  PipelineStages<Batch> st;
  st.produce = [&](Batch& b) { return src.Next(b); };
  st.work = [&](Batch& b) -> Status {
    repo::FrameBuilder frame(ObjectType::kData);
    std::unordered_set<Hash256, Hash256Hasher> in_batch;
    uint64_t last_in_frame = 0;
    for (Block& blk : b.blocks) {
      if (blk.kind != Block::kData) continue;
      ByteSpan data(b.data.get() + blk.data_offset, blk.length);
      if (IsAllZero(data)) {
        blk.zero = true;
        continue;
      }
      blk.id = sealer.ChunkId(data);
      if (blk.has_parent && blk.id == blk.parent_id) continue;
      if (!in_batch.insert(blk.id).second) continue;
      ASSIGN_OR_RETURN(auto loc, repo.index().Find(blk.id));
      if (loc) continue;
      // A frame holds chunks that lie close together on the disk, so that an
      // in-order restore never needs many frames at once: scattered changes
      // of an incremental get small frames of their own.
      uint64_t index = b.first + uint64_t(&blk - b.blocks.data());
      if (!frame.empty() && index - last_in_frame > kFrameMaxGapBlocks)
        b.frames.push_back(frame.Seal(sealer));
      last_in_frame = index;
      frame.Add(blk.id, data);
      if (frame.size() >= repo::kFrameTarget) b.frames.push_back(frame.Seal(sealer));
    }
    if (!frame.empty()) b.frames.push_back(frame.Seal(sealer));
    pool.Put(std::move(b.data));  // recycle the read buffer before the batch waits in order
    return OkStatus();
  };
  uint64_t done_bytes = 0;
  st.consume = [&](Batch& b) -> Status {
    for (const auto& f : b.frames) RETURN_IF_ERROR(writer.AddFrame(f));
    for (Block& blk : b.blocks) {
      stats.chunks++;
      done_bytes += blk.length;
      if (blk.kind == Block::kReuse) stats.reused_chunks++;
      if (blk.kind == Block::kHole || blk.zero || blk.id.IsZero()) {
        stats.zero_chunks++;
        RETURN_IF_ERROR(tree.Append(Hash256{}));
        continue;
      }
      RETURN_IF_ERROR(tree.Append(blk.id));
    }
    if (progress) progress(done_bytes, src.total());
    return OkStatus();
  };
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  Status s = RunOrderedPipeline(threads, kMaxBatchesInFlight, st);
  if (!s.ok()) {
    // Index what reached packs so the next run need not store it again; the
    // snapshot is not written, so the repository stays as it was.
    (void)writer.Flush();
    return s;
  }
  ASSIGN_OR_RETURN(repo::TreeRoot root, tree.Finish());
  RETURN_IF_ERROR(writer.Flush());
  stats.read_bytes = src.bytes_read();
  stats.new_chunks = writer.stats().new_blobs;
  stats.new_bytes = writer.stats().new_bytes;
  stats.stored_bytes = writer.stats().stored_bytes;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return DiskResult{src.size(), root, stats};
}

}  // namespace casulo::engine::internal

#include <chrono>
#include <cstring>
#include <thread>

#include "core/aligned_buffer.h"
#include "core/cancel.h"
#include "core/pipeline.h"
#include "engine/image.h"
#include "tree_read.h"

namespace casulo::engine {

namespace {

// A batch ends at a frame boundary once it holds this many data chunks, so
// each frame is decoded by one worker only; the hard cap bounds memory.
constexpr size_t kDataChunksPerBatch = 32;
constexpr size_t kMaxDataChunksPerBatch = 64;
constexpr size_t kMaxChunksPerBatch = 4096;
constexpr size_t kMaxBatchesInFlight = 6;

struct Chunk {
  Hash256 id;
  repo::BlobLocation loc;  // for data chunks
  uint32_t length = 0;
  uint32_t data_offset = 0;
};

struct Batch {
  uint64_t first = 0;
  std::vector<Chunk> chunks;
  AlignedPtr data;  // the batch's data chunks, back to back
};

}  // namespace

Status ReadTreeInOrder(repo::Repository& repo, const repo::TreeRoot& root, uint64_t size,
                       uint32_t chunk, int threads, const TreeVisitor& visit) {
  repo::TreeReader tree(root, [&repo](const Hash256& id) { return repo.LoadBlob(id); });
  BufferPool pool(kMaxDataChunksPerBatch * chunk);
  uint64_t next = 0;

  // The producer walks the tree and looks every chunk up, so it can cut
  // batches where frames end.
  PipelineStages<Batch> st;
  st.produce = [&](Batch& b) -> Result<bool> {
    if (CancelRequested()) return Status(Code::kCancelled, "interrupted");
    if (next >= tree.count()) return false;
    b.first = next;
    size_t ndata = 0;
    while (next < tree.count() && b.chunks.size() < kMaxChunksPerBatch) {
      Chunk c;
      ASSIGN_OR_RETURN(c.id, tree.At(next));
      c.length = uint32_t(std::min<uint64_t>(chunk, size - next * chunk));
      if (!c.id.IsZero()) {
        ASSIGN_OR_RETURN(auto loc, repo.index().Find(c.id));
        if (!loc)
          return Error(Code::kCorruption, "chunk {} (at byte {}) is in no index", c.id.Hex(),
                       next * chunk);
        if (ndata >= kMaxDataChunksPerBatch) break;
        if (ndata >= kDataChunksPerBatch) {
          const Chunk& last = b.chunks.back();
          bool same_frame = !last.id.IsZero() && last.loc.pack == loc->pack &&
                            last.loc.offset == loc->offset;
          if (!same_frame) break;
        }
        c.loc = *loc;
        c.data_offset = uint32_t(ndata++ * chunk);
      }
      b.chunks.push_back(c);
      ++next;
    }
    if (ndata) b.data = pool.Get();
    return true;
  };
  st.work = [&](Batch& b) -> Status {
    for (const Chunk& c : b.chunks) {
      if (c.id.IsZero()) continue;
      MutableByteSpan dst(b.data.get() + c.data_offset, c.length);
      if (c.loc.raw_length != c.length)
        return Error(Code::kCorruption, "chunk {} has {} bytes, expected {}", c.id.ShortHex(),
                     c.loc.raw_length, c.length);
      RETURN_IF_ERROR(repo.ReadBlobAt(c.id, c.loc, dst));
    }
    return OkStatus();
  };
  st.consume = [&](Batch& b) -> Status {
    uint64_t off = b.first * chunk;
    for (const Chunk& c : b.chunks) {
      if (c.id.IsZero()) {
        if (visit.hole) RETURN_IF_ERROR(visit.hole(off, c.length));
      } else {
        RETURN_IF_ERROR(visit.data(off, ByteSpan(b.data.get() + c.data_offset, c.length)));
      }
      off += c.length;
    }
    pool.Put(std::move(b.data));
    if (visit.progress) visit.progress(off);
    return OkStatus();
  };
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  return RunOrderedPipeline(threads, kMaxBatchesInFlight, st);
}

Result<ImageRestoreStats> RestoreImage(repo::Repository& repo, const repo::Snapshot& snap,
                                       const File& out, bool seekable,
                                       const ImageRestoreOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  if (seekable) {
    // Holes read as zeros only if nothing was there before. Truncating an
    // empty file to 0 is skipped: on ext4 it arms the replace-via-truncate
    // heuristic (auto_da_alloc), which makes close() flush the whole image.
    ASSIGN_OR_RETURN(uint64_t old_size, out.Size());
    if (old_size) RETURN_IF_ERROR(out.Truncate(0));
    RETURN_IF_ERROR(out.Truncate(snap.size));
  }
  ImageRestoreStats stats;
  static const Bytes kZeros(1 << 20, 0);
  // Workers decode; only the visitor writes. Writes to one file serialise on
  // its inode lock anyway: two writers measured 15 % of the CPU spinning.
  TreeVisitor v;
  v.hole = [&](uint64_t, uint64_t len) -> Status {
    stats.zero_chunks++;
    for (uint64_t left = seekable ? 0 : len; left > 0;) {
      uint64_t n = std::min<uint64_t>(left, kZeros.size());
      RETURN_IF_ERROR(out.WriteAll(ByteSpan(kZeros).first(n)));
      left -= n;
    }
    stats.bytes += len;
    return OkStatus();
  };
  v.data = [&](uint64_t off, ByteSpan data) -> Status {
    stats.data_chunks++;
    RETURN_IF_ERROR(seekable ? out.PWrite(off, data) : out.WriteAll(data));
    stats.bytes += data.size();
    return OkStatus();
  };
  if (opt.progress) v.progress = [&](uint64_t done) { opt.progress(done, snap.size); };
  RETURN_IF_ERROR(ReadTreeInOrder(repo, snap.tree, snap.size, snap.chunk_size, opt.threads, v));
  if (seekable && opt.sync) RETURN_IF_ERROR(out.Sync());
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace casulo::engine

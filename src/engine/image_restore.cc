#include <chrono>
#include <thread>

#include "core/cancel.h"
#include "core/pipeline.h"
#include "engine/image.h"

namespace casulo::engine {

namespace {

constexpr size_t kMaxDataChunksPerBatch = 32;
constexpr size_t kMaxChunksPerBatch = 4096;
constexpr size_t kMaxBatchesInFlight = 8;

struct Chunk {
  Hash256 id;
  uint32_t length = 0;
  uint32_t data_offset = 0;
};

struct Batch {
  uint64_t first = 0;
  std::vector<Chunk> chunks;
  Bytes data;
};

}  // namespace

Result<ImageRestoreStats> RestoreImage(repo::Repository& repo, const repo::Snapshot& snap,
                                       const File& out, bool seekable,
                                       const ImageRestoreOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  const uint64_t chunk = snap.chunk_size;
  repo::TreeReader tree(snap.tree, [&repo](const Hash256& id) { return repo.LoadBlob(id); });
  if (seekable) {
    // Holes read as zeros only if nothing was there before.
    RETURN_IF_ERROR(out.Truncate(0));
    RETURN_IF_ERROR(out.Truncate(snap.size));
  }
  ImageRestoreStats stats;
  uint64_t next = 0;

  PipelineStages<Batch> st;
  st.produce = [&](Batch& b) -> Result<bool> {
    if (CancelRequested()) return Status(Code::kCancelled, "interrupted");
    if (next >= tree.count()) return false;
    b.first = next;
    size_t ndata = 0;
    while (next < tree.count() && ndata < kMaxDataChunksPerBatch &&
           b.chunks.size() < kMaxChunksPerBatch) {
      Chunk c;
      ASSIGN_OR_RETURN(c.id, tree.At(next));
      c.length = uint32_t(std::min<uint64_t>(chunk, snap.size - next * chunk));
      if (!c.id.IsZero()) c.data_offset = uint32_t(ndata++ * chunk);
      b.chunks.push_back(c);
      ++next;
    }
    b.data.resize(ndata * chunk);
    return true;
  };
  st.work = [&](Batch& b) -> Status {
    for (const Chunk& c : b.chunks) {
      if (c.id.IsZero()) continue;
      ASSIGN_OR_RETURN(Bytes plain, repo.LoadBlob(c.id));
      if (plain.size() != c.length)
        return Error(Code::kCorruption, "chunk {} has {} bytes, expected {}", c.id.ShortHex(),
                     plain.size(), c.length);
      std::copy(plain.begin(), plain.end(), b.data.begin() + c.data_offset);
    }
    return OkStatus();
  };
  static const Bytes kZeros(1 << 20, 0);
  st.consume = [&](Batch& b) -> Status {
    uint64_t off = b.first * chunk;
    for (const Chunk& c : b.chunks) {
      if (c.id.IsZero()) {
        stats.zero_chunks++;
        if (!seekable) {
          for (uint64_t left = c.length; left > 0;) {
            uint64_t n = std::min<uint64_t>(left, kZeros.size());
            RETURN_IF_ERROR(out.WriteAll(ByteSpan(kZeros).first(n)));
            left -= n;
          }
        }
      } else {
        stats.data_chunks++;
        ByteSpan data = ByteSpan(b.data).subspan(c.data_offset, c.length);
        RETURN_IF_ERROR(seekable ? out.PWrite(off, data) : out.WriteAll(data));
      }
      off += c.length;
      stats.bytes += c.length;
    }
    if (opt.progress) opt.progress(stats.bytes, snap.size);
    return OkStatus();
  };
  int threads = opt.threads > 0 ? opt.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  RETURN_IF_ERROR(RunOrderedPipeline(threads, kMaxBatchesInFlight, st));
  if (seekable && opt.sync) RETURN_IF_ERROR(out.Sync());
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace casulo::engine

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <thread>
#include <unordered_set>

#include "core/aligned_buffer.h"
#include "core/cancel.h"
#include "core/pipeline.h"
#include "engine/image.h"
#include "repo/blob_writer.h"

namespace casulo::engine {

using repo::ObjectType;

namespace {

constexpr size_t kMaxDataBlocksPerBatch = 32;  // 2 MiB of 64 KiB chunks
constexpr size_t kMaxBlocksPerBatch = 4096;    // cheap ones: holes, reused
constexpr size_t kMaxBatchesInFlight = 8;      // ~16 MiB read + ~16 MiB sealed
// New chunks more than this many blocks apart go to different frames.
constexpr uint64_t kFrameMaxGapBlocks = 32;

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
  AlignedPtr data;  // kMaxDataBlocksPerBatch chunks, from the reader's pool
  std::vector<repo::SealedFrame> frames;  // the batch's new chunks, compressed
};

// Reads the source into batches of blocks: decides per block whether it can
// be skipped (a hole, or unchanged by the bitmap) or must be read.
class Reader {
 public:
  Reader(ImageInput& in, uint32_t chunk, const Bytes* bitmap, repo::TreeReader* parent,
         uint64_t parent_size, BufferPool& pool)
      : in_(in),
        chunk_(chunk),
        bitmap_(bitmap),
        parent_(parent),
        parent_size_(parent_size),
        pool_(pool) {
    blocks_ = in.seekable ? (in.size + chunk - 1) / chunk : UINT64_MAX;
  }

  uint64_t bytes_read() const { return bytes_read_; }
  uint64_t size() const { return in_.seekable ? in_.size : pos_; }

  Result<bool> Next(Batch& b) {
    if (CancelRequested()) return Status(Code::kCancelled, "interrupted");
    if (done_) return false;
    b.first = next_;
    b.blocks.clear();
    if (!b.data) b.data = pool_.Get();
    MutableByteSpan buf(b.data.get(), pool_.buffer_size());
    size_t ndata = 0;
    while (next_ < blocks_ && ndata < kMaxDataBlocksPerBatch &&
           b.blocks.size() < kMaxBlocksPerBatch) {
      Block blk;
      uint64_t off = next_ * chunk_;
      blk.length = uint32_t(in_.seekable ? std::min<uint64_t>(chunk_, in_.size - off) : chunk_);
      if (parent_ && next_ < parent_->count()) {
        ASSIGN_OR_RETURN(blk.parent_id, parent_->At(next_));
        // A block is comparable with the parent's only if it has the same extent.
        blk.has_parent = std::min<uint64_t>(chunk_, parent_size_ - off) == blk.length;
      }
      if (blk.has_parent && bitmap_ && !Changed(next_)) {
        blk.kind = Block::kReuse;
        blk.id = blk.parent_id;
      } else if (in_.seekable) {
        ASSIGN_OR_RETURN(bool hole, InHole(off, off + blk.length));
        blk.kind = hole ? Block::kHole : Block::kData;
      }
      if (blk.kind == Block::kData) {
        blk.data_offset = uint32_t(ndata * chunk_);
        ++ndata;
        if (!in_.seekable) {
          ASSIGN_OR_RETURN(size_t n, in_.file.ReadFull(buf.subspan(blk.data_offset, chunk_)));
          pos_ += n;
          bytes_read_ += n;
          if (n == 0) {
            done_ = true;
            break;
          }
          blk.length = uint32_t(n);
          if (n < chunk_) done_ = true;
        }
      }
      b.blocks.push_back(blk);
      ++next_;
      if (done_) break;
    }
    if (in_.seekable) RETURN_IF_ERROR(ReadRuns(b, buf));
    if (next_ >= blocks_) done_ = true;
    return !b.blocks.empty();
  }

 private:
  bool Changed(uint64_t block) const {
    uint64_t per = chunk_ / kCbtBlockSize;  // chunk sizes are powers of two >= 64 KiB
    if (per == 0) per = 1;
    for (uint64_t bit = block * per; bit < (block + 1) * per; ++bit)
      if (bit / 8 >= bitmap_->size() || ((*bitmap_)[bit / 8] & (0x80 >> (bit % 8)))) return true;
    return false;
  }

  // True when [a, b) lies wholly in a hole of the source.
  Result<bool> InHole(uint64_t a, uint64_t b) {
    if (a >= data_end_) {
      ASSIGN_OR_RETURN(auto nd, in_.file.NextData(a));
      if (!nd) {
        data_start_ = data_end_ = UINT64_MAX;
      } else {
        data_start_ = *nd;
        ASSIGN_OR_RETURN(data_end_, in_.file.NextHole(*nd));
      }
    }
    return b <= data_start_;
  }

  // Reads the data blocks of a batch, one pread per run of adjacent blocks;
  // with O_DIRECT when the input allows it (no page-cache copy, no cache
  // pollution), except for an unaligned tail.
  Status ReadRuns(Batch& b, MutableByteSpan buf) {
    size_t i = 0;
    while (i < b.blocks.size()) {
      if (b.blocks[i].kind != Block::kData) {
        ++i;
        continue;
      }
      size_t j = i;
      uint64_t len = 0;
      while (j < b.blocks.size() && b.blocks[j].kind == Block::kData &&
             b.blocks[j].data_offset == b.blocks[i].data_offset + (j - i) * chunk_) {
        len += b.blocks[j].length;
        ++j;
      }
      uint64_t off = (b.first + i) * chunk_;
      MutableByteSpan dst = buf.subspan(b.blocks[i].data_offset, len);
      uint64_t direct = in_.direct.valid() ? len & ~uint64_t(kDirectIoAlign - 1) : 0;
      if (direct) RETURN_IF_ERROR(in_.direct.PReadFull(off, dst.first(direct)));
      if (direct < len) RETURN_IF_ERROR(in_.file.PReadFull(off + direct, dst.subspan(direct)));
      bytes_read_ += len;
      i = j;
    }
    return OkStatus();
  }

  ImageInput& in_;
  uint32_t chunk_;
  const Bytes* bitmap_;
  repo::TreeReader* parent_;
  uint64_t parent_size_;
  BufferPool& pool_;
  uint64_t blocks_;
  uint64_t next_ = 0;
  uint64_t pos_ = 0;  // stream position
  uint64_t bytes_read_ = 0;
  uint64_t data_start_ = 0, data_end_ = 0;
  bool done_ = false;
};

}  // namespace

Result<ImageBackupResult> BackupImage(repo::Repository& repo, ImageInput& input,
                                      const ImageBackupOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  const uint32_t chunk = repo.config().chunk_size;
  const repo::Sealer& sealer = repo.sealer();

  std::optional<repo::Snapshot> parent;
  std::optional<repo::TreeReader> parent_tree;
  if (opt.parent) {
    ASSIGN_OR_RETURN(parent, repo.LoadSnapshot(*opt.parent).With("parent"));
    if (parent->chunk_size != chunk)
      return Error(Code::kInvalidArgument, "parent {} has chunk size {}, repository {}",
                   *opt.parent, parent->chunk_size, chunk);
    parent_tree.emplace(parent->tree, [&repo](const Hash256& id) { return repo.LoadBlob(id); });
  }
  if (opt.changed_blocks && !parent)
    return Error(Code::kInvalidArgument, "--changed-blocks needs --parent: the bitmap says "
                                         "what changed since that snapshot");
  if (opt.changed_blocks && !input.seekable)
    return Error(Code::kInvalidArgument, "--changed-blocks needs a file or device, not a stream");

  BufferPool pool(size_t(kMaxDataBlocksPerBatch) * chunk);
  Reader reader(input, chunk, opt.changed_blocks ? &*opt.changed_blocks : nullptr,
                parent_tree ? &*parent_tree : nullptr, parent ? parent->size : 0, pool);
  repo::BlobWriter writer(repo);
  repo::TreeBuilder tree([&writer](ByteSpan node) {
    return writer.AddPlain(ObjectType::kTree, node);
  });
  repo::SnapshotStats stats;

  PipelineStages<Batch> st;
  st.produce = [&](Batch& b) { return reader.Next(b); };
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
    if (opt.progress) opt.progress(done_bytes, input.seekable ? input.size : 0);
    return OkStatus();
  };
  int threads = opt.threads > 0 ? opt.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  Status s = RunOrderedPipeline(threads, kMaxBatchesInFlight, st);
  if (!s.ok()) {
    // Index what reached packs so the next run need not store it again; the
    // snapshot is not written, so the repository stays as it was.
    (void)writer.Flush();
    return s;
  }
  ASSIGN_OR_RETURN(repo::TreeRoot root, tree.Finish());
  RETURN_IF_ERROR(writer.Flush());

  repo::Snapshot snap;
  snap.kind = opt.kind;
  snap.source = opt.source;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  snap.hostname = host;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  snap.time = now.tv_sec;
  snap.time_nanos = uint32_t(now.tv_nsec);
  snap.tags = opt.tags;
  snap.parent = opt.parent;
  snap.size = reader.size();
  snap.chunk_size = chunk;
  snap.tree = root;
  stats.read_bytes = reader.bytes_read();
  stats.new_chunks = writer.stats().new_blobs;
  stats.new_bytes = writer.stats().new_bytes;
  stats.stored_bytes = writer.stats().stored_bytes;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  snap.stats = stats;
  ASSIGN_OR_RETURN(std::string id, repo.SaveSnapshot(snap));
  return ImageBackupResult{id, snap};
}

}  // namespace casulo::engine

// Block sources for VM disks: a forward stream of extents (VHD, XVA, raw
// streams parsed by the formats layer) and random access with an allocation
// map (NBD). Both leave the hashing to the pipeline (disk_backup.cc).
#include <algorithm>
#include <cstring>

#include "block_source.h"
#include "core/cancel.h"

namespace casulo::engine::internal {
namespace {

// Walks chunk indexes in order, asking the extent stream for the bytes of
// each. An extent's data is valid only until the reader's next Next(), so
// it is copied into the batch before the reader advances.
class ExtentBlockSource final : public BlockSource {
 public:
  ExtentBlockSource(formats::ExtentReader& in, uint32_t chunk, ParentImage parent, BufferPool& pool,
                    std::function<Result<Bytes>(const Hash256&)> load_chunk)
      : in_(in), chunk_(chunk), parent_(parent), pool_(pool), load_(std::move(load_chunk)) {
    size_ = in.info().virtual_size;
    blocks_ = (size_ + chunk - 1) / chunk;
    delta_ = in.info().kind == formats::DiskKind::kDelta;
  }

  uint64_t size() const override { return size_; }
  uint64_t total() const override { return size_; }
  uint64_t bytes_read() const override { return bytes_read_; }

  Result<bool> Next(Batch& b) override {
    if (CancelRequested()) return Status(Code::kCancelled, "interrupted");
    if (next_ >= blocks_) {
      if (!drained_) RETURN_IF_ERROR(Drain());
      return false;
    }
    b.first = next_;
    b.blocks.clear();
    if (!b.data) b.data = pool_.Get();
    size_t ndata = 0;
    while (next_ < blocks_ && ndata < kMaxDataBlocksPerBatch && b.blocks.size() < kMaxBlocksPerBatch) {
      Block blk;
      const uint64_t a = next_ * chunk_;
      blk.length = uint32_t(std::min<uint64_t>(chunk_, size_ - a));
      const uint64_t z = a + blk.length;
      RETURN_IF_ERROR(AttachParent(parent_, chunk_, next_, blk));
      RETURN_IF_ERROR(Fill(a));
      const bool covered = have_ && cur_off_ < z;
      if (!covered) {
        // Untouched by the stream: zeros on a full disk, the parent's chunk
        // on a delta.
        blk.kind = delta_ && blk.has_parent ? Block::kReuse : Block::kHole;
        if (blk.kind == Block::kReuse) blk.id = blk.parent_id;
      } else {
        blk.kind = Block::kData;
        blk.data_offset = uint32_t(ndata * chunk_);
        ++ndata;
        uint8_t* dst = b.data.get() + blk.data_offset;
        RETURN_IF_ERROR(Base(blk, dst));
        RETURN_IF_ERROR(CopyCovered(a, z, dst));
      }
      b.blocks.push_back(blk);
      ++next_;
    }
    return true;
  }

 private:
  // Makes the current extent one that ends after `pos` (or none is left).
  Status Fill(uint64_t pos) {
    while (true) {
      if (have_ && cur_off_ + cur_.size() > pos) return OkStatus();
      ASSIGN_OR_RETURN(std::optional<formats::Extent> e, in_.Next());
      if (!e) {
        have_ = false;
        drained_ = true;
        return OkStatus();
      }
      if (e->offset < last_end_ || e->offset + e->data.size() > size_)
        return Error(Code::kCorruption, "disk stream: extent at {} out of order or past {}", e->offset, size_);
      last_end_ = e->offset + e->data.size();
      bytes_read_ += e->data.size();
      cur_ = e->data;
      cur_off_ = e->offset;
      have_ = !cur_.empty();
    }
  }

  // What a partly covered block holds outside the extents.
  Status Base(const Block& blk, uint8_t* dst) {
    if (!delta_ || !blk.has_parent || blk.parent_id.IsZero()) {
      std::memset(dst, 0, blk.length);
      return OkStatus();
    }
    ASSIGN_OR_RETURN(Bytes parent, load_(blk.parent_id));
    if (parent.size() != blk.length)
      return Error(Code::kCorruption, "parent chunk {} has {} bytes, expected {}", blk.parent_id.Hex(),
                   parent.size(), blk.length);
    std::memcpy(dst, parent.data(), blk.length);
    return OkStatus();
  }

  // Copies every extent byte inside [a, z) into dst, advancing the stream.
  Status CopyCovered(uint64_t a, uint64_t z, uint8_t* dst) {
    while (have_ && cur_off_ < z) {
      uint64_t from = std::max(a, cur_off_);
      uint64_t to = std::min(z, cur_off_ + cur_.size());
      std::memcpy(dst + (from - a), cur_.data() + (from - cur_off_), to - from);
      if (cur_off_ + cur_.size() > z) return OkStatus();  // the extent goes on into the next block
      have_ = false;
      RETURN_IF_ERROR(Fill(z));
    }
    return OkStatus();
  }

  // The reader checks what trails the data (VHD footer, XVA checksums) only
  // when asked past the last extent.
  Status Drain() {
    while (!drained_) {
      ASSIGN_OR_RETURN(std::optional<formats::Extent> e, in_.Next());
      if (!e) {
        drained_ = true;
        break;
      }
      if (!e->data.empty()) return Error(Code::kCorruption, "disk stream: extent at {} past the end", e->offset);
    }
    return OkStatus();
  }

  formats::ExtentReader& in_;
  uint32_t chunk_;
  ParentImage parent_;
  BufferPool& pool_;
  std::function<Result<Bytes>(const Hash256&)> load_;
  uint64_t size_ = 0, blocks_ = 0, next_ = 0, bytes_read_ = 0, last_end_ = 0;
  bool delta_ = false;
  ByteSpan cur_;
  uint64_t cur_off_ = 0;
  bool have_ = false, drained_ = false;
};

// Reads only allocated blocks (and, with a bitmap and a parent, only the
// changed ones), one ReadAt per run of adjacent data blocks.
class RandomBlockSource final : public BlockSource {
 public:
  RandomBlockSource(const RandomSource& src, std::vector<std::pair<uint64_t, uint64_t>> allocated,
                    const Bytes* bitmap, uint32_t chunk, ParentImage parent, BufferPool& pool)
      : src_(src), alloc_(std::move(allocated)), bitmap_(bitmap), chunk_(chunk), parent_(parent), pool_(pool) {
    blocks_ = (src.size() + chunk - 1) / chunk;
  }

  uint64_t size() const override { return src_.size(); }
  uint64_t total() const override { return src_.size(); }
  uint64_t bytes_read() const override { return bytes_read_; }

  Result<bool> Next(Batch& b) override {
    if (CancelRequested()) return Status(Code::kCancelled, "interrupted");
    if (next_ >= blocks_) return false;
    b.first = next_;
    b.blocks.clear();
    if (!b.data) b.data = pool_.Get();
    size_t ndata = 0;
    while (next_ < blocks_ && ndata < kMaxDataBlocksPerBatch && b.blocks.size() < kMaxBlocksPerBatch) {
      Block blk;
      const uint64_t a = next_ * chunk_;
      blk.length = uint32_t(std::min<uint64_t>(chunk_, src_.size() - a));
      RETURN_IF_ERROR(AttachParent(parent_, chunk_, next_, blk));
      if (blk.has_parent && bitmap_ && !BitmapChanged(*bitmap_, chunk_, next_)) {
        blk.kind = Block::kReuse;
        blk.id = blk.parent_id;
      } else if (!Allocated(a, a + blk.length)) {
        blk.kind = Block::kHole;
      } else {
        blk.kind = Block::kData;
        blk.data_offset = uint32_t(ndata++ * chunk_);
      }
      b.blocks.push_back(blk);
      ++next_;
    }
    RETURN_IF_ERROR(ReadRuns(b));
    return true;
  }

 private:
  // True when any byte of [a, z) is allocated. Queries come in ascending order.
  bool Allocated(uint64_t a, uint64_t z) {
    while (at_ < alloc_.size() && alloc_[at_].first + alloc_[at_].second <= a) ++at_;
    return at_ < alloc_.size() && alloc_[at_].first < z;
  }

  Status ReadRuns(Batch& b) {
    return ForEachDataRun(b, chunk_, [&](size_t i, uint64_t len) -> Status {
      const uint64_t off = (b.first + i) * chunk_;
      RETURN_IF_ERROR(ReadAtExact(src_, off, {b.data.get() + b.blocks[i].data_offset, len}, "disk"));
      bytes_read_ += len;
      return OkStatus();
    });
  }

  const RandomSource& src_;
  std::vector<std::pair<uint64_t, uint64_t>> alloc_;
  const Bytes* bitmap_;
  uint32_t chunk_;
  ParentImage parent_;
  BufferPool& pool_;
  uint64_t blocks_ = 0, next_ = 0, bytes_read_ = 0;
  size_t at_ = 0;
};

}  // namespace

std::unique_ptr<BlockSource> NewExtentBlockSource(formats::ExtentReader& in, uint32_t chunk,
                                                  ParentImage parent, BufferPool& pool,
                                                  std::function<Result<Bytes>(const Hash256&)> load_chunk) {
  return std::make_unique<ExtentBlockSource>(in, chunk, parent, pool, std::move(load_chunk));
}

std::unique_ptr<BlockSource> NewRandomBlockSource(const RandomSource& src,
                                                  std::vector<std::pair<uint64_t, uint64_t>> allocated,
                                                  const Bytes* bitmap, uint32_t chunk, ParentImage parent,
                                                  BufferPool& pool) {
  return std::make_unique<RandomBlockSource>(src, std::move(allocated), bitmap, chunk, parent, pool);
}

}  // namespace casulo::engine::internal

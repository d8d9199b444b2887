#include <algorithm>

#include "block_source.h"
#include "core/cancel.h"

namespace casulo::engine::internal {

Status AttachParent(const ParentImage& parent, uint32_t chunk, uint64_t index, Block& blk) {
  if (parent.tree == nullptr || index >= parent.tree->count()) return OkStatus();
  ASSIGN_OR_RETURN(blk.parent_id, parent.tree->At(index));
  uint64_t off = index * chunk;
  blk.has_parent = std::min<uint64_t>(chunk, parent.size - off) == blk.length;
  return OkStatus();
}

bool BitmapChanged(const Bytes& bitmap, uint32_t chunk, uint64_t block) {
  uint64_t per = chunk / kCbtBlockSize;  // chunk sizes are powers of two >= 64 KiB
  if (per == 0) per = 1;
  for (uint64_t bit = block * per; bit < (block + 1) * per; ++bit)
    if (bit / 8 >= bitmap.size() || (bitmap[bit / 8] & (0x80 >> (bit % 8)))) return true;
  return false;
}

namespace {

// Reads the source into batches of blocks: decides per block whether it can
// be skipped (a hole, or unchanged by the bitmap) or must be read.
class FileBlockSource final : public BlockSource {
 public:
  FileBlockSource(ImageInput& in, uint32_t chunk, const Bytes* bitmap, ParentImage parent,
                  BufferPool& pool)
      : in_(in), chunk_(chunk), bitmap_(bitmap), parent_(parent), pool_(pool) {
    blocks_ = in.seekable ? (in.size + chunk - 1) / chunk : UINT64_MAX;
  }

  uint64_t bytes_read() const override { return bytes_read_; }
  uint64_t size() const override { return in_.seekable ? in_.size : pos_; }
  uint64_t total() const override { return in_.seekable ? in_.size : 0; }

  Result<bool> Next(Batch& b) override {
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
      RETURN_IF_ERROR(AttachParent(parent_, chunk_, next_, blk));
      if (blk.has_parent && bitmap_ && !BitmapChanged(*bitmap_, chunk_, next_)) {
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
    return ForEachDataRun(b, chunk_, [&](size_t i, uint64_t len) -> Status {
      uint64_t off = (b.first + i) * chunk_;
      MutableByteSpan dst = buf.subspan(b.blocks[i].data_offset, len);
      uint64_t direct = in_.direct.valid() ? len & ~uint64_t(kDirectIoAlign - 1) : 0;
      if (direct) RETURN_IF_ERROR(in_.direct.PReadFull(off, dst.first(direct)));
      if (direct < len) RETURN_IF_ERROR(in_.file.PReadFull(off + direct, dst.subspan(direct)));
      bytes_read_ += len;
      return OkStatus();
    });
  }

  ImageInput& in_;
  uint32_t chunk_;
  const Bytes* bitmap_;
  ParentImage parent_;
  BufferPool& pool_;
  uint64_t blocks_;
  uint64_t next_ = 0;
  uint64_t pos_ = 0;  // stream position
  uint64_t bytes_read_ = 0;
  uint64_t data_start_ = 0, data_end_ = 0;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<BlockSource> NewFileBlockSource(ImageInput& in, uint32_t chunk, const Bytes* bitmap,
                                                ParentImage parent, BufferPool& pool) {
  return std::make_unique<FileBlockSource>(in, chunk, bitmap, parent, pool);
}

}  // namespace casulo::engine::internal

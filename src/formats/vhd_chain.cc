// Reading through a chain of VHD images (child first): for every sector, the
// first image whose bitmap has the sector's bit set holds it. A single image
// is a chain of one.
#include <algorithm>
#include <cstring>

#include "formats/vhd_reader.h"
#include "vhd_internal.h"

namespace casulo::formats::vhd_internal {

namespace {

bool Holds(const VhdImage& img, uint32_t index) {
  return index < img.block_count() && img.BlockOffset(index).has_value();
}

}  // namespace

Status FillBlock(std::span<const VhdImage* const> images, uint32_t index, uint32_t s0, uint32_t s1,
                 uint8_t* data, uint8_t* covered) {
  const size_t bm_bytes = VhdBitmapBytes(images[0]->block_size());
  Bytes bm(bm_bytes), want(bm_bytes);
  std::vector<Run> runs;
  bool first = true;  // nothing covered yet
  for (const VhdImage* img : images) {
    if (!Holds(*img, index)) continue;
    RETURN_IF_ERROR(img->ReadBitmap(index, bm));
    if (first && s0 == 0 && AllSet(bm.data(), s1)) {
      // The common case: a whole block from the first image that has it.
      RETURN_IF_ERROR(img->ReadSectors(index, 0, s1, data));
      SetBits(covered, 0, s1);
      return OkStatus();
    }
    // want = bits of this image in [s0, s1) that no child image covered.
    for (size_t j = 0; j < bm_bytes; ++j) want[j] = uint8_t(bm[j] & ~covered[j]);
    for (uint32_t i = 0; i < s0; ++i) want[i >> 3] &= uint8_t(~(0x80u >> (i & 7)));
    SetRuns(want.data(), s1, &runs);
    for (const Run& r : runs) {
      RETURN_IF_ERROR(img->ReadSectors(index, r.first, r.count, data + size_t(r.first - s0) * 512));
      SetBits(covered, r.first, r.count);
      first = false;
    }
    if (s0 == 0 && AllSet(covered, s1)) break;
  }
  return OkStatus();
}

Status ChainReadAt(std::span<const VhdImage* const> images, bool delta, uint64_t offset,
                   MutableByteSpan out, bool* any_from_parent) {
  const uint64_t size = images[0]->virtual_size();
  if (offset > size || out.size() > size - offset)
    return Error(Code::kInvalidArgument,
                 "read of {} bytes at offset {} goes past the end of the "
                 "{}-byte VHD",
                 out.size(), offset, size);
  const uint64_t bs = images[0]->block_size();
  Bytes covered(VhdBitmapBytes(uint32_t(bs)));
  Bytes tmp;
  bool from_parent = false;
  const uint64_t end = offset + out.size();
  for (uint64_t pos = offset; pos < end;) {
    const uint32_t index = uint32_t(pos / bs);
    const uint64_t block_begin = uint64_t(index) * bs;
    const uint64_t piece_end = std::min(end, block_begin + bs);
    const uint64_t b0 = pos - block_begin, b1 = piece_end - block_begin;
    const uint32_t s0 = uint32_t(b0 / 512), s1 = uint32_t((b1 + 511) / 512);
    const bool aligned = b0 % 512 == 0 && b1 % 512 == 0;
    uint8_t* target = out.data() + (pos - offset);
    if (!aligned) {
      tmp.resize(size_t(s1 - s0) * 512);
      target = tmp.data();
    }
    std::fill(covered.begin(), covered.end(), 0);
    RETURN_IF_ERROR(FillBlock(images, index, s0, s1, target, covered.data()));
    for (uint32_t s = s0; s < s1; ++s) {
      if (TestBit(covered.data(), s)) continue;
      std::memset(target + size_t(s - s0) * 512, 0, 512);
      from_parent |= delta;
    }
    if (!aligned)
      std::memcpy(out.data() + (pos - offset), tmp.data() + (b0 - uint64_t(s0) * 512),
                  size_t(b1 - b0));
    pos = piece_end;
  }
  if (any_from_parent) *any_from_parent = from_parent;
  return OkStatus();
}

namespace {

class ChainExtentReader final : public ExtentReader {
 public:
  ChainExtentReader(std::vector<const VhdImage*> images, const DiskInfo& info)
      : images_(std::move(images)),
        info_(info),
        block_size_(images_[0]->block_size()),
        blocks_(uint32_t((info.virtual_size + block_size_ - 1) / block_size_)) {}

  const DiskInfo& info() const override { return info_; }

  Result<std::optional<Extent>> Next() override {
    for (;;) {
      while (run_ < runs_.size()) {
        const Run r = runs_[run_++];
        const ByteSpan data(data_.data() + size_t(r.first) * 512, size_t(r.count) * 512);
        // A full disk reads zeros outside its extents, so zero runs are noise.
        if (info_.kind == DiskKind::kFull && IsAllZero(data)) continue;
        return std::optional<Extent>(Extent{block_begin_ + uint64_t(r.first) * 512, data});
      }
      if (next_ >= blocks_) return std::optional<Extent>();
      const uint32_t index = next_++;
      if (std::none_of(images_.begin(), images_.end(),
                       [&](const VhdImage* img) { return Holds(*img, index); }))
        continue;
      if (data_.empty()) {
        data_.resize(block_size_);
        covered_.resize(VhdBitmapBytes(block_size_));
      }
      block_begin_ = uint64_t(index) * block_size_;
      const uint32_t s1 =
          uint32_t(std::min<uint64_t>(block_size_, info_.virtual_size - block_begin_) / 512);
      std::fill(covered_.begin(), covered_.end(), 0);
      RETURN_IF_ERROR(FillBlock(images_, index, 0, s1, data_.data(), covered_.data()));
      SetRuns(covered_.data(), s1, &runs_);
      run_ = 0;
    }
  }

 private:
  std::vector<const VhdImage*> images_;
  DiskInfo info_;
  uint32_t block_size_;
  uint32_t blocks_;
  uint32_t next_ = 0;
  uint64_t block_begin_ = 0;
  Bytes data_, covered_;
  std::vector<Run> runs_;
  size_t run_ = 0;
};

}  // namespace

std::unique_ptr<ExtentReader> ChainExtents(std::vector<const VhdImage*> images,
                                           const DiskInfo& info) {
  return std::make_unique<ChainExtentReader>(std::move(images), info);
}

}  // namespace casulo::formats::vhd_internal

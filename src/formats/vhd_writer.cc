#include "formats/vhd_writer.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "vhd_internal.h"

namespace casulo::formats {

namespace {

constexpr uint64_t kHeaderAt = 512;
constexpr uint64_t kBatAt = kHeaderAt + kVhdHeaderSize;

uint32_t BlockCount(uint64_t virtual_size, uint32_t block_size) {
  return uint32_t((virtual_size + block_size - 1) / block_size);
}

// qemu sizes a disk by its CHS unless the creator is one it knows or the CHS
// is the maximum. Our creator "cslo" is not known to it, so we store the
// spec CHS only when it describes the size exactly, and the maximum
// otherwise, which makes qemu (and everyone else) use current_size.
VhdGeometry GeometryFor(uint64_t size) {
  const VhdGeometry chs = VhdChsForSize(size);
  return chs.bytes() == size ? chs : VhdGeometry::Max();
}

}  // namespace

uint64_t VhdWriter::EncodedSize(uint64_t virtual_size, uint64_t nblocks, uint32_t block_size) {
  return kBatAt + VhdBatBytes(BlockCount(virtual_size, block_size)) +
         nblocks * (uint64_t(VhdBitmapBytes(block_size)) + block_size) + kVhdFooterSize;
}

Result<std::unique_ptr<VhdWriter>> VhdWriter::Create(Sink& sink, const VhdWriteOptions& opts,
                                                     std::vector<uint32_t> blocks) {
  if (opts.virtual_size % 512 != 0)
    return Error(Code::kInvalidArgument, "VHD virtual size {} is not a multiple of 512",
                 opts.virtual_size);
  if (opts.virtual_size > kVhdMaxWriteSize)
    return Error(Code::kInvalidArgument, "VHD virtual size {} exceeds the 2040 GiB limit",
                 opts.virtual_size);
  if (opts.type != VhdDiskType::kDynamic && opts.type != VhdDiskType::kDifferencing)
    return Error(Code::kInvalidArgument, "VhdWriter writes dynamic or differencing disks, not {}",
                 VhdDiskTypeName(opts.type));
  if (!std::has_single_bit(opts.block_size) || opts.block_size < kVhdMinBlockSize ||
      opts.block_size > kVhdMaxBlockSize)
    return Error(Code::kInvalidArgument,
                 "VHD block size {} is not a power of two between 512 B and 32 MiB",
                 opts.block_size);
  const uint32_t nblocks = BlockCount(opts.virtual_size, opts.block_size);
  if (nblocks > kVhdMaxBatEntries)
    return Error(Code::kInvalidArgument, "VHD of {} bytes needs {} blocks of {} bytes, over {}",
                 opts.virtual_size, nblocks, opts.block_size, kVhdMaxBatEntries);
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i] >= nblocks)
      return Error(Code::kInvalidArgument, "declared VHD block {} is past the last block {}",
                   blocks[i], nblocks == 0 ? 0 : nblocks - 1);
    if (i > 0 && blocks[i] <= blocks[i - 1])
      return Error(Code::kInvalidArgument,
                   "declared VHD blocks must be ascending and unique ({} after {})", blocks[i],
                   blocks[i - 1]);
  }
  const bool delta = opts.type == VhdDiskType::kDifferencing;
  std::u16string parent_name;
  if (delta) {
    if (opts.parent_id.IsZero())
      return Error(Code::kInvalidArgument, "a differencing VHD needs its parent's UUID");
    ASSIGN_OR_RETURN(parent_name, Utf8ToUtf16(opts.parent_name));
    if (parent_name.size() > 256)
      return Error(Code::kInvalidArgument,
                   "VHD parent name '{}' is longer than 256 UTF-16 code units", opts.parent_name);
  } else if (!opts.parent_id.IsZero() || !opts.parent_name.empty()) {
    return Error(Code::kInvalidArgument, "parent fields given for a dynamic (full) VHD");
  }

  std::unique_ptr<VhdWriter> w(new VhdWriter(sink, std::move(blocks)));
  w->delta_ = delta;
  VhdFooter& f = w->footer_;
  f.data_offset = kHeaderAt;
  f.timestamp = opts.timestamp ? *opts.timestamp : VhdTimeNow();
  f.original_size = f.current_size = opts.virtual_size;
  f.geometry = GeometryFor(opts.virtual_size);
  f.disk_type = opts.type;
  f.unique_id = opts.unique_id.IsZero() ? VhdUuid::Random() : opts.unique_id;
  const auto footer = EncodeVhdFooter(f);
  f.checksum = vhd_internal::LoadBe32(footer.data() + 64);

  VhdHeader& h = w->header_;
  h.table_offset = kBatAt;
  h.max_table_entries = nblocks;
  h.block_size = opts.block_size;
  if (delta) {
    h.parent_id = opts.parent_id;
    h.parent_timestamp = opts.parent_timestamp;
    h.parent_name = std::move(parent_name);
  }
  const auto header = EncodeVhdHeader(h);
  h.checksum = vhd_internal::LoadBe32(header.data() + 36);

  // BAT: blocks follow it back to back in declared (ascending) order. The
  // padding is 0xFF, as vhd-tool writes it, so it reads as unused entries.
  const uint64_t bitmap_bytes = VhdBitmapBytes(opts.block_size);
  const uint64_t stride = bitmap_bytes + opts.block_size;
  const uint64_t first_block = kBatAt + VhdBatBytes(nblocks);
  // BAT entries are 32-bit sector numbers: the last block must start below
  // 2^32 sectors (2 TiB of file), or its entry would wrap.
  if (!w->blocks_.empty() &&
      (first_block + (w->blocks_.size() - 1) * stride) / 512 >= uint64_t(kVhdUnusedBatEntry))
    return Error(Code::kInvalidArgument,
                 "VHD of {} blocks of {} bytes would place blocks beyond the 2 TiB a BAT can "
                 "address",
                 w->blocks_.size(), opts.block_size);
  Bytes bat(VhdBatBytes(nblocks), 0xFF);
  for (size_t k = 0; k < w->blocks_.size(); ++k)
    vhd_internal::StoreBe32(bat.data() + 4 * size_t(w->blocks_[k]),
                            uint32_t((first_block + k * stride) / 512));

  w->expected_size_ = EncodedSize(opts.virtual_size, w->blocks_.size(), opts.block_size);
  w->start_position_ = sink.position();
  w->full_bitmap_.assign(bitmap_bytes, 0xFF);
  RETURN_IF_ERROR(sink.Write(footer));
  RETURN_IF_ERROR(sink.Write(header));
  RETURN_IF_ERROR(sink.Write(bat));
  return w;
}

Status VhdWriter::AdvanceTo(uint32_t index, uint64_t offset) {
  while (next_ < blocks_.size() && blocks_[next_] < index) RETURN_IF_ERROR(FlushCurrent());
  if (next_ == blocks_.size() || blocks_[next_] != index)
    return Error(Code::kInvalidArgument,
                 "extent at offset {} falls in VHD block {}, which was not declared", offset,
                 index);
  return OkStatus();
}

Status VhdWriter::FlushCurrent() {
  const uint32_t bs = header_.block_size;
  if (!dirty_) {
    // An untouched declared block: zeros, with an empty bitmap for a delta.
    if (delta_) {
      RETURN_IF_ERROR(WriteZeros(sink_, full_bitmap_.size()));
    } else {
      RETURN_IF_ERROR(sink_.Write(full_bitmap_));
    }
    RETURN_IF_ERROR(WriteZeros(sink_, bs));
  } else {
    RETURN_IF_ERROR(sink_.Write(delta_ ? bitmap_ : full_bitmap_));
    RETURN_IF_ERROR(sink_.Write(data_));
    std::fill(data_.begin(), data_.end(), 0);
    std::fill(bitmap_.begin(), bitmap_.end(), 0);
    dirty_ = false;
  }
  ++next_;
  return OkStatus();
}

Status VhdWriter::Write(const Extent& e) {
  if (finished_) return Error(Code::kInternal, "VhdWriter::Write after Finish");
  if (e.data.empty()) return OkStatus();
  const uint64_t size = footer_.current_size;
  if (e.offset < written_to_)
    return Error(Code::kInvalidArgument,
                 "extent at offset {} is out of order (previous extent ended at {})", e.offset,
                 written_to_);
  if (e.offset > size || e.data.size() > size - e.offset)
    return Error(Code::kInvalidArgument, "extent [{}, {}) goes past the VHD virtual size {}",
                 e.offset, e.offset + e.data.size(), size);
  if (delta_ && (e.offset % 512 != 0 || e.data.size() % 512 != 0))
    return Error(Code::kInvalidArgument,
                 "extent [{}, {}) of a differencing VHD is not sector-aligned", e.offset,
                 e.offset + e.data.size());
  const uint64_t bs = header_.block_size;
  const uint64_t end = e.offset + e.data.size();
  for (uint64_t pos = e.offset; pos < end;) {
    const uint32_t index = uint32_t(pos / bs);
    RETURN_IF_ERROR(AdvanceTo(index, pos));
    const uint64_t block_begin = uint64_t(index) * bs;
    const uint64_t piece_end = std::min(end, block_begin + bs);
    const ByteSpan piece = e.data.subspan(size_t(pos - e.offset), size_t(piece_end - pos));
    if (!dirty_ && pos == block_begin && piece.size() == bs) {
      // A whole block in one extent: straight through, no copy.
      RETURN_IF_ERROR(sink_.Write(full_bitmap_));
      RETURN_IF_ERROR(sink_.Write(piece));
      ++next_;
    } else {
      if (data_.empty()) {
        data_.assign(bs, 0);
        bitmap_.assign(full_bitmap_.size(), 0);
      }
      std::memcpy(data_.data() + (pos - block_begin), piece.data(), piece.size());
      if (delta_)
        vhd_internal::SetBits(bitmap_.data(), uint32_t((pos - block_begin) / 512),
                              uint32_t(piece.size() / 512));
      dirty_ = true;
    }
    pos = piece_end;
  }
  written_to_ = end;
  return OkStatus();
}

Status VhdWriter::Finish() {
  if (finished_) return Error(Code::kInternal, "VhdWriter::Finish called twice");
  finished_ = true;
  while (next_ < blocks_.size()) RETURN_IF_ERROR(FlushCurrent());
  RETURN_IF_ERROR(sink_.Write(EncodeVhdFooter(footer_)));
  const uint64_t wrote = sink_.position() - start_position_;
  if (wrote != expected_size_)
    return Error(Code::kInternal, "VhdWriter wrote {} bytes, expected {}", wrote, expected_size_);
  return OkStatus();
}

std::vector<uint32_t> VhdBlocksOfRanges(const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                                        uint32_t block_size) {
  std::vector<uint32_t> out;
  for (const auto& [offset, length] : ranges) {
    if (length == 0) continue;
    const uint64_t first = offset / block_size, last = (offset + length - 1) / block_size;
    for (uint64_t b = first; b <= last; ++b) out.push_back(uint32_t(b));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace casulo::formats

// Random-access VHD reading: footer, header, BAT and block addressing.
// Extents and ReadAt go through the chain code (vhd_chain.cc) with a chain of
// one image.
#include <algorithm>
#include <cstring>

#include "formats/vhd_reader.h"
#include "vhd_internal.h"

namespace casulo::formats {

using vhd_internal::LoadBe32;
using vhd_internal::Range;

namespace vhd_internal {

Status CheckBlockLayout(std::span<const uint32_t> bat, uint64_t span,
                        std::span<const Range> reserved, uint64_t limit,
                        std::vector<uint32_t>* by_offset) {
  by_offset->clear();
  for (uint32_t i = 0; i < bat.size(); ++i) {
    if (bat[i] == kVhdUnusedBatEntry) continue;
    const uint64_t begin = uint64_t(bat[i]) * 512;  // unsigned: files up to 2 TiB
    const uint64_t end = begin + span;
    if (limit != 0 && end > limit)
      return Error(Code::kCorruption,
                   "VHD BAT entry for block {} points at offset {}, past the end of the data "
                   "(block ends at {}, footer at {})",
                   i, begin, end, limit);
    for (const Range& r : reserved)
      if (begin < r.end && r.begin < end)
        return Error(Code::kCorruption,
                     "VHD BAT entry for block {} points at offset {}, inside the footer copy, "
                     "header or BAT [{}, {})",
                     i, begin, r.begin, r.end);
    by_offset->push_back(i);
  }
  std::sort(by_offset->begin(), by_offset->end(),
            [&](uint32_t a, uint32_t b) { return bat[a] < bat[b]; });
  for (size_t k = 1; k < by_offset->size(); ++k) {
    const uint32_t a = (*by_offset)[k - 1], b = (*by_offset)[k];
    if (uint64_t(bat[b]) * 512 < uint64_t(bat[a]) * 512 + span)
      return Error(Code::kCorruption, "VHD blocks {} and {} overlap (offsets {} and {})", a, b,
                   uint64_t(bat[a]) * 512, uint64_t(bat[b]) * 512);
  }
  return OkStatus();
}

}  // namespace vhd_internal

namespace {

Result<VhdFooter> ReadFooterAt(const RandomSource& src, uint64_t at) {
  // Old Virtual PC footers are 511 bytes; the missing byte is reserved.
  std::array<uint8_t, kVhdFooterSize> buf{};
  ASSIGN_OR_RETURN(size_t n, src.ReadAt(at, buf));
  if (n < kVhdFooterSize - 1)
    return Error(Code::kCorruption, "truncated VHD footer at offset {} ({} bytes)", at, n);
  return DecodeVhdFooter(buf);
}

// Upper bound on a parent locator payload we read (paths are < 1 KiB).
constexpr uint32_t kMaxLocatorBytes = 64 * 1024;

}  // namespace

Result<std::unique_ptr<VhdImage>> OpenVhdImage(const RandomSource& src) {
  const uint64_t size = src.size();
  if (size < kVhdFooterSize - 1)
    return Error(Code::kCorruption, "file of {} bytes is too small to be a VHD", size);
  const uint64_t footer_at = (size - 1) & ~uint64_t(511);
  std::unique_ptr<VhdImage> img(new VhdImage());
  img->src_ = &src;
  Result<VhdFooter> trailing = ReadFooterAt(src, footer_at);
  if (trailing.ok()) {
    img->footer_ = *trailing;
  } else {
    Result<VhdFooter> copy =
        footer_at > 0 ? ReadFooterAt(src, 0) : Result<VhdFooter>(trailing.status());
    if (!copy.ok() || copy->disk_type == VhdDiskType::kFixed)
      return std::move(trailing).status().With(fmt::format("VHD footer at offset {}", footer_at));
    img->footer_ = *copy;
    img->warning_ = fmt::format(
        "trailing VHD footer at offset {} is damaged ({}); using the copy "
        "at offset 0",
        footer_at, trailing.status().message());
  }
  img->info_.virtual_size = img->footer_.current_size;
  if (img->footer_.disk_type == VhdDiskType::kFixed) {
    if (footer_at < img->footer_.current_size)
      return Error(Code::kCorruption,
                   "fixed VHD holds {} bytes of data but its footer says current size {}",
                   footer_at, img->footer_.current_size);
    return img;
  }
  RETURN_IF_ERROR(img->LoadDynamic(footer_at));
  return img;
}

Status VhdImage::LoadDynamic(uint64_t footer_at) {
  const uint64_t header_at = footer_.data_offset;
  if (header_at + kVhdHeaderSize > footer_at)
    return Error(Code::kCorruption,
                 "VHD dynamic header at offset {} lies past the end of the data (footer at {})",
                 header_at, footer_at);
  std::array<uint8_t, kVhdHeaderSize> hbuf;
  RETURN_IF_ERROR(ReadAtExact(*src_, header_at, hbuf, "VHD dynamic header"));
  Result<VhdHeader> h = DecodeVhdHeader(hbuf);
  if (!h.ok()) return std::move(h).status().With(fmt::format("VHD header at offset {}", header_at));
  header_ = std::move(*h);
  ASSIGN_OR_RETURN(uint32_t used, VhdUsedBatEntries(footer_, *header_));
  block_size_ = header_->block_size;
  bitmap_bytes_ = VhdBitmapBytes(block_size_);

  const vhd_internal::Range header_range{header_at, header_at + kVhdHeaderSize};
  const vhd_internal::Range bat_range{
      header_->table_offset, header_->table_offset + VhdBatBytes(header_->max_table_entries)};
  if (bat_range.end > footer_at)
    return Error(Code::kCorruption,
                 "VHD BAT at offset {} ({} entries) runs past the end of the data "
                 "(footer at {})",
                 bat_range.begin, header_->max_table_entries, footer_at);
  if (bat_range.begin < header_range.end && header_range.begin < bat_range.end)
    return Error(Code::kCorruption, "VHD BAT at offset {} overlaps the dynamic header at {}",
                 bat_range.begin, header_at);
  if (bat_range.begin < 512)
    return Error(Code::kCorruption, "VHD BAT at offset {} overlaps the footer copy",
                 bat_range.begin);

  Bytes raw(size_t(used) * 4);
  if (!raw.empty()) RETURN_IF_ERROR(ReadAtExact(*src_, bat_range.begin, raw, "VHD BAT"));
  bat_.resize(used);
  for (uint32_t i = 0; i < used; ++i) bat_[i] = LoadBe32(raw.data() + 4 * i);

  const vhd_internal::Range reserved[] = {{0, 512}, header_range, bat_range};
  std::vector<uint32_t> by_offset;
  RETURN_IF_ERROR(vhd_internal::CheckBlockLayout(bat_, uint64_t(bitmap_bytes_) + block_size_,
                                                 reserved, footer_at, &by_offset));
  if (footer_.disk_type == VhdDiskType::kDifferencing) {
    info_.kind = DiskKind::kDelta;
    info_.parent_id = header_->parent_id.ToString();
  }
  return OkStatus();
}

uint32_t VhdImage::block_count() const {
  if (header_) return uint32_t(bat_.size());
  return uint32_t((footer_.current_size + block_size_ - 1) / block_size_);
}

std::vector<uint32_t> VhdImage::AllocatedBlocks() const {
  std::vector<uint32_t> out;
  const uint32_t n = block_count();
  for (uint32_t i = 0; i < n; ++i)
    if (!header_ || bat_[i] != kVhdUnusedBatEntry) out.push_back(i);
  return out;
}

std::optional<uint64_t> VhdImage::BlockOffset(uint32_t index) const {
  if (!header_) return uint64_t(index) * block_size_;
  if (bat_[index] == kVhdUnusedBatEntry) return std::nullopt;
  return uint64_t(bat_[index]) * 512;
}

Result<std::vector<VhdLocatorPath>> VhdImage::ParentLocators() const {
  std::vector<VhdLocatorPath> out;
  if (!header_ || footer_.disk_type != VhdDiskType::kDifferencing) return out;
  for (const VhdParentLocator& l : header_->locators) {
    if (l.platform_code == kVhdLocatorNone) continue;
    VhdLocatorPath p{l.platform_code, {}};
    if (l.data_length > kMaxLocatorBytes)
      return Error(Code::kCorruption, "VHD parent locator of {} bytes is implausibly long",
                   l.data_length);
    Bytes data(l.data_length);
    if (!data.empty())
      RETURN_IF_ERROR(ReadAtExact(*src_, l.data_offset, data, "VHD parent locator"));
    Result<std::string> path = DecodeVhdLocatorPath(l.platform_code, data);
    if (path.ok()) p.path = std::move(*path);
    out.push_back(std::move(p));
  }
  return out;
}

Status VhdImage::ReadBitmap(uint32_t index, MutableByteSpan bitmap) const {
  const uint32_t sectors = block_size_ / 512;
  std::memset(bitmap.data(), 0, bitmap.size());
  if (index >= block_count()) return OkStatus();
  if (!header_) {
    std::memset(bitmap.data(), 0xFF, (sectors + 7) / 8);
  } else {
    if (bat_[index] == kVhdUnusedBatEntry) return OkStatus();
    RETURN_IF_ERROR(ReadAtExact(*src_, uint64_t(bat_[index]) * 512,
                                bitmap.first(std::min<size_t>(bitmap.size(), bitmap_bytes_)),
                                "VHD block bitmap"));
  }
  // Bits past the disk's end (or past the block, in the padding) mean nothing.
  const uint64_t block_begin = uint64_t(index) * block_size_;
  const uint32_t valid =
      uint32_t(std::min<uint64_t>(sectors, (footer_.current_size - block_begin) / 512));
  for (uint32_t i = valid; i < bitmap.size() * 8; ++i) {
    if ((i & 7) == 0) {
      std::memset(bitmap.data() + i / 8, 0, bitmap.size() - i / 8);
      break;
    }
    bitmap[i >> 3] &= uint8_t(~(0x80u >> (i & 7)));
  }
  return OkStatus();
}

Status VhdImage::ReadSectors(uint32_t index, uint32_t first, uint32_t count, uint8_t* out) const {
  const std::optional<uint64_t> at = BlockOffset(index);
  if (!at) return Error(Code::kInternal, "VHD block {} read but not allocated", index);
  const uint64_t data_at = *at + (header_ ? bitmap_bytes_ : 0) + uint64_t(first) * 512;
  return ReadAtExact(*src_, data_at, MutableByteSpan(out, size_t(count) * 512), "VHD block data");
}

Status VhdImage::ReadAt(uint64_t offset, MutableByteSpan out, bool* any_from_parent) const {
  const VhdImage* self = this;
  return vhd_internal::ChainReadAt(std::span<const VhdImage* const>(&self, 1),
                                   info_.kind == DiskKind::kDelta, offset, out, any_from_parent);
}

std::unique_ptr<ExtentReader> VhdImage::Extents() const {
  return vhd_internal::ChainExtents({this}, info_);
}

Result<std::unique_ptr<VhdChain>> OpenVhdChain(std::vector<std::unique_ptr<VhdImage>> child_first) {
  if (child_first.empty()) return Error(Code::kInvalidArgument, "empty VHD chain");
  uint32_t block_size = 0;
  for (size_t i = 0; i < child_first.size(); ++i) {
    const VhdImage& img = *child_first[i];
    if (img.header()) {
      if (block_size != 0 && img.block_size() != block_size)
        return Error(Code::kUnsupported, "VHD chain mixes block sizes {} and {}", block_size,
                     img.block_size());
      block_size = img.block_size();
    }
    if (i + 1 == child_first.size()) break;
    const VhdImage& parent = *child_first[i + 1];
    if (img.type() != VhdDiskType::kDifferencing)
      return Error(Code::kInvalidArgument,
                   "VHD chain image {} ({}) is {}, so it cannot have a parent", i,
                   img.footer().unique_id.ToString(), VhdDiskTypeName(img.type()));
    if (img.header()->parent_id != parent.footer().unique_id)
      return Error(Code::kInvalidArgument,
                   "VHD chain image {} has parent {} but the next image is {}", i,
                   img.header()->parent_id.ToString(), parent.footer().unique_id.ToString());
  }
  if (block_size == 0) block_size = kVhdDefaultBlockSize;
  for (auto& img : child_first)
    if (!img->header())
      img->block_size_ = block_size, img->bitmap_bytes_ = VhdBitmapBytes(block_size);
  std::unique_ptr<VhdChain> chain(new VhdChain());
  chain->info_ = child_first.back()->info();
  chain->info_.virtual_size = child_first.front()->virtual_size();
  chain->images_ = std::move(child_first);
  return chain;
}

Status VhdChain::ReadAt(uint64_t offset, MutableByteSpan out, bool* any_from_parent) const {
  std::vector<const VhdImage*> v;
  for (const auto& p : images_) v.push_back(p.get());
  return vhd_internal::ChainReadAt(v, info_.kind == DiskKind::kDelta, offset, out, any_from_parent);
}

std::unique_ptr<ExtentReader> VhdChain::Extents() const {
  std::vector<const VhdImage*> v;
  for (const auto& p : images_) v.push_back(p.get());
  return vhd_internal::ChainExtents(std::move(v), info_);
}

}  // namespace casulo::formats

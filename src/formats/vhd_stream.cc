// Forward-only VHD reading, the way XAPI's import_raw_vdi (vhd-tool serve)
// reads: footer copy, skip to the header, skip to the BAT, blocks in file
// order, trailing footer. See vhd_reader.h for the contract.
#include <algorithm>
#include <cstring>

#include "formats/vhd_reader.h"
#include "vhd_internal.h"

namespace casulo::formats {

using vhd_internal::Run;

namespace {

constexpr size_t kChunk = 64 * 1024;
constexpr uint32_t kFixedExtent = 2u << 20;

class VhdStreamReader final : public ExtentReader {
 public:
  VhdStreamReader(Source& src, const VhdStreamOptions& opts) : src_(src), opts_(opts) {}

  Status Open();
  const DiskInfo& info() const override { return info_; }
  Result<std::optional<Extent>> Next() override;

 private:
  Status Read(MutableByteSpan out, std::string_view what) {
    RETURN_IF_ERROR(ReadExact(src_, out, what));
    pos_ += out.size();
    return OkStatus();
  }
  // Skips forward to absolute stream offset `to` (>= pos_).
  Status SkipTo(uint64_t to, std::string_view what) {
    if (to < pos_) return Error(Code::kInternal, "VHD stream seek back from {} to {}", pos_, to);
    RETURN_IF_ERROR(src_.Skip(to - pos_, what));
    pos_ = to;
    return OkStatus();
  }
  Status OpenDynamic();
  Status ReadBat(uint32_t used);
  Result<std::optional<Extent>> NextFixed();
  // Reads the rest of the stream; validates the trailing footer.
  Status ReadTrailer();
  Status CheckEnd();

  Source& src_;
  VhdStreamOptions opts_;
  uint64_t pos_ = 0;  // bytes consumed since Open
  bool fixed_ = false;
  bool done_ = false;
  uint64_t footer_at_ = 0;  // when total_length is known (or fixed)
  uint64_t data_end_ = 0;   // end of the last block / BAT
  std::array<uint8_t, kVhdFooterSize> first_{};
  VhdFooter footer_;
  VhdHeader header_;
  DiskInfo info_;
  std::vector<uint32_t> bat_;    // used entries
  std::vector<uint32_t> order_;  // allocated indices by file offset (== ascending index)
  size_t next_ = 0;
  uint32_t bitmap_bytes_ = 0;
  Bytes bitmap_, data_;
  std::vector<Run> runs_;
  size_t run_ = 0;
  uint64_t block_begin_ = 0;
};

Status VhdStreamReader::Open() {
  ASSIGN_OR_RETURN(size_t got, ReadFull(src_, first_));
  pos_ = got;
  if (opts_.total_length != 0 && opts_.total_length < kVhdFooterSize - 1)
    return Error(Code::kCorruption, "VHD stream of {} bytes is too short", opts_.total_length);
  Result<VhdFooter> copy =
      got == first_.size()
          ? DecodeVhdFooter(first_)
          : Result<VhdFooter>(Error(Code::kCorruption, "truncated VHD: {} bytes", got));
  if (copy.ok() && copy->disk_type != VhdDiskType::kFixed) {
    footer_ = *copy;
    return OpenDynamic();
  }
  const bool cookie = got == first_.size() && std::memcmp(first_.data(), "conectix", 8) == 0;
  if (cookie && !copy.ok()) return std::move(copy).status().With("VHD footer copy at offset 0");
  if (opts_.total_length == 0) {
    if (got < first_.size()) return std::move(copy).status();
    if (copy.ok())
      return Error(Code::kUnsupported,
                   "offset 0 holds a fixed VHD footer, not a dynamic footer copy; streaming a "
                   "fixed VHD needs its total length");
    return Error(Code::kCorruption,
                 "not a dynamic VHD: no footer copy at offset 0 (cookie '{}'); a fixed VHD can "
                 "only be streamed when its total length is known",
                 vhd_internal::Printable(ByteSpan(first_).first(8)));
  }
  // Fixed: raw data up to the footer at (length - 1) & ~511.
  fixed_ = true;
  footer_at_ = (opts_.total_length - 1) & ~uint64_t(511);
  info_.virtual_size = footer_at_;
  if (got < std::min<uint64_t>(first_.size(), opts_.total_length))
    return Error(Code::kCorruption, "truncated fixed VHD: {} of {} bytes", got, opts_.total_length);
  return OkStatus();
}

Status VhdStreamReader::OpenDynamic() {
  const uint64_t header_at = footer_.data_offset;
  RETURN_IF_ERROR(SkipTo(header_at, "VHD stream before the dynamic header"));
  std::array<uint8_t, kVhdHeaderSize> hbuf;
  RETURN_IF_ERROR(Read(hbuf, "VHD dynamic header"));
  Result<VhdHeader> h = DecodeVhdHeader(hbuf);
  if (!h.ok()) return std::move(h).status().With(fmt::format("VHD header at offset {}", header_at));
  header_ = std::move(*h);
  ASSIGN_OR_RETURN(uint32_t used, VhdUsedBatEntries(footer_, header_));
  if (opts_.total_length != 0) footer_at_ = (opts_.total_length - 1) & ~uint64_t(511);
  const uint64_t bat_at = header_.table_offset;
  const uint64_t bat_end = bat_at + VhdBatBytes(header_.max_table_entries);
  if (bat_at < pos_)
    return Error(Code::kUnsupported,
                 "VHD BAT at offset {} comes before the end of the dynamic header ({}); a stream "
                 "cannot go back (open it as a file)",
                 bat_at, pos_);
  if (opts_.total_length != 0 && bat_end > footer_at_)
    return Error(Code::kCorruption, "VHD BAT at offset {} runs past the trailing footer at {}",
                 bat_at, footer_at_);
  RETURN_IF_ERROR(SkipTo(bat_at, "VHD stream before the BAT"));
  RETURN_IF_ERROR(ReadBat(used));
  RETURN_IF_ERROR(SkipTo(bat_end, "VHD BAT padding"));

  bitmap_bytes_ = VhdBitmapBytes(header_.block_size);
  const uint64_t span = uint64_t(bitmap_bytes_) + header_.block_size;
  const vhd_internal::Range reserved[] = {{0, bat_end}};
  RETURN_IF_ERROR(vhd_internal::CheckBlockLayout(bat_, span, reserved, footer_at_, &order_));
  for (size_t k = 1; k < order_.size(); ++k)
    if (order_[k] < order_[k - 1])
      return Error(Code::kUnsupported,
                   "VHD blocks are not stored in ascending order (block {} at offset {} follows "
                   "block {}); a stream cannot reorder them (open it as a file)",
                   order_[k], uint64_t(bat_[order_[k]]) * 512, order_[k - 1]);
  data_end_ = order_.empty() ? bat_end : uint64_t(bat_[order_.back()]) * 512 + span;
  info_.virtual_size = footer_.current_size;
  if (footer_.disk_type == VhdDiskType::kDifferencing) {
    info_.kind = DiskKind::kDelta;
    info_.parent_id = header_.parent_id.ToString();
  }
  return OkStatus();
}

Status VhdStreamReader::ReadBat(uint32_t used) {
  // Grows with the data actually received, so a lying header on a short
  // stream cannot make us allocate the whole 64 MiB bound up front.
  Bytes raw;
  const size_t want = size_t(used) * 4;
  while (raw.size() < want) {
    const size_t n = std::min(kChunk, want - raw.size());
    raw.resize(raw.size() + n);
    RETURN_IF_ERROR(Read(MutableByteSpan(raw.data() + raw.size() - n, n), "VHD BAT"));
  }
  bat_.resize(used);
  for (uint32_t i = 0; i < used; ++i) bat_[i] = vhd_internal::LoadBe32(raw.data() + 4 * i);
  return OkStatus();
}

Result<std::optional<Extent>> VhdStreamReader::Next() {
  if (done_) return std::optional<Extent>();
  if (fixed_) return NextFixed();
  for (;;) {
    while (run_ < runs_.size()) {
      const Run r = runs_[run_++];
      const ByteSpan data(data_.data() + size_t(r.first) * 512, size_t(r.count) * 512);
      if (info_.kind == DiskKind::kFull && IsAllZero(data)) continue;
      return std::optional<Extent>(Extent{block_begin_ + uint64_t(r.first) * 512, data});
    }
    if (next_ == order_.size()) {
      RETURN_IF_ERROR(ReadTrailer());
      done_ = true;
      return std::optional<Extent>();
    }
    const uint32_t index = order_[next_++];
    const uint64_t at = uint64_t(bat_[index]) * 512;
    RETURN_IF_ERROR(SkipTo(at, "VHD stream before a block"));
    if (bitmap_.empty()) {
      bitmap_.resize(bitmap_bytes_);
      data_.resize(header_.block_size);
    }
    RETURN_IF_ERROR(Read(bitmap_, "VHD block bitmap"));
    block_begin_ = uint64_t(index) * header_.block_size;
    const uint32_t s1 =
        uint32_t(std::min<uint64_t>(header_.block_size, footer_.current_size - block_begin_) / 512);
    runs_.clear();
    run_ = 0;
    if (vhd_internal::NoneSet(bitmap_.data(), s1)) {
      RETURN_IF_ERROR(SkipTo(pos_ + header_.block_size, "VHD block data"));
      continue;
    }
    RETURN_IF_ERROR(Read(data_, "VHD block data"));
    if (vhd_internal::AllSet(bitmap_.data(), s1)) {
      runs_.push_back({0, s1});  // the common case, no per-sector work
    } else {
      vhd_internal::SetRuns(bitmap_.data(), s1, &runs_);
    }
  }
}

Result<std::optional<Extent>> VhdStreamReader::NextFixed() {
  // pos_ counts bytes read; the first sector was read by Open.
  for (;;) {
    const uint64_t start = block_begin_;
    if (start >= footer_at_) break;
    const size_t n = size_t(std::min<uint64_t>(kFixedExtent, footer_at_ - start));
    if (data_.empty()) data_.resize(kFixedExtent);
    size_t have = 0;
    if (start == 0) {
      have = std::min(n, first_.size());
      std::memcpy(data_.data(), first_.data(), have);
    }
    if (n > have)
      RETURN_IF_ERROR(Read(MutableByteSpan(data_.data() + have, n - have), "fixed VHD data"));
    block_begin_ = start + n;
    const ByteSpan data(data_.data(), n);
    if (!IsAllZero(data)) return std::optional<Extent>(Extent{start, data});
  }
  RETURN_IF_ERROR(ReadTrailer());
  done_ = true;
  return std::optional<Extent>();
}

Status VhdStreamReader::ReadTrailer() {
  std::array<uint8_t, kVhdFooterSize> fbuf{};
  uint64_t at = footer_at_;
  if (fixed_ && footer_at_ == 0) {
    // A zero-size fixed disk: the first sector was the footer itself.
    fbuf = first_;
  } else if (opts_.total_length != 0) {
    RETURN_IF_ERROR(SkipTo(footer_at_, "VHD stream before the trailing footer"));
    const size_t n = size_t(opts_.total_length - footer_at_);
    RETURN_IF_ERROR(Read(MutableByteSpan(fbuf.data(), n), "VHD trailing footer"));
  } else {
    // Unknown length: read to the end, keeping the last 1 KiB; the footer
    // starts at (end - 1) & ~511.
    Bytes tail, chunk(kChunk);
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, src_.Read(chunk));
      if (n == 0) break;
      pos_ += n;
      tail.insert(tail.end(), chunk.begin(), chunk.begin() + n);
      if (tail.size() > 1024) tail.erase(tail.begin(), tail.end() - 1024);
    }
    if (pos_ < data_end_ + kVhdFooterSize - 1)
      return Error(Code::kCorruption,
                   "truncated VHD: the stream ends at offset {} without a trailing footer after "
                   "the data (which ends at {})",
                   pos_, data_end_);
    at = (pos_ - 1) & ~uint64_t(511);
    const size_t n = size_t(pos_ - at);
    std::memcpy(fbuf.data(), tail.data() + tail.size() - n, n);
  }
  Result<VhdFooter> f = DecodeVhdFooter(fbuf);
  if (!f.ok())
    return std::move(f).status().With(fmt::format("VHD trailing footer at offset {}", at));
  if (fixed_) {
    if (f->disk_type != VhdDiskType::kFixed)
      return Error(Code::kCorruption, "VHD stream without a footer copy ends in a {} footer",
                   VhdDiskTypeName(f->disk_type));
    if (f->current_size != footer_at_)
      return Error(Code::kCorruption,
                   "fixed VHD holds {} bytes of data but its footer says current size {}",
                   footer_at_, f->current_size);
    footer_ = *f;
  } else if (f->unique_id != footer_.unique_id || f->disk_type != footer_.disk_type ||
             f->current_size != footer_.current_size) {
    return Error(Code::kCorruption,
                 "VHD trailing footer at offset {} differs from the copy at offset 0 ({} {} {} "
                 "vs {} {} {})",
                 at, f->unique_id.ToString(), VhdDiskTypeName(f->disk_type), f->current_size,
                 footer_.unique_id.ToString(), VhdDiskTypeName(footer_.disk_type),
                 footer_.current_size);
  }
  return opts_.total_length != 0 ? CheckEnd() : OkStatus();
}

Status VhdStreamReader::CheckEnd() {
  uint8_t b;
  ASSIGN_OR_RETURN(size_t n, src_.Read(MutableByteSpan(&b, 1)));
  if (n != 0)
    return Error(Code::kCorruption, "VHD stream continues past its declared length {}",
                 opts_.total_length);
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<ExtentReader>> OpenVhdStream(Source& src, const VhdStreamOptions& opts) {
  auto r = std::make_unique<VhdStreamReader>(src, opts);
  RETURN_IF_ERROR(r->Open());
  return std::unique_ptr<ExtentReader>(std::move(r));
}

}  // namespace casulo::formats

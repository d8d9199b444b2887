#include "formats/raw.h"

#include <algorithm>
#include <bit>

namespace casulo::formats {
namespace {

Status CheckOptions(const RawReadOptions& o) {
  if (o.granularity < 512 || !std::has_single_bit(o.granularity) || o.max_extent < o.granularity ||
      o.max_extent % o.granularity != 0)
    return Error(Code::kInvalidArgument,
                 "raw reader: granularity must be a power of two >= 512 dividing max_extent");
  return OkStatus();
}

// Shared by both readers: given a filled buffer at `base`, emits the non-zero
// granules as one extent per call, coalescing neighbours.
class ZeroSplitter {
 public:
  explicit ZeroSplitter(uint32_t granularity) : g_(granularity) {}
  void Reset(uint64_t base, size_t len) {
    base_ = base;
    len_ = len;
    pos_ = 0;
  }
  std::optional<Extent> Next(const Bytes& buf) {
    while (pos_ < len_) {
      size_t n = std::min<size_t>(g_, len_ - pos_);
      if (!IsAllZero(ByteSpan(buf.data() + pos_, n))) break;
      pos_ += n;
    }
    if (pos_ >= len_) return std::nullopt;
    size_t start = pos_;
    while (pos_ < len_) {
      size_t n = std::min<size_t>(g_, len_ - pos_);
      if (IsAllZero(ByteSpan(buf.data() + pos_, n))) break;
      pos_ += n;
    }
    return Extent{base_ + start, ByteSpan(buf.data() + start, pos_ - start)};
  }

 private:
  uint32_t g_;
  uint64_t base_ = 0;
  size_t len_ = 0, pos_ = 0;
};

class RawStreamReader final : public ExtentReader {
 public:
  RawStreamReader(Source& src, const RawReadOptions& o)
      : src_(src), opts_(o), buf_(o.max_extent), split_(o.granularity) {
    info_.virtual_size = o.size.value_or(0);
  }
  const DiskInfo& info() const override { return info_; }

  Result<std::optional<Extent>> Next() override {
    for (;;) {
      if (auto e = split_.Next(buf_)) return std::optional<Extent>(*e);
      if (done_) return std::optional<Extent>();
      size_t want = buf_.size();
      if (opts_.size) want = size_t(std::min<uint64_t>(want, *opts_.size - offset_));
      ASSIGN_OR_RETURN(size_t n, ReadFull(src_, MutableByteSpan(buf_.data(), want)));
      if (opts_.size && n < want)
        return Error(Code::kCorruption, "raw image ends at {} bytes, expected {}", offset_ + n,
                     *opts_.size);
      split_.Reset(offset_, n);
      offset_ += n;
      if (n < buf_.size() || (opts_.size && offset_ == *opts_.size)) {
        done_ = true;
        if (opts_.size) {
          uint8_t extra;
          ASSIGN_OR_RETURN(size_t more, src_.Read(MutableByteSpan(&extra, 1)));
          if (more) return Error(Code::kCorruption, "raw image is longer than {} bytes", *opts_.size);
        }
        info_.virtual_size = offset_;
      }
    }
  }

 private:
  Source& src_;
  RawReadOptions opts_;
  DiskInfo info_;
  Bytes buf_;
  ZeroSplitter split_;
  uint64_t offset_ = 0;
  bool done_ = false;
};

class RawImageReader final : public ExtentReader {
 public:
  RawImageReader(const RandomSource& src, std::vector<ByteRange> ranges, const RawReadOptions& o)
      : src_(src), ranges_(std::move(ranges)), buf_(o.max_extent), split_(o.granularity) {
    info_.virtual_size = src.size();
  }
  const DiskInfo& info() const override { return info_; }

  Result<std::optional<Extent>> Next() override {
    for (;;) {
      if (auto e = split_.Next(buf_)) return std::optional<Extent>(*e);
      while (range_ < ranges_.size() && pos_ >= ranges_[range_].offset + ranges_[range_].length) {
        ++range_;
        if (range_ < ranges_.size()) pos_ = std::max(pos_, ranges_[range_].offset);
      }
      if (range_ >= ranges_.size()) return std::optional<Extent>();
      const ByteRange& r = ranges_[range_];
      size_t n = size_t(std::min<uint64_t>(buf_.size(), r.offset + r.length - pos_));
      RETURN_IF_ERROR(ReadAtExact(src_, pos_, MutableByteSpan(buf_.data(), n), "raw image data"));
      split_.Reset(pos_, n);
      pos_ += n;
    }
  }

  Status Init() {
    uint64_t size = src_.size();
    if (ranges_.empty()) ranges_.push_back({0, size});
    uint64_t end = 0;
    for (auto& r : ranges_) {
      if (r.offset < end || r.offset > size || r.length > size - r.offset)
        return Error(Code::kInvalidArgument, "raw image ranges must be sorted and inside the image");
      end = r.offset + r.length;
    }
    pos_ = ranges_[0].offset;
    return OkStatus();
  }

 private:
  const RandomSource& src_;
  std::vector<ByteRange> ranges_;
  DiskInfo info_;
  Bytes buf_;
  ZeroSplitter split_;
  size_t range_ = 0;
  uint64_t pos_ = 0;
};

class RawStreamWriter final : public ExtentWriter {
 public:
  RawStreamWriter(Sink& sink, uint64_t size) : sink_(sink), size_(size) {}
  RawStreamWriter(Sink& sink, const DiskInfo& info)
      : sink_(sink), size_(UINT64_MAX), info_(&info) {}
  Status Write(const Extent& e) override {
    if (e.offset < pos_ || e.offset > size_ || e.data.size() > size_ - e.offset)
      return Error(Code::kInvalidArgument,
                   "raw writer: extent at {} (+{}) is out of order or beyond the {}-byte disk",
                   e.offset, e.data.size(), size_);
    RETURN_IF_ERROR(WriteZeros(sink_, e.offset - pos_));
    RETURN_IF_ERROR(sink_.Write(e.data));
    pos_ = e.offset + e.data.size();
    return OkStatus();
  }
  Status Finish() override {
    if (info_) size_ = info_->virtual_size;
    if (pos_ > size_)
      return Error(Code::kInvalidArgument, "raw writer: data written past the {}-byte disk", size_);
    RETURN_IF_ERROR(WriteZeros(sink_, size_ - pos_));
    pos_ = size_;
    return sink_.Finish();
  }

 private:
  Sink& sink_;
  uint64_t size_;
  const DiskInfo* info_ = nullptr;
  uint64_t pos_ = 0;
};

}  // namespace

Result<std::unique_ptr<ExtentReader>> OpenRawStream(Source& src, const RawReadOptions& opts) {
  RETURN_IF_ERROR(CheckOptions(opts));
  return std::unique_ptr<ExtentReader>(new RawStreamReader(src, opts));
}

Result<std::unique_ptr<ExtentReader>> OpenRawImage(const RandomSource& src,
                                                   std::vector<ByteRange> data_ranges,
                                                   const RawReadOptions& opts) {
  RETURN_IF_ERROR(CheckOptions(opts));
  auto r = std::make_unique<RawImageReader>(src, std::move(data_ranges), opts);
  RETURN_IF_ERROR(r->Init());
  return std::unique_ptr<ExtentReader>(std::move(r));
}

std::unique_ptr<ExtentWriter> NewRawStreamWriter(Sink& sink, uint64_t virtual_size) {
  return std::make_unique<RawStreamWriter>(sink, virtual_size);
}

std::unique_ptr<ExtentWriter> NewRawStreamWriter(Sink& sink, const DiskInfo& info) {
  return std::make_unique<RawStreamWriter>(sink, info);
}

}  // namespace casulo::formats

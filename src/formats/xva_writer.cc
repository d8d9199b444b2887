#include "formats/xva_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "formats/tar.h"

namespace casulo::formats {

namespace {
// The content of gap chunks that must still be written (first and last).
const uint8_t kZeroChunk[XvaWriter::kChunkSize] = {};
}  // namespace

class XvaWriter::DiskWriter final : public ExtentWriter {
 public:
  DiskWriter(XvaWriter& w, std::string id, uint64_t virtual_size, bool skip_zeros)
      : w_(w),
        id_(std::move(id)),
        size_(virtual_size),
        skip_zeros_(skip_zeros),
        last_index_(virtual_size == 0 ? 0 : (virtual_size - 1) / kChunkSize) {}

  Status Write(const Extent& e) override {
    RETURN_IF_ERROR(
        w_.Check(w_.phase_ == Phase::kInDisk && !finished_, "Write on a finished disk"));
    if (e.offset < Pos() || e.offset > size_ || e.data.size() > size_ - e.offset)
      return Fail(Error(Code::kInvalidArgument,
                        "disk {}: extent [{}, +{}) is out of order or beyond the virtual size {}",
                        id_, e.offset, e.data.size(), size_));
    RETURN_IF_ERROR(ZerosTo(e.offset));
    ByteSpan d = e.data;
    while (!d.empty()) {
      const uint64_t len = ChunkLen();
      if (fill_ == 0 && d.size() >= len) {  // a whole chunk in place: no copy
        RETURN_IF_ERROR(Emit(d.first(len), false));
        d = d.subspan(len);
        continue;
      }
      const size_t n = size_t(std::min<uint64_t>(d.size(), len - fill_));
      std::memcpy(w_.chunk_.data() + fill_, d.data(), n);
      fill_ += n;
      d = d.subspan(n);
      if (fill_ == len) RETURN_IF_ERROR(EmitBuffered());
    }
    return OkStatus();
  }

  Status Finish() override {
    RETURN_IF_ERROR(
        w_.Check(w_.phase_ == Phase::kInDisk && !finished_, "Finish on a finished disk"));
    RETURN_IF_ERROR(ZerosTo(size_));
    finished_ = true;
    w_.phase_ = Phase::kDisks;
    return OkStatus();
  }

 private:
  uint64_t ChunkLen() const { return std::min<uint64_t>(kChunkSize, size_ - index_ * kChunkSize); }
  uint64_t Pos() const { return index_ * kChunkSize + fill_; }

  Status Fail(Status s) {
    w_.phase_ = Phase::kFailed;
    return s;
  }

  // Emits chunk `index_` and moves to the next.
  Status Emit(ByteSpan data, bool known_zero) {
    const bool keep = !skip_zeros_ || index_ == 0 || index_ == last_index_;
    Status s = w_.EmitChunk(id_, index_, keep, data, known_zero);
    if (!s.ok()) return Fail(std::move(s));
    ++index_;
    return OkStatus();
  }

  Status EmitBuffered() {
    const uint64_t len = fill_;
    fill_ = 0;
    return Emit(ByteSpan(w_.chunk_.data(), len), false);
  }

  // Accounts for zeros from the current position up to `target`.
  Status ZerosTo(uint64_t target) {
    while (Pos() < target) {
      const uint64_t len = ChunkLen();
      if (fill_ == 0 && target - Pos() >= len) {
        if (skip_zeros_ && index_ != 0 && index_ != last_index_) {
          // Whole gap chunks up to the target (or the last chunk) vanish.
          const uint64_t end = std::min(target / kChunkSize, last_index_);
          w_.stats_.zero_chunks_skipped += end - index_;
          index_ = end;
          continue;
        }
        RETURN_IF_ERROR(Emit(ByteSpan(kZeroChunk, len), true));
        continue;
      }
      const size_t n = size_t(std::min<uint64_t>(len - fill_, target - Pos()));
      std::memset(w_.chunk_.data() + fill_, 0, n);
      fill_ += n;
      if (fill_ == len) RETURN_IF_ERROR(EmitBuffered());
    }
    return OkStatus();
  }

  XvaWriter& w_;
  const std::string id_;
  const uint64_t size_;
  const bool skip_zeros_;
  const uint64_t last_index_;
  bool finished_ = false;
  uint64_t index_ = 0;  // chunk being assembled
  uint64_t fill_ = 0;   // bytes of it in w_.chunk_; Pos() is where the next extent may start
};

XvaWriter::XvaWriter(Sink& out, XvaWriterOptions options) : out_(out), options_(options) {}
XvaWriter::~XvaWriter() = default;

Status XvaWriter::Check(bool ok, std::string_view what) {
  if (phase_ == Phase::kFailed)
    return Error(Code::kInvalidArgument, "xva writer: {} after an earlier error", what);
  if (!ok) return Error(Code::kInvalidArgument, "xva writer: {}", what);
  return OkStatus();
}

Status XvaWriter::WriteOvaXml(std::string_view xml) {
  RETURN_IF_ERROR(Check(phase_ == Phase::kStart, "ova.xml must be written first and once"));
  Status s = WriteTarMember(out_, "ova.xml", AsBytes(xml), options_.ova_xml_mtime);
  if (!s.ok()) {
    phase_ = Phase::kFailed;
    return s;
  }
  phase_ = Phase::kDisks;
  return OkStatus();
}

Result<ExtentWriter*> XvaWriter::BeginDisk(std::string_view id, uint64_t virtual_size) {
  RETURN_IF_ERROR(Check(phase_ == Phase::kDisks,
                        phase_ == Phase::kStart    ? "BeginDisk before ova.xml"
                        : phase_ == Phase::kInDisk ? "BeginDisk before the previous disk's Finish"
                                                   : "BeginDisk after Finish"));
  if (id.empty() || id.size() > 80 || id.find('\0') != std::string_view::npos || id.back() == '/')
    return Error(Code::kInvalidArgument, "xva writer: bad disk id '{}'", id);
  if (any_disk_ && !(last_id_ < id))
    return Error(Code::kInvalidArgument,
                 "xva writer: disk '{}' after '{}': ids must be unique and in byte-wise order", id,
                 last_id_);
  any_disk_ = true;
  last_id_ = std::string(id);
  if (chunk_.empty()) chunk_.resize(kChunkSize);
  const bool skip_zeros = stream_unit_ == 0 || stream_unit_ == kChunkSize;
  disk_ = std::make_unique<DiskWriter>(*this, std::string(id), virtual_size, skip_zeros);
  phase_ = Phase::kInDisk;
  return static_cast<ExtentWriter*>(disk_.get());
}

Status XvaWriter::EmitChunk(std::string_view id, uint64_t index, bool keep_if_zero, ByteSpan data,
                            bool known_zero) {
  if (!keep_if_zero && (known_zero || IsAllZero(data))) {
    ++stats_.zero_chunks_skipped;
    return OkStatus();
  }
  if (stream_unit_ == 0) stream_unit_ = data.size();
  // name, then the checksum name: "<id>/00000042" ".xxhash"
  std::array<char, 128> name;
  const std::string_view suffix = ChunkChecksumSuffix(options_.checksum);
  const size_t n = fmt::format_to_n(name.data(), name.size(), "{}/{:08d}", id, index).size;
  if (n + suffix.size() > 99)
    return Error(Code::kInvalidArgument, "xva writer: member name for disk '{}' chunk {} too long",
                 id, index);
  ASSIGN_OR_RETURN(auto header, EncodeV7Header(std::string_view(name.data(), n), data.size()));
  RETURN_IF_ERROR(out_.Write(header));
  RETURN_IF_ERROR(out_.Write(data));
  RETURN_IF_ERROR(WriteZeros(out_, TarPadding(data.size())));

  // The checksum member in one write: header, text, padding.
  std::memcpy(name.data() + n, suffix.data(), suffix.size());
  const std::string text = ChunkChecksumText(options_.checksum, data);
  std::array<uint8_t, 2 * kTarBlock> member{};
  ASSIGN_OR_RETURN(auto cheader,
                   EncodeV7Header(std::string_view(name.data(), n + suffix.size()), text.size()));
  std::memcpy(member.data(), cheader.data(), kTarBlock);
  std::memcpy(member.data() + kTarBlock, text.data(), text.size());
  RETURN_IF_ERROR(out_.Write(member));
  ++stats_.chunks_written;
  stats_.data_bytes += data.size();
  return OkStatus();
}

Status XvaWriter::Finish() {
  RETURN_IF_ERROR(Check(
      phase_ == Phase::kDisks || phase_ == Phase::kDone,
      phase_ == Phase::kStart ? "Finish before ova.xml" : "Finish before the last disk's Finish"));
  if (phase_ == Phase::kDone) return OkStatus();
  phase_ = Phase::kFailed;  // until both steps succeed
  RETURN_IF_ERROR(WriteTarEnd(out_));
  RETURN_IF_ERROR(out_.Finish());
  phase_ = Phase::kDone;
  disk_.reset();
  return OkStatus();
}

}  // namespace casulo::formats

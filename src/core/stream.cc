#include "core/stream.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace casulo {

namespace {
constexpr size_t kScratch = 64 * 1024;
const uint8_t kZeros[kScratch] = {};
}  // namespace

Status Source::Skip(uint64_t n, std::string_view what) {
  Bytes scratch(std::min<uint64_t>(n, kScratch));
  while (n > 0) {
    size_t want = size_t(std::min<uint64_t>(n, scratch.size()));
    ASSIGN_OR_RETURN(size_t got, Read(MutableByteSpan(scratch.data(), want)));
    if (got == 0)
      return Error(Code::kCorruption, "truncated {} at offset {}", what, position());
    n -= got;
  }
  return OkStatus();
}

Result<size_t> ReadFull(Source& src, MutableByteSpan out) {
  size_t done = 0;
  while (done < out.size()) {
    ASSIGN_OR_RETURN(size_t n, src.Read(out.subspan(done)));
    if (n == 0) break;
    done += n;
  }
  return done;
}

Status ReadExact(Source& src, MutableByteSpan out, std::string_view what) {
  uint64_t start = src.position();
  ASSIGN_OR_RETURN(size_t n, ReadFull(src, out));
  if (n != out.size())
    return Error(Code::kCorruption, "truncated {} at offset {} ({} of {} bytes)", what, start, n,
                 out.size());
  return OkStatus();
}

Status ReadAtExact(const RandomSource& src, uint64_t offset, MutableByteSpan out,
                   std::string_view what) {
  ASSIGN_OR_RETURN(size_t n, src.ReadAt(offset, out));
  if (n != out.size())
    return Error(Code::kCorruption, "truncated {} at offset {} ({} of {} bytes)", what, offset, n,
                 out.size());
  return OkStatus();
}

Status WriteZeros(Sink& sink, uint64_t n) {
  while (n > 0) {
    size_t k = size_t(std::min<uint64_t>(n, kScratch));
    RETURN_IF_ERROR(sink.Write(ByteSpan(kZeros, k)));
    n -= k;
  }
  return OkStatus();
}

Result<ByteSpan> PeekableSource::Peek(size_t n) {
  if (head_ > 0) {
    buf_.erase(buf_.begin(), buf_.begin() + head_);
    head_ = 0;
  }
  while (buf_.size() < n) {
    size_t have = buf_.size();
    buf_.resize(n);
    ASSIGN_OR_RETURN(size_t got, inner_.Read(MutableByteSpan(buf_.data() + have, n - have)));
    buf_.resize(have + got);
    if (got == 0) break;
  }
  return ByteSpan(buf_.data(), std::min(n, buf_.size()));
}

Result<size_t> PeekableSource::Read(MutableByteSpan out) {
  size_t n;
  if (head_ < buf_.size()) {
    n = std::min(out.size(), buf_.size() - head_);
    std::memcpy(out.data(), buf_.data() + head_, n);
    head_ += n;
    if (head_ == buf_.size()) {
      buf_.clear();
      head_ = 0;
    }
  } else {
    ASSIGN_OR_RETURN(n, inner_.Read(out));
  }
  pos_ += n;
  return n;
}

Status PeekableSource::Skip(uint64_t n, std::string_view what) {
  size_t buffered = std::min<uint64_t>(n, buf_.size() - head_);
  head_ += buffered;
  pos_ += buffered;
  if (head_ == buf_.size()) {
    buf_.clear();
    head_ = 0;
  }
  if (n == buffered) return OkStatus();
  uint64_t before = inner_.position();
  Status s = inner_.Skip(n - buffered, what);
  pos_ += inner_.position() - before;
  return s;
}

Result<size_t> MemorySource::Read(MutableByteSpan out) {
  size_t n = std::min(out.size(), data_.size() - pos_);
  if (n) std::memcpy(out.data(), data_.data() + pos_, n);
  pos_ += n;
  return n;
}

Status MemorySource::Skip(uint64_t n, std::string_view what) {
  if (n > data_.size() - pos_) {
    pos_ = data_.size();
    return Error(Code::kCorruption, "truncated {} at offset {}", what, pos_);
  }
  pos_ += size_t(n);
  return OkStatus();
}

Result<size_t> MemoryRandomSource::ReadAt(uint64_t offset, MutableByteSpan out) const {
  if (offset >= data_.size()) return size_t(0);
  size_t n = std::min<uint64_t>(out.size(), data_.size() - offset);
  if (n) std::memcpy(out.data(), data_.data() + offset, n);  // out.data() may be null when empty
  return n;
}

Status BytesSink::Write(ByteSpan data) {
  out_->insert(out_->end(), data.begin(), data.end());
  return OkStatus();
}

FileSource::FileSource(const File* file) : file_(file) {
  struct stat st;
  seekable_ = ::fstat(file->fd(), &st) == 0 && S_ISREG(st.st_mode) &&
              ::lseek(file->fd(), 0, SEEK_CUR) >= 0;
}

Result<size_t> FileSource::Read(MutableByteSpan out) {
  ASSIGN_OR_RETURN(size_t n, file_->Read(out));
  pos_ += n;
  return n;
}

Status FileSource::Skip(uint64_t n, std::string_view what) {
  if (!seekable_) return Source::Skip(n, what);
  off_t cur = ::lseek(file_->fd(), 0, SEEK_CUR);
  off_t end = ::lseek(file_->fd(), 0, SEEK_END);
  if (cur < 0 || end < 0) return ErrnoStatus(errno, "lseek", file_->path());
  if (uint64_t(end - cur) < n) {
    pos_ += uint64_t(end - cur);
    return Error(Code::kCorruption, "truncated {} at offset {}", what, pos_);
  }
  if (::lseek(file_->fd(), cur + off_t(n), SEEK_SET) < 0)
    return ErrnoStatus(errno, "lseek", file_->path());
  pos_ += n;
  return OkStatus();
}

Result<FileRandomSource> FileRandomSource::Open(const File* file) {
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  return FileRandomSource(file, size);
}

Result<size_t> FileRandomSource::ReadAt(uint64_t offset, MutableByteSpan out) const {
  if (offset >= size_) return size_t(0);
  size_t want = size_t(std::min<uint64_t>(out.size(), size_ - offset));
  size_t done = 0;
  while (done < want) {
    ASSIGN_OR_RETURN(size_t n, file_->PRead(offset + done, out.subspan(done, want - done)));
    if (n == 0) break;
    done += n;
  }
  return done;
}

FileSink::FileSink(const File* file) : file_(file) { buf_.reserve(1 << 20); }

FileSink::~FileSink() = default;

Status FileSink::Write(ByteSpan data) {
  pos_ += data.size();
  if (buf_.size() + data.size() > buf_.capacity()) {
    if (!buf_.empty()) {
      RETURN_IF_ERROR(file_->WriteAll(buf_));
      buf_.clear();
    }
    if (data.size() >= buf_.capacity()) return file_->WriteAll(data);
  }
  buf_.insert(buf_.end(), data.begin(), data.end());
  return OkStatus();
}

Status FileSink::Finish() {
  if (buf_.empty()) return OkStatus();
  Status s = file_->WriteAll(buf_);
  buf_.clear();
  return s;
}

}  // namespace casulo

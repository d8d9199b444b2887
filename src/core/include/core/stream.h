// Narrow byte-stream interfaces. Codecs in `formats` read from a Source or a
// RandomSource and write to a Sink; only the adapters here (and, later, the
// HTTP and NBD transports of `xapi`) touch descriptors. Retry, fault
// injection, rate limits and counting are wrappers over these.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/file.h"

namespace casulo {

// A forward-only byte stream (a pipe, a socket, a decompressor).
class Source {
 public:
  virtual ~Source() = default;
  // Reads up to out.size() bytes; returns 0 only at the end of the stream.
  virtual Result<size_t> Read(MutableByteSpan out) = 0;
  // Discards n bytes. The default reads them; seekable sources override.
  // Fails with kCorruption naming `what` if the stream ends first.
  virtual Status Skip(uint64_t n, std::string_view what);
  // Bytes consumed so far (read or skipped): the offset error messages name.
  virtual uint64_t position() const = 0;
};

// Loops until `out` is full or the stream ends; returns the count.
Result<size_t> ReadFull(Source& src, MutableByteSpan out);
// Exactly out.size() bytes or kCorruption "truncated <what> at offset N".
Status ReadExact(Source& src, MutableByteSpan out, std::string_view what);

// Random access to a sized object (a file, a block device, a memory buffer).
// Safe to call from several threads at once when the implementation says so;
// the adapters here are.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual uint64_t size() const = 0;
  // Reads up to out.size() bytes at offset; short only at size().
  virtual Result<size_t> ReadAt(uint64_t offset, MutableByteSpan out) const = 0;
};
// Exactly out.size() bytes at offset or kCorruption naming `what`.
Status ReadAtExact(const RandomSource& src, uint64_t offset, MutableByteSpan out,
                   std::string_view what);

// A forward-only byte sink (stdout, an HTTP PUT body, a compressor).
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Status Write(ByteSpan data) = 0;
  // Flushes whatever the sink buffers (a compressor's final frame). Writing
  // after Finish is a bug.
  virtual Status Finish() { return OkStatus(); }
  // Bytes accepted so far.
  virtual uint64_t position() const = 0;
};
// Writes n zero bytes through the sink without allocating n bytes.
Status WriteZeros(Sink& sink, uint64_t n);

// Wraps a Source so that its first bytes can be examined (format and
// compression detection on a pipe) and are still read afterwards.
class PeekableSource final : public Source {
 public:
  explicit PeekableSource(Source& inner) : inner_(inner) {}
  // Up to n bytes from the current position without consuming them; fewer
  // only at the end of the stream.
  Result<ByteSpan> Peek(size_t n);
  Result<size_t> Read(MutableByteSpan out) override;
  Status Skip(uint64_t n, std::string_view what) override;
  uint64_t position() const override { return pos_; }

 private:
  Source& inner_;
  Bytes buf_;       // peeked, not yet consumed
  size_t head_ = 0;  // consumed prefix of buf_
  uint64_t pos_ = 0;
};

// --- Adapters --------------------------------------------------------------

class MemorySource final : public Source {
 public:
  explicit MemorySource(ByteSpan data) : data_(data) {}
  Result<size_t> Read(MutableByteSpan out) override;
  Status Skip(uint64_t n, std::string_view what) override;
  uint64_t position() const override { return pos_; }

 private:
  ByteSpan data_;
  size_t pos_ = 0;
};

class MemoryRandomSource final : public RandomSource {
 public:
  explicit MemoryRandomSource(ByteSpan data) : data_(data) {}
  uint64_t size() const override { return data_.size(); }
  Result<size_t> ReadAt(uint64_t offset, MutableByteSpan out) const override;

 private:
  ByteSpan data_;
};

// Appends to a caller-owned vector.
class BytesSink final : public Sink {
 public:
  explicit BytesSink(Bytes* out) : out_(out) {}
  Status Write(ByteSpan data) override;
  uint64_t position() const override { return out_->size(); }

 private:
  Bytes* out_;
};

// Reads a descriptor sequentially; Skip seeks when the descriptor is a
// regular file and reads otherwise. Does not own the File.
class FileSource final : public Source {
 public:
  explicit FileSource(const File* file);
  Result<size_t> Read(MutableByteSpan out) override;
  Status Skip(uint64_t n, std::string_view what) override;
  uint64_t position() const override { return pos_; }

 private:
  const File* file_;
  bool seekable_;
  uint64_t pos_ = 0;
};

// pread on a regular file or block device. Thread-safe. Does not own the File.
class FileRandomSource final : public RandomSource {
 public:
  FileRandomSource(const File* file, uint64_t size) : file_(file), size_(size) {}
  static Result<FileRandomSource> Open(const File* file);  // size from fstat/BLKGETSIZE64
  uint64_t size() const override { return size_; }
  Result<size_t> ReadAt(uint64_t offset, MutableByteSpan out) const override;
  const File* file() const { return file_; }

 private:
  const File* file_;
  uint64_t size_;
};

// Buffered sequential writes (1 MiB) to a descriptor. Does not own the File.
class FileSink final : public Sink {
 public:
  explicit FileSink(const File* file);
  ~FileSink() override;
  Status Write(ByteSpan data) override;
  Status Finish() override;  // flushes the buffer; does not fsync
  uint64_t position() const override { return pos_; }

 private:
  const File* file_;
  Bytes buf_;
  uint64_t pos_ = 0;
};

}  // namespace casulo

// A bounded in-memory byte pipe between two threads: one writes through
// sink() (a push-style producer, e.g. an HTTP download), the other reads
// through source() (a pull-style parser, e.g. a VHD stream reader). Memory
// stays at the bound whatever flows through.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>

#include "core/stream.h"

namespace casulo {

class Pipe {
 public:
  explicit Pipe(size_t bound = 8 << 20) : bound_(bound), sink_(*this), source_(*this) {}
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  Sink& sink() { return sink_; }
  Source& source() { return source_; }

  // The writer is done: the reader sees EOF after the queued bytes when
  // `status` is OK, else that error.
  void CloseWrite(Status status = OkStatus());
  // The reader gives up: writes fail from now on (kCancelled), so the
  // producer stops.
  void CloseRead();

 private:
  class SinkEnd final : public Sink {
   public:
    explicit SinkEnd(Pipe& p) : p_(p) {}
    Status Write(ByteSpan data) override { return p_.Write(data); }
    uint64_t position() const override { return p_.written_; }

   private:
    Pipe& p_;
  };
  class SourceEnd final : public Source {
   public:
    explicit SourceEnd(Pipe& p) : p_(p) {}
    Result<size_t> Read(MutableByteSpan out) override { return p_.Read(out); }
    uint64_t position() const override { return p_.read_; }

   private:
    Pipe& p_;
  };

  Status Write(ByteSpan data);
  Result<size_t> Read(MutableByteSpan out);

  const size_t bound_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Bytes> q_;
  size_t head_ = 0, queued_ = 0;
  bool write_closed_ = false, read_closed_ = false;
  Status write_status_;
  uint64_t written_ = 0, read_ = 0;
  SinkEnd sink_;
  SourceEnd source_;
};

}  // namespace casulo

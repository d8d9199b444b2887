// Whole-stream compression around a byte stream, as XAPI applies it to an
// XVA export (`use_compression=gzip|zstd`): streaming gzip and zstd decoders
// over a Source and encoders over a Sink, all with fixed-size buffers
// (docs/format/xva.md, "Compression").
//
// Decoders accept what the reference tools produce: gzip with several
// concatenated members (and zero bytes after the last one, as tape-blocked
// files have), zstd with several frames and skippable frames. A corrupt or
// truncated stream fails with kCorruption naming the codec and the offset in
// the compressed input; a zstd frame that needs a window beyond the decoder's
// 128 MiB limit fails with kUnsupported. Every object here reads from or
// writes to a caller-owned stream that must outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"
#include "core/stream.h"

namespace casulo::formats {

enum class Compression { kNone, kGzip, kZstd };

std::string_view CompressionName(Compression c);  // "none", "gzip", "zstd"

// Decides from the first bytes of a stream: 1F 8B is gzip, 28 B5 2F FD is
// zstd, anything else (including fewer bytes than the magic) is none.
Compression DetectCompression(ByteSpan first_bytes);

// Decompresses gzip. position() counts decompressed bytes.
class GzipSource final : public Source {
 public:
  static Result<std::unique_ptr<GzipSource>> Create(Source& in);
  ~GzipSource() override;
  Result<size_t> Read(MutableByteSpan out) override;
  uint64_t position() const override { return out_pos_; }
  uint64_t members() const { return members_; }  // complete gzip members seen

 private:
  struct State;
  GzipSource(Source& in, std::unique_ptr<State> s);
  Status Fill();
  Source& in_;
  std::unique_ptr<State> s_;
  uint64_t out_pos_ = 0;
  uint64_t members_ = 0;
};

// Decompresses zstd. position() counts decompressed bytes.
class ZstdSource final : public Source {
 public:
  static Result<std::unique_ptr<ZstdSource>> Create(Source& in);
  ~ZstdSource() override;
  Result<size_t> Read(MutableByteSpan out) override;
  uint64_t position() const override { return out_pos_; }

 private:
  struct State;
  ZstdSource(Source& in, std::unique_ptr<State> s);
  Source& in_;
  std::unique_ptr<State> s_;
  uint64_t out_pos_ = 0;
};

// Peeks at `in` (through core's PeekableSource), then returns a Source of
// the decompressed bytes, or of the bytes as they are when no compression
// magic is found; nothing is lost to the peek. `detected`, when given, receives what was found.
Result<std::unique_ptr<Source>> OpenMaybeCompressed(Source& in, Compression* detected = nullptr);

// Compresses into `out` as one gzip member. Finish() ends the member and
// then finishes `out`. position() counts uncompressed bytes accepted.
class GzipSink final : public Sink {
 public:
  // level: 0 (store) .. 9, or -1 for zlib's default (6); else kInvalidArgument.
  static Result<std::unique_ptr<GzipSink>> Create(Sink& out, int level = -1);
  ~GzipSink() override;
  Status Write(ByteSpan data) override;
  Status Finish() override;
  uint64_t position() const override { return in_pos_; }

 private:
  struct State;
  GzipSink(Sink& out, std::unique_ptr<State> s);
  Status Deflate(int flush);
  Sink& out_;
  std::unique_ptr<State> s_;
  uint64_t in_pos_ = 0;
  bool finished_ = false;
};

// Compresses into `out` as one zstd frame (with content checksum).
// Finish() ends the frame and then finishes `out`.
class ZstdSink final : public Sink {
 public:
  // level: ZSTD_minCLevel() .. ZSTD_maxCLevel() (0 = zstd's default, 3);
  // workers > 0 compresses on that many background threads. Out-of-range
  // values fail with kInvalidArgument.
  static Result<std::unique_ptr<ZstdSink>> Create(Sink& out, int level = 3, int workers = 0);
  ~ZstdSink() override;
  Status Write(ByteSpan data) override;
  Status Finish() override;
  uint64_t position() const override { return in_pos_; }

 private:
  struct State;
  ZstdSink(Sink& out, std::unique_ptr<State> s);
  Status Compress(ByteSpan data, int mode);
  Sink& out_;
  std::unique_ptr<State> s_;
  uint64_t in_pos_ = 0;
  bool finished_ = false;
};

// A Sink compressing with `c` into `out` (for kNone, one that forwards
// writes unchanged). `level` < 0 picks the codec's default.
Result<std::unique_ptr<Sink>> OpenCompressingSink(Sink& out, Compression c, int level = -1);

}  // namespace casulo::formats

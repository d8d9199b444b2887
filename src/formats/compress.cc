// Detection, peeking and the codec-independent entry points of compress.h;
// the codecs themselves are in compress_gzip.cc and compress_zstd.cc.
#include "formats/compress.h"

namespace casulo::formats {

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
  }
  return "?";
}

Compression DetectCompression(ByteSpan b) {
  if (b.size() >= 2 && b[0] == 0x1F && b[1] == 0x8B) return Compression::kGzip;
  if (b.size() >= 4 && b[0] == 0x28 && b[1] == 0xB5 && b[2] == 0x2F && b[3] == 0xFD)
    return Compression::kZstd;
  return Compression::kNone;
}

namespace {

// Owns the peeking wrapper and the decoder stacked on it.
class ChainSource final : public Source {
 public:
  ChainSource(std::unique_ptr<PeekableSource> peek, std::unique_ptr<Source> top)
      : peek_(std::move(peek)), top_(std::move(top)) {}
  Result<size_t> Read(MutableByteSpan out) override { return Top().Read(out); }
  Status Skip(uint64_t n, std::string_view what) override { return Top().Skip(n, what); }
  uint64_t position() const override { return top_ ? top_->position() : peek_->position(); }

 private:
  Source& Top() { return top_ ? *top_ : *peek_; }
  std::unique_ptr<PeekableSource> peek_;
  std::unique_ptr<Source> top_;  // null: no compression
};

// Forwards to a Sink it does not own (OpenCompressingSink with kNone).
class ForwardSink final : public Sink {
 public:
  explicit ForwardSink(Sink& out) : out_(out), start_(out.position()) {}
  Status Write(ByteSpan data) override { return out_.Write(data); }
  Status Finish() override { return out_.Finish(); }
  uint64_t position() const override { return out_.position() - start_; }

 private:
  Sink& out_;
  uint64_t start_;
};

}  // namespace

Result<std::unique_ptr<Source>> OpenMaybeCompressed(Source& in, Compression* detected) {
  auto peek = std::make_unique<PeekableSource>(in);
  ASSIGN_OR_RETURN(ByteSpan head, peek->Peek(4));
  const Compression c = DetectCompression(head);
  if (detected) *detected = c;
  std::unique_ptr<Source> top;
  if (c == Compression::kGzip) {
    ASSIGN_OR_RETURN(top, GzipSource::Create(*peek));
  } else if (c == Compression::kZstd) {
    ASSIGN_OR_RETURN(top, ZstdSource::Create(*peek));
  }
  return std::unique_ptr<Source>(std::make_unique<ChainSource>(std::move(peek), std::move(top)));
}

Result<std::unique_ptr<Sink>> OpenCompressingSink(Sink& out, Compression c, int level) {
  switch (c) {
    case Compression::kNone:
      return std::unique_ptr<Sink>(std::make_unique<ForwardSink>(out));
    case Compression::kGzip: {
      ASSIGN_OR_RETURN(auto s, GzipSink::Create(out, level < 0 ? -1 : level));
      return std::unique_ptr<Sink>(std::move(s));
    }
    case Compression::kZstd: {
      ASSIGN_OR_RETURN(auto s, ZstdSink::Create(out, level < 0 ? 3 : level));
      return std::unique_ptr<Sink>(std::move(s));
    }
  }
  return Error(Code::kInvalidArgument, "unknown compression {}", int(c));
}

}  // namespace casulo::formats

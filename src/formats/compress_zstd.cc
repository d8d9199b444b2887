// zstd through libzstd's streaming API: a decoder that runs across frames and
// an encoder writing one frame.
#include <zstd.h>
#include <zstd_errors.h>

#include "formats/compress.h"

namespace casulo::formats {

// --- ZstdSource ------------------------------------------------------------

struct ZstdSource::State {
  ZSTD_DStream* d = nullptr;
  Bytes in;
  ZSTD_inBuffer ib{nullptr, 0, 0};
  bool eof = false;
  bool started = false;
  size_t last = 1;  // last ZSTD_decompressStream result; 0 = at a frame boundary
  ~State() { ZSTD_freeDStream(d); }
};

ZstdSource::ZstdSource(Source& in, std::unique_ptr<State> s) : in_(in), s_(std::move(s)) {}
ZstdSource::~ZstdSource() = default;

Result<std::unique_ptr<ZstdSource>> ZstdSource::Create(Source& in) {
  auto s = std::make_unique<State>();
  s->d = ZSTD_createDStream();
  if (!s->d) return Error(Code::kInternal, "zstd: cannot create a decoder");
  // The default window limit (2^27) bounds the decoder's memory; streams made
  // with --long=31 are refused rather than allowed to allocate 2 GiB.
  if (ZSTD_isError(ZSTD_initDStream(s->d)))
    return Error(Code::kInternal, "zstd: cannot initialise the decoder");
  s->in.resize(ZSTD_DStreamInSize());
  return std::unique_ptr<ZstdSource>(new ZstdSource(in, std::move(s)));
}

Result<size_t> ZstdSource::Read(MutableByteSpan out) {
  if (out.empty()) return size_t{0};
  State& s = *s_;
  auto offset = [&] { return in_.position() - (s.ib.size - s.ib.pos); };
  for (;;) {
    if (s.ib.pos == s.ib.size && !s.eof) {
      ASSIGN_OR_RETURN(size_t n, in_.Read(MutableByteSpan(s.in.data(), s.in.size())));
      s.ib = ZSTD_inBuffer{s.in.data(), n, 0};
      if (n == 0) s.eof = true;
      if (n > 0) s.started = true;
    }
    const bool no_input = s.ib.pos == s.ib.size && s.eof;
    if (no_input && s.last == 0) return size_t{0};  // ended at a frame boundary
    if (no_input && !s.started) return Error(Code::kCorruption, "zstd: empty stream");
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    const size_t r = ZSTD_decompressStream(s.d, &ob, &s.ib);
    if (ZSTD_isError(r)) {
      const Code code = ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge
                            ? Code::kUnsupported
                            : Code::kCorruption;
      return Error(code, "zstd: {} near offset {}", ZSTD_getErrorName(r), offset());
    }
    s.last = r;
    out_pos_ += ob.pos;
    if (ob.pos > 0) return ob.pos;
    if (no_input) return Error(Code::kCorruption, "zstd: truncated stream at offset {}", offset());
  }
}

// --- ZstdSink --------------------------------------------------------------

struct ZstdSink::State {
  ZSTD_CCtx* c = nullptr;
  Bytes out;
  ~State() { ZSTD_freeCCtx(c); }
};

ZstdSink::ZstdSink(Sink& out, std::unique_ptr<State> s) : out_(out), s_(std::move(s)) {}
ZstdSink::~ZstdSink() = default;

Result<std::unique_ptr<ZstdSink>> ZstdSink::Create(Sink& out, int level, int workers) {
  if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
    return Error(Code::kInvalidArgument, "zstd level {} is outside {}..{}", level, ZSTD_minCLevel(),
                 ZSTD_maxCLevel());
  if (workers < 0 || workers > 256)
    return Error(Code::kInvalidArgument, "zstd workers {} is outside 0..256", workers);
  auto s = std::make_unique<State>();
  s->c = ZSTD_createCCtx();
  if (!s->c) return Error(Code::kInternal, "zstd: cannot create an encoder");
  if (ZSTD_isError(ZSTD_CCtx_setParameter(s->c, ZSTD_c_compressionLevel, level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(s->c, ZSTD_c_checksumFlag, 1)))
    return Error(Code::kInternal, "zstd: cannot set encoder parameters");
  if (workers > 0 && ZSTD_isError(ZSTD_CCtx_setParameter(s->c, ZSTD_c_nbWorkers, workers)))
    return Error(Code::kUnsupported, "zstd: this libzstd cannot compress on worker threads");
  s->out.resize(ZSTD_CStreamOutSize());
  return std::unique_ptr<ZstdSink>(new ZstdSink(out, std::move(s)));
}

Status ZstdSink::Compress(ByteSpan data, int mode) {
  ZSTD_inBuffer ib{data.data(), data.size(), 0};
  for (;;) {
    ZSTD_outBuffer ob{s_->out.data(), s_->out.size(), 0};
    const size_t r = ZSTD_compressStream2(s_->c, &ob, &ib, ZSTD_EndDirective(mode));
    if (ZSTD_isError(r)) return Error(Code::kInternal, "zstd: {}", ZSTD_getErrorName(r));
    if (ob.pos > 0) RETURN_IF_ERROR(out_.Write(ByteSpan(s_->out.data(), ob.pos)));
    // continue: done once all input is taken; end: once nothing is left to flush.
    if (mode == ZSTD_e_end ? r == 0 : ib.pos == ib.size) break;
  }
  return OkStatus();
}

Status ZstdSink::Write(ByteSpan data) {
  if (finished_) return Error(Code::kInternal, "zstd: write after Finish");
  RETURN_IF_ERROR(Compress(data, ZSTD_e_continue));
  in_pos_ += data.size();
  return OkStatus();
}

Status ZstdSink::Finish() {
  if (finished_) return OkStatus();
  finished_ = true;
  RETURN_IF_ERROR(Compress({}, ZSTD_e_end));
  return out_.Finish();
}

}  // namespace casulo::formats

// gzip through zlib: a streaming inflater that follows concatenated members
// and a streaming deflater writing one member.
#include <zlib.h>

#include <cstring>

#include "formats/compress.h"

namespace casulo::formats {

namespace {
constexpr size_t kInBuf = 128 * 1024;
constexpr size_t kOutBuf = 128 * 1024;
constexpr int kGzipWindow = 15 + 16;  // gzip wrapper only, 32 KiB window
}  // namespace

// --- GzipSource ------------------------------------------------------------

struct GzipSource::State {
  z_stream z{};
  Bytes in = Bytes(kInBuf);
  bool eof = false;          // `in_` returned 0
  bool started = false;      // some input byte seen
  bool member_done = false;  // between members: the last inflate hit Z_STREAM_END
  bool trailing_zeros = false;
  ~State() { inflateEnd(&z); }
};

GzipSource::GzipSource(Source& in, std::unique_ptr<State> s) : in_(in), s_(std::move(s)) {}
GzipSource::~GzipSource() = default;

Result<std::unique_ptr<GzipSource>> GzipSource::Create(Source& in) {
  auto s = std::make_unique<State>();
  if (inflateInit2(&s->z, kGzipWindow) != Z_OK)
    return Error(Code::kInternal, "gzip: inflateInit2 failed");
  return std::unique_ptr<GzipSource>(new GzipSource(in, std::move(s)));
}

Status GzipSource::Fill() {
  z_stream& z = s_->z;
  if (z.avail_in > 0 || s_->eof) return OkStatus();
  ASSIGN_OR_RETURN(size_t n, in_.Read(MutableByteSpan(s_->in.data(), s_->in.size())));
  if (n == 0) s_->eof = true;
  if (n > 0) s_->started = true;
  z.next_in = s_->in.data();
  z.avail_in = uInt(n);
  return OkStatus();
}

Result<size_t> GzipSource::Read(MutableByteSpan out) {
  if (out.empty()) return size_t{0};
  z_stream& z = s_->z;
  auto offset = [&] { return in_.position() - z.avail_in; };  // in the compressed input
  for (;;) {
    RETURN_IF_ERROR(Fill());
    if (s_->member_done) {
      // Another member, zeros up to the end, or the end itself.
      while (z.avail_in > 0 && *z.next_in == 0) {
        ++z.next_in;
        --z.avail_in;
        s_->trailing_zeros = true;
      }
      if (z.avail_in == 0) {
        if (s_->eof) return size_t{0};
        continue;
      }
      if (s_->trailing_zeros || *z.next_in != 0x1F)
        return Error(Code::kCorruption, "gzip: data after the end of the last member at offset {}",
                     offset());
      if (inflateReset(&z) != Z_OK) return Error(Code::kInternal, "gzip: inflateReset failed");
      s_->member_done = false;
    }
    if (!s_->started) return Error(Code::kCorruption, "gzip: empty stream");
    z.next_out = out.data();
    z.avail_out = uInt(std::min<size_t>(out.size(), 1u << 30));
    const uInt avail_before = z.avail_out;
    const int r = inflate(&z, Z_NO_FLUSH);
    const size_t produced = avail_before - z.avail_out;
    out_pos_ += produced;
    switch (r) {
      case Z_STREAM_END:
        s_->member_done = true;
        ++members_;
        break;
      case Z_OK:
      case Z_BUF_ERROR:  // no progress possible: needs more input
        break;
      case Z_MEM_ERROR:
        return Error(Code::kInternal, "gzip: out of memory");
      default:  // Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR
        return Error(Code::kCorruption, "gzip: corrupt data near offset {}: {}", offset(),
                     z.msg ? z.msg : "inflate error");
    }
    if (produced > 0) return produced;
    // Nothing came out although zlib holds no pending output: without more
    // input the member cannot end.
    if (!s_->member_done && z.avail_in == 0 && s_->eof)
      return Error(Code::kCorruption, "gzip: truncated stream at offset {}", offset());
  }
}

// --- GzipSink --------------------------------------------------------------

struct GzipSink::State {
  z_stream z{};
  Bytes out = Bytes(kOutBuf);
  ~State() { deflateEnd(&z); }
};

GzipSink::GzipSink(Sink& out, std::unique_ptr<State> s) : out_(out), s_(std::move(s)) {}
GzipSink::~GzipSink() = default;

Result<std::unique_ptr<GzipSink>> GzipSink::Create(Sink& out, int level) {
  if (level < -1 || level > 9)
    return Error(Code::kInvalidArgument, "gzip level {} is outside -1..9", level);
  auto s = std::make_unique<State>();
  if (deflateInit2(&s->z, level, Z_DEFLATED, kGzipWindow, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return Error(Code::kInternal, "gzip: deflateInit2 failed");
  return std::unique_ptr<GzipSink>(new GzipSink(out, std::move(s)));
}

Status GzipSink::Deflate(int flush) {
  z_stream& z = s_->z;
  for (;;) {
    z.next_out = s_->out.data();
    z.avail_out = uInt(s_->out.size());
    const int r = deflate(&z, flush);
    if (r == Z_STREAM_ERROR) return Error(Code::kInternal, "gzip: deflate failed");
    const size_t have = s_->out.size() - z.avail_out;
    if (have > 0) RETURN_IF_ERROR(out_.Write(ByteSpan(s_->out.data(), have)));
    if (flush == Z_FINISH ? r == Z_STREAM_END : (z.avail_in == 0 && z.avail_out > 0)) break;
  }
  return OkStatus();
}

Status GzipSink::Write(ByteSpan data) {
  if (finished_) return Error(Code::kInternal, "gzip: write after Finish");
  z_stream& z = s_->z;
  while (!data.empty()) {
    const size_t n = std::min<size_t>(data.size(), 1u << 30);
    z.next_in = const_cast<Bytef*>(data.data());
    z.avail_in = uInt(n);
    RETURN_IF_ERROR(Deflate(Z_NO_FLUSH));
    data = data.subspan(n);
    in_pos_ += n;
  }
  return OkStatus();
}

Status GzipSink::Finish() {
  if (finished_) return OkStatus();
  finished_ = true;
  s_->z.avail_in = 0;
  RETURN_IF_ERROR(Deflate(Z_FINISH));
  return out_.Finish();
}

}  // namespace casulo::formats

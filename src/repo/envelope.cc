// The envelope codec (docs/format/envelope.md):
//   plain:     flags | payload
//   encrypted: flags | salt[16] | AES-256-GCM(payload) | tag[16]
// where payload is the object itself or one zstd frame that records its
// content size.
#include "repo/envelope.h"

#include <sodium.h>
#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "core/blake3.h"
#include "envelope_internal.h"

namespace casulo::repo {

namespace {

using internal::kEnvelopeSaltSize;

constexpr uint8_t kKnownFlags = kEnvelopeCompressed | kEnvelopeEncrypted;
// Each per-object key encrypts exactly one message, so a constant nonce is
// safe (docs/design/repository.md section 7).
constexpr std::array<uint8_t, kGcmNonceSize> kZeroNonce{};
// Compression output above this size goes to a per-call buffer instead of the
// thread's scratch, so one 64 MiB index file does not pin 64 MiB per thread.
constexpr size_t kMaxScratch = size_t{1} << 20;

[[noreturn]] void Die(const char* what) {
  // Seal cannot fail by contract; the only ways here are a broken OpenSSL or
  // an allocation failure inside it, neither of which a caller can handle.
  std::fprintf(stderr, "casulo: envelope: %s\n", what);
  std::abort();
}

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// One zstd context of each kind per thread: creating a level-3 compression
// context costs more than compressing a 64 KiB chunk.
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  if (!cctx) Die("ZSTD_createCCtx failed");
  return cctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  if (!dctx) Die("ZSTD_createDCtx failed");
  return dctx.get();
}

// Associated data: u8 object type | u8 flags | id.
Bytes MakeAad(ObjectType type, uint8_t flags, ByteSpan id) {
  Bytes aad;
  aad.reserve(2 + id.size());
  aad.push_back(static_cast<uint8_t>(type));
  aad.push_back(flags);
  PutBytes(aad, id);
  return aad;
}

// The per-object AES key. The caller wipes it after use.
std::array<uint8_t, 32> ObjectKey(const MasterKey& key, ByteSpan salt) {
  return Blake3Keyed(key.enc_key, salt).b;
}

// Compresses `plain` at `level` into `buf` (resized as needed) and returns the
// frame's size, or 0 when compression failed or did not make it strictly
// smaller.
size_t TryCompress(int level, ByteSpan plain, Bytes& buf) {
  const size_t bound = ZSTD_compressBound(plain.size());
  if (buf.size() < bound) buf.resize(bound);
  ZSTD_CCtx* cctx = ThreadCCtx();
  // Parameters are sticky on the context, but Sealers with different levels
  // share it, so set them every time (a cheap field store).
  if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)))
    return 0;
  const size_t n = ZSTD_compress2(cctx, buf.data(), buf.size(), plain.data(), plain.size());
  if (ZSTD_isError(n) || n >= plain.size()) return 0;
  return n;
}

Bytes SealImpl(const MasterKey* key, int zstd_level, ObjectType type, ByteSpan id, ByteSpan plain,
               bool compress, const std::array<uint8_t, kEnvelopeSaltSize>* fixed_salt) {
  uint8_t flags = key != nullptr ? kEnvelopeEncrypted : 0;
  ByteSpan payload = plain;

  thread_local Bytes scratch;
  Bytes big;  // used instead of `scratch` for large objects
  if (compress && zstd_level > 0 && !plain.empty()) {
    Bytes& buf = ZSTD_compressBound(plain.size()) <= kMaxScratch ? scratch : big;
    if (size_t n = TryCompress(zstd_level, plain, buf); n > 0) {
      flags |= kEnvelopeCompressed;
      payload = ByteSpan(buf.data(), n);
    }
  }

  Bytes out;
  if (key == nullptr) {
    out.reserve(1 + payload.size());
    out.push_back(flags);
    PutBytes(out, payload);
    return out;
  }

  out.reserve(1 + kEnvelopeSaltSize + payload.size() + kGcmTagSize);
  out.push_back(flags);
  std::array<uint8_t, kEnvelopeSaltSize> salt;
  if (fixed_salt != nullptr) {
    salt = *fixed_salt;
  } else {
    RandomBytes(salt);
  }
  PutBytes(out, salt);
  std::array<uint8_t, 32> object_key = ObjectKey(*key, salt);
  Status s = AesGcmEncrypt(object_key, kZeroNonce, MakeAad(type, flags, id), payload, out);
  sodium_memzero(object_key.data(), object_key.size());
  if (!s.ok()) Die(s.message().c_str());
  return out;
}

Result<uint8_t> ReadFlags(ByteSpan sealed) {
  if (sealed.empty()) return Error(Code::kCorruption, "envelope is empty");
  const uint8_t flags = sealed[0];
  if (flags & ~kKnownFlags)
    return Error(Code::kCorruption, "envelope has unknown flags 0x{:02x}", flags);
  return flags;
}

// Decompresses one zstd frame, refusing before allocating anything when the
// frame does not state its size or states more than `max_plain`.
Result<Bytes> Decompress(ByteSpan frame, size_t max_plain) {
  if (frame.size() < 4 || LoadU32(frame.data()) != ZSTD_MAGICNUMBER)
    return Error(Code::kCorruption, "compressed envelope does not hold a zstd frame");
  // ZSTD_decompressDCtx would also decode frames concatenated after the
  // first; the format allows exactly one.
  const size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_size) || frame_size != frame.size())
    return Error(Code::kCorruption, "compressed envelope is not exactly one zstd frame");
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR)
    return Error(Code::kCorruption, "zstd frame does not record its content size");
  if (size > max_plain)
    return Error(Code::kCorruption, "zstd frame declares {} bytes, more than the {} allowed", size,
                 max_plain);
  Bytes plain(static_cast<size_t>(size));
  const size_t n =
      ZSTD_decompressDCtx(ThreadDCtx(), plain.data(), plain.size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) return Error(Code::kCorruption, "zstd: {}", ZSTD_getErrorName(n));
  if (n != plain.size())
    return Error(Code::kCorruption, "zstd frame declares {} bytes but holds {}", size, n);
  return plain;
}

}  // namespace

namespace internal {

Bytes SealWithSaltForTest(const std::optional<MasterKey>& key, int zstd_level, ObjectType type,
                          ByteSpan id, ByteSpan plain, bool compress,
                          const std::array<uint8_t, kEnvelopeSaltSize>& salt) {
  return SealImpl(key ? &*key : nullptr, zstd_level, type, id, plain, compress, &salt);
}

}  // namespace internal

Sealer::Sealer(std::optional<MasterKey> key, int zstd_level)
    : key_(std::move(key)), zstd_level_(zstd_level) {}

Hash256 Sealer::ChunkId(ByteSpan data) const {
  return key_ ? Blake3Keyed(key_->id_key, data) : Blake3(data);
}

Bytes Sealer::Seal(ObjectType type, ByteSpan id, ByteSpan plain, bool compress) const {
  return SealImpl(key_ ? &*key_ : nullptr, zstd_level_, type, id, plain, compress, nullptr);
}

Result<Bytes> Sealer::Open(ObjectType type, ByteSpan id, ByteSpan sealed, size_t max_plain) const {
  ASSIGN_OR_RETURN(const uint8_t flags, ReadFlags(sealed));
  const ByteSpan body = sealed.subspan(1);
  const bool compressed = flags & kEnvelopeCompressed;

  if (!(flags & kEnvelopeEncrypted)) {
    // Without this check anyone able to write to the repository could replace
    // an encrypted object by a plain one of their choosing.
    if (key_) return Error(Code::kCorruption, "unencrypted envelope in an encrypted repository");
    // A stored payload is never larger than the plaintext (compression is
    // kept only when smaller), so this bounds both cases.
    if (body.size() > max_plain)
      return Error(Code::kCorruption, "envelope holds {} bytes, more than the {} allowed",
                   body.size(), max_plain);
    if (compressed) return Decompress(body, max_plain);
    return Bytes(body.begin(), body.end());
  }

  if (!key_)
    return Error(Code::kInvalidArgument,
                 "encrypted envelope, but the repository was opened without a key");
  if (body.size() < kEnvelopeSaltSize + kGcmTagSize)
    return Error(Code::kCorruption, "encrypted envelope of {} bytes is too short", sealed.size());
  const size_t payload_size = body.size() - kEnvelopeSaltSize - kGcmTagSize;
  if (payload_size > max_plain)
    return Error(Code::kCorruption, "envelope holds {} bytes, more than the {} allowed",
                 payload_size, max_plain);
  const ByteSpan salt = body.first(kEnvelopeSaltSize);
  std::array<uint8_t, 32> object_key = ObjectKey(*key_, salt);
  Result<Bytes> payload = AesGcmDecrypt(object_key, kZeroNonce, MakeAad(type, flags, id),
                                        body.subspan(kEnvelopeSaltSize));
  sodium_memzero(object_key.data(), object_key.size());
  if (!payload.ok() || !compressed) return payload;
  return Decompress(*payload, max_plain);
}

Result<bool> Sealer::IsEncrypted(ByteSpan sealed) {
  ASSIGN_OR_RETURN(const uint8_t flags, ReadFlags(sealed));
  return (flags & kEnvelopeEncrypted) != 0;
}

}  // namespace casulo::repo

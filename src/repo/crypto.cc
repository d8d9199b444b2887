#include "repo/crypto.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace casulo::repo {

// sodium_init must run before any other libsodium call (it picks the fastest
// implementations and opens the random source). A function-local static makes
// the first call thread-safe; a failure means no usable randomness, which no
// caller can recover from, so it aborts rather than hand out weak keys.
void EnsureSodium() {
  static const bool ready = [] {
    if (sodium_init() < 0) {
      std::fprintf(stderr, "casulo: libsodium failed to initialise\n");
      std::abort();
    }
    return true;
  }();
  (void)ready;
}

namespace {

// The cipher, fetched once: in OpenSSL 3 a fetch per message costs a provider
// lookup under a lock, noticeable at ~16,000 objects per GB.
const EVP_CIPHER* Aes256Gcm() {
  static const EVP_CIPHER* cipher = [] {
    const EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    return c != nullptr ? c : EVP_aes_256_gcm();
  }();
  return cipher;
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// One cipher context per thread, re-keyed for every message. Reuse avoids an
// allocation per object; the context keeps the last per-object key schedule
// until the next call or thread exit (the master key itself lives in the
// Sealer for the whole run anyway). Returns nullptr only on allocation failure.
EVP_CIPHER_CTX* ThreadCtx() {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}

// EVP_*Update take int lengths; feed large buffers in slices.
constexpr size_t kMaxSlice = size_t{1} << 30;

Status CheckNonce(ByteSpan nonce) {
  if (nonce.size() != kGcmNonceSize)
    return Error(Code::kInvalidArgument, "AES-GCM nonce must be {} bytes, got {}", kGcmNonceSize,
                 nonce.size());
  return OkStatus();
}

}  // namespace

void RandomBytes(MutableByteSpan out) {
  EnsureSodium();
  randombytes_buf(out.data(), out.size());
}

MasterKey NewMasterKey() {
  MasterKey key;
  RandomBytes(key.enc_key);
  RandomBytes(key.id_key);
  return key;
}

Status AesGcmEncrypt(const std::array<uint8_t, 32>& key, ByteSpan nonce, ByteSpan aad,
                     ByteSpan plain, Bytes& out) {
  RETURN_IF_ERROR(CheckNonce(nonce));
  EVP_CIPHER_CTX* ctx = ThreadCtx();
  if (ctx == nullptr) return Error(Code::kInternal, "EVP_CIPHER_CTX_new failed");
  if (EVP_EncryptInit_ex2(ctx, Aes256Gcm(), key.data(), nonce.data(), nullptr) != 1)
    return Error(Code::kInternal, "AES-GCM encrypt init failed");
  int n = 0;
  for (size_t off = 0; off < aad.size(); off += kMaxSlice) {
    size_t len = std::min(kMaxSlice, aad.size() - off);
    if (EVP_EncryptUpdate(ctx, nullptr, &n, aad.data() + off, static_cast<int>(len)) != 1)
      return Error(Code::kInternal, "AES-GCM AAD failed");
  }
  const size_t start = out.size();
  out.resize(start + plain.size() + kGcmTagSize);
  uint8_t* dst = out.data() + start;
  for (size_t off = 0; off < plain.size(); off += kMaxSlice) {
    size_t len = std::min(kMaxSlice, plain.size() - off);
    // GCM is a stream mode: output length always equals input length.
    if (EVP_EncryptUpdate(ctx, dst + off, &n, plain.data() + off, static_cast<int>(len)) != 1) {
      out.resize(start);
      return Error(Code::kInternal, "AES-GCM encrypt failed");
    }
  }
  uint8_t* tag = dst + plain.size();
  if (EVP_EncryptFinal_ex(ctx, tag, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kGcmTagSize, tag) != 1) {
    out.resize(start);
    return Error(Code::kInternal, "AES-GCM finalise failed");
  }
  return OkStatus();
}

Result<Bytes> AesGcmDecrypt(const std::array<uint8_t, 32>& key, ByteSpan nonce, ByteSpan aad,
                            ByteSpan sealed) {
  RETURN_IF_ERROR(CheckNonce(nonce));
  if (sealed.size() < kGcmTagSize)
    return Error(Code::kCorruption, "AES-GCM message of {} bytes is shorter than its tag",
                 sealed.size());
  EVP_CIPHER_CTX* ctx = ThreadCtx();
  if (ctx == nullptr) return Error(Code::kInternal, "EVP_CIPHER_CTX_new failed");
  if (EVP_DecryptInit_ex2(ctx, Aes256Gcm(), key.data(), nonce.data(), nullptr) != 1)
    return Error(Code::kInternal, "AES-GCM decrypt init failed");
  int n = 0;
  for (size_t off = 0; off < aad.size(); off += kMaxSlice) {
    size_t len = std::min(kMaxSlice, aad.size() - off);
    if (EVP_DecryptUpdate(ctx, nullptr, &n, aad.data() + off, static_cast<int>(len)) != 1)
      return Error(Code::kInternal, "AES-GCM AAD failed");
  }
  const ByteSpan cipher = sealed.first(sealed.size() - kGcmTagSize);
  Bytes plain(cipher.size());
  for (size_t off = 0; off < cipher.size(); off += kMaxSlice) {
    size_t len = std::min(kMaxSlice, cipher.size() - off);
    if (EVP_DecryptUpdate(ctx, plain.data() + off, &n, cipher.data() + off,
                          static_cast<int>(len)) != 1)
      return Error(Code::kInternal, "AES-GCM decrypt failed");
  }
  // OpenSSL only reads the expected tag; the const_cast is its API's fault.
  auto* tag = const_cast<uint8_t*>(sealed.data() + cipher.size());
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kGcmTagSize, tag) != 1)
    return Error(Code::kInternal, "AES-GCM set tag failed");
  // Unauthenticated plaintext must never escape: wipe it before reporting.
  uint8_t unused[16];
  if (EVP_DecryptFinal_ex(ctx, unused, &n) != 1) {
    sodium_memzero(plain.data(), plain.size());
    return Error(Code::kCorruption, "MAC mismatch");
  }
  return plain;
}

}  // namespace casulo::repo

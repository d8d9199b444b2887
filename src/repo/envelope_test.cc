#include "repo/envelope.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <thread>

#include "core/blake3.h"
#include "envelope_internal.h"

namespace casulo::repo {
namespace {

constexpr size_t kOverhead = 1 + 16 + kGcmTagSize;  // flags, salt, tag

MasterKey FixedKey(uint8_t seed) {
  MasterKey k;
  for (int i = 0; i < 32; ++i) {
    k.enc_key[i] = uint8_t(seed + i);
    k.id_key[i] = uint8_t(seed + 32 + i);
  }
  return k;
}

Bytes Compressible(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t("casulo backs up disks "[i % 22]);
  return b;
}

Bytes Random(size_t n) {
  Bytes b(n);
  RandomBytes(b);
  return b;
}

// A zstd frame of `plain`, with or without the content size in its header.
Bytes ZstdFrame(ByteSpan plain, bool content_size) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, content_size ? 1 : 0);
  Bytes out(ZSTD_compressBound(plain.size()));
  size_t n;
  if (content_size) {
    n = ZSTD_compress2(c, out.data(), out.size(), plain.data(), plain.size());
  } else {
    // The streaming API does not know the size up front, so it cannot
    // record it.
    ZSTD_inBuffer in{plain.data(), plain.size(), 0};
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    n = ZSTD_compressStream2(c, &o, &in, ZSTD_e_end);
    EXPECT_EQ(n, 0u);
    n = o.pos;
  }
  ZSTD_freeCCtx(c);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

Bytes PlainEnvelope(uint8_t flags, ByteSpan payload) {
  Bytes b = {flags};
  PutBytes(b, payload);
  return b;
}

TEST(EnvelopeTest, RoundTrips) {
  const Sealer plain(std::nullopt, 3), enc(FixedKey(1), 3);
  const Hash256 id = Blake3(AsBytes("some id"));
  for (const Sealer* s : {&plain, &enc}) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{65536}}) {
      for (bool random : {false, true}) {
        for (bool compress : {false, true}) {
          SCOPED_TRACE(testing::Message() << "encrypted=" << s->encrypted() << " size=" << size
                                          << " random=" << random << " compress=" << compress);
          const Bytes data = random ? Random(size) : Compressible(size);
          const Bytes sealed = s->Seal(ObjectType::kData, id.b, data, compress);
          const bool expect_z = compress && !random && size >= 100;
          EXPECT_EQ(sealed[0], (s->encrypted() ? kEnvelopeEncrypted : 0) |
                                   (expect_z ? kEnvelopeCompressed : 0));
          const size_t overhead = s->encrypted() ? kOverhead : 1;
          if (expect_z) {
            EXPECT_LT(sealed.size(), data.size() + overhead);
          } else {
            EXPECT_EQ(sealed.size(), data.size() + overhead);
          }
          Result<Bytes> back = s->Open(ObjectType::kData, id.b, sealed);
          ASSERT_TRUE(back.ok()) << back.status().ToString();
          EXPECT_EQ(*back, data);
          EXPECT_EQ(*Sealer::IsEncrypted(sealed), s->encrypted());
        }
      }
    }
  }
}

TEST(EnvelopeTest, LevelZeroNeverCompresses) {
  const Sealer s(std::nullopt, 0);
  EXPECT_EQ(s.Seal(ObjectType::kIndex, {}, Compressible(10000))[0], 0);
}

TEST(EnvelopeTest, FrameRecordsContentSize) {
  const Sealer s(std::nullopt, 3);
  const Bytes sealed = s.Seal(ObjectType::kTree, {}, Compressible(5000));
  ASSERT_EQ(sealed[0], kEnvelopeCompressed);
  EXPECT_EQ(ZSTD_getFrameContentSize(sealed.data() + 1, sealed.size() - 1), 5000u);
}

TEST(EnvelopeTest, LargeObjectsRoundTrip) {
  // Larger than the per-thread compression scratch buffer.
  const Sealer s(FixedKey(2), 3);
  const Bytes data = Compressible(5u << 20);
  const Bytes sealed = s.Seal(ObjectType::kIndex, {}, data);
  EXPECT_EQ(sealed[0], kEnvelopeCompressed | kEnvelopeEncrypted);
  Result<Bytes> back = s.Open(ObjectType::kIndex, {}, sealed);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
}

TEST(EnvelopeTest, EveryByteFlipFailsWithCorruption) {
  const Sealer s(FixedKey(3), 3);
  const Hash256 id = s.ChunkId(AsBytes("x"));
  for (bool compressible : {true, false}) {
    const Bytes data = compressible ? Compressible(300) : Random(300);
    const Bytes sealed = s.Seal(ObjectType::kData, id.b, data);
    ASSERT_EQ((sealed[0] & kEnvelopeCompressed) != 0, compressible);
    for (size_t i = 0; i < sealed.size(); ++i) {
      for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x02}, uint8_t{0x80}, uint8_t{0xff}}) {
        Bytes bad = sealed;
        bad[i] ^= mask;
        Result<Bytes> r = s.Open(ObjectType::kData, id.b, bad);
        ASSERT_FALSE(r.ok()) << "byte " << i << " mask " << int(mask);
        ASSERT_EQ(r.status().code(), Code::kCorruption) << "byte " << i << " mask " << int(mask);
      }
    }
    // Truncation anywhere, and an extra byte, fail too.
    for (size_t len = 0; len < sealed.size(); ++len)
      ASSERT_EQ(s.Open(ObjectType::kData, id.b, ByteSpan(sealed).first(len)).status().code(),
                Code::kCorruption)
          << len;
    Bytes longer = sealed;
    longer.push_back(0);
    EXPECT_EQ(s.Open(ObjectType::kData, id.b, longer).status().code(), Code::kCorruption);
  }
}

TEST(EnvelopeTest, TypeIdAndKeyAreBound) {
  const Sealer s(FixedKey(4), 3);
  const Bytes data = Compressible(1000);
  const Hash256 id = s.ChunkId(data);
  const Bytes sealed = s.Seal(ObjectType::kData, id.b, data);
  ASSERT_TRUE(s.Open(ObjectType::kData, id.b, sealed).ok());

  EXPECT_EQ(s.Open(ObjectType::kTree, id.b, sealed).status().code(), Code::kCorruption);
  Hash256 other = id;
  other.b[0] ^= 1;
  EXPECT_EQ(s.Open(ObjectType::kData, other.b, sealed).status().code(), Code::kCorruption);
  EXPECT_EQ(s.Open(ObjectType::kData, {}, sealed).status().code(), Code::kCorruption);
  const Sealer stranger(FixedKey(5), 3);
  EXPECT_EQ(stranger.Open(ObjectType::kData, id.b, sealed).status().code(), Code::kCorruption);
}

TEST(EnvelopeTest, KeyMismatchBetweenRepositoryAndEnvelope) {
  const Sealer plain(std::nullopt, 3), enc(FixedKey(6), 3);
  const Bytes data = Compressible(1000);
  // A plain envelope slipped into an encrypted repository is a forgery.
  Result<Bytes> r =
      enc.Open(ObjectType::kSnapshot, {}, plain.Seal(ObjectType::kSnapshot, {}, data));
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  // An encrypted envelope without the key is the caller's mistake.
  r = plain.Open(ObjectType::kSnapshot, {}, enc.Seal(ObjectType::kSnapshot, {}, data));
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(EnvelopeTest, FreshSaltPerSeal) {
  const Sealer s(FixedKey(7), 3);
  const Bytes data = Compressible(1000);
  const Bytes a = s.Seal(ObjectType::kConfig, {}, data), b = s.Seal(ObjectType::kConfig, {}, data);
  EXPECT_NE(a, b);
  EXPECT_NE(Bytes(a.begin() + 1, a.begin() + 17), Bytes(b.begin() + 1, b.begin() + 17));
  EXPECT_TRUE(s.Open(ObjectType::kConfig, {}, a).ok());
  EXPECT_TRUE(s.Open(ObjectType::kConfig, {}, b).ok());
}

TEST(EnvelopeTest, SealWithSaltIsDeterministic) {
  const std::array<uint8_t, 16> salt{1, 2, 3};
  const MasterKey key = FixedKey(8);
  const Bytes data = Compressible(500);
  const Bytes a = internal::SealWithSaltForTest(key, 3, ObjectType::kLock, {}, data, true, salt);
  const Bytes b = internal::SealWithSaltForTest(key, 3, ObjectType::kLock, {}, data, true, salt);
  EXPECT_EQ(a, b);
  EXPECT_EQ(Bytes(a.begin() + 1, a.begin() + 17), Bytes(salt.begin(), salt.end()));
  Result<Bytes> back = Sealer(key, 0).Open(ObjectType::kLock, {}, a);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
}

TEST(EnvelopeTest, MaxPlainGuard) {
  const Sealer plain(std::nullopt, 3), enc(FixedKey(9), 3);
  for (const Sealer* s : {&plain, &enc}) {
    for (bool compress : {false, true}) {
      SCOPED_TRACE(testing::Message() << s->encrypted() << compress);
      const Bytes data = Compressible(10000);
      const Bytes sealed = s->Seal(ObjectType::kIndex, {}, data, compress);
      EXPECT_TRUE(s->Open(ObjectType::kIndex, {}, sealed, 10000).ok());
      EXPECT_EQ(s->Open(ObjectType::kIndex, {}, sealed, 9999).status().code(), Code::kCorruption);
    }
  }
}

TEST(EnvelopeTest, ZstdBombIsRefusedBeforeAllocating) {
  // 256 MiB of zeros compresses to a few KiB; the declared size alone must
  // stop it at the default 64 MiB limit.
  const Sealer s(std::nullopt, 1);
  ZSTD_CCtx* c = ZSTD_createCCtx();
  const size_t big = size_t{256} << 20;
  ZSTD_CCtx_setPledgedSrcSize(c, big);
  Bytes frame(1 << 20);
  ZSTD_outBuffer out{frame.data(), frame.size(), 0};
  const Bytes zeros(1 << 20);
  for (size_t done = 0; done < big; done += zeros.size()) {
    ZSTD_inBuffer in{zeros.data(), zeros.size(), 0};
    const bool last = done + zeros.size() == big;
    size_t rc;
    do {
      rc = ZSTD_compressStream2(c, &out, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      ASSERT_FALSE(ZSTD_isError(rc)) << ZSTD_getErrorName(rc);
    } while (in.pos < in.size || (last && rc != 0));
  }
  ZSTD_freeCCtx(c);
  frame.resize(out.pos);
  ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), big);
  Result<Bytes> r = s.Open(ObjectType::kIndex, {}, PlainEnvelope(kEnvelopeCompressed, frame));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("declares"), std::string::npos) << r.status().message();
}

TEST(EnvelopeTest, RejectsMalformedZstdPayloads) {
  const Sealer s(std::nullopt, 3);
  const Bytes data = Compressible(200);
  auto open = [&](ByteSpan payload) {
    return s.Open(ObjectType::kIndex, {}, PlainEnvelope(kEnvelopeCompressed, payload))
        .status()
        .code();
  };
  const Bytes good = ZstdFrame(data, true);
  ASSERT_EQ(*s.Open(ObjectType::kIndex, {}, PlainEnvelope(kEnvelopeCompressed, good)), data);

  EXPECT_EQ(open(ZstdFrame(data, false)), Code::kCorruption);  // no content size
  Bytes two = good;
  PutBytes(two, good);
  EXPECT_EQ(open(two), Code::kCorruption);  // two frames
  const ByteSpan truncated = ByteSpan(good).first(good.size() - 1);
  EXPECT_EQ(open(truncated), Code::kCorruption);
  EXPECT_EQ(open(AsBytes("not zstd at all")), Code::kCorruption);
  EXPECT_EQ(open({}), Code::kCorruption);
  const uint8_t skippable[] = {0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0};
  EXPECT_EQ(open(skippable), Code::kCorruption);

  // A frame whose header lies about its size. For a small single-segment
  // frame without dictionary the size is the one byte after the descriptor.
  const uint8_t fhd = good[4];
  ASSERT_EQ(fhd & 0x20, 0x20);  // single segment
  ASSERT_EQ(fhd >> 6, 0);       // 1-byte content size
  ASSERT_EQ(fhd & 0x03, 0);     // no dictionary id
  ASSERT_EQ(good[5], 200);
  for (uint8_t lie : {uint8_t{199}, uint8_t{201}, uint8_t{0}}) {
    Bytes bad = good;
    bad[5] = lie;
    EXPECT_EQ(open(bad), Code::kCorruption) << int(lie);
  }
}

TEST(EnvelopeTest, UnknownFlags) {
  const Sealer plain(std::nullopt, 3), enc(FixedKey(10), 3);
  EXPECT_EQ(Sealer::IsEncrypted({}).status().code(), Code::kCorruption);
  EXPECT_EQ(plain.Open(ObjectType::kData, {}, {}).status().code(), Code::kCorruption);
  for (int bit = 2; bit < 8; ++bit) {
    const Bytes sealed = {uint8_t(1 << bit), 'x'};
    EXPECT_EQ(Sealer::IsEncrypted(sealed).status().code(), Code::kCorruption) << bit;
    EXPECT_EQ(plain.Open(ObjectType::kData, {}, sealed).status().code(), Code::kCorruption);
    EXPECT_EQ(enc.Open(ObjectType::kData, {}, sealed).status().code(), Code::kCorruption);
  }
}

TEST(EnvelopeTest, ChunkIds) {
  const MasterKey key = FixedKey(11);
  const Bytes data = Compressible(4096);
  EXPECT_EQ(Sealer(std::nullopt, 3).ChunkId(data), Blake3(data));
  EXPECT_EQ(Sealer(key, 3).ChunkId(data), Blake3Keyed(key.id_key, data));
  EXPECT_NE(Sealer(key, 3).ChunkId(data), Sealer(FixedKey(12), 3).ChunkId(data));
}

TEST(EnvelopeTest, ConcurrentSealersShareThreadContexts) {
  // Two threads, each alternating Sealers of different levels: the shared
  // per-thread zstd context must not carry one Sealer's level into another.
  const Sealer fast(FixedKey(13), 1), slow(std::nullopt, 19), raw(FixedKey(14), 0);
  auto work = [&](uint8_t seed, bool* ok) {
    *ok = true;
    for (int i = 0; i < 200 && *ok; ++i) {
      Bytes data = Compressible(8192 + i);
      data[i] = seed;
      for (const Sealer* s : {&fast, &slow, &raw}) {
        const Bytes sealed = s->Seal(ObjectType::kData, {}, data);
        Result<Bytes> back = s->Open(ObjectType::kData, {}, sealed);
        *ok = *ok && back.ok() && *back == data &&
              ((sealed[0] & kEnvelopeCompressed) != 0) == (s->zstd_level() > 0);
      }
    }
  };
  bool ok1 = false, ok2 = false;
  std::thread t1(work, uint8_t{1}, &ok1), t2(work, uint8_t{2}, &ok2);
  t1.join();
  t2.join();
  EXPECT_TRUE(ok1);
  EXPECT_TRUE(ok2);
}

}  // namespace
}  // namespace casulo::repo

#include "repo/crypto.h"

#include <gtest/gtest.h>

#include <thread>

namespace casulo::repo {
namespace {

Bytes Hex(std::string_view hex) {
  Result<Bytes> b = FromHex(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes{};
}

std::array<uint8_t, 32> Key(std::string_view hex) {
  Bytes b = Hex(hex);
  std::array<uint8_t, 32> k{};
  EXPECT_EQ(b.size(), k.size());
  std::copy_n(b.begin(), std::min(b.size(), k.size()), k.begin());
  return k;
}

struct GcmVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* aad;
  const char* plain;
  const char* cipher;
  const char* tag;
};

// AES-256 vectors from the GCM specification (McGrew and Viega, "The
// Galois/Counter Mode of Operation", appendix B), as used by NIST's CAVP.
const GcmVector kVectors[] = {
    {"case13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"case14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"case16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(AesGcmTest, KnownAnswers) {
  for (const GcmVector& v : kVectors) {
    SCOPED_TRACE(v.name);
    const auto key = Key(v.key);
    const Bytes iv = Hex(v.iv), aad = Hex(v.aad), plain = Hex(v.plain);
    Bytes expected = Hex(v.cipher);
    PutBytes(expected, Hex(v.tag));

    Bytes out;
    ASSERT_TRUE(AesGcmEncrypt(key, iv, aad, plain, out).ok());
    EXPECT_EQ(ToHex(out), ToHex(expected));

    Result<Bytes> back = AesGcmDecrypt(key, iv, aad, expected);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, plain);
  }
}

TEST(AesGcmTest, EncryptAppendsToOutput) {
  const auto key = Key(kVectors[2].key);
  Bytes out = {0xaa, 0xbb};
  ASSERT_TRUE(
      AesGcmEncrypt(key, Hex(kVectors[2].iv), Hex(kVectors[2].aad), Hex(kVectors[2].plain), out)
          .ok());
  Bytes expected = {0xaa, 0xbb};
  PutBytes(expected, Hex(kVectors[2].cipher));
  PutBytes(expected, Hex(kVectors[2].tag));
  EXPECT_EQ(out, expected);
}

TEST(AesGcmTest, RoundTripSizes) {
  MasterKey mk = NewMasterKey();
  std::array<uint8_t, kGcmNonceSize> nonce{};
  RandomBytes(nonce);
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{65536}, size_t{1} << 20}) {
    SCOPED_TRACE(size);
    Bytes plain(size);
    RandomBytes(plain);
    Bytes sealed;
    ASSERT_TRUE(AesGcmEncrypt(mk.enc_key, nonce, AsBytes("aad"), plain, sealed).ok());
    ASSERT_EQ(sealed.size(), size + kGcmTagSize);
    Result<Bytes> back = AesGcmDecrypt(mk.enc_key, nonce, AsBytes("aad"), sealed);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, plain);
  }
}

TEST(AesGcmTest, EveryBitFlipIsAMacMismatch) {
  const auto key = Key(kVectors[2].key);
  const Bytes iv = Hex(kVectors[2].iv), aad = Hex(kVectors[2].aad);
  Bytes sealed = Hex(kVectors[2].cipher);
  PutBytes(sealed, Hex(kVectors[2].tag));
  for (size_t i = 0; i < sealed.size() * 8; ++i) {
    Bytes bad = sealed;
    bad[i / 8] ^= uint8_t(1 << (i % 8));
    Result<Bytes> r = AesGcmDecrypt(key, iv, aad, bad);
    ASSERT_FALSE(r.ok()) << "bit " << i;
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    EXPECT_EQ(r.status().message(), "MAC mismatch");
  }
}

TEST(AesGcmTest, WrongKeyNonceOrAadFails) {
  const auto key = Key(kVectors[2].key);
  const Bytes iv = Hex(kVectors[2].iv), aad = Hex(kVectors[2].aad);
  Bytes sealed = Hex(kVectors[2].cipher);
  PutBytes(sealed, Hex(kVectors[2].tag));

  auto other_key = key;
  other_key[31] ^= 1;
  EXPECT_EQ(AesGcmDecrypt(other_key, iv, aad, sealed).status().code(), Code::kCorruption);
  Bytes other_iv = iv;
  other_iv[0] ^= 1;
  EXPECT_EQ(AesGcmDecrypt(key, other_iv, aad, sealed).status().code(), Code::kCorruption);
  Bytes other_aad = aad;
  other_aad.pop_back();
  EXPECT_EQ(AesGcmDecrypt(key, iv, other_aad, sealed).status().code(), Code::kCorruption);
  EXPECT_EQ(AesGcmDecrypt(key, iv, {}, sealed).status().code(), Code::kCorruption);
}

TEST(AesGcmTest, RejectsShortInputAndBadNonce) {
  const auto key = Key(kVectors[0].key);
  const Bytes iv(kGcmNonceSize);
  Bytes fifteen(15);
  EXPECT_EQ(AesGcmDecrypt(key, iv, {}, fifteen).status().code(), Code::kCorruption);
  EXPECT_EQ(AesGcmDecrypt(key, iv, {}, {}).status().code(), Code::kCorruption);

  Bytes out;
  const Bytes short_iv(8);
  EXPECT_EQ(AesGcmEncrypt(key, short_iv, {}, fifteen, out).code(), Code::kInvalidArgument);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(AesGcmDecrypt(key, short_iv, {}, Bytes(32)).status().code(), Code::kInvalidArgument);
}

TEST(AesGcmTest, ConcurrentUseFromThreads) {
  // Each thread has its own cipher context; interleaved use must not mix them.
  auto work = [](uint8_t seed, bool* ok) {
    std::array<uint8_t, 32> key{};
    key.fill(seed);
    const Bytes iv(kGcmNonceSize, seed);
    Bytes plain(4096, seed);
    *ok = true;
    for (int i = 0; i < 500 && *ok; ++i) {
      plain[i % plain.size()] ^= 0x5a;
      Bytes sealed;
      *ok = AesGcmEncrypt(key, iv, {}, plain, sealed).ok();
      Result<Bytes> back = AesGcmDecrypt(key, iv, {}, sealed);
      *ok = *ok && back.ok() && *back == plain;
    }
  };
  bool ok1 = false, ok2 = false;
  std::thread t1(work, uint8_t{1}, &ok1), t2(work, uint8_t{2}, &ok2);
  t1.join();
  t2.join();
  EXPECT_TRUE(ok1);
  EXPECT_TRUE(ok2);
}

TEST(RandomTest, BytesAndMasterKeysDiffer) {
  std::array<uint8_t, 32> a{}, b{};
  RandomBytes(a);
  RandomBytes(b);
  EXPECT_NE(a, b);
  EXPECT_FALSE(Hash256{a}.IsZero());
  RandomBytes(MutableByteSpan{});  // empty is fine

  MasterKey k1 = NewMasterKey(), k2 = NewMasterKey();
  EXPECT_NE(k1.enc_key, k1.id_key);
  EXPECT_NE(k1.enc_key, k2.enc_key);
  EXPECT_NE(k1.id_key, k2.id_key);
}

}  // namespace
}  // namespace casulo::repo

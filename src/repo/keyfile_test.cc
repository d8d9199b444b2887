#include "repo/keyfile.h"

#include <gtest/gtest.h>

#include "keyfile_internal.h"

namespace casulo::repo {
namespace {

// The smallest parameters the format accepts, so each KDF run takes ~10 ms.
constexpr KdfParams kFast{8 * 1024, 1};
constexpr std::string_view kPass = "correct horse battery staple";

// Offsets of the fields (docs/format/keyfile.md).
constexpr size_t kVersionAt = 8, kKdfAt = 10, kAeadAt = 11, kMemAt = 12, kOpsAt = 16, kSaltAt = 20,
                 kNonceAt = 36, kSealedLenAt = 48, kSealedAt = 52;

void StoreU32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = uint8_t(v >> (8 * i));
}

class KeyFileTest : public testing::Test {
 protected:
  void SetUp() override {
    key_ = NewMasterKey();
    Result<Bytes> f = EncodeKeyFile(key_, kPass, kFast);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    file_ = *f;
  }
  Code DecodeCode(const Bytes& file, std::string_view pass = kPass) {
    return DecodeKeyFile(file, pass).status().code();
  }
  MasterKey key_;
  Bytes file_;
};

TEST_F(KeyFileTest, RoundTrip) {
  ASSERT_EQ(file_.size(), internal::kKeyFileSize);
  EXPECT_EQ(AsChars(ByteSpan(file_).first(8)), "CASULOKY");
  Result<MasterKey> back = DecodeKeyFile(file_, kPass);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->enc_key, key_.enc_key);
  EXPECT_EQ(back->id_key, key_.id_key);

  Result<KdfParams> p = KeyFileParams(file_);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->mem_kib, kFast.mem_kib);
  EXPECT_EQ(p->ops, kFast.ops);
}

TEST_F(KeyFileTest, FreshSaltAndNonceEachTime) {
  Result<Bytes> again = EncodeKeyFile(key_, kPass, kFast);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(Bytes(file_.begin() + kSaltAt, file_.begin() + kSealedLenAt),
            Bytes(again->begin() + kSaltAt, again->begin() + kSealedLenAt));
  EXPECT_NE(*again, file_);
}

TEST_F(KeyFileTest, WrongPassphraseIsAuth) {
  EXPECT_EQ(DecodeCode(file_, "correct horse battery stapler"), Code::kAuth);
  EXPECT_EQ(DecodeCode(file_, ""), Code::kAuth);
}

TEST_F(KeyFileTest, EncodeRejectsBadArguments) {
  EXPECT_EQ(EncodeKeyFile(key_, "", kFast).status().code(), Code::kInvalidArgument);
  for (KdfParams p : {KdfParams{8 * 1024 - 1, 1}, KdfParams{4u * 1024 * 1024 + 1, 1},
                      KdfParams{8 * 1024, 0}, KdfParams{8 * 1024, 101}}) {
    SCOPED_TRACE(testing::Message() << p.mem_kib << " KiB " << p.ops << " ops");
    EXPECT_EQ(EncodeKeyFile(key_, kPass, p).status().code(), Code::kInvalidArgument);
  }
}

TEST_F(KeyFileTest, TruncatedOrExtendedIsCorruption) {
  for (size_t len = 0; len < file_.size(); ++len) {
    Bytes cut(file_.begin(), file_.begin() + len);
    ASSERT_EQ(DecodeCode(cut), Code::kCorruption) << len;
    ASSERT_EQ(KeyFileParams(cut).status().code(), Code::kCorruption) << len;
  }
  Bytes longer = file_;
  longer.push_back(0);
  EXPECT_EQ(DecodeCode(longer), Code::kCorruption);
}

TEST_F(KeyFileTest, ForeignFileIsCorruption) {
  Bytes foreign(file_.size());
  RandomBytes(foreign);
  EXPECT_EQ(DecodeCode(foreign), Code::kCorruption);
  Bytes almost = file_;
  almost[7] = 'Z';
  EXPECT_EQ(DecodeCode(almost), Code::kCorruption);
  EXPECT_EQ(KeyFileParams(almost).status().code(), Code::kCorruption);
  const std::string text = "{\"not\": \"a key file\"}";
  EXPECT_EQ(DecodeCode(Bytes(text.begin(), text.end())), Code::kCorruption);
}

TEST_F(KeyFileTest, UnknownVersionKdfOrCipherIsUnsupported) {
  for (size_t at : {kVersionAt, kKdfAt, kAeadAt}) {
    Bytes bad = file_;
    bad[at] = 2;
    EXPECT_EQ(DecodeCode(bad), Code::kUnsupported) << at;
    EXPECT_EQ(KeyFileParams(bad).status().code(), Code::kUnsupported) << at;
  }
  // A future version may have another length: the version decides first.
  Bytes v2(file_.begin(), file_.begin() + 10);
  v2[kVersionAt] = 2;
  EXPECT_EQ(DecodeCode(v2), Code::kUnsupported);
}

TEST_F(KeyFileTest, ParametersOutOfBoundsAreCorruption) {
  const std::pair<size_t, uint32_t> cases[] = {
      {kMemAt, 0},
      {kMemAt, 8 * 1024 - 1},
      {kMemAt, 4u * 1024 * 1024 + 1},
      {kMemAt, 0xffffffff},
      {kOpsAt, 0},
      {kOpsAt, 101},
      {kSealedLenAt, 79},
      {kSealedLenAt, 81},
  };
  for (auto [at, value] : cases) {
    Bytes bad = file_;
    StoreU32(bad, at, value);
    EXPECT_EQ(DecodeCode(bad), Code::kCorruption) << at << " = " << value;
  }
}

TEST_F(KeyFileTest, TamperedParametersFailAuthentication) {
  // In bounds but not what was written: the header is associated data, so
  // the MAC fails even though the KDF runs.
  Bytes bad = file_;
  StoreU32(bad, kMemAt, kFast.mem_kib + 1);
  EXPECT_EQ(DecodeCode(bad), Code::kAuth);
  Result<KdfParams> p = KeyFileParams(bad);  // reading the header does not check the MAC
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->mem_kib, kFast.mem_kib + 1);
  bad = file_;
  StoreU32(bad, kOpsAt, 2);
  EXPECT_EQ(DecodeCode(bad), Code::kAuth);
}

TEST_F(KeyFileTest, EveryByteFlipFails) {
  for (size_t i = 0; i < file_.size(); ++i) {
    Bytes bad = file_;
    bad[i] ^= 0x01;
    const Code code = DecodeCode(bad);
    ASSERT_NE(code, Code::kOk) << i;
    // Salt, nonce and sealed key are only checked by the MAC.
    const bool mac_only = (i >= kSaltAt && i < kSealedLenAt) || i >= kSealedAt;
    if (mac_only) {
      EXPECT_EQ(code, Code::kAuth) << i;
    }
  }
}

TEST(KeyFileFixedTest, EncodingIsAFunctionOfItsInputs) {
  MasterKey key;
  for (int i = 0; i < 32; ++i) {
    key.enc_key[i] = uint8_t(i);
    key.id_key[i] = uint8_t(32 + i);
  }
  std::array<uint8_t, 16> salt{};
  salt.fill(0x5a);
  std::array<uint8_t, kGcmNonceSize> nonce{};
  nonce.fill(0xa5);
  Result<Bytes> a = internal::EncodeKeyFileForTest(key, kPass, kFast, salt, nonce);
  Result<Bytes> b = internal::EncodeKeyFileForTest(key, kPass, kFast, salt, nonce);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(Bytes(a->begin() + kSaltAt, a->begin() + kNonceAt), Bytes(salt.begin(), salt.end()));
  EXPECT_EQ(Bytes(a->begin() + kNonceAt, a->begin() + kSealedLenAt),
            Bytes(nonce.begin(), nonce.end()));
  Result<MasterKey> back = DecodeKeyFile(*a, kPass);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->enc_key, key.enc_key);
}

}  // namespace
}  // namespace casulo::repo

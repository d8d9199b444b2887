// Keeps docs/format/{keyfile,envelope}.md honest: reads the worked examples
// out of the markdown, decodes them with the real code and checks them
// against the inputs the text states. If a format changes, this fails until
// the document is regenerated.
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "core/blake3.h"
#include "core/file.h"
#include "envelope_internal.h"
#include "core/testing/doc_example.h"
#include "keyfile_internal.h"
#include "repo/envelope.h"
#include "repo/keyfile.h"

namespace casulo::repo {
namespace {

const auto& ReadDoc = testing::ReadFormatDoc;

// A hex-dump example (core/testing/doc_example.h).
Result<Bytes> ExtractExample(const std::string& doc, std::string_view name) {
  return testing::HexExample(doc, name);
}

// The master key of both documents' examples.
MasterKey ExampleKey() {
  MasterKey k;
  for (int i = 0; i < 32; ++i) {
    k.enc_key[i] = uint8_t(i);
    k.id_key[i] = uint8_t(32 + i);
  }
  return k;
}

template <size_t N>
std::array<uint8_t, N> Counting(uint8_t first) {
  std::array<uint8_t, N> a;
  for (size_t i = 0; i < N; ++i) a[i] = uint8_t(first + i);
  return a;
}

bool Mentions(const std::string& doc, ByteSpan value) {
  return doc.find(ToHex(value)) != std::string::npos;
}

TEST(FormatDocsTest, KeyFileExample) {
  const std::string doc = ReadDoc("keyfile.md");
  Result<Bytes> file = ExtractExample(doc, "keyfile");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ(file->size(), internal::kKeyFileSize);

  const std::string_view pass = "correct horse battery staple";
  const MasterKey key = ExampleKey();
  const auto salt = Counting<16>(0xa0);
  const auto nonce = Counting<kGcmNonceSize>(0xb0);
  ASSERT_NE(doc.find(std::string("`") + std::string(pass) + "`"), std::string::npos);
  EXPECT_TRUE(Mentions(doc, key.enc_key));
  EXPECT_TRUE(Mentions(doc, key.id_key));
  EXPECT_TRUE(Mentions(doc, salt));
  EXPECT_TRUE(Mentions(doc, nonce));

  Result<MasterKey> back = DecodeKeyFile(*file, pass);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->enc_key, key.enc_key);
  EXPECT_EQ(back->id_key, key.id_key);
  Result<KdfParams> params = KeyFileParams(*file);
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params->mem_kib, 8192u);
  EXPECT_EQ(params->ops, 1u);

  // The encoding is a pure function of the stated inputs.
  Result<Bytes> again = internal::EncodeKeyFileForTest(key, pass, *params, salt, nonce);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ToHex(*again), ToHex(*file));

  std::array<uint8_t, 32> wrap{};
  ASSERT_EQ(sodium_init() < 0, false);
  ASSERT_EQ(crypto_pwhash(wrap.data(), wrap.size(), pass.data(), pass.size(), salt.data(), 1,
                          8192 * 1024, crypto_pwhash_ALG_ARGON2ID13),
            0);
  EXPECT_TRUE(Mentions(doc, wrap)) << "wrapping key " << ToHex(wrap);
}

TEST(FormatDocsTest, PlainEnvelopeExample) {
  const std::string doc = ReadDoc("envelope.md");
  Result<Bytes> sealed = ExtractExample(doc, "envelope-plain");
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  const std::string words = "All work and no play makes Jack a dull boy.";
  const std::string text = words + " " + words + " " + words + " " + words;
  ASSERT_NE(doc.find("`" + words + "`"), std::string::npos);

  ASSERT_FALSE(sealed->empty());
  EXPECT_EQ((*sealed)[0], kEnvelopeCompressed);
  EXPECT_EQ(*Sealer::IsEncrypted(*sealed), false);
  Result<Bytes> plain = Sealer(std::nullopt, 3).Open(ObjectType::kIndex, {}, *sealed);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(AsChars(*plain), text);
  EXPECT_NE(doc.find(fmt::format("({} bytes)", text.size())), std::string::npos);
  EXPECT_NE(doc.find(fmt::format("becomes {} bytes", sealed->size())), std::string::npos);
}

TEST(FormatDocsTest, EncryptedEnvelopeExample) {
  const std::string doc = ReadDoc("envelope.md");
  Result<Bytes> sealed = ExtractExample(doc, "envelope-encrypted");
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  const std::string_view text = "hello, casulo";
  ASSERT_NE(doc.find(std::string("`") + std::string(text) + "`"), std::string::npos);

  const MasterKey key = ExampleKey();
  const auto salt = Counting<internal::kEnvelopeSaltSize>(0xc0);
  const Sealer sealer(key, 3);
  const Hash256 id = sealer.ChunkId(AsBytes(text));
  const Hash256 object_key = Blake3Keyed(key.enc_key, salt);
  Bytes aad = {uint8_t(ObjectType::kData), kEnvelopeEncrypted};
  PutBytes(aad, id.b);
  EXPECT_TRUE(Mentions(doc, key.enc_key));
  EXPECT_TRUE(Mentions(doc, key.id_key));
  EXPECT_TRUE(Mentions(doc, salt));
  EXPECT_TRUE(Mentions(doc, id.b)) << "chunk id " << id.Hex();
  EXPECT_TRUE(Mentions(doc, object_key.b)) << "object key " << object_key.Hex();
  EXPECT_TRUE(Mentions(doc, aad)) << "aad " << ToHex(aad);

  EXPECT_EQ(*Sealer::IsEncrypted(*sealed), true);
  Result<Bytes> plain = sealer.Open(ObjectType::kData, id.b, *sealed);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(AsChars(*plain), text);

  const Bytes again =
      internal::SealWithSaltForTest(key, 3, ObjectType::kData, id.b, AsBytes(text), true, salt);
  EXPECT_EQ(ToHex(again), ToHex(*sealed));
}

TEST(FormatDocsTest, ExtractorRejectsBrokenDumps) {
  const std::string gap = "<!-- example: x -->\n```\n00000000  01 02\n00000010  03\n```\n";
  EXPECT_FALSE(ExtractExample(gap, "x").ok());
  const std::string open = "<!-- example: x -->\n```\n00000000  01 02\n";
  EXPECT_FALSE(ExtractExample(open, "x").ok());
  EXPECT_FALSE(ExtractExample("nothing here", "x").ok());
  const std::string good = "<!-- example: x -->\n```text\n00000000  01 02  |..|\n```\n";
  Result<Bytes> b = ExtractExample(good, "x");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, (Bytes{1, 2}));
}

}  // namespace
}  // namespace casulo::repo

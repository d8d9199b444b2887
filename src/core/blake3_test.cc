#include "core/blake3.h"

#include <gtest/gtest.h>

namespace casulo {
namespace {

// Official BLAKE3 test vectors (input of length 0 and the hash of "abc").
TEST(Blake3, KnownVectors) {
  EXPECT_EQ(Blake3({}).Hex(), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  EXPECT_EQ(Blake3(AsBytes("abc")).Hex(),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
}

TEST(Blake3, KeyedDiffersFromPlainAndByKey) {
  std::array<uint8_t, 32> k1{}, k2{};
  k2[0] = 1;
  auto data = AsBytes("chunk");
  EXPECT_NE(Blake3Keyed(k1, data), Blake3(data));
  EXPECT_NE(Blake3Keyed(k1, data), Blake3Keyed(k2, data));
  EXPECT_EQ(Blake3Keyed(k1, data), Blake3Keyed(k1, data));
}

TEST(Blake3, IncrementalMatchesOneShot) {
  Bytes data(100000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7);
  Blake3Hasher h;
  h.Update(ByteSpan(data).first(12345));
  h.Update(ByteSpan(data).subspan(12345));
  EXPECT_EQ(h.Finalize(), Blake3(data));
}

}  // namespace
}  // namespace casulo

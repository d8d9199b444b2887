#include "formats/raw.h"

#include <gtest/gtest.h>

namespace casulo::formats {
namespace {

Bytes Sample(size_t size) {
  Bytes d(size, 0);
  for (size_t i = 100000; i < 200000; ++i) d[i] = uint8_t(i);
  for (size_t i = size - 700; i < size - 600; ++i) d[i] = 0x5A;
  return d;
}

Bytes Flatten(ExtentReader& r, std::vector<Extent>* seen = nullptr) {
  Bytes out;
  for (;;) {
    auto e = r.Next();
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (!e.ok() || !*e) break;
    if (seen) seen->push_back(**e);
    if (out.size() < (*e)->offset + (*e)->data.size()) out.resize((*e)->offset + (*e)->data.size());
    std::copy((*e)->data.begin(), (*e)->data.end(), out.begin() + (*e)->offset);
  }
  out.resize(r.info().virtual_size);
  return out;
}

TEST(RawTest, StreamSkipsZeroGranulesAndLearnsTheSize) {
  Bytes d = Sample(5 * 1024 * 1024 + 1000);
  MemorySource src(d);
  auto r = OpenRawStream(src);
  ASSERT_TRUE(r.ok());
  std::vector<Extent> seen;
  EXPECT_EQ(Flatten(**r, &seen), d);
  EXPECT_EQ((*r)->info().virtual_size, d.size());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].offset, 65536u);  // 100000 rounded down to a granule
  EXPECT_EQ(seen[0].data.size(), 3 * 65536u);  // granules 1..3 hold 100000..199999
}

TEST(RawTest, StreamWithDeclaredSizeRejectsShortAndLongInput) {
  Bytes d = Sample(300000);
  {
    MemorySource src(d);
    auto r = OpenRawStream(src, {.size = d.size() + 1});
    ASSERT_TRUE(r.ok());
    Status s;
    for (;;) {
      auto e = (*r)->Next();
      if (!e.ok()) { s = e.status(); break; }
      if (!*e) break;
    }
    EXPECT_NE(s.message().find("expected 300001"), std::string::npos) << s.message();
  }
  {
    MemorySource src(d);
    auto r = OpenRawStream(src, {.size = d.size() - 1});
    ASSERT_TRUE(r.ok());
    Status s;
    for (;;) {
      auto e = (*r)->Next();
      if (!e.ok()) { s = e.status(); break; }
      if (!*e) break;
    }
    EXPECT_NE(s.message().find("longer than"), std::string::npos) << s.message();
  }
}

TEST(RawTest, ImageReadsOnlyTheGivenRanges) {
  Bytes d = Sample(1 << 20);
  MemoryRandomSource src(d);
  auto r = OpenRawImage(src, {{0, 150000}});
  ASSERT_TRUE(r.ok());
  Bytes got = Flatten(**r);
  Bytes want(d.size(), 0);
  std::copy(d.begin(), d.begin() + 150000, want.begin());
  EXPECT_EQ(got, want);
  EXPECT_FALSE(OpenRawImage(src, {{10, 5}, {12, 1}}).ok());  // overlapping
  EXPECT_FALSE(OpenRawImage(src, {{0, (1 << 20) + 1}}).ok());
}

TEST(RawTest, StreamWriterFillsGapsAndRefusesDisorder) {
  Bytes d = Sample(777777);
  MemorySource src(d);
  auto r = OpenRawStream(src);
  ASSERT_TRUE(r.ok());
  Bytes out;
  BytesSink sink(&out);
  // The size of a stream is known only at its end: the writer reads it then.
  auto w = NewRawStreamWriter(sink, (*r)->info());
  ASSERT_TRUE(CopyExtents(**r, *w).ok());
  EXPECT_EQ(out, d);

  Bytes out2;
  BytesSink sink2(&out2);
  auto w2 = NewRawStreamWriter(sink2, 100);
  uint8_t b[10] = {};
  ASSERT_TRUE(w2->Write({50, ByteSpan(b, 10)}).ok());
  EXPECT_FALSE(w2->Write({40, ByteSpan(b, 10)}).ok());
  EXPECT_FALSE(w2->Write({95, ByteSpan(b, 10)}).ok());
}

}  // namespace
}  // namespace casulo::formats

// Keeps the worked example of docs/format/xva.md true.
#include <gtest/gtest.h>

#include "formats/checksum.h"
#include "formats/tar.h"
#include "formats/xva_writer.h"
#include "core/testing/doc_example.h"

namespace casulo::formats {
namespace {

TEST(XvaDocTest, ChunkHeaderExampleIsWhatWeWrite) {
  const std::string doc = casulo::testing::ReadFormatDoc("xva.md");
  auto header = casulo::testing::HexExample(doc, "chunk-header");
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  ASSERT_EQ(header->size(), kTarBlock);
  auto ours = EncodeV7Header("Ref:4/00000000", 1 << 20);
  ASSERT_TRUE(ours.ok());
  EXPECT_TRUE(Bytes(ours->begin(), ours->end()) == *header);

  // And it reads back as the doc describes it.
  Bytes stream = *header;
  stream.resize(stream.size() + (1 << 20) + 2 * kTarBlock, 0);
  MemorySource src(stream);
  TarReader r(src);
  auto m = r.Next();
  ASSERT_TRUE(m.ok() && *m) << m.status().ToString();
  EXPECT_EQ((*m)->name, "Ref:4/00000000");
  EXPECT_EQ((*m)->size, 1u << 20);
  EXPECT_EQ((*m)->mode, 0400u);
  EXPECT_EQ((*m)->mtime, 0);
  EXPECT_EQ((*m)->type, '\0');
}

TEST(XvaDocTest, XxhashContentExampleIsWhatWeWrite) {
  const std::string doc = casulo::testing::ReadFormatDoc("xva.md");
  auto text = casulo::testing::HexExample(doc, "xxhash-content");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  const Bytes zeros(1 << 20, 0);
  EXPECT_EQ(std::string(AsChars(*text)), Xxh64Hex(zeros));

  // The writer's stream for an all-zero 1 MiB disk holds exactly these bytes
  // right after the chunk: header of the .xxhash member, then the text.
  Bytes xva;
  BytesSink sink(&xva);
  XvaWriter w(sink);
  ASSERT_TRUE(w.WriteOvaXml("<value/>").ok());
  auto d = w.BeginDisk("Ref:4", 1 << 20);
  ASSERT_TRUE(d.ok() && (*d)->Finish().ok());
  ASSERT_TRUE(w.Finish().ok());
  const size_t chunk_header_at = 2 * kTarBlock;  // after ova.xml's header and data
  auto want_header = casulo::testing::HexExample(doc, "chunk-header");
  ASSERT_TRUE(want_header.ok());
  EXPECT_TRUE(Bytes(xva.begin() + chunk_header_at, xva.begin() + chunk_header_at + kTarBlock) ==
              *want_header);
  const size_t text_at = chunk_header_at + kTarBlock + (1 << 20) + kTarBlock;
  EXPECT_TRUE(Bytes(xva.begin() + text_at, xva.begin() + text_at + 16) == *text);
}

}  // namespace
}  // namespace casulo::formats

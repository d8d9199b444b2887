// Keeps the worked example of docs/format/vhd.md honest: its hexdumps decode
// to the stated fields and are exactly what VhdWriter writes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "core/file.h"
#include "formats/vhd.h"
#include "formats/vhd_writer.h"

namespace casulo::formats {
namespace {

std::string ReadDoc() {
  Result<Bytes> b = ReadFile(std::string(CASULO_SOURCE_DIR) + "/docs/format/vhd.md");
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::string(AsChars(*b)) : std::string();
}

// The fenced block right after `<!-- example: NAME -->`, as a `hexdump -C`
// listing: 8-digit offsets, up to 16 bytes, an optional |ascii| column, `*`
// for "the line above repeats until the next offset", and a final offset
// line giving the total length.
Result<Bytes> HexExample(const std::string& doc, std::string_view name) {
  const std::string marker = "<!-- example: " + std::string(name) + " -->\n```text\n";
  const size_t at = doc.find(marker);
  if (at == std::string::npos) return Error(Code::kNotFound, "no example {}", name);
  const size_t body = at + marker.size();
  const size_t close = doc.find("```", body);
  if (close == std::string::npos) return Error(Code::kCorruption, "unterminated example {}", name);
  std::istringstream in(doc.substr(body, close - body));
  Bytes out, last_line;
  bool repeat = false;
  std::string line;
  while (std::getline(in, line)) {
    if (line == "*") {
      repeat = true;
      continue;
    }
    std::istringstream fields(line.substr(0, line.find('|')));
    std::string offset, byte;
    fields >> offset;
    char* end = nullptr;
    const uint64_t off = std::strtoull(offset.c_str(), &end, 16);
    if (offset.size() != 8 || *end != '\0')
      return Error(Code::kCorruption, "bad offset '{}' in {}", offset, name);
    while (repeat && out.size() < off) out.insert(out.end(), last_line.begin(), last_line.end());
    repeat = false;
    if (out.size() != off)
      return Error(Code::kCorruption, "offset {:x} after {} bytes in {}", off, out.size(), name);
    last_line.clear();
    while (fields >> byte) {
      ASSIGN_OR_RETURN(Bytes b, FromHex(byte));
      if (b.size() != 1) return Error(Code::kCorruption, "bad byte '{}'", byte);
      last_line.push_back(b[0]);
    }
    out.insert(out.end(), last_line.begin(), last_line.end());
  }
  return out;
}

VhdWriteOptions ExampleOptions() {
  VhdWriteOptions o;
  o.virtual_size = 10ull << 30;
  o.type = VhdDiskType::kDifferencing;
  o.unique_id = *VhdUuid::FromString("9a1c5e4e-0c1b-4d7e-8f3a-2b6d9c0e1f47");
  o.timestamp = VhdTimeFromUnix(1767225600);  // 2026-01-01T00:00:00Z
  o.parent_id = *VhdUuid::FromString("3f2e1d0c-5b4a-4987-a6b5-c4d3e2f10a9b");
  o.parent_timestamp = VhdTimeFromUnix(1767139200);  // 2025-12-31T00:00:00Z
  o.parent_name = "base.vhd";
  return o;
}

TEST(VhdDoc, FooterExample) {
  Result<Bytes> bytes = HexExample(ReadDoc(), "vhd-footer");
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  ASSERT_EQ(bytes->size(), 512u);
  Result<VhdFooter> f = DecodeVhdFooter(*bytes);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->disk_type, VhdDiskType::kDifferencing);
  EXPECT_EQ(f->current_size, 10ull << 30);
  EXPECT_EQ(f->timestamp, 820540800u);
  EXPECT_EQ(f->geometry, VhdGeometry::Max());
  EXPECT_EQ(f->checksum, 0xFFFFF004u);
  EXPECT_EQ(f->unique_id.ToString(), "9a1c5e4e-0c1b-4d7e-8f3a-2b6d9c0e1f47");
}

TEST(VhdDoc, HeaderExample) {
  Result<Bytes> bytes = HexExample(ReadDoc(), "vhd-header");
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  ASSERT_EQ(bytes->size(), 1024u);
  Result<VhdHeader> h = DecodeVhdHeader(*bytes);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->table_offset, 1536u);
  EXPECT_EQ(h->max_table_entries, 5120u);
  EXPECT_EQ(h->block_size, 2u << 20);
  EXPECT_EQ(h->checksum, 0xFFFFE8A8u);
  EXPECT_EQ(h->parent_id.ToString(), "3f2e1d0c-5b4a-4987-a6b5-c4d3e2f10a9b");
  EXPECT_EQ(h->parent_timestamp, 820454400u);
  EXPECT_EQ(Utf16ToUtf8(h->parent_name), "base.vhd");
}

TEST(VhdDoc, ExampleIsWhatTheWriterWrites) {
  const std::string doc = ReadDoc();
  Result<Bytes> footer = HexExample(doc, "vhd-footer");
  Result<Bytes> header = HexExample(doc, "vhd-header");
  ASSERT_TRUE(footer.ok() && header.ok());
  Bytes out;
  BytesSink sink(&out);
  auto w = VhdWriter::Create(sink, ExampleOptions(), {});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Finish().ok());
  ASSERT_EQ(out.size(), 22528u);
  EXPECT_EQ(Bytes(out.begin(), out.begin() + 512), *footer);
  EXPECT_EQ(Bytes(out.begin() + 512, out.begin() + 1536), *header);
  EXPECT_EQ(Bytes(out.end() - 512, out.end()), *footer);
  EXPECT_TRUE(
      std::all_of(out.begin() + 1536, out.end() - 512, [](uint8_t b) { return b == 0xFF; }));
}

}  // namespace
}  // namespace casulo::formats

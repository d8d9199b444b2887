// Keeps docs/format/{pack,index,tree,snapshot}.md honest: reads each worked
// example out of the markdown (the fenced block after `<!-- example: NAME
// -->`), decodes it with the real decoders, compares the fields with the
// values the text states, and re-encodes it from those values. The examples
// are unencrypted and uncompressed (Sealer(std::nullopt, 0)), so encoding is
// deterministic. If a format changes, this fails until the document is
// regenerated.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/blake3.h"
#include "core/file.h"
#include "repo/index_file.h"
#include "repo/pack.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "core/testing/doc_example.h"

namespace casulo::repo {
namespace {

using testing::ExampleBlock;
using testing::ParseHexdump;
const auto& ReadDoc = testing::ReadFormatDoc;

Bytes Example(const std::string& doc, std::string_view name) {
  Result<std::string> block = ExampleBlock(doc, name);
  EXPECT_TRUE(block.ok()) << block.status().ToString();
  if (!block.ok()) return {};
  Result<Bytes> bytes = ParseHexdump(*block);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : Bytes{};
}

bool Mentions(const std::string& doc, const std::string& text) {
  return doc.find(text) != std::string::npos;
}

const Sealer& Plain() {
  static const Sealer s(std::nullopt, 0);
  return s;
}
Hash256 Id(std::string_view text) { return Plain().ChunkId(AsBytes(text)); }

// The pack of docs/format/pack.md, built from the inputs the text states.
Bytes BuildExamplePack(std::vector<BlobEntry>* entries) {
  FrameBuilder f1(ObjectType::kData), f2(ObjectType::kData);
  for (std::string_view t : {"hello, casulo", "pack example"}) f1.Add(Id(t), AsBytes(t));
  for (std::string_view t : {"dead", "alive"}) f2.Add(Id(t), AsBytes(t));
  PackBuilder pack;
  pack.AddFrame(f1.Seal(Plain()), {true, true});
  pack.AddFrame(f2.Seal(Plain()), {false, true});
  *entries = pack.entries();
  return pack.Finish(Plain());
}

TEST(FormatExampleTest, Pack) {
  const std::string doc = ReadDoc("pack.md");
  const Bytes pack = Example(doc, "pack");
  ASSERT_EQ(pack.size(), 200u);
  EXPECT_TRUE(Mentions(doc, "is 200 bytes and named\n`" + Blake3(pack).Hex() + "`"))
      << Blake3(pack).Hex();

  Result<uint32_t> hlen = ReadPackHeaderLength(ByteSpan(pack).last(kPackTrailerSize));
  ASSERT_TRUE(hlen.ok()) << hlen.status().ToString();
  EXPECT_EQ(*hlen, 152u);
  Result<std::vector<BlobEntry>> entries = DecodePackHeader(
      Plain(), ByteSpan(pack).subspan(pack.size() - kPackTrailerSize - *hlen, *hlen), pack.size());
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  const std::vector<BlobEntry> want = {
      {ObjectType::kData, Id("hello, casulo"), 0, 26, 0, 13},
      {ObjectType::kData, Id("pack example"), 0, 26, 13, 12},
      {ObjectType::kData, Id("alive"), 26, 10, 4, 5},
  };
  EXPECT_EQ(*entries, want);
  const std::map<Hash256, std::string> text = {{Id("hello, casulo"), "hello, casulo"},
                                               {Id("pack example"), "pack example"},
                                               {Id("alive"), "alive"}};
  for (const auto& e : *entries) {
    EXPECT_TRUE(Mentions(doc, e.id.Hex())) << e.id.Hex();
    Result<Bytes> frame = Plain().Open(e.type, {}, ByteSpan(pack).subspan(e.offset, e.length));
    ASSERT_TRUE(frame.ok()) << frame.status().ToString();
    Result<ByteSpan> blob = SliceFrame(*frame, e);
    ASSERT_TRUE(blob.ok()) << blob.status().ToString();
    EXPECT_EQ(AsChars(*blob), text.at(e.id));
    EXPECT_EQ(Plain().ChunkId(*blob), e.id);
  }

  std::vector<BlobEntry> built;
  EXPECT_EQ(ToHex(BuildExamplePack(&built)), ToHex(pack));
  EXPECT_EQ(built, want);
}

TEST(FormatExampleTest, Index) {
  const std::string doc = ReadDoc("index.md");
  const Bytes file = Example(doc, "index");
  ASSERT_EQ(file.size(), 236u);
  EXPECT_TRUE(Mentions(doc, "236 bytes in all, named\n`" + Blake3(file).Hex() + "`"))
      << Blake3(file).Hex();
  Result<Bytes> plain = Plain().Open(ObjectType::kIndex, {}, file);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  Result<IndexFile> idx = DecodeIndex(*plain);
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();

  Hash256 old;
  old.b.fill(0xee);
  ASSERT_EQ(idx->supersedes.size(), 1u);
  EXPECT_EQ(idx->supersedes[0], old);
  std::vector<BlobEntry> entries;
  const Bytes pack = BuildExamplePack(&entries);
  ASSERT_EQ(idx->packs.size(), 1u);
  EXPECT_EQ(idx->packs[0].pack, Blake3(pack));
  EXPECT_TRUE(Mentions(doc, Blake3(pack).Hex()));
  EXPECT_EQ(idx->packs[0].blobs, entries);

  IndexFile again{{old}, {PackIndex{Blake3(pack), entries}}};
  EXPECT_EQ(ToHex(Plain().Seal(ObjectType::kIndex, {}, EncodeIndex(again))), ToHex(file));
}

TEST(FormatExampleTest, TreeLeaf) {
  const std::string doc = ReadDoc("tree.md");
  const Bytes leaf = Example(doc, "tree-leaf");
  ASSERT_EQ(leaf.size(), 104u);
  Result<TreeNode> node = DecodeTreeNode(leaf);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(node->level, 0);
  const std::vector<Hash256> ids = {Id("hello, casulo"), Hash256{}, Id("pack example")};
  EXPECT_EQ(node->ids, ids);
  EXPECT_TRUE(Mentions(doc, ids[0].Hex()));
  EXPECT_TRUE(Mentions(doc, ids[2].Hex()));
  EXPECT_TRUE(Mentions(doc, "the node's id is\n`" + Plain().ChunkId(leaf).Hex() + "`"))
      << Plain().ChunkId(leaf).Hex();
  EXPECT_EQ(ToHex(EncodeTreeNode(TreeNode{0, ids})), ToHex(leaf));
}

TEST(FormatExampleTest, TreeShape) {
  // "For 2049 chunks: three leaves of 1024, 1024 and 1 ids, under a level-1
  // root of 3 ids; chunk 2048 is slot 2 of the root, then slot 0 of that leaf."
  ASSERT_TRUE(Mentions(ReadDoc("tree.md"), "For 2049 chunks: three leaves of 1024, 1024 and 1"));
  std::map<Hash256, Bytes> store;
  TreeBuilder b([&](ByteSpan n) -> Result<Hash256> {
    Hash256 id = Plain().ChunkId(n);
    store[id] = Bytes(n.begin(), n.end());
    return id;
  });
  for (uint32_t i = 0; i < 2049; ++i) ASSERT_TRUE(b.Append(Id(std::to_string(i))).ok());
  Result<TreeRoot> root = b.Finish();
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->height, 2u);
  EXPECT_EQ(root->count, 2049u);
  Result<TreeNode> top = DecodeTreeNode(store.at(root->root));
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->level, 1);
  ASSERT_EQ(top->ids.size(), 3u);
  std::vector<size_t> sizes;
  for (const auto& id : top->ids) sizes.push_back(DecodeTreeNode(store.at(id))->ids.size());
  EXPECT_EQ(sizes, (std::vector<size_t>{1024, 1024, 1}));
  EXPECT_EQ(DecodeTreeNode(store.at(top->ids[2]))->ids[0], Id("2048"));
}

TEST(FormatExampleTest, Snapshot) {
  const std::string doc = ReadDoc("snapshot.md");
  Result<std::string> block = ExampleBlock(doc, "snapshot");
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  Result<Snapshot> s = DecodeSnapshot(AsBytes(*block));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->version, 1u);
  EXPECT_EQ(s->kind, "image");
  EXPECT_EQ(s->source, "/srv/vm/disk0.img");
  EXPECT_EQ(s->hostname, "backup01");
  EXPECT_EQ(s->time, 1795716000);
  EXPECT_TRUE(Mentions(doc, "(unix time\n1795716000)"));
  EXPECT_EQ(s->tags, std::vector<std::string>{"nightly"});
  EXPECT_EQ(s->parent, std::string(64, 'a'));
  EXPECT_EQ(s->size, 196096u);
  EXPECT_EQ(s->chunk_size, 65536u);
  EXPECT_EQ(s->tree.height, 1u);
  EXPECT_EQ(s->tree.count, 3u);
  // The root is the leaf of docs/format/tree.md.
  EXPECT_EQ(s->tree.root, Plain().ChunkId(EncodeTreeNode(
                              TreeNode{0, {Id("hello, casulo"), Hash256{}, Id("pack example")}})));
  EXPECT_EQ(s->stats.chunks, 3u);
  EXPECT_EQ(s->stats.zero_chunks, 1u);
  EXPECT_EQ(s->stats.new_chunks, 2u);
  EXPECT_EQ(s->stats.new_bytes, 130560u);
  EXPECT_EQ(s->stats.stored_bytes, 41237u);
  EXPECT_EQ(s->stats.seconds, 0.25);
  EXPECT_EQ(s->labels.at("vm"), "4f1c2a9e-6d7b-4a43-9b1e-0c2f5d8e7a61");
  // Casulo writes exactly this JSON, compact.
  EXPECT_EQ(AsChars(EncodeSnapshot(*s)), nlohmann::json::parse(*block).dump());
}

TEST(FormatExampleTest, SnapshotVersion2) {
  const std::string doc = ReadDoc("snapshot.md");
  Result<std::string> block = ExampleBlock(doc, "snapshot-v2");
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  Result<Snapshot> s = DecodeSnapshot(AsBytes(*block));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->version, 2u);
  EXPECT_EQ(s->kind, "vm");
  EXPECT_EQ(s->size, 1843u);
  ASSERT_EQ(s->disks.size(), 2u);
  const SnapshotDisk* d0 = s->FindDisk("0c6e0e43-86f1-4f6b-a0b4-2d0bde9a2b3e");
  ASSERT_NE(d0, nullptr);
  EXPECT_EQ(d0->tree.root, Plain().ChunkId(EncodeTreeNode(
                               TreeNode{0, {Id("hello, casulo"), Hash256{}, Id("pack example")}})));
  EXPECT_EQ(d0->labels.at("transport"), "cbt-nbd");
  EXPECT_EQ(s->disks[1].tree.count, 163840u);
  EXPECT_EQ(s->disks[1].tree.height, 2u);
  EXPECT_EQ(s->disks[1].stats.reused_chunks, 163830u);
  EXPECT_EQ(s->Trees().size(), 3u);
  EXPECT_EQ(AsChars(EncodeSnapshot(*s)), nlohmann::json::parse(*block).dump());
}

TEST(FormatExampleTest, SnapshotVersion2Rejections) {
  const std::string doc = ReadDoc("snapshot.md");
  nlohmann::json j = nlohmann::json::parse(*ExampleBlock(doc, "snapshot-v2"));
  auto decode = [](const nlohmann::json& v) { return DecodeSnapshot(AsBytes(v.dump())); };
  nlohmann::json v1 = j;
  v1["version"] = 1;
  EXPECT_EQ(decode(v1).status().code(), Code::kCorruption) << "disks need version 2";
  nlohmann::json twice = j;
  twice["disks"][1]["key"] = twice["disks"][0]["key"];
  EXPECT_EQ(decode(twice).status().code(), Code::kCorruption);
  nlohmann::json shape = j;
  shape["disks"][1]["size"] = 65536;
  EXPECT_EQ(decode(shape).status().code(), Code::kCorruption) << "count must fit size";
  nlohmann::json v3 = j;
  v3["version"] = 3;
  EXPECT_EQ(decode(v3).status().code(), Code::kUnsupported);
}

TEST(FormatExampleTest, ExtractorRejectsBrokenBlocks) {
  EXPECT_FALSE(ExampleBlock("nothing", "x").ok());
  EXPECT_FALSE(ExampleBlock("<!-- example: x -->\ntext\n```\n00\n```\n", "x").ok());
  EXPECT_FALSE(ExampleBlock("<!-- example: x -->\n```\n00000000  01\n", "x").ok());
  EXPECT_FALSE(ParseHexdump("00000000  01 02\n00000010  03\n").ok());
  Result<Bytes> b = ParseHexdump("00000000  01 02  |..|\n00000002  03\n");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, (Bytes{1, 2, 3}));
}

}  // namespace
}  // namespace casulo::repo

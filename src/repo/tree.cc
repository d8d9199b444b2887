#include "repo/tree.h"

namespace casulo::repo {

Bytes EncodeTreeNode(const TreeNode& node) {
  Bytes out;
  out.reserve(8 + node.ids.size() * 32);
  PutU8(out, kTreeVersion);
  PutU8(out, node.level);
  PutU16(out, 0);
  PutU32(out, uint32_t(node.ids.size()));
  for (const auto& id : node.ids) PutBytes(out, id.b);
  return out;
}

Result<TreeNode> DecodeTreeNode(ByteSpan bytes) {
  ByteReader in(bytes);
  ASSIGN_OR_RETURN(uint8_t version, in.U8("tree version"));
  if (version != kTreeVersion) return Error(Code::kUnsupported, "tree node version {}", version);
  TreeNode node;
  ASSIGN_OR_RETURN(node.level, in.U8("tree level"));
  ASSIGN_OR_RETURN(uint16_t reserved, in.U16("tree reserved"));
  if (reserved != 0) return Error(Code::kCorruption, "tree node reserved field is {}", reserved);
  ASSIGN_OR_RETURN(uint32_t count, in.U32("tree count"));
  if (count > kTreeFanout) return Error(Code::kCorruption, "tree node with {} ids", count);
  if (in.remaining() != size_t(count) * 32)
    return Error(Code::kCorruption, "tree node of {} ids has {} bytes of ids", count,
                 in.remaining());
  node.ids.resize(count);
  for (auto& id : node.ids) id = Hash256::FromSpan(*in.Take(32, "id"));
  return node;
}

Status TreeBuilder::Append(const Hash256& id) {
  ++count_;
  return AddAt(0, id);
}

Status TreeBuilder::AddAt(size_t level, const Hash256& id) {
  if (levels_.size() <= level) levels_.push_back(TreeNode{uint8_t(level), {}});
  levels_[level].ids.push_back(id);
  if (levels_[level].ids.size() < kTreeFanout) return OkStatus();
  ASSIGN_OR_RETURN(Hash256 node_id, store_(EncodeTreeNode(levels_[level])));
  levels_[level].ids.clear();
  return AddAt(level + 1, node_id);
}

Result<TreeRoot> TreeBuilder::Finish() {
  if (levels_.empty()) levels_.push_back(TreeNode{0, {}});
  // Flush partial nodes bottom-up. The top is the first level that, with
  // everything below flushed into it, holds a single id and no full node was
  // ever pushed above it.
  for (size_t level = 0;; ++level) {
    bool is_top = level + 1 == levels_.size();
    TreeNode& node = levels_[level];
    if (is_top) {
      if (node.ids.size() == 1 && level > 0) {
        return TreeRoot{node.ids[0], uint32_t(level), count_};
      }
      ASSIGN_OR_RETURN(Hash256 id, store_(EncodeTreeNode(node)));
      return TreeRoot{id, uint32_t(level + 1), count_};
    }
    if (!node.ids.empty()) {
      ASSIGN_OR_RETURN(Hash256 id, store_(EncodeTreeNode(node)));
      node.ids.clear();
      levels_[level + 1].ids.push_back(id);
    }
  }
}

Result<const TreeNode*> TreeReader::Node(size_t level, const Hash256& id) {
  if (cache_.size() < root_.height) cache_.resize(root_.height);
  Cached& c = cache_[level];
  if (!c.valid || c.id != id) {
    ASSIGN_OR_RETURN(Bytes raw, load_(id));
    ASSIGN_OR_RETURN(c.node, DecodeTreeNode(raw).With("tree node " + id.ShortHex()));
    if (c.node.level != level)
      return Error(Code::kCorruption, "tree node {} has level {}, expected {}", id.ShortHex(),
                   c.node.level, level);
    c.id = id;
    c.valid = true;
  }
  return &c.node;
}

Result<Hash256> TreeReader::At(uint64_t index) {
  if (index >= root_.count)
    return Error(Code::kInternal, "tree index {} beyond count {}", index, root_.count);
  Hash256 id = root_.root;
  for (size_t level = root_.height; level-- > 0;) {
    uint64_t span = 1;
    for (size_t i = 0; i < level; ++i) span *= kTreeFanout;
    ASSIGN_OR_RETURN(const TreeNode* node, Node(level, id));
    uint64_t slot = (index / span) % kTreeFanout;
    if (slot >= node->ids.size())
      return Error(Code::kCorruption, "tree node {} has {} ids, chunk {} needs slot {}",
                   id.ShortHex(), node->ids.size(), index, slot);
    id = node->ids[slot];
  }
  return id;
}

}  // namespace casulo::repo

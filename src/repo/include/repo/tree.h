// Trees of chunk ids: how a snapshot lists the chunks of an image without
// rewriting the whole list every night (design section 4). A node holds up to
// kTreeFanout ids; level-0 nodes (leaves) list chunk ids, level-L nodes list
// ids of level-(L-1) nodes. Nodes are blobs of type kTree, content-addressed,
// so an unchanged node is shared between snapshots. Layout: docs/format/tree.md.
#pragma once

#include <functional>
#include <vector>

#include "core/bytes.h"

namespace casulo::repo {

inline constexpr uint32_t kTreeFanout = 1024;
inline constexpr uint8_t kTreeVersion = 1;

struct TreeNode {
  uint8_t level = 0;
  std::vector<Hash256> ids;
};

Bytes EncodeTreeNode(const TreeNode& node);
Result<TreeNode> DecodeTreeNode(ByteSpan bytes);

// The root of a tree: `count` chunk ids under `root`, `height` levels
// (a single leaf has height 1). An empty tree has one empty leaf.
struct TreeRoot {
  Hash256 root;
  uint32_t height = 1;
  uint64_t count = 0;
};

// Stores an encoded node and returns its id. Called by TreeBuilder for every
// node it completes.
using StoreNodeFn = std::function<Result<Hash256>(ByteSpan encoded)>;
// Loads the encoded node with the given id.
using LoadNodeFn = std::function<Result<Bytes>(const Hash256& id)>;

// Builds a tree from ids appended in order; holds one partial node per level.
class TreeBuilder {
 public:
  explicit TreeBuilder(StoreNodeFn store) : store_(std::move(store)) {}
  Status Append(const Hash256& id);
  Result<TreeRoot> Finish();

 private:
  Status AddAt(size_t level, const Hash256& id);
  StoreNodeFn store_;
  std::vector<TreeNode> levels_;
  uint64_t count_ = 0;
};

// Random access to the ids of a tree, caching the last node of each level so
// that in-order access loads every node once.
class TreeReader {
 public:
  TreeReader(TreeRoot root, LoadNodeFn load) : root_(root), load_(std::move(load)) {}
  uint64_t count() const { return root_.count; }
  // The id of chunk `index`. REQUIRES: index < count().
  Result<Hash256> At(uint64_t index);

 private:
  struct Cached {
    Hash256 id;
    bool valid = false;
    TreeNode node;
  };
  Result<const TreeNode*> Node(size_t level, const Hash256& id);
  TreeRoot root_;
  LoadNodeFn load_;
  std::vector<Cached> cache_;
};

}  // namespace casulo::repo

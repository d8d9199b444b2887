// What check and prune share: the repository's index files read directly
// (not through the index cache, which may be stale or built from damaged
// files) and a walk over snapshot trees that visits each node once.
// Not part of the repository API.
#pragma once

#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "repo/index_file.h"
#include "repo/repository.h"
#include "repo/tree.h"

namespace casulo::repo::internal {

// One pack as the index files describe it.
struct IndexedPack {
  Hash256 id;
  std::vector<BlobEntry> blobs;
  std::string index;  // the (first) index file naming it
};

// One copy of a blob: packs[pack].blobs[entry] in an IndexView.
struct IndexedBlob {
  Hash256 id;
  uint32_t pack = 0;
  uint32_t entry = 0;
};

// Every index file present, merged. Index files another present file
// supersedes are listed but not merged, as the index cache does.
struct IndexView {
  std::vector<std::string> files;       // every index file present, loaded or not
  std::vector<std::string> superseded;  // present, but superseded by another present file
  std::vector<IndexedPack> packs;       // each pack once
  std::vector<IndexedBlob> blobs;       // sorted by (id, pack): copies of an id are adjacent

  // The first copy of `id`, or nullptr when no index names it.
  const IndexedBlob* Find(const Hash256& id) const;
  const BlobEntry& Entry(const IndexedBlob& b) const { return packs[b.pack].blobs[b.entry]; }
  BlobLocation Location(const IndexedBlob& b) const;
};

// Told of a problem with `object` ("index <hex>"); returning a non-OK status
// stops the operation with it, returning OK skips the object and goes on.
using ProblemFn = std::function<Status(const std::string& object, Status problem)>;

// Loads and merges every index file. An unreadable file, or a pack two files
// describe differently, goes to `on_problem` (the second description is
// dropped). Identical descriptions of a pack in several files are merged
// silently: prune writes such files on purpose (see prune.cc).
Result<IndexView> LoadIndexView(Repository& repo, const ProblemFn& on_problem);

// Reads a tree node through `view`: kNotFound when no index names it,
// kCorruption when it is indexed as data or fails to open or verify.
LoadNodeFn ViewNodeLoader(Repository& repo, const IndexView& view);

using NodeSet = std::unordered_set<Hash256, Hash256Hasher>;

// Walks the tree under `root` level by level from the top, visiting every
// node not already in `seen` once (and adding it there), so trees that share
// nodes cost one load per distinct node. Each node is checked against the
// shape TreeBuilder gives a tree of root.count ids: its level, and its number
// of ids at its position. A node that cannot be loaded or has the wrong shape
// goes to `on_error` and its subtree is skipped; a good one to `visit`.
// A height that does not fit root.count fails the walk with kCorruption
// before anything is loaded. Polls CancelRequested() between nodes.
Status WalkTree(const TreeRoot& root, const LoadNodeFn& load, NodeSet& seen,
                const std::function<Status(const Hash256& id, const TreeNode& node)>& visit,
                const std::function<Status(const Hash256& id, Status problem)>& on_error);

}  // namespace casulo::repo::internal

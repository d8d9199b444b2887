#include "check_internal.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/cancel.h"

namespace casulo::repo::internal {

const IndexedBlob* IndexView::Find(const Hash256& id) const {
  auto it = std::lower_bound(blobs.begin(), blobs.end(), id,
                             [](const IndexedBlob& b, const Hash256& x) { return b.id < x; });
  return it != blobs.end() && it->id == id ? &*it : nullptr;
}

BlobLocation IndexView::Location(const IndexedBlob& b) const {
  const BlobEntry& e = Entry(b);
  BlobLocation loc;
  loc.pack = packs[b.pack].id;
  loc.type = e.type;
  loc.offset = e.offset;
  loc.length = e.length;
  loc.frame_offset = e.frame_offset;
  loc.raw_length = e.raw_length;
  return loc;
}

Result<IndexView> LoadIndexView(Repository& repo, const ProblemFn& on_problem) {
  IndexView view;
  ASSIGN_OR_RETURN(view.files, repo.backend().List(FileType::kIndex));
  std::sort(view.files.begin(), view.files.end());
  std::vector<std::pair<std::string, IndexFile>> loaded;
  for (const auto& name : view.files) {
    if (CancelRequested()) return Error(Code::kCancelled, "cancelled while reading index files");
    Result<IndexFile> f = repo.LoadIndex(name);
    if (!f.ok()) {
      RETURN_IF_ERROR(on_problem("index " + name, std::move(f).status()));
      continue;
    }
    loaded.emplace_back(name, std::move(f).value());
  }
  std::set<std::string> superseded;
  for (const auto& [name, f] : loaded)
    for (const auto& s : f.supersedes) superseded.insert(s.Hex());

  std::map<Hash256, uint32_t> pack_pos;
  for (auto& [name, f] : loaded) {
    if (superseded.count(name)) {
      view.superseded.push_back(name);
      continue;
    }
    for (auto& p : f.packs) {
      auto [it, fresh] = pack_pos.emplace(p.pack, uint32_t(view.packs.size()));
      if (!fresh) {
        const IndexedPack& first = view.packs[it->second];
        if (first.blobs != p.blobs) {
          RETURN_IF_ERROR(on_problem(
              "index " + name,
              Error(Code::kCorruption,
                    "describes pack {} with {} blobs, differently from index {} ({} blobs)",
                    p.pack.Hex(), p.blobs.size(), first.index, first.blobs.size())));
        }
        continue;
      }
      view.packs.push_back(IndexedPack{p.pack, std::move(p.blobs), name});
    }
  }
  for (uint32_t i = 0; i < view.packs.size(); ++i)
    for (uint32_t j = 0; j < view.packs[i].blobs.size(); ++j)
      view.blobs.push_back(IndexedBlob{view.packs[i].blobs[j].id, i, j});
  std::sort(view.blobs.begin(), view.blobs.end(), [](const IndexedBlob& a, const IndexedBlob& b) {
    return a.id != b.id ? a.id < b.id : a.pack < b.pack;
  });
  return view;
}

LoadNodeFn ViewNodeLoader(Repository& repo, const IndexView& view) {
  return [&repo, &view](const Hash256& id) -> Result<Bytes> {
    const IndexedBlob* b = view.Find(id);
    if (!b) return Error(Code::kNotFound, "is in no index");
    BlobLocation loc = view.Location(*b);
    if (loc.type != ObjectType::kTree)
      return Error(Code::kCorruption, "is indexed as a data chunk (pack {}), not a tree node",
                   loc.pack.Hex());
    return repo.LoadBlobAt(id, loc);
  };
}

Status WalkTree(const TreeRoot& root, const LoadNodeFn& load, NodeSet& seen,
                const std::function<Status(const Hash256& id, const TreeNode& node)>& visit,
                const std::function<Status(const Hash256& id, Status problem)>& on_error) {
  // Nodes per level for root.count ids, as TreeBuilder lays them out: full
  // nodes left to right, the last one of a level partial, one empty leaf for
  // an empty tree.
  std::vector<uint64_t> nodes_at;
  uint64_t n = root.count;
  do {
    n = std::max<uint64_t>(1, (n + kTreeFanout - 1) / kTreeFanout);
    nodes_at.push_back(n);
  } while (n > 1);
  if (nodes_at.size() != root.height)
    return Error(Code::kCorruption, "tree of {} chunks has height {}, expected {}", root.count,
                 root.height, nodes_at.size());
  auto expected_ids = [&](size_t level, uint64_t pos) -> uint64_t {
    const uint64_t below = level == 0 ? root.count : nodes_at[level - 1];
    const uint64_t last = nodes_at[level] - 1;
    return pos < last ? kTreeFanout : below - last * kTreeFanout;
  };

  // (id, position in its level); a level holds at most count/1024 entries.
  std::vector<std::pair<Hash256, uint64_t>> frontier = {{root.root, 0}};
  for (size_t level = root.height; level-- > 0;) {
    std::vector<std::pair<Hash256, uint64_t>> next;
    for (const auto& [id, pos] : frontier) {
      if (!seen.insert(id).second) continue;
      if (CancelRequested()) return Error(Code::kCancelled, "cancelled while reading trees");
      Result<Bytes> raw = load(id);
      if (!raw.ok()) {
        RETURN_IF_ERROR(on_error(id, std::move(raw).status()));
        continue;
      }
      Result<TreeNode> node = DecodeTreeNode(*raw);
      if (!node.ok()) {
        RETURN_IF_ERROR(on_error(id, std::move(node).status()));
        continue;
      }
      if (node->level != level) {
        RETURN_IF_ERROR(on_error(
            id, Error(Code::kCorruption, "has level {}, expected {}", node->level, level)));
        continue;
      }
      if (node->ids.size() != expected_ids(level, pos)) {
        RETURN_IF_ERROR(on_error(
            id, Error(Code::kCorruption, "holds {} ids, expected {} at position {} of level {}",
                      node->ids.size(), expected_ids(level, pos), pos, level)));
        continue;
      }
      RETURN_IF_ERROR(visit(id, *node));
      if (level > 0)
        for (size_t j = 0; j < node->ids.size(); ++j)
          next.emplace_back(node->ids[j], pos * kTreeFanout + j);
    }
    frontier = std::move(next);
  }
  return OkStatus();
}

}  // namespace casulo::repo::internal

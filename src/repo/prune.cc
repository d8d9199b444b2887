#include "repo/prune.h"

#include <algorithm>
#include <set>

#include "check_internal.h"
#include "core/blake3.h"
#include "core/cancel.h"

namespace casulo::repo {

namespace {

using internal::IndexedBlob;
using internal::IndexView;

constexpr char kRunCheck[] = "prune does not run on a damaged repository: run `casulo check`";

Status Damaged(const std::string& object, Status problem) {
  return Error(Code::kCorruption, "{}: {}; {}", object, problem.ToString(), kRunCheck);
}

// Marks view.blobs[i] for the first copy of every blob reachable from a
// snapshot. Fails on anything unreadable or missing.
Result<std::vector<bool>> MarkLive(Repository& repo, const IndexView& view,
                                   const std::vector<std::string>& ignore, PruneStats& stats) {
  std::vector<bool> live(view.blobs.size());
  auto mark = [&](const Hash256& id, std::string_view what, const std::string& where) -> Status {
    const IndexedBlob* b = view.Find(id);
    if (!b)
      return Error(Code::kCorruption, "{} needs {} {}, which no index names; {}", where, what,
                   id.Hex(), kRunCheck);
    live[b - view.blobs.data()] = true;
    return OkStatus();
  };
  ASSIGN_OR_RETURN(auto names, repo.backend().List(FileType::kSnapshot));
  std::erase_if(names, [&](const std::string& n) {
    return std::find(ignore.begin(), ignore.end(), n) != ignore.end();
  });
  std::sort(names.begin(), names.end());
  stats.snapshots = names.size();
  internal::NodeSet seen;
  const LoadNodeFn load = internal::ViewNodeLoader(repo, view);
  for (const auto& name : names) {
    Result<Snapshot> snap = repo.LoadSnapshot(name);
    if (!snap.ok()) return Damaged("snapshot " + name, std::move(snap).status());
    const std::string where = "snapshot " + name.substr(0, 12);
    for (const TreeRoot& root : snap->Trees()) {
      Status failure;  // set by the callbacks, already explained
      Status s = internal::WalkTree(
          root, load, seen,
          [&](const Hash256& id, const TreeNode& node) -> Status {
            failure = mark(id, "tree node", where);
            if (node.level == 0)
              for (size_t i = 0; i < node.ids.size() && failure.ok(); ++i)
                if (!node.ids[i].IsZero()) failure = mark(node.ids[i], "chunk", where);
            return failure;
          },
          [&](const Hash256& id, Status problem) {
            failure =
                Damaged(fmt::format("tree node {} of {}", id.Hex(), where), std::move(problem));
            return failure;
          });
      if (!failure.ok()) return failure;
      if (s.code() == Code::kCancelled) return s;
      if (!s.ok()) return Damaged(where, std::move(s));
    }
  }
  return live;
}

// Each listed blob's estimated share of the stored bytes: its frame's
// envelope length split in proportion to plaintext. A frame's plaintext size
// is not in the index, so it is taken as the end of its last listed blob;
// dead space after that blob (blobs the writer did not list because they
// were already stored) is not seen.
std::vector<double> StoredShares(const std::vector<BlobEntry>& blobs, uint64_t* frame_bytes) {
  std::vector<double> share(blobs.size());
  *frame_bytes = 0;
  for (size_t i = 0; i < blobs.size();) {
    size_t end = i;
    uint64_t plain = 0;
    for (; end < blobs.size() && blobs[end].offset == blobs[i].offset; ++end)
      plain = std::max<uint64_t>(plain, uint64_t(blobs[end].frame_offset) + blobs[end].raw_length);
    *frame_bytes += blobs[i].length;
    for (; i < end; ++i)
      share[i] = plain ? double(blobs[i].length) * blobs[i].raw_length / double(plain) : 0;
  }
  return share;
}

// chosen[p][e]: packs[p].blobs[e] is the one copy of a live blob to keep.
// Of several copies, the one in the pack with the most live plaintext
// (counting every copy) wins, so duplicates go with the emptier packs.
std::vector<std::vector<bool>> ChooseCopies(const IndexView& view, const std::vector<bool>& live,
                                            PruneStats& stats) {
  std::vector<uint64_t> any_live(view.packs.size());
  const auto& blobs = view.blobs;
  for (size_t i = 0; i < blobs.size(); ++i)
    if (live[i])
      for (size_t k = i; k < blobs.size() && blobs[k].id == blobs[i].id; ++k)
        any_live[blobs[k].pack] += view.Entry(blobs[k]).raw_length;
  std::vector<std::vector<bool>> chosen(view.packs.size());
  for (size_t p = 0; p < view.packs.size(); ++p) chosen[p].resize(view.packs[p].blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i) {
    if (!live[i]) continue;
    size_t best = i;
    for (size_t k = i + 1; k < blobs.size() && blobs[k].id == blobs[i].id; ++k) {
      stats.duplicate_blobs++;
      const uint32_t bp = blobs[k].pack, cp = blobs[best].pack;
      if (any_live[bp] > any_live[cp] ||
          (any_live[bp] == any_live[cp] && view.packs[bp].id < view.packs[cp].id))
        best = k;
    }
    chosen[blobs[best].pack][blobs[best].entry] = true;
  }
  return chosen;
}

}  // namespace

Result<PrunePlan> PlanPrune(Repository& repo, double repack_below,
                            const std::vector<std::string>& ignore_snapshots) {
  if (!(repack_below >= 0 && repack_below <= 1))
    return Error(Code::kInvalidArgument, "repack threshold {} is not a fraction in 0..1",
                 repack_below);
  PrunePlan plan;
  plan.repack_below = repack_below;
  ASSIGN_OR_RETURN(IndexView view, internal::LoadIndexView(repo, Damaged));
  plan.index_files = view.files;
  plan.stats.index_files = view.files.size();
  ASSIGN_OR_RETURN(std::vector<bool> live, MarkLive(repo, view, ignore_snapshots, plan.stats));
  const std::vector<std::vector<bool>> chosen = ChooseCopies(view, live, plan.stats);

  ASSIGN_OR_RETURN(auto listed, repo.backend().List(FileType::kPack));
  std::set<std::string> present(listed.begin(), listed.end());
  plan.stats.packs = present.size();
  auto pack_size = [&](const Hash256& id) -> Result<uint64_t> {
    return repo.backend().Size(FileType::kPack, id.Hex());
  };
  std::set<std::string> indexed;
  for (size_t p = 0; p < view.packs.size(); ++p) {
    internal::IndexedPack& pack = view.packs[p];
    indexed.insert(pack.id.Hex());
    uint64_t frame_bytes = 0, live_count = 0, live_raw = 0, dead_raw = 0;
    double live_stored = 0;
    const std::vector<double> share = StoredShares(pack.blobs, &frame_bytes);
    for (size_t e = 0; e < pack.blobs.size(); ++e) {
      if (!chosen[p][e]) {
        dead_raw += pack.blobs[e].raw_length;
        continue;
      }
      live_count++;
      live_raw += pack.blobs[e].raw_length;
      live_stored += share[e];
    }
    plan.stats.live_blobs += live_count;
    plan.stats.live_bytes += live_raw;
    plan.stats.dead_blobs += pack.blobs.size() - live_count;
    plan.stats.dead_bytes += dead_raw;
    const bool exists = present.count(pack.id.Hex()) > 0;
    if (live_count == 0) {
      plan.delete_packs.push_back(pack.id);
      if (exists) {
        ASSIGN_OR_RETURN(uint64_t size, pack_size(pack.id));
        plan.bytes_removed += size;
      }
      continue;
    }
    if (!exists)
      return Error(Code::kCorruption, "pack {} holds {} live blobs but is missing from data/; {}",
                   pack.id.Hex(), live_count, kRunCheck);
    // The half byte absorbs rounding: a fully live pack is never repacked.
    if (live_stored + 0.5 < repack_below * double(frame_bytes)) {
      PrunePlan::Repack r{pack.id, {}};
      for (size_t e = 0; e < pack.blobs.size(); ++e)
        if (chosen[p][e]) r.live.push_back(pack.blobs[e]);
      ASSIGN_OR_RETURN(uint64_t size, pack_size(pack.id));
      plan.bytes_removed += size;
      plan.bytes_repacked += uint64_t(live_stored);
      plan.repack.push_back(std::move(r));
    } else {
      plan.keep.push_back(PackIndex{pack.id, std::move(pack.blobs)});
    }
  }
  for (const auto& name : present) {
    if (indexed.count(name)) continue;
    ASSIGN_OR_RETURN(Hash256 id, Hash256::FromHexString(name));
    ASSIGN_OR_RETURN(uint64_t size, pack_size(id));
    plan.unreferenced_packs.push_back(id);
    plan.bytes_removed += size;
  }

  uint64_t surviving = 0;  // index entries after prune
  for (const auto& k : plan.keep) surviving += k.blobs.size();
  for (const auto& r : plan.repack) surviving += r.live.size();
  const size_t needed = (surviving + kPruneIndexMaxBlobs - 1) / kPruneIndexMaxBlobs;
  plan.rewrite_index = !plan.delete_packs.empty() || !plan.repack.empty() ||
                       !view.superseded.empty() || view.files.size() > needed;
  return plan;
}

namespace {

// Writes the live blobs of the packs to repack into new packs and returns
// their index entries; saves packs only. A frame is the unit of encryption,
// so dropping its dead blobs means re-sealing: every live blob is opened,
// verified against its id, and framed anew (per type, as the writer does).
class Repacker {
 public:
  explicit Repacker(Repository& repo) : repo_(repo) {}

  Result<std::vector<PackIndex>> Run(const PrunePlan& plan) {
    for (const auto& r : plan.repack) {
      if (CancelRequested()) return Error(Code::kCancelled, "prune cancelled while repacking");
      RETURN_IF_ERROR(CopyLive(r).With("repacking pack " + r.pack.Hex()));
    }
    for (FrameBuilder* fb : {&data_, &tree_}) RETURN_IF_ERROR(CloseFrame(*fb));
    RETURN_IF_ERROR(SavePack());
    return std::move(out_);
  }

 private:
  Status CopyLive(const PrunePlan::Repack& r) {
    ASSIGN_OR_RETURN(Bytes data, repo_.backend().Load(FileType::kPack, r.pack.Hex()));
    for (size_t i = 0; i < r.live.size();) {
      const BlobEntry& f = r.live[i];
      if (uint64_t(f.offset) + f.length > data.size())
        return Error(Code::kCorruption, "frame at offset {} lies beyond the end; {}", f.offset,
                     kRunCheck);
      Result<Bytes> plain = repo_.sealer().Open(
          f.type, {}, ByteSpan(data.data() + f.offset, f.length), kMaxFramePlain);
      if (!plain.ok())
        return Damaged(fmt::format("frame at offset {}", f.offset), std::move(plain).status());
      for (; i < r.live.size() && r.live[i].offset == f.offset; ++i) {
        const BlobEntry& e = r.live[i];
        ASSIGN_OR_RETURN(ByteSpan blob, SliceFrame(*plain, e));
        if (e.type != f.type || repo_.sealer().ChunkId(blob) != e.id)
          return Error(Code::kCorruption, "blob {} does not hash to its id; {}", e.id.Hex(),
                       kRunCheck);
        FrameBuilder& fb = e.type == ObjectType::kTree ? tree_ : data_;
        fb.Add(e.id, blob);
        if (fb.size() >= kFrameTarget) RETURN_IF_ERROR(CloseFrame(fb));
      }
    }
    return OkStatus();
  }

  Status CloseFrame(FrameBuilder& fb) {
    if (fb.empty()) return OkStatus();
    SealedFrame frame = fb.Seal(repo_.sealer());
    pack_.AddFrame(frame, std::vector<bool>(frame.blobs.size(), true));
    if (pack_.size() >= repo_.config().pack_size) return SavePack();
    return OkStatus();
  }

  Status SavePack() {
    if (pack_.empty()) return OkStatus();
    PackIndex entry{Hash256{}, pack_.entries()};
    Bytes bytes = pack_.Finish(repo_.sealer());
    entry.pack = Blake3(bytes);
    RETURN_IF_ERROR(repo_.backend().Save(FileType::kPack, entry.pack.Hex(), bytes));
    out_.push_back(std::move(entry));
    return OkStatus();
  }

  Repository& repo_;
  FrameBuilder data_{ObjectType::kData}, tree_{ObjectType::kTree};
  PackBuilder pack_;
  std::vector<PackIndex> out_;
};

// Writes index files for `packs`, at most kPruneIndexMaxBlobs entries each.
// Only the last one supersedes the old files: until it exists the old ones
// still count, so a crash in between loses no pack from the index.
Status WriteIndexes(Repository& repo, std::vector<PackIndex> packs,
                    const std::vector<std::string>& old) {
  std::vector<IndexFile> files(1);
  size_t entries = 0;
  for (auto& p : packs) {
    if (entries > 0 && entries + p.blobs.size() > kPruneIndexMaxBlobs) {
      files.emplace_back();
      entries = 0;
    }
    entries += p.blobs.size();
    files.back().packs.push_back(std::move(p));
  }
  for (const auto& name : old) {
    ASSIGN_OR_RETURN(Hash256 id, Hash256::FromHexString(name));
    files.back().supersedes.push_back(id);
  }
  for (const auto& f : files)
    RETURN_IF_ERROR(repo.SaveFile(FileType::kIndex, ObjectType::kIndex, EncodeIndex(f))
                        .With("writing a new index file"));
  return OkStatus();
}

Status RemoveIfPresent(Repository& repo, FileType type, const std::string& name) {
  Status s = repo.backend().Remove(type, name);
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  return OkStatus();
}

}  // namespace

Status ExecutePrune(Repository& repo, const PrunePlan& plan,
                    const std::function<Status()>& still_locked) {
  ASSIGN_OR_RETURN(std::vector<PackIndex> fresh, Repacker(repo).Run(plan));
  if (plan.rewrite_index) {
    std::vector<PackIndex> surviving = plan.keep;
    for (auto& p : fresh) surviving.push_back(std::move(p));
    // With nothing surviving there is nothing to describe: the old index
    // files are simply removed (their packs are all going).
    if (!surviving.empty())
      RETURN_IF_ERROR(WriteIndexes(repo, std::move(surviving), plan.index_files));
  }
  if (still_locked) RETURN_IF_ERROR(still_locked().With("prune stopped before removing files"));
  if (plan.rewrite_index)
    for (const auto& name : plan.index_files)
      RETURN_IF_ERROR(RemoveIfPresent(repo, FileType::kIndex, name));
  for (const auto* list : {&plan.delete_packs, &plan.unreferenced_packs})
    for (const auto& id : *list) RETURN_IF_ERROR(RemoveIfPresent(repo, FileType::kPack, id.Hex()));
  for (const auto& r : plan.repack)
    RETURN_IF_ERROR(RemoveIfPresent(repo, FileType::kPack, r.pack.Hex()));
  return repo.SyncIndex();
}

}  // namespace casulo::repo

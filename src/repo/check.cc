#include "repo/check.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>

#include "check_internal.h"
#include "core/blake3.h"
#include "core/cancel.h"

namespace casulo::repo {

Result<std::function<bool(const Hash256&)>> ParseReadDataSubset(std::string_view subset) {
  using Selector = std::function<bool(const Hash256&)>;
  if (subset.empty()) return Selector([](const Hash256&) { return true; });
  auto bad = [&] {
    return Error(Code::kInvalidArgument,
                 "--read-data-subset '{}': expected n/m with 1 <= n <= m <= 256, or x% with "
                 "0 < x <= 100",
                 subset);
  };
  if (subset.back() == '%') {
    std::string num(subset.substr(0, subset.size() - 1));
    char* end = nullptr;
    double pct = num.empty() ? 0 : std::strtod(num.c_str(), &end);
    if (num.empty() || *end != '\0' || !(pct > 0 && pct <= 100)) return bad();
    const double limit = pct / 100.0 * 4294967296.0;
    return Selector([limit](const Hash256& p) { return double(LoadU32(p.b.data())) < limit; });
  }
  size_t slash = subset.find('/');
  if (slash == std::string_view::npos) return bad();
  unsigned n = 0, m = 0;
  auto parse = [](std::string_view s, unsigned& v) {
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
  };
  if (!parse(subset.substr(0, slash), n) || !parse(subset.substr(slash + 1), m) || n < 1 || n > m ||
      m > 256)
    return bad();
  return Selector([n, m](const Hash256& p) { return p.b[0] % m == n - 1; });
}

namespace {

using internal::IndexedPack;
using internal::IndexView;

class Checker {
 public:
  Checker(Repository& repo, std::function<bool(const Hash256&)> read_data,
          const std::function<void(const CheckFinding&)>& on_finding)
      : repo_(repo), read_data_(std::move(read_data)), on_finding_(on_finding) {}

  Status Run() {
    CheckKeys();
    Result<IndexView> view =
        internal::LoadIndexView(repo_, [this](const std::string& object, Status problem) -> Status {
          if (problem.code() == Code::kCancelled) return problem;
          Report(CheckFinding::kError, object, problem.ToString());
          return OkStatus();
        });
    if (!view.ok()) {
      if (view.status().code() == Code::kCancelled) return view.status();
      Report(CheckFinding::kError, "repository",
             "cannot list index files: " + view.status().ToString());
      return OkStatus();  // nothing else can be checked without an index
    }
    view_ = std::move(view).value();
    for (const auto& s : view_.superseded)
      Report(CheckFinding::kInfo, "index " + s,
             "superseded by a newer index file (left by an interrupted prune); prune removes it");
    RETURN_IF_ERROR(CheckPacks());
    ReportDuplicates();
    return CheckSnapshots();
  }

  std::vector<CheckFinding> TakeFindings() { return std::move(findings_); }

 private:
  void Report(CheckFinding::Severity sev, std::string object, std::string message) {
    findings_.push_back(CheckFinding{sev, std::move(object), std::move(message)});
    if (on_finding_) on_finding_(findings_.back());
  }

  // Key files are named by the BLAKE3 of their content; a damaged one that
  // another key file can stand in for is only found here.
  void CheckKeys() {
    Result<std::vector<std::string>> names = repo_.backend().List(FileType::kKey);
    if (!names.ok()) {
      Report(CheckFinding::kError, "repository", "cannot list keys/: " + names.status().ToString());
      return;
    }
    for (const auto& name : *names) {
      Result<Bytes> b = repo_.backend().Load(FileType::kKey, name);
      if (!b.ok())
        Report(CheckFinding::kError, "key " + name, b.status().ToString());
      else if (Blake3(*b).Hex() != name)
        Report(CheckFinding::kError, "key " + name, "content does not match its name (damaged)");
    }
  }

  Status CheckPacks() {
    Result<std::vector<std::string>> listed = repo_.backend().List(FileType::kPack);
    if (!listed.ok()) {
      Report(CheckFinding::kError, "repository",
             "cannot list data/: " + listed.status().ToString());
      return OkStatus();
    }
    std::set<std::string> present(listed->begin(), listed->end());
    std::set<std::string> indexed;
    for (const IndexedPack& p : view_.packs) {
      if (CancelRequested()) return Error(Code::kCancelled, "cancelled while checking packs");
      indexed.insert(p.id.Hex());
      if (!present.count(p.id.Hex())) {
        Report(CheckFinding::kError, "pack " + p.id.Hex(),
               fmt::format("missing from data/, but index {} lists {} blobs in it", p.index,
                           p.blobs.size()));
        continue;
      }
      CheckPack(p);
    }
    for (const auto& name : present)
      if (!indexed.count(name))
        Report(CheckFinding::kInfo, "pack " + name,
               "unreferenced pack (named by no index file, left by an interrupted backup or "
               "prune); prune removes it");
    return OkStatus();
  }

  // Reads `length` bytes at `offset` of the pack: from `whole` when the pack
  // was read whole, else from the backend.
  Result<Bytes> Slice(const IndexedPack& p, const Bytes* whole, uint64_t offset, uint64_t length) {
    if (!whole) return repo_.backend().Load(FileType::kPack, p.id.Hex(), offset, length);
    return Bytes(whole->begin() + offset, whole->begin() + offset + length);
  }

  void CheckPack(const IndexedPack& p) {
    const std::string object = "pack " + p.id.Hex();
    Result<uint64_t> size = repo_.backend().Size(FileType::kPack, p.id.Hex());
    if (!size.ok()) return Report(CheckFinding::kError, object, size.status().ToString());
    std::optional<Bytes> whole;
    if (read_data_(p.id)) {
      Result<Bytes> all = repo_.backend().Load(FileType::kPack, p.id.Hex());
      if (!all.ok())
        return Report(CheckFinding::kError, object, "cannot read: " + all.status().ToString());
      whole = std::move(all).value();
      if (Blake3(*whole) != p.id)
        Report(CheckFinding::kError, object, "content does not match its name (damaged)");
    }
    const Bytes* data = whole ? &*whole : nullptr;
    Status layout = CheckLayout(p, data ? data->size() : *size, data);
    if (!layout.ok()) Report(CheckFinding::kError, object, layout.message());
    // Blobs are worth checking even when the header is damaged: the index
    // alone says where they are.
    if (data) CheckBlobs(p, *data);
  }

  // The pack's size, trailer and header against the index's entries. The
  // Status message is the finding's text.
  Status CheckLayout(const IndexedPack& p, uint64_t size, const Bytes* data) {
    // The index's frames must tile the pack from offset 0, as PackBuilder
    // writes them; the blobs of one frame share its offset, length and type.
    uint64_t frames_end = 0;
    for (size_t i = 0; i < p.blobs.size(); ++i) {
      const BlobEntry& e = p.blobs[i];
      if (i > 0 && e.offset == p.blobs[i - 1].offset) {
        if (e.length != p.blobs[i - 1].length || e.type != p.blobs[i - 1].type)
          return Error(Code::kCorruption,
                       "index {} gives the frame at offset {} two lengths or types (blob {})",
                       p.index, e.offset, e.id.Hex());
        continue;
      }
      if (e.offset != frames_end)
        return Error(Code::kCorruption, "index {} puts a frame at offset {}, expected {} (blob {})",
                     p.index, e.offset, frames_end, e.id.Hex());
      frames_end += e.length;
    }
    if (size < frames_end + kPackTrailerSize)
      return Error(Code::kCorruption, "is {} bytes, but index {} has its frames end at {}", size,
                   p.index, frames_end);
    Result<Bytes> trailer = Slice(p, data, size - kPackTrailerSize, kPackTrailerSize);
    if (!trailer.ok())
      return Error(Code::kCorruption, "cannot read trailer: {}", trailer.status().ToString());
    Result<uint32_t> header_len = ReadPackHeaderLength(*trailer);
    if (!header_len.ok())
      return Error(Code::kCorruption, "trailer: {}", header_len.status().ToString());
    const uint64_t want = frames_end + *header_len + kPackTrailerSize;
    if (size != want)
      return Error(Code::kCorruption,
                   "is {} bytes, expected {} (frames end at {} per index {}, header {}, "
                   "trailer {})",
                   size, want, frames_end, p.index, *header_len, kPackTrailerSize);
    Result<Bytes> header = Slice(p, data, frames_end, *header_len);
    if (!header.ok())
      return Error(Code::kCorruption, "cannot read header: {}", header.status().ToString());
    Result<std::vector<BlobEntry>> entries = DecodePackHeader(repo_.sealer(), *header, size);
    if (!entries.ok()) return Error(Code::kCorruption, "header: {}", entries.status().ToString());
    if (*entries != p.blobs) {
      size_t i = 0;
      while (i < entries->size() && i < p.blobs.size() && (*entries)[i] == p.blobs[i]) ++i;
      return Error(Code::kCorruption,
                   "header lists {} blobs, index {} lists {}; they differ from entry {}",
                   entries->size(), p.index, p.blobs.size(), i);
    }
    return OkStatus();
  }

  // Opens every frame once and verifies each blob in it against its id.
  void CheckBlobs(const IndexedPack& p, const Bytes& data) {
    const std::string object = "pack " + p.id.Hex();
    for (size_t i = 0; i < p.blobs.size();) {
      size_t end = i + 1;
      while (end < p.blobs.size() && p.blobs[end].offset == p.blobs[i].offset) ++end;
      const BlobEntry& f = p.blobs[i];
      const std::string frame =
          fmt::format("frame at offset {} ({} blobs, first {})", f.offset, end - i, f.id.Hex());
      Result<Bytes> plain =
          uint64_t(f.offset) + f.length > data.size()
              ? Result<Bytes>(Error(Code::kCorruption, "lies beyond the end of the pack"))
              : repo_.sealer().Open(f.type, {}, ByteSpan(data.data() + f.offset, f.length),
                                    kMaxFramePlain);
      if (!plain.ok()) {
        Report(CheckFinding::kError, object, frame + ": " + plain.status().ToString());
        i = end;
        continue;
      }
      for (; i < end; ++i) {
        const BlobEntry& e = p.blobs[i];
        Result<ByteSpan> blob = SliceFrame(*plain, e);
        if (!blob.ok())
          Report(CheckFinding::kError, object, frame + ": " + blob.status().ToString());
        else if (repo_.sealer().ChunkId(*blob) != e.id)
          Report(CheckFinding::kError, object,
                 fmt::format("blob {} in {}: content does not hash to its id", e.id.Hex(), frame));
      }
    }
  }

  void ReportDuplicates() {
    std::map<uint32_t, uint64_t> per_pack;  // pack position -> blobs also stored elsewhere
    const auto& blobs = view_.blobs;
    for (size_t i = 0; i < blobs.size();) {
      size_t j = i + 1;
      while (j < blobs.size() && blobs[j].id == blobs[i].id) ++j;
      if (j - i > 1)
        for (size_t k = i; k < j; ++k) per_pack[blobs[k].pack]++;
      i = j;
    }
    for (const auto& [pos, n] : per_pack)
      Report(
          CheckFinding::kInfo, "pack " + view_.packs[pos].id.Hex(),
          fmt::format("{} of its blobs are also stored in another pack; prune keeps one copy", n));
  }

  Status CheckSnapshots() {
    Result<std::vector<std::string>> names = repo_.backend().List(FileType::kSnapshot);
    if (!names.ok()) {
      Report(CheckFinding::kError, "repository",
             "cannot list snapshots/: " + names.status().ToString());
      return OkStatus();
    }
    std::sort(names->begin(), names->end());
    internal::NodeSet seen;
    const LoadNodeFn load = internal::ViewNodeLoader(repo_, view_);
    for (const auto& name : *names) {
      if (CancelRequested()) return Error(Code::kCancelled, "cancelled while checking snapshots");
      Result<Snapshot> snap = repo_.LoadSnapshot(name);
      if (!snap.ok()) {
        Report(CheckFinding::kError, "snapshot " + name, snap.status().ToString());
        continue;
      }
      const std::string where = "snapshot " + name.substr(0, 12);
      for (const TreeRoot& root : snap->Trees()) {
        Status s = internal::WalkTree(
            root, load, seen,
            [&](const Hash256& id, const TreeNode& node) {
              if (node.level == 0) CheckLeaf(id, node, where);
              return OkStatus();
            },
            [&](const Hash256& id, Status problem) {
              Report(CheckFinding::kError, "tree node " + id.Hex(),
                     fmt::format("{} (first seen in {})", problem.ToString(), where));
              return OkStatus();
            });
        if (s.code() == Code::kCancelled) return s;
        if (!s.ok()) Report(CheckFinding::kError, "snapshot " + name, s.ToString());
      }
    }
    return OkStatus();
  }

  // One finding per leaf, however many of its chunks are missing.
  void CheckLeaf(const Hash256& leaf, const TreeNode& node, const std::string& where) {
    uint64_t missing = 0, wrong_type = 0;
    const Hash256* first = nullptr;
    for (const auto& id : node.ids) {
      if (id.IsZero()) continue;
      const internal::IndexedBlob* b = view_.Find(id);
      if (b && view_.Entry(*b).type == ObjectType::kData) continue;
      (b ? wrong_type : missing)++;
      if (!first) first = &id;
    }
    if (missing + wrong_type == 0) return;
    std::string what;
    if (missing)
      what = fmt::format("{} of its {} chunks are in no index", missing, node.ids.size());
    if (wrong_type)
      what += fmt::format("{}{} of its {} chunks are indexed as tree nodes, not data",
                          missing ? "; " : "", wrong_type, node.ids.size());
    Report(CheckFinding::kError, "tree node " + leaf.Hex(),
           fmt::format("{} (first {}; first seen in {})", what, first->Hex(), where));
  }

  Repository& repo_;
  std::function<bool(const Hash256&)> read_data_;
  const std::function<void(const CheckFinding&)>& on_finding_;
  IndexView view_;
  std::vector<CheckFinding> findings_;
};

}  // namespace

Result<std::vector<CheckFinding>> CheckRepository(
    Repository& repo, const CheckOptions& options,
    const std::function<void(const CheckFinding&)>& on_finding) {
  std::function<bool(const Hash256&)> read_data = [](const Hash256&) { return false; };
  if (options.read_data || !options.read_data_subset.empty()) {
    ASSIGN_OR_RETURN(read_data, ParseReadDataSubset(options.read_data_subset));
  }
  Checker checker(repo, std::move(read_data), on_finding);
  RETURN_IF_ERROR(checker.Run());
  return checker.TakeFindings();
}

}  // namespace casulo::repo

// Which blocks a differential restore writes (docs/design/vm-backup.md,
// "Restore over a VM"). The pool knows what changed on the VM's disk since
// a snapshot whose CBT log it kept (the cbt_metadata base a backup leaves,
// xapi-protocol.md §2.4); the repository knows what differs between two of
// its points. Together they give a superset of the blocks where the disk
// now differs from the point, which is all that correctness needs: a block
// written needlessly is rewritten with the point's own bytes.
#include <fmt/format.h>

#include <algorithm>

#include "engine/image.h"
#include "vm_restore_internal.h"

namespace casulo::engine::vm {
namespace {

void AddBits(const Bytes& bitmap, std::vector<uint64_t>& out) {
  for (size_t i = 0; i < bitmap.size(); ++i) {
    if (bitmap[i] == 0) continue;
    for (unsigned bit = 0; bit < 8; ++bit)
      if (bitmap[i] & (0x80u >> bit)) out.push_back(uint64_t(i) * 8 + bit);  // §2.4 bit order
  }
}

// The 64 KiB blocks of the chunks whose ids differ between two trees of
// one disk (the point's and a later point's).
Status AddTreeDifferences(repo::Repository& repo, const repo::SnapshotDisk& a, const repo::SnapshotDisk& b,
                          std::vector<uint64_t>& out) {
  if (a.size != b.size || a.chunk_size != b.chunk_size || a.tree.count != b.tree.count)
    return Error(Code::kUnsupported, "the disk is {} bytes in {}-byte chunks in the later point, {} in {} here",
                 b.size, b.chunk_size, a.size, a.chunk_size);
  if (a.tree.root == b.tree.root && a.tree.height == b.tree.height) return OkStatus();
  auto load = [&repo](const Hash256& id) { return repo.LoadBlob(id); };
  repo::TreeReader ta(a.tree, load), tb(b.tree, load);
  for (uint64_t i = 0; i < ta.count(); ++i) {
    ASSIGN_OR_RETURN(Hash256 x, ta.At(i));
    ASSIGN_OR_RETURN(Hash256 y, tb.At(i));
    if (x == y) continue;
    uint64_t start = i * a.chunk_size, end = std::min<uint64_t>(a.size, start + a.chunk_size);
    for (uint64_t blk = start / kCbtBlock; blk * kCbtBlock < end; ++blk) out.push_back(blk);
  }
  return OkStatus();
}

}  // namespace

Result<DiskChanges> FindDiskChanges(xapi::Session& s, repo::Repository& repo, const repo::Snapshot& point,
                                    const repo::SnapshotDisk& d, const std::string& vdi_ref,
                                    const XmlRpcValue& vdi) {
  if (!Bool(vdi, "cbt_enabled")) return Error(Code::kUnsupported, "CBT is off on the VM's disk");
  if (uint64_t now = uint64_t(Int(vdi, "virtual_size")); now != d.size)
    return Error(Code::kUnsupported, "the disk is {} bytes now, {} in the point", now, d.size);

  // Each backup destroys the base of the one before (vm_backup.cc), so the
  // point's own base is left only while it is the VM's latest point; then
  // a later point's base, newest first, with the repository's difference.
  ASSIGN_OR_RETURN(std::vector<repo::SnapshotEntry> all, repo.ListSnapshots());
  std::vector<std::pair<std::string, const repo::SnapshotDisk*>> later;
  for (const auto& e : all) {
    const repo::Snapshot& p = e.snap;
    if (p.kind != "vm" || p.source != point.source ||
        std::tie(p.time, p.time_nanos) <= std::tie(point.time, point.time_nanos))
      continue;
    // The same disk: its key (source VDI uuid), else its userdevice (a
    // restore over the VM may have put a new VDI there). Either way CBT
    // must vouch that the VM's disk descends from the later point's base.
    const repo::SnapshotDisk* same = nullptr;
    for (const auto& ld : p.disks)
      if (ld.key == d.key) same = &ld;
    auto ud = d.labels.find("userdevice");
    for (const auto& ld : p.disks)
      if (same == nullptr && ud != d.labels.end() && ld.labels.count("userdevice") &&
          ld.labels.at("userdevice") == ud->second)
        same = &ld;
    if (same != nullptr) later.emplace_back(e.id, same);
  }
  std::reverse(later.begin(), later.end());  // ListSnapshots is oldest first

  DiskChanges out;
  const repo::SnapshotDisk* via = nullptr;
  std::string base_ref;
  auto try_base = [&](const repo::SnapshotDisk& disk) {
    auto it = disk.labels.find(kCbtBase);
    if (it == disk.labels.end()) return false;
    auto ref = s.Call("VDI.get_by_uuid", {XmlRpcValue(it->second)});
    if (!ref.ok() || !ref->is_string()) return false;
    base_ref = ref->str();
    out.base = it->second;
    return true;
  };
  if (!try_base(d)) {
    for (const auto& [id, ld] : later)
      if (try_base(*ld)) {
        out.via_point = id;
        via = ld;
        break;
      }
  }
  if (base_ref.empty()) {
    if (d.labels.count(kCbtBase) == 0 && later.empty())
      return Error(Code::kUnsupported, "the point has no CBT base (its backup ran without CBT)");
    return Error(Code::kUnsupported, "no CBT base of this or a later point is left in the pool");
  }
  auto text = Call(s, "VDI.list_changed_blocks", {XmlRpcValue(base_ref), XmlRpcValue(vdi_ref)});
  if (!text.ok()) return std::move(text).status().With("VDI.list_changed_blocks against " + out.base);
  if (!text->is_string()) return Error(Code::kRemote, "list_changed_blocks returned no string");
  ASSIGN_OR_RETURN(Bytes bitmap, ParseChangedBlocks(AsBytes(text->str()), "base64", d.size));
  AddBits(bitmap, out.blocks);
  if (via != nullptr) RETURN_IF_ERROR(AddTreeDifferences(repo, d, *via, out.blocks));
  std::sort(out.blocks.begin(), out.blocks.end());
  out.blocks.erase(std::unique(out.blocks.begin(), out.blocks.end()), out.blocks.end());
  uint64_t nblocks = (d.size + kCbtBlock - 1) / kCbtBlock;
  while (!out.blocks.empty() && out.blocks.back() >= nblocks) out.blocks.pop_back();
  return out;
}

}  // namespace casulo::engine::vm

// BackupVm: preflight, sweep, snapshot, metadata, disks, commit, cleanup
// (docs/design/vm-backup.md). Every pool change is paired with its undo
// before the next step, so an error or a signal at any point leaves the
// pool as it was; a SIGKILL leaves tagged objects the next run sweeps.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include "core/cancel.h"
#include "engine/disk.h"
#include "formats/raw.h"
#include "vm_internal.h"
#include "xapi/transfer.h"

namespace casulo::engine {

using namespace vm;
using Clock = std::chrono::steady_clock;

namespace {

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The latest recovery point of this VM, if any.
Result<std::optional<std::pair<std::string, repo::Snapshot>>> LatestPoint(repo::Repository& repo,
                                                                          const std::string& vm_uuid) {
  ASSIGN_OR_RETURN(auto all, repo.ListSnapshots());
  std::optional<std::pair<std::string, repo::Snapshot>> best;
  for (auto& e : all) {
    const repo::Snapshot& snap = e.snap;
    if (snap.kind != "vm" || snap.source != vm_uuid) continue;
    if (!best || std::tie(snap.time, snap.time_nanos) > std::tie(best->second.time, best->second.time_nanos))
      best = std::make_pair(e.id, snap);
  }
  return best;
}

XmlRpcValue RecordOf(xapi::Session& s, const std::string& cls, const std::string& ref) {
  auto r = Call(s, cls + ".get_record", {XmlRpcValue(ref)});
  return r.ok() ? *r : XmlRpcValue();
}

// The metadata document: the records a restore needs, as the pool gave
// them (XML-RPC text per record keeps every type exactly), and XAPI's own
// /export_metadata of the snapshot.
Result<Bytes> MetadataDocument(xapi::Session& s, const xapi::Endpoint& ep, const std::string& vm_ref,
                               const std::string& snap_ref, const XmlRpcValue& vm_rec) {
  nlohmann::json doc;
  auto text = [](const XmlRpcValue& v) { return formats::PrintXmlRpcValue(v, formats::XmlRpcStyle::kBare); };
  doc["format"] = "casulo-vm-metadata-1";
  doc["vm"] = text(vm_rec);
  doc["vm_ref"] = vm_ref;
  for (const auto& vbd : Refs(vm_rec, "VBDs")) {
    XmlRpcValue rec = RecordOf(s, "VBD", vbd);
    doc["vbds"][vbd] = text(rec);
    std::string vdi = Str(rec, "VDI");
    if (xapi::IsNullRef(vdi)) continue;
    XmlRpcValue vrec = RecordOf(s, "VDI", vdi);
    doc["vdis"][vdi] = text(vrec);
    std::string sr = Str(vrec, "SR");
    if (!xapi::IsNullRef(sr) && !doc["srs"].contains(sr)) doc["srs"][sr] = text(RecordOf(s, "SR", sr));
  }
  for (const auto& vif : Refs(vm_rec, "VIFs")) {
    XmlRpcValue rec = RecordOf(s, "VIF", vif);
    doc["vifs"][vif] = text(rec);
    std::string net = Str(rec, "network");
    if (xapi::IsNullRef(net) || doc["networks"].contains(net)) continue;
    XmlRpcValue nrec = RecordOf(s, "network", net);
    nlohmann::json n = {{"record", text(nrec)}, {"vlan", -1}};
    for (const auto& pif : Refs(nrec, "PIFs")) {
      int64_t tag = Int(RecordOf(s, "PIF", pif), "VLAN");
      if (tag >= 0) n["vlan"] = tag;
    }
    doc["networks"][net] = n;
  }
  for (const auto& vtpm : Refs(vm_rec, "VTPMs")) doc["vtpms"][vtpm] = text(RecordOf(s, "VTPM", vtpm));
  Bytes xva;
  BytesSink sink(&xva);
  xapi::HandlerOptions ho;
  ho.task_label = kTaskPrefix + Str(vm_rec, "name_label");
  auto meta = xapi::Download(s, ep, {"/export_metadata", {{"ref", snap_ref}}}, sink, ho);
  if (meta.ok()) {
    std::string b64(sodium_base64_ENCODED_LEN(xva.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(b64.data(), b64.size(), xva.data(), xva.size(), sodium_base64_VARIANT_ORIGINAL);
    b64.pop_back();  // the terminating NUL
    doc["export_metadata_xva"] = b64;
  } else {
    doc["export_metadata_error"] = meta.status().ToString();
  }
  std::string out = doc.dump();
  return Bytes(out.begin(), out.end());
}

}  // namespace

Result<VmBackupReport> BackupVm(xapi::Session& s, const xapi::Endpoint& ep, repo::Repository& repo,
                                const std::string& vm_uuid, const VmBackupOptions& opt) {
  VmBackupReport rep;
  rep.vm_uuid = vm_uuid;
  auto phase = [&](std::string_view p) {
    if (opt.progress) opt.progress(p, 0, 0);
  };
  auto t = Clock::now();
  phase("preflight");
  ASSIGN_OR_RETURN(XmlRpcValue vm_ref, Call(s, "VM.get_by_uuid", {XmlRpcValue(vm_uuid)}));
  ASSIGN_OR_RETURN(XmlRpcValue vm_rec, Call(s, "VM.get_record", {vm_ref}));
  rep.vm_name = Str(vm_rec, "name_label");
  if (Bool(vm_rec, "is_a_template") || Bool(vm_rec, "is_a_snapshot") || Bool(vm_rec, "is_control_domain"))
    return Error(Code::kInvalidArgument, "{} ({}) is a template, snapshot or control domain, not a VM to back up",
                 rep.vm_name, vm_uuid);
  if (const XmlRpcValue* ops = vm_rec.Find("current_operations"); ops && ops->is_struct())
    for (const auto& [task, op] : ops->members())
      if (op.is_string() && (op.str() == "migrate_send" || op.str() == "pool_migrate")) {
        rep.skipped = true;
        rep.skip_reason = "the VM is being migrated (task " + task + ")";
        return rep;
      }
  ASSIGN_OR_RETURN(auto latest, LatestPoint(repo, vm_uuid));
  std::vector<std::string> bases;
  if (latest) {
    rep.parent_id = latest->first;
    for (const auto& d : latest->second.disks)
      for (const char* k : {kCbtBase, kVhdBase})
        if (d.labels.count(k)) bases.push_back(d.labels.at(k));
  }
  ASSIGN_OR_RETURN(rep.swept,
                   SweepLeftovers(s, vm_ref, vm_rec, vm_uuid, bases).With("removing leftovers of an earlier run"));
  if (!rep.swept.empty()) {
    ASSIGN_OR_RETURN(vm_rec, Call(s, "VM.get_record", {vm_ref}));
  }

  std::vector<DiskOfVm> vm_disks = DisksOfVm(s, vm_rec, opt);
  if (std::string why = PreflightSkipReason(s, vm_disks, opt); !why.empty()) {
    rep.skipped = true;
    rep.skip_reason = why;
    return rep;
  }
  std::vector<std::string> ignore;  // VDI refs of the disks left out
  for (const auto& d : vm_disks)
    if (d.excluded) {
      ignore.push_back(d.ref);
      rep.notes.push_back("disk " + Str(d.record, "name_label") + " left out ([NOBAK] or an excluded tag)");
    }

  Undo undo;
  // A step that fails while SIGINT/SIGTERM is pending failed because of it
  // (an aborted transfer's task says VDI_IO_ERROR): the run is cancelled.
  auto fail = [&](Status st) -> Status {
    if (CancelRequested() && st.code() != Code::kCancelled)
      st = Status(Code::kCancelled, "interrupted: " + st.ToString());
    std::vector<std::string> errs = undo.RunAll();
    for (const auto& e : errs) st = std::move(st).With("cleanup: " + e);
    return st;
  };
  // Polled between steps: SIGINT/SIGTERM stop the run here, and `fail`
  // undoes what was done (the transfers stop on the same flag).
  auto interrupted = [] { return Status(Code::kCancelled, "interrupted"); };
  undo.Add("removing our finished tasks", [&s, vm_rec] {
    RemoveFinishedTasks(s, vm_rec, nullptr);
    return OkStatus();
  });
  for (const char* op : {"pool_migrate", "migrate_send"}) {
    if (!MapValue(vm_rec, "blocked_operations", op).empty()) continue;
    Status st =
        Call(s, "VM.add_to_blocked_operations", {vm_ref, XmlRpcValue(op), XmlRpcValue(kBlockReason)}).status();
    if (!st.ok()) return fail(std::move(st).With("blocking " + std::string(op)));
    undo.Add(std::string("unblocking ") + op, [&s, vm_ref, op] {
      return CleanupCall(s, "VM.remove_from_blocked_operations", {vm_ref, XmlRpcValue(op)}).status();
    });
  }
  if (CancelRequested()) return fail(interrupted());
  if (opt.enable_cbt && opt.probe->NoCbt().empty()) {
    for (const auto& d : vm_disks) {
      if (d.excluded || Bool(d.record, "cbt_enabled")) continue;
      // Refused: CBT stays off and the disk goes by another transport.
      // Hosts before 7.3 lack the method and an unlicensed pool the
      // feature: neither changes during the run, so no other disk asks.
      auto r = s.Call("VDI.enable_cbt", {XmlRpcValue(d.ref)});
      std::string_view code = r.ok() ? "" : xapi::XapiCode(r.status());
      if (code == "MESSAGE_METHOD_UNKNOWN")
        opt.probe->SetNoCbt("the hosts have no CBT (VDI.enable_cbt is unknown: XenServer before 7.3)");
      else if (code == "LICENCE_RESTRICTION")
        opt.probe->SetNoCbt("CBT is not licensed in this pool (" + r.status().ToString() + ")");
      if (!opt.probe->NoCbt().empty()) break;
    }
  }
  rep.phase_seconds["preflight"] = Since(t);

  t = Clock::now();
  phase("snapshot");
  char when[32];
  std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", std::gmtime(&now));
  const std::string run = fmt::format("{}-{}", when, getpid());
  size_t notes_before = rep.notes.size();
  auto snap = TakeSnapshot(s, vm_ref, "casulo-" + std::string(when), ignore, opt.quiesce, &rep.notes);
  if (!snap.ok()) return fail(std::move(snap).status().With("snapshot of " + rep.vm_name));
  const std::string snap_ref = *snap;
  bool quiesced = opt.quiesce && rep.notes.size() > notes_before &&
                  rep.notes[notes_before].rfind("quiesced", 0) == 0;
  undo.Add("removing the snapshot", [&s, snap_ref] { return DestroySnapshotVm(s, snap_ref, {}); });
  (void)Call(s, "VM.add_to_other_config", {XmlRpcValue(snap_ref), XmlRpcValue(kTagVm), XmlRpcValue(vm_uuid)});
  (void)Call(s, "VM.add_to_other_config", {XmlRpcValue(snap_ref), XmlRpcValue(kTagRun), XmlRpcValue(run)});
  auto snap_rec = Call(s, "VM.get_record", {XmlRpcValue(snap_ref)});
  if (!snap_rec.ok()) return fail(std::move(snap_rec).status());
  std::vector<DiskJob> jobs;
  for (const auto& vbd : Refs(*snap_rec, "VBDs")) {
    XmlRpcValue rec = RecordOf(s, "VBD", vbd);
    std::string vdi = Str(rec, "VDI");
    if (Str(rec, "type") != "Disk" || xapi::IsNullRef(vdi)) continue;
    XmlRpcValue vrec = RecordOf(s, "VDI", vdi);
    // Left out but snapshotted (a quiesced snapshot, or no ignore_vdis):
    // not read; its snapshot VDI goes with the snapshot VM.
    if (std::find(ignore.begin(), ignore.end(), Str(vrec, "snapshot_of")) != ignore.end()) continue;
    (void)Call(s, "VDI.add_to_other_config", {XmlRpcValue(vdi), XmlRpcValue(kTagVm), XmlRpcValue(vm_uuid)});
    DiskJob job;
    job.snap_vdi_ref = vdi;
    job.snap_vdi_uuid = Str(vrec, "uuid");
    std::string source = Str(vrec, "snapshot_of");
    job.key = xapi::IsNullRef(source) ? job.snap_vdi_uuid : Str(RecordOf(s, "VDI", source), "uuid");
    job.name = Str(vrec, "name_label");
    job.userdevice = Str(rec, "userdevice");
    job.size = uint64_t(Int(vrec, "virtual_size"));
    job.cbt = Bool(vrec, "cbt_enabled");
    job.sr = Str(vrec, "SR");
    if (latest)
      if (const repo::SnapshotDisk* p = latest->second.FindDisk(job.key); p && p->size == job.size) job.parent = *p;
    jobs.push_back(std::move(job));
  }
  rep.phase_seconds["snapshot"] = Since(t);
  if (CancelRequested()) return fail(interrupted());

  t = Clock::now();
  phase("metadata");
  auto meta = MetadataDocument(s, ep, vm_ref.str(), snap_ref, vm_rec);
  if (!meta.ok()) return fail(std::move(meta).status());
  MemoryRandomSource meta_src(*meta);
  auto meta_reader = formats::OpenRawImage(meta_src);
  if (!meta_reader.ok()) return fail(std::move(meta_reader).status());
  auto meta_tree = BackupDiskExtents(repo, **meta_reader, {});
  if (!meta_tree.ok()) return fail(std::move(meta_tree).status().With("storing the metadata"));
  rep.new_bytes += meta_tree->stats.new_bytes;  // the point's own bytes count too
  rep.phase_seconds["metadata"] = Since(t);
  if (CancelRequested()) return fail(interrupted());

  t = Clock::now();
  std::vector<repo::SnapshotDisk> disks;
  std::vector<bool> keep_cbt;  // per job: the base kept is cbt_metadata
  for (const auto& job : jobs) {
    if (CancelRequested()) return fail(interrupted());
    auto out = BackupOneDisk(s, ep, repo, job, opt);
    if (!out.ok()) return fail(std::move(out).status());
    // What this run keeps for the next: the snapshot VDI itself, as
    // cbt_metadata (its data dropped) when CBT is on and the disk could be
    // read over NBD, which is how a CBT base is used; whole otherwise, as
    // the base of a VHD delta (NBD off or failing now will likely be so
    // next time, and a whole base still serves CBT if NBD comes back).
    const std::string& how = out->report.transport;
    keep_cbt.push_back(job.cbt && (how == "cbt-nbd" || how == "nbd"));
    out->disk.labels[keep_cbt.back() ? kCbtBase : kVhdBase] = job.snap_vdi_uuid;
    rep.read_bytes += out->report.read_bytes;
    rep.new_bytes += out->report.new_bytes;
    rep.disks.push_back(out->report);
    disks.push_back(std::move(out->disk));
  }
  rep.phase_seconds["disks"] = Since(t);
  if (CancelRequested()) return fail(interrupted());

  t = Clock::now();
  phase("commit");
  repo::Snapshot point;
  point.kind = "vm";
  point.source = vm_uuid;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  point.hostname = host;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  point.time = ts.tv_sec;
  point.time_nanos = uint32_t(ts.tv_nsec);
  point.tags = opt.tags;
  if (latest) point.parent = latest->first;
  point.size = meta_tree->size;
  point.chunk_size = repo.config().chunk_size;
  point.tree = meta_tree->tree;
  point.stats = meta_tree->stats;
  point.labels = {{"vm_name", rep.vm_name},
                  {"pool", opt.pool},
                  {"run", run},
                  {"consistency", quiesced ? "quiesced" : "crash-consistent"}};
  point.disks = disks;
  auto id = repo.SaveSnapshot(point);
  if (!id.ok()) return fail(std::move(id).status().With("committing the recovery point"));
  rep.snapshot_id = *id;
  rep.phase_seconds["commit"] = Since(t);

  // Committed: from here on, failures are reported but lose nothing.
  t = Clock::now();
  phase("cleanup");
  std::vector<std::string> keep;
  for (const auto& job : jobs) keep.push_back(job.snap_vdi_uuid);
  Status st = DestroySnapshotVm(s, snap_ref, keep);
  std::vector<std::string> problems;
  if (!st.ok()) problems.push_back(st.ToString());
  for (size_t i = 0; i < jobs.size(); ++i) {
    const DiskJob& job = jobs[i];
    if (!keep_cbt[i]) continue;
    Status dd = CleanupCall(s, "VDI.data_destroy", {XmlRpcValue(job.snap_vdi_ref)}).status();
    if (!dd.ok()) problems.push_back("data_destroy " + job.snap_vdi_uuid + ": " + dd.ToString());
  }
  // The previous bases are superseded.
  for (const auto& b : bases) {
    auto ref = s.Call("VDI.get_by_uuid", {XmlRpcValue(b)});
    if (ref.ok()) (void)CleanupCall(s, "VDI.destroy", {*ref});
  }
  // Only the unblocking steps remain in `undo` that matter; the snapshot
  // removal is dropped by re-creating the list.
  undo = Undo();
  for (const char* op : {"pool_migrate", "migrate_send"}) {
    if (!MapValue(vm_rec, "blocked_operations", op).empty()) continue;
    Status u = CleanupCall(s, "VM.remove_from_blocked_operations", {vm_ref, XmlRpcValue(op)}).status();
    if (!u.ok()) problems.push_back(u.ToString());
  }
  rep.phase_seconds["cleanup"] = Since(t);
  if (!problems.empty()) rep.skip_reason = "cleanup: " + problems.front();
  return rep;
}

}  // namespace casulo::engine

// RestoreVm over an existing VM (`restore vm --overwrite [--differential]
// [--into VM]`, docs/design/vm-backup.md "Restore over a VM"). The VM must
// be halted; its start is blocked while the restore runs. Nothing is
// written into the VM's own VDIs: each disk's data goes into a new VDI in
// the same SR (VDI.create and the point's VHD for a full write; VDI.clone
// of the current disk and only the changed blocks, as xapi's chunked raw
// pieces, for a differential one), and only when every disk is written are
// the VM's VBDs moved onto the new VDIs. Until then a failure destroys the
// new VDIs and the VM is as found; after, the old VDIs are destroyed.
#include <fmt/format.h>

#include <chrono>

#include "vm_restore_internal.h"

namespace casulo::engine::vm {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One disk of the point and the VM disk it is written over.
struct Target {
  DiskPlan plan;
  std::string vbd_ref, vdi_ref;
  XmlRpcValue vbd, vdi;
  std::optional<DiskChanges> changes;  // differential: what to write
  std::string new_vdi;                 // the VDI swapped in ("" = the disk is kept)
  VmRestoreDiskReport report;
};

Result<std::string> FindVm(xapi::Session& s, const repo::Snapshot& point, const std::string& into) {
  if (into.empty()) {
    auto ref = s.Call("VM.get_by_uuid", {XmlRpcValue(point.source)});
    if (!ref.ok() || !ref->is_string())
      return Error(Code::kNotFound,
                   "the point's VM {} is not in the pool: give --into VM, or restore without --overwrite "
                   "to create a new VM", point.source);
    return ref->str();
  }
  if (auto ref = s.Call("VM.get_by_uuid", {XmlRpcValue(into)}); ref.ok() && ref->is_string()) return ref->str();
  ASSIGN_OR_RETURN(XmlRpcValue refs, Call(s, "VM.get_by_name_label", {XmlRpcValue(into)}));
  std::vector<std::string> hits;
  for (const auto& r : refs.array()) {
    auto rec = Call(s, "VM.get_record", {r});
    if (rec.ok() && !Bool(*rec, "is_a_snapshot") && !Bool(*rec, "is_a_template")) hits.push_back(r.str());
  }
  if (hits.empty()) return Error(Code::kNotFound, "no VM '{}' in the pool", into);
  if (hits.size() > 1) return Error(Code::kInvalidArgument, "'{}' names {} VMs: give the uuid", into, hits.size());
  return hits[0];
}

// Pairs each point disk with the VM's disk of the same VDI uuid (the VM the
// point came from), else of the same userdevice, and checks it may be
// replaced: not shared with another VM.
Result<std::vector<Target>> MatchDisks(xapi::Session& s, const VmMetadata& m, const repo::Snapshot& point,
                                       const XmlRpcValue& vm_rec, const std::string& vm_ref) {
  struct Disk {
    std::string vbd_ref, vdi_ref;
    XmlRpcValue vbd, vdi;
    bool taken = false;
  };
  std::vector<Disk> have;
  for (const std::string& vbd_ref : Refs(vm_rec, "VBDs")) {
    ASSIGN_OR_RETURN(XmlRpcValue vbd, Call(s, "VBD.get_record", {XmlRpcValue(vbd_ref)}));
    if (Str(vbd, "type") != "Disk" || Bool(vbd, "empty") || xapi::IsNullRef(Str(vbd, "VDI"))) continue;
    ASSIGN_OR_RETURN(XmlRpcValue vdi, Call(s, "VDI.get_record", {XmlRpcValue(Str(vbd, "VDI"))}));
    have.push_back({vbd_ref, Str(vbd, "VDI"), vbd, vdi});
  }
  std::vector<Target> out;
  for (auto& p : PlanDisks(m, point)) {
    std::string ud = StoredUserdevice(p);
    Disk* hit = nullptr;
    for (auto& h : have)
      if (!h.taken && Str(h.vdi, "uuid") == p.disk->key) hit = &h;
    for (auto& h : have)
      if (hit == nullptr && !h.taken && Str(h.vbd, "userdevice") == ud) hit = &h;
    if (hit == nullptr)
      return Error(Code::kNotFound, "VM {} has no disk at userdevice {} to write the point's disk {} over",
                   Str(vm_rec, "name_label"), ud, p.disk->name);
    hit->taken = true;
    for (const std::string& other : Refs(hit->vdi, "VBDs")) {
      if (other == hit->vbd_ref) continue;
      auto vbd = s.Call("VBD.get_record", {XmlRpcValue(other)});
      if (!vbd.ok() || Str(*vbd, "VM") == vm_ref) continue;
      auto owner = s.Call("VM.get_record", {XmlRpcValue(Str(*vbd, "VM"))});
      return Error(Code::kInvalidArgument, "disk {} ({}) is also attached to VM {}: it is not replaced",
                   Str(hit->vdi, "name_label"), Str(hit->vdi, "uuid"),
                   owner.ok() ? Str(*owner, "name_label") : Str(*vbd, "VM"));
    }
    Target t{std::move(p), hit->vbd_ref, hit->vdi_ref, hit->vbd, hit->vdi, std::nullopt, "", {}};
    t.report.key = t.plan.disk->key;
    t.report.name = Str(t.vdi, "name_label");
    t.report.userdevice = Str(t.vbd, "userdevice");
    t.report.size = t.plan.disk->size;
    out.push_back(std::move(t));
  }
  return out;
}

// A new, empty VDI like `old` (same SR, name, type, config) of `size` bytes.
XmlRpcValue VdiRecordLike(const XmlRpcValue& old, uint64_t size) {
  XmlRpcValue v = EmptyMap();
  v.Set("name_label", Field(old, "name_label", ""));
  v.Set("name_description", Field(old, "name_description", ""));
  v.Set("SR", Field(old, "SR", ""));
  v.Set("virtual_size", XmlRpcValue(std::to_string(size)));
  v.Set("type", Field(old, "type", "user"));
  v.Set("sharable", Field(old, "sharable", false));
  v.Set("read_only", XmlRpcValue(false));
  v.Set("other_config", Field(old, "other_config", EmptyMap()));
  v.Set("xenstore_data", Field(old, "xenstore_data", EmptyMap()));
  v.Set("sm_config", EmptyMap());
  v.Set("tags", Field(old, "tags", XmlRpcValue(formats::XmlRpcArray{})));
  return v;
}

// The VBD record `old` had, on `vdi`.
XmlRpcValue VbdRecordLike(const XmlRpcValue& old, const std::string& vdi) {
  XmlRpcValue v = EmptyMap();
  v.Set("VM", Field(old, "VM", ""));
  v.Set("VDI", XmlRpcValue(vdi));
  for (const char* f : {"userdevice", "bootable", "mode", "type", "unpluggable", "empty", "other_config",
                        "qos_algorithm_type", "qos_algorithm_params"})
    if (const XmlRpcValue* x = old.Find(f); x != nullptr && !x->is_nil()) v.Set(f, *x);
  return v;
}

// Writes one disk into a new VDI (registered in `undo`); sets t.new_vdi.
Status WriteDisk(xapi::Session& s, const xapi::Endpoint& ep, repo::Repository& repo, Target& t, Undo& undo,
                 std::vector<std::string>& notes) {
  auto t0 = Clock::now();
  const repo::SnapshotDisk& d = *t.plan.disk;
  VmRestoreDiskReport& rep = t.report;
  std::string label = "casulo restore of " + rep.name;
  Result<XmlRpcValue> made = t.changes ? Call(s, "VDI.clone", {XmlRpcValue(t.vdi_ref), EmptyMap()})
                                       : Call(s, "VDI.create", {VdiRecordLike(t.vdi, d.size)});
  if (!made.ok()) return std::move(made).status().With((t.changes ? "VDI.clone of " : "VDI.create for ") + rep.name);
  XmlRpcValue ref = *made;
  undo.Add("destroying the new VDI of " + rep.name, [&s, ref] { return CleanupCall(s, "VDI.destroy", {ref}).status(); });
  t.new_vdi = ref.str();
  ASSIGN_OR_RETURN(XmlRpcValue rec, Call(s, "VDI.get_record", {ref}));
  rep.vdi_uuid = Str(rec, "uuid");
  // Clones carry no CBT: the new disk gets it when the old one had it, so
  // backups of the VM go on using CBT (from a new chain).
  if (Bool(t.vdi, "cbt_enabled") && !Bool(rec, "cbt_enabled"))
    if (Status st = Call(s, "VDI.enable_cbt", {ref}).status(); !st.ok())
      notes.push_back("disk " + rep.name + ": CBT not enabled on the new VDI: " + st.ToString());
  Status up;
  if (t.changes) {
    BlockBody body = PlanBlockBody(d, t.changes->blocks);
    if (!body.pieces.empty())
      up = UploadToVdi(s, ep, t.new_vdi, {{"format", "raw"}, {"chunked", "true"}}, body.length, label,
                       [&](Sink& sink) { return WriteBlockBody(repo, d, body, sink); });
    rep.sent_bytes = body.pieces.empty() ? 0 : body.length;
  } else {
    ASSIGN_OR_RETURN(DiskVhdPlan plan, PlanDiskVhd(repo, d));
    up = UploadToVdi(s, ep, t.new_vdi, {{"format", "vhd"}}, plan.encoded_size, label,
                     [&](Sink& sink) { return WriteDiskVhd(repo, d, plan, sink); });
    rep.sent_bytes = plan.encoded_size;
  }
  if (!up.ok()) return std::move(up).With("uploading disk " + rep.name);
  rep.seconds = Since(t0);
  return OkStatus();
}

}  // namespace

Result<VmRestoreReport> RestoreOverVm(xapi::Session& s, const xapi::Endpoint& ep, repo::Repository& repo,
                                      const repo::Snapshot& point, const VmRestoreOptions& opt) {
  auto t0 = Clock::now();
  auto phase = [&](std::string_view p) {
    if (opt.progress) opt.progress(p, 0, 0);
  };
  VmRestoreReport rep;
  rep.overwrote = true;
  ASSIGN_OR_RETURN(VmMetadata m, LoadVmMetadata(repo, point));
  ASSIGN_OR_RETURN(std::string vm_ref, FindVm(s, point, opt.into));
  XmlRpcValue vm(vm_ref);
  ASSIGN_OR_RETURN(XmlRpcValue vm_rec, Call(s, "VM.get_record", {vm}));
  rep.vm_uuid = Str(vm_rec, "uuid");
  rep.vm_name = Str(vm_rec, "name_label");
  if (!opt.overwrite)
    return Error(Code::kAlreadyExists,
                 "VM {} ({}) exists: give --overwrite to write the point's disks over it, or restore without "
                 "--into and --differential to create a new VM", rep.vm_name, rep.vm_uuid);
  if (Bool(vm_rec, "is_a_template") || Bool(vm_rec, "is_a_snapshot") || Bool(vm_rec, "is_control_domain"))
    return Error(Code::kInvalidArgument, "{} ({}) is a template, snapshot or control domain", rep.vm_name,
                 rep.vm_uuid);
  if (std::string power = Str(vm_rec, "power_state"); power != "Halted")
    return Error(Code::kInvalidArgument, "VM {} is {}: --overwrite writes only over a halted VM; shut it down first",
                 rep.vm_name, power);
  ASSIGN_OR_RETURN(std::vector<Target> targets, MatchDisks(s, m, point, vm_rec, vm_ref));

  // Decided before the pool is touched: which disks go whole, which in part.
  for (auto& t : targets) {
    t.report.mode = "full";
    t.report.replaced_vdi = Str(t.vdi, "uuid");
    if (!opt.differential) continue;
    auto c = FindDiskChanges(s, repo, point, *t.plan.disk, t.vdi_ref, t.vdi);
    if (!c.ok()) {
      if (c.status().code() == Code::kCancelled) return std::move(c).status();
      t.report.fallback = c.status().ToString();
      continue;
    }
    t.report.mode = "differential";
    t.report.changed_blocks = c->blocks.size();
    t.report.cbt_base = c->base;
    if (c->blocks.empty()) t.report.replaced_vdi.clear();  // already equal: kept as it is
    t.changes = std::move(*c);
  }

  Undo undo;
  auto fail = [&](Status st) -> Status {
    for (const auto& e : undo.RunAll()) st = std::move(st).With("cleanup: " + e);
    return st;
  };
  XmlRpcValue stored_blocked = Field(vm_rec, "blocked_operations", EmptyMap());
  XmlRpcValue blocked = stored_blocked;
  for (const char* op : {"start", "start_on"})
    if (blocked.Find(op) == nullptr) blocked.Set(op, XmlRpcValue(kRestoreBlockReason));
  if (Status st = Call(s, "VM.set_blocked_operations", {vm, blocked}).status(); !st.ok())
    return std::move(st).With("blocking start");
  undo.Add("unblocking start", [&s, vm, stored_blocked] {
    return CleanupCall(s, "VM.set_blocked_operations", {vm, stored_blocked}).status();
  });

  for (auto& t : targets) {
    if (t.changes && t.changes->blocks.empty()) continue;
    phase("disk " + t.report.name);
    if (Status st = WriteDisk(s, ep, repo, t, undo, rep.notes); !st.ok()) return fail(std::move(st));
  }

  // Every disk is written: the VBDs move onto the new VDIs. Each step can
  // be undone (the old VBD is made again), so this too leaves the VM whole.
  phase("swap");
  for (auto& t : targets) {
    if (t.new_vdi.empty()) continue;
    if (Status st = Call(s, "VBD.destroy", {XmlRpcValue(t.vbd_ref)}).status(); !st.ok())
      return fail(std::move(st).With("VBD.destroy of disk " + t.report.name));
    XmlRpcValue again = VbdRecordLike(t.vbd, t.vdi_ref);
    undo.Add("re-creating the VBD of " + t.report.name, [&s, again] {
      return CleanupCall(s, "VBD.create", {again}).status();
    });
    auto vbd = Call(s, "VBD.create", {VbdRecordLike(t.vbd, t.new_vdi)});
    if (!vbd.ok()) return fail(std::move(vbd).status().With("VBD.create for disk " + t.report.name));
    XmlRpcValue made = *vbd;
    undo.Add("destroying the new VBD of " + t.report.name,
             [&s, made] { return CleanupCall(s, "VBD.destroy", {made}).status(); });
  }
  if (Status st = Call(s, "VM.set_blocked_operations", {vm, stored_blocked}).status(); !st.ok())
    return fail(std::move(st).With("unblocking start"));
  // Restored: from here on nothing is undone.
  undo = Undo();
  for (auto& t : targets) {
    if (t.new_vdi.empty()) continue;
    if (Status st = CleanupCall(s, "VDI.destroy", {XmlRpcValue(t.vdi_ref)}).status(); !st.ok())
      rep.notes.push_back(fmt::format("the replaced VDI {} of disk {} is left: {}", Str(t.vdi, "uuid"),
                                      t.report.name, st.ToString()));
  }
  (void)s.Call("VM.update_allowed_operations", {vm});
  for (auto& t : targets) {
    if (t.new_vdi.empty()) t.report.vdi_uuid = Str(t.vdi, "uuid");
    rep.disks.push_back(std::move(t.report));
  }
  if (opt.start) {
    phase("start");
    Status st = Call(s, "VM.start", {vm, XmlRpcValue(false), XmlRpcValue(false)}).status();
    if (!st.ok()) return std::move(st).With(fmt::format("restored over VM {} ({}) but VM.start failed", rep.vm_name,
                                                        rep.vm_uuid));
    rep.started = true;
  }
  rep.seconds = Since(t0);
  return rep;
}

}  // namespace casulo::engine::vm

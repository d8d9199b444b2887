// RestoreVm: xapi-protocol.md §7.5 (XO's importIncrementalVm) with our own
// records. Everything is resolved before the pool is touched (SR, networks,
// which stored VBD each disk had), then every object created is paired with
// its undo, so a failure at any step leaves the pool as it was.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/pipe.h"
#include "engine/vm_restore.h"
#include "vm_restore_internal.h"
#include "xapi/transfer.h"

namespace casulo::engine {

using namespace vm;
using Clock = std::chrono::steady_clock;

namespace vm {
namespace {

int UserdeviceOf(const repo::SnapshotDisk& d) {
  auto it = d.labels.find("userdevice");
  return it == d.labels.end() ? 1 << 20 : std::atoi(it->second.c_str());
}

}  // namespace

XmlRpcValue EmptyMap() { return XmlRpcValue(formats::XmlRpcStruct{}); }

XmlRpcValue OtherConfig(const XmlRpcValue& rec) {
  formats::XmlRpcStruct out;
  if (const XmlRpcValue* m = rec.Find("other_config"); m && m->is_struct())
    for (const auto& [k, v] : m->members())
      if (k.rfind("casulo:", 0) != 0) out.emplace_back(k, v);
  return XmlRpcValue(std::move(out));
}

XmlRpcValue Field(const XmlRpcValue& rec, const char* f, XmlRpcValue fallback) {
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && !v->is_nil() ? *v : fallback;
}

std::vector<DiskPlan> PlanDisks(const VmMetadata& m, const repo::Snapshot& point) {
  std::vector<DiskPlan> out;
  for (const auto& d : point.disks) {
    DiskPlan p{&d, {}, {}};
    for (const auto& [vref, vdi] : m.vdis) {
      if (Str(vdi, "uuid") != d.key) continue;
      p.vdi = vdi;
      for (const auto& [bref, vbd] : m.vbds)
        if (Str(vbd, "VDI") == vref) p.vbd = vbd;
    }
    out.push_back(std::move(p));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const DiskPlan& a, const DiskPlan& b) { return UserdeviceOf(*a.disk) < UserdeviceOf(*b.disk); });
  return out;
}

std::string StoredUserdevice(const DiskPlan& p) {
  if (!p.vbd.is_nil()) return Str(p.vbd, "userdevice");
  auto ud = p.disk->labels.find("userdevice");
  return ud == p.disk->labels.end() ? "autodetect" : ud->second;
}

Status UploadToVdi(xapi::Session& s, const xapi::Endpoint& ep, const std::string& vdi_ref,
                   std::vector<std::pair<std::string, std::string>> query, uint64_t length,
                   const std::string& label, const std::function<Status(Sink&)>& write) {
  Pipe pipe;
  Status wrote;
  std::thread writer([&] {
    wrote = write(pipe.sink());
    pipe.CloseWrite(wrote);
  });
  xapi::HandlerOptions ho;
  ho.task_label = label;
  query.insert(query.begin(), {"vdi", vdi_ref});
  auto up = xapi::Upload(s, ep, {"/import_raw_vdi", std::move(query)}, pipe.source(), length, ho);
  pipe.CloseRead();
  writer.join();
  if (!wrote.ok()) return std::move(wrote).With("reading the disk from the repository");
  return up.status();
}

}  // namespace vm

namespace {

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// VM.create's record fields (X:ocaml/idl/datamodel_vm.ml fields writable at
// creation; XO's VM_create in @xen-orchestra/xapi/vm.mjs sends the same set).
// Runtime state (power_state, suspend_VDI, last_booted_record...) is not
// restored: the VM is created Halted.
constexpr const char* kCreateFields[] = {
    "name_description", "user_version", "affinity", "memory_target", "memory_static_max",
    "memory_dynamic_max", "memory_dynamic_min", "memory_static_min", "VCPUs_params", "VCPUs_max",
    "VCPUs_at_startup", "actions_after_shutdown", "actions_after_reboot", "actions_after_crash",
    "PV_bootloader", "PV_kernel", "PV_ramdisk", "PV_args", "PV_bootloader_args", "PV_legacy_args",
    "HVM_boot_policy", "HVM_boot_params", "HVM_shadow_multiplier", "platform", "PCI_bus",
    "other_config", "recommendations", "xenstore_data", "ha_always_run", "ha_restart_priority",
    "tags", "protection_policy", "snapshot_schedule", "appliance", "start_delay", "shutdown_delay",
    "order", "suspend_SR", "version", "generation_id", "hardware_platform_version",
    "has_vendor_device", "reference_label", "domain_type", "NVRAM"};
// Ref fields of the record and the class they name: kept only when the
// object exists in the target pool.
constexpr std::pair<const char*, const char*> kRefFields[] = {
    {"affinity", "host"}, {"suspend_SR", "SR"}, {"appliance", "VM_appliance"},
    {"protection_policy", "VMPP"}, {"snapshot_schedule", "VMSS"}};

struct VifPlan {
  XmlRpcValue vif;
  std::string network_ref;
  VmRestoreVifReport report;
};

Result<std::string> ChooseSr(xapi::Session& s, const std::string& want, VmRestoreReport& rep) {
  ASSIGN_OR_RETURN(XmlRpcValue srs, Call(s, "SR.get_all_records", {}));
  std::string chosen;
  if (want.empty()) {
    ASSIGN_OR_RETURN(XmlRpcValue pools, Call(s, "pool.get_all_records", {}));
    for (const auto& [ref, rec] : pools.members()) chosen = Str(rec, "default_SR");
    if (xapi::IsNullRef(chosen) || srs.Find(chosen) == nullptr) chosen.clear();
  } else {
    int hits = 0;
    for (const auto& [ref, rec] : srs.members())
      if (Str(rec, "uuid") == want || Str(rec, "name_label") == want) {
        chosen = ref;
        ++hits;
      }
    if (hits > 1) return Error(Code::kInvalidArgument, "'{}' names {} SRs: give the uuid", want, hits);
  }
  if (chosen.empty()) {
    std::string have;
    for (const auto& [ref, rec] : srs.members())
      if (Str(rec, "content_type") != "iso")
        have += fmt::format("\n  {} ({}, {})", Str(rec, "name_label"), Str(rec, "uuid"), Str(rec, "type"));
    return Error(Code::kNotFound, "{}: give --sr; the pool's SRs:{}",
                 want.empty() ? std::string("the pool has no default SR") : "no SR '" + want + "' in the pool",
                 have.empty() ? std::string(" none") : have);
  }
  rep.sr_uuid = Str(*srs.Find(chosen), "uuid");
  rep.sr_name = Str(*srs.Find(chosen), "name_label");
  return chosen;
}

// Each stored VIF's network in the target pool: --network-map first (an
// explicit choice wins), then the same uuid, then name_label + VLAN tag.
Result<std::vector<VifPlan>> MapNetworks(xapi::Session& s, const VmMetadata& m, const VmRestoreOptions& o) {
  ASSIGN_OR_RETURN(XmlRpcValue nets, Call(s, "network.get_all_records", {}));
  ASSIGN_OR_RETURN(XmlRpcValue pifs, Call(s, "PIF.get_all_records", {}));
  // A network's VLAN tag is that of a tagged PIF on it, as the backup
  // recorded it (vm_backup.cc MetadataDocument).
  std::map<std::string, int64_t> vlan;
  for (const auto& [ref, rec] : pifs.members())
    if (int64_t tag = Int(rec, "VLAN"); tag >= 0) vlan[Str(rec, "network")] = tag;
  auto vlan_of = [&](const std::string& ref) { return vlan.count(ref) ? vlan[ref] : int64_t{-1}; };
  std::vector<VifPlan> out;
  for (const auto& [ref, vif] : m.vifs) {
    VifPlan p;
    p.vif = vif;
    p.report.device = Str(vif, "device");
    std::string old_ref = Str(vif, "network");
    auto it = m.networks.find(old_ref);
    XmlRpcValue old = it == m.networks.end() ? XmlRpcValue() : it->second.record;
    int64_t old_vlan = it == m.networks.end() ? -1 : it->second.vlan;
    std::string old_uuid = Str(old, "uuid"), old_name = Str(old, "name_label");
    for (const auto& [from, to] : o.network_map) {
      if (from != old_uuid && from != old_name) continue;
      for (const auto& [nref, nrec] : nets.members())
        if (Str(nrec, "uuid") == to || Str(nrec, "name_label") == to) {
          p.network_ref = nref;
          p.report.matched_by = "map";
        }
      if (p.network_ref.empty())
        return Error(Code::kNotFound, "--network-map {}={}: no network '{}' in the pool", from, to, to);
    }
    for (const auto& [nref, nrec] : nets.members())
      if (p.network_ref.empty() && !old_uuid.empty() && Str(nrec, "uuid") == old_uuid) {
        p.network_ref = nref;
        p.report.matched_by = "uuid";
      }
    for (const auto& [nref, nrec] : nets.members())
      if (p.network_ref.empty() && !old_name.empty() && Str(nrec, "name_label") == old_name &&
          vlan_of(nref) == old_vlan) {
        p.network_ref = nref;
        p.report.matched_by = "name+vlan";
      }
    if (p.network_ref.empty()) {
      std::string have;
      for (const auto& [nref, nrec] : nets.members())
        have += fmt::format("\n  {} ({}, VLAN {})", Str(nrec, "name_label"), Str(nrec, "uuid"), vlan_of(nref));
      return Error(Code::kNotFound,
                   "VIF {}: network '{}' ({}, VLAN {}) has no match in the pool by uuid or name and VLAN; "
                   "give --network-map '{}=NETWORK'; the pool's networks:{}",
                   p.report.device, old_name, old_uuid.empty() ? old_ref : old_uuid, old_vlan,
                   old_name.empty() ? old_uuid : old_name, have);
    }
    const XmlRpcValue& nrec = *nets.Find(p.network_ref);
    p.report.network_uuid = Str(nrec, "uuid");
    p.report.network_name = Str(nrec, "name_label");
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const VifPlan& a, const VifPlan& b) {
    return std::atoi(a.report.device.c_str()) < std::atoi(b.report.device.c_str());
  });
  return out;
}

XmlRpcValue VmCreateRecord(xapi::Session& s, const XmlRpcValue& stored, const std::string& name) {
  XmlRpcValue rec = EmptyMap();
  rec.Set("name_label", XmlRpcValue("[Importing…] " + name));
  rec.Set("is_a_template", XmlRpcValue(false));
  for (const char* f : kCreateFields)
    if (const XmlRpcValue* v = stored.Find(f); v != nullptr && !v->is_nil()) rec.Set(f, *v);
  rec.Set("other_config", OtherConfig(stored));
  for (const auto& [f, cls] : kRefFields) {
    std::string ref = Str(rec, f);
    if (rec.Find(f) == nullptr || xapi::IsNullRef(ref)) continue;
    if (!s.Call(std::string(cls) + ".get_record", {XmlRpcValue(ref)}).ok())
      rec.Set(f, XmlRpcValue(std::string(xapi::kNullRef)));
  }
  return rec;
}

// One disk: VDI.create, VBD.create, then the VHD streamed from the tree
// through a pipe (a writer thread) into PUT /import_raw_vdi.
Result<VmRestoreDiskReport> RestoreDisk(xapi::Session& s, const xapi::Endpoint& ep, repo::Repository& repo,
                                        const DiskPlan& p, const std::string& vm_ref, const std::string& sr_ref,
                                        Undo& undo) {
  auto t = Clock::now();
  const repo::SnapshotDisk& d = *p.disk;
  VmRestoreDiskReport rep;
  rep.key = d.key;
  rep.name = p.vdi.is_nil() ? d.name : Str(p.vdi, "name_label");
  rep.userdevice = StoredUserdevice(p);
  rep.size = d.size;
  ASSIGN_OR_RETURN(DiskVhdPlan plan, PlanDiskVhd(repo, d));

  XmlRpcValue vdi = EmptyMap();
  vdi.Set("name_label", XmlRpcValue(rep.name));
  vdi.Set("name_description", Field(p.vdi, "name_description", ""));
  vdi.Set("SR", XmlRpcValue(sr_ref));
  vdi.Set("virtual_size", XmlRpcValue(std::to_string(d.size)));
  vdi.Set("type", Field(p.vdi, "type", "user"));
  vdi.Set("sharable", Field(p.vdi, "sharable", false));
  vdi.Set("read_only", XmlRpcValue(false));
  vdi.Set("other_config", OtherConfig(p.vdi));
  vdi.Set("xenstore_data", Field(p.vdi, "xenstore_data", EmptyMap()));
  vdi.Set("sm_config", EmptyMap());
  vdi.Set("tags", Field(p.vdi, "tags", XmlRpcValue(formats::XmlRpcArray{})));
  ASSIGN_OR_RETURN(XmlRpcValue vdi_ref, Call(s, "VDI.create", {vdi}).With("VDI.create for disk " + rep.name));
  undo.Add("destroying VDI " + rep.name, [&s, vdi_ref] { return Call(s, "VDI.destroy", {vdi_ref}).status(); });
  ASSIGN_OR_RETURN(XmlRpcValue vdi_rec, Call(s, "VDI.get_record", {vdi_ref}));
  rep.vdi_uuid = Str(vdi_rec, "uuid");

  XmlRpcValue vbd = EmptyMap();
  vbd.Set("VM", XmlRpcValue(vm_ref));
  vbd.Set("VDI", vdi_ref);
  vbd.Set("userdevice", XmlRpcValue(rep.userdevice));
  vbd.Set("bootable", Field(p.vbd, "bootable", rep.userdevice == "0"));
  vbd.Set("mode", Field(p.vbd, "mode", "RW"));
  vbd.Set("type", XmlRpcValue("Disk"));
  vbd.Set("unpluggable", Field(p.vbd, "unpluggable", true));
  vbd.Set("empty", XmlRpcValue(false));
  vbd.Set("other_config", OtherConfig(p.vbd));
  vbd.Set("qos_algorithm_type", Field(p.vbd, "qos_algorithm_type", ""));
  vbd.Set("qos_algorithm_params", Field(p.vbd, "qos_algorithm_params", EmptyMap()));
  ASSIGN_OR_RETURN(XmlRpcValue vbd_ref, Call(s, "VBD.create", {vbd}).With("VBD.create for disk " + rep.name));
  undo.Add("destroying the VBD of " + rep.name, [&s, vbd_ref] { return Call(s, "VBD.destroy", {vbd_ref}).status(); });

  Status up = UploadToVdi(s, ep, vdi_ref.str(), {{"format", "vhd"}}, plan.encoded_size,
                          "casulo restore of " + rep.name,
                          [&](Sink& sink) { return WriteDiskVhd(repo, d, plan, sink); });
  if (!up.ok()) return std::move(up).With("uploading disk " + rep.name);
  rep.sent_bytes = plan.encoded_size;
  rep.seconds = Since(t);
  return rep;
}

}  // namespace

Result<VmRestoreReport> RestoreVm(xapi::Session& s, const xapi::Endpoint& ep, repo::Repository& repo,
                                  const repo::Snapshot& point, const VmRestoreOptions& opt) {
  if (opt.overwrite || opt.differential || !opt.into.empty()) return RestoreOverVm(s, ep, repo, point, opt);
  auto t0 = Clock::now();
  auto phase = [&](std::string_view p) {
    if (opt.progress) opt.progress(p, 0, 0);
  };
  VmRestoreReport rep;
  ASSIGN_OR_RETURN(VmMetadata m, LoadVmMetadata(repo, point));
  rep.vm_name = opt.name.empty() ? Str(m.vm, "name_label") : opt.name;
  ASSIGN_OR_RETURN(std::string sr_ref, ChooseSr(s, opt.sr, rep));
  ASSIGN_OR_RETURN(std::vector<VifPlan> vifs, MapNetworks(s, m, opt));
  std::vector<DiskPlan> disks = PlanDisks(m, point);

  Undo undo;
  auto fail = [&](Status st) -> Status {
    for (const auto& e : undo.RunAll()) st = std::move(st).With("cleanup: " + e);
    return st;
  };
  phase("create");
  auto vm_ref = Call(s, "VM.create", {VmCreateRecord(s, m.vm, rep.vm_name)});
  if (!vm_ref.ok()) return std::move(vm_ref).status().With("VM.create");
  const XmlRpcValue vm = *vm_ref;
  undo.Add("destroying the new VM", [&s, vm] { return Call(s, "VM.destroy", {vm}).status(); });
  // VM.create ignores blocked_operations (xapi_vm.ml create): set them after,
  // the stored ones plus the start block while disks are written.
  XmlRpcValue stored_blocked = Field(m.vm, "blocked_operations", EmptyMap());
  XmlRpcValue blocked = stored_blocked;
  for (const char* op : {"start", "start_on"})
    if (blocked.Find(op) == nullptr) blocked.Set(op, XmlRpcValue(kRestoreBlockReason));
  if (Status st = Call(s, "VM.set_blocked_operations", {vm, blocked}).status(); !st.ok())
    return fail(std::move(st).With("blocking start"));
  auto rec = Call(s, "VM.get_record", {vm});
  if (!rec.ok()) return fail(std::move(rec).status());
  rep.vm_uuid = Str(*rec, "uuid");

  for (const auto& d : disks) {
    phase("disk " + d.disk->name);
    auto r = RestoreDisk(s, ep, repo, d, vm.str(), sr_ref, undo);
    if (!r.ok()) return fail(std::move(r).status());
    rep.disks.push_back(std::move(*r));
  }

  phase("vifs");
  for (auto& p : vifs) {
    XmlRpcValue v = EmptyMap();
    v.Set("device", XmlRpcValue(p.report.device));
    v.Set("network", XmlRpcValue(p.network_ref));
    v.Set("VM", vm);
    v.Set("MAC", XmlRpcValue(opt.keep_macs ? Str(p.vif, "MAC") : ""));
    v.Set("MTU", Field(p.vif, "MTU", "1500"));
    v.Set("other_config", OtherConfig(p.vif));
    v.Set("qos_algorithm_type", Field(p.vif, "qos_algorithm_type", ""));
    v.Set("qos_algorithm_params", Field(p.vif, "qos_algorithm_params", EmptyMap()));
    for (const char* f : {"locking_mode", "ipv4_allowed", "ipv6_allowed"})
      if (const XmlRpcValue* x = p.vif.Find(f); x != nullptr && !x->is_nil()) v.Set(f, *x);
    auto ref = Call(s, "VIF.create", {v});
    if (!ref.ok()) return fail(std::move(ref).status().With("VIF.create for device " + p.report.device));
    XmlRpcValue vif_ref = *ref;
    undo.Add("destroying VIF " + p.report.device, [&s, vif_ref] { return Call(s, "VIF.destroy", {vif_ref}).status(); });
    auto vrec = Call(s, "VIF.get_record", {vif_ref});
    if (vrec.ok()) p.report.mac = Str(*vrec, "MAC");
    rep.vifs.push_back(p.report);
  }

  if (Status st = Call(s, "VM.set_name_label", {vm, XmlRpcValue(rep.vm_name)}).status(); !st.ok())
    return fail(std::move(st).With("naming the VM"));
  if (Status st = Call(s, "VM.set_blocked_operations", {vm, stored_blocked}).status(); !st.ok())
    return fail(std::move(st).With("unblocking start"));
  (void)s.Call("VM.update_allowed_operations", {vm});
  // Restored: from here on nothing is undone, a failed start leaves the VM.
  undo = Undo();
  if (opt.start) {
    phase("start");
    Status st = Call(s, "VM.start", {vm, XmlRpcValue(false), XmlRpcValue(false)}).status();
    if (!st.ok())
      return std::move(st).With(fmt::format("restored as VM {} ({}) but VM.start failed", rep.vm_name, rep.vm_uuid));
    rep.started = true;
  }
  rep.seconds = Since(t0);
  return rep;
}

}  // namespace casulo::engine

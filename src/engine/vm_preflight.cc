// The checks and choices made before a VM's snapshot (docs/design/vm-backup.md,
// "Preflight"): which disks are left out, whether the SRs have room for the
// snapshot, whether a VHD chain is too long to add to, and the snapshot call
// itself (quiesced when asked and offered, with ignore_vdis when the host
// has it).
#include <fmt/format.h>

#include <map>

#include "vm_internal.h"

namespace casulo::engine::vm {
namespace {

// SR types whose VDIs are fully allocated logical volumes: a snapshot of a
// disk in use inflates a new leaf to the disk's full size (LVHD).
bool Thick(const std::string& type) {
  return type == "lvm" || type == "lvmoiscsi" || type == "lvmohba" || type == "lvmofcoe";
}

bool HasTag(const XmlRpcValue& rec, const std::vector<std::string>& tags) {
  for (const auto& t : Refs(rec, "tags"))
    if (std::find(tags.begin(), tags.end(), t) != tags.end()) return true;
  return false;
}

// Length of the VHD chain ending at `vdi` (1 = no parent), following
// sm_config["vhd-parent"] through VDI records (hidden parents are unmanaged
// VDIs of the same SR). Stops at `limit` + 1 and at a parent XAPI does not know.
int ChainLength(xapi::Session& s, XmlRpcValue vrec, int limit) {
  int n = 1;
  while (n <= limit) {
    std::string parent = MapValue(vrec, "sm_config", "vhd-parent");
    if (parent.empty()) break;
    auto ref = s.Call("VDI.get_by_uuid", {XmlRpcValue(parent)});
    if (!ref.ok()) break;
    auto rec = s.Call("VDI.get_record", {*ref});
    if (!rec.ok()) break;
    vrec = std::move(*rec);
    ++n;
  }
  return n;
}

}  // namespace

std::vector<DiskOfVm> DisksOfVm(xapi::Session& s, const XmlRpcValue& vm_rec, const VmBackupOptions& opt) {
  std::vector<DiskOfVm> out;
  for (const auto& vbd : Refs(vm_rec, "VBDs")) {
    auto rec = s.Call("VBD.get_record", {XmlRpcValue(vbd)});
    if (!rec.ok() || Str(*rec, "type") != "Disk" || xapi::IsNullRef(Str(*rec, "VDI"))) continue;
    DiskOfVm d;
    d.ref = Str(*rec, "VDI");
    auto vrec = s.Call("VDI.get_record", {XmlRpcValue(d.ref)});
    if (!vrec.ok()) continue;
    d.record = std::move(*vrec);
    std::string name = Str(d.record, "name_label");
    d.excluded = name.find("[NOBAK]") != std::string::npos || HasTag(d.record, opt.exclude_disk_tags);
    out.push_back(std::move(d));
  }
  return out;
}

std::string PreflightSkipReason(xapi::Session& s, const std::vector<DiskOfVm>& disks, const VmBackupOptions& opt) {
  // Space: per SR, what the snapshot needs against what is free, keeping
  // min_sr_free_percent of the SR free (a snapshot that fills an SR fails
  // the guests' writes, not only the backup).
  std::map<std::string, std::vector<const DiskOfVm*>> by_sr;
  for (const auto& d : disks)
    if (!d.excluded) by_sr[Str(d.record, "SR")].push_back(&d);
  for (const auto& [sr, on_sr] : by_sr) {
    auto rec = s.Call("SR.get_record", {XmlRpcValue(sr)});
    if (!rec.ok()) continue;
    int64_t size = Int(*rec, "physical_size");
    if (size <= 0) continue;  // SRs that report no size (ISO, udev)
    bool thick = Thick(Str(*rec, "type"));
    int64_t bytes = 0;
    if (thick)
      for (const DiskOfVm* d : on_sr) bytes += Int(d->record, "virtual_size");
    int64_t free = size - Int(*rec, "physical_utilisation");
    int64_t reserve = size / 100 * opt.min_sr_free_percent;
    if (free - bytes < reserve)
      return fmt::format(
          "SR {} has {:.1f} GiB free; the snapshot needs {:.1f} GiB ({}) and {}% of the SR is kept free "
          "(--min-sr-free)",
          Str(*rec, "name_label"), double(free) / (1 << 30), double(bytes) / (1 << 30),
          thick ? "thick-provisioned: each disk's full size" : "thin-provisioned", opt.min_sr_free_percent);
  }
  // Chains: SM refuses a snapshot past 30 VHDs (SR_BACKEND_FAILURE_109);
  // a chain already at max_chain is waiting for coalesce.
  if (opt.max_chain > 0)
    for (const auto& d : disks) {
      if (d.excluded) continue;
      int n = ChainLength(s, d.record, opt.max_chain);
      if (n >= opt.max_chain)
        return fmt::format("disk {} has a VHD chain of {} (limit {}, --max-chain): wait for the SR to coalesce",
                           Str(d.record, "name_label"), n > opt.max_chain ? fmt::format("more than {}", opt.max_chain)
                                                                          : std::to_string(n),
                           opt.max_chain);
    }
  return "";
}

Result<std::string> TakeSnapshot(xapi::Session& s, const XmlRpcValue& vm_ref, const std::string& name,
                                 const std::vector<std::string>& ignore, bool quiesce,
                                 std::vector<std::string>* notes) {
  if (quiesce) {
    auto r = Call(s, "VM.snapshot_with_quiesce", {vm_ref, XmlRpcValue(name)});
    if (r.ok()) {
      notes->push_back("quiesced snapshot (VSS)");
      if (!ignore.empty()) notes->push_back("a quiesced snapshot takes every disk: excluded disks are dropped after");
      return r->str();
    }
    std::string_view code = xapi::XapiCode(r.status());
    bool unavailable = code == "MESSAGE_REMOVED" || code == "MESSAGE_METHOD_UNKNOWN" ||
                       code.rfind("VM_SNAPSHOT_WITH_QUIESCE_", 0) == 0;
    if (!unavailable) return std::move(r).status();
    notes->push_back("not quiesced (" + r.status().ToString() + "): crash-consistent snapshot taken");
  }
  if (!ignore.empty()) {
    XmlRpcArray refs;
    for (const auto& v : ignore) refs.emplace_back(v);
    auto r = Call(s, "VM.snapshot", {vm_ref, XmlRpcValue(name), XmlRpcValue(std::move(refs))});
    if (r.ok()) return r->str();
    if (!xapi::IsXapiError(r.status(), "MESSAGE_PARAMETER_COUNT_MISMATCH")) return std::move(r).status();
    notes->push_back("the host has no ignore_vdis: excluded disks are snapshotted, not read, and dropped after");
  }
  ASSIGN_OR_RETURN(XmlRpcValue r, Call(s, "VM.snapshot", {vm_ref, XmlRpcValue(name)}));
  return r.str();
}

}  // namespace casulo::engine::vm

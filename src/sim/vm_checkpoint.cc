// VM.checkpoint and VM.snapshot_with_quiesce (xapi-protocol.md §2.2). Both
// make a snapshot VM the way VM.snapshot does, with its devices copied by
// vm.cc's CopyDevicesToSnapshot.
//
// Simulator convention: a VM whose other_config has "casulo-sim:vss" =
// "true" has a working VSS agent, so snapshot_with_quiesce succeeds on it
// (before CH 8.1); any other VM fails as a guest without the VSS plug-in does.
#include "sim/disks.h"
#include "vm_rules.h"

namespace casulo::sim {
namespace {

// The snapshot VM of `vm` with copies of its VBDs (Disk VDIs snapshotted by
// SnapshotVdi) and VIFs; `info` becomes its snapshot_info.
Result<std::string> CopyAsSnapshot(CallContext& ctx, const std::string& vm, const XmlRpcValue& name,
                                   XmlRpcStruct info) {
  Store& st = ctx.store;
  XmlRpcStruct fields = st.Find("VM", vm)->members();
  for (auto& [k, v] : fields) {
    if (k == "uuid") v = XmlRpcValue("");
    else if (k == "name_label") v = name;
    else if (k == "is_a_snapshot" || k == "is_a_template") v = XmlRpcValue(true);
    else if (k == "power_state") v = XmlRpcValue("Halted");
    else if (k == "snapshot_of") v = XmlRpcValue(vm);
    else if (k == "snapshot_time") v = NowDate();
    else if (k == "snapshot_info") v = XmlRpcValue(info);
    else if (k == "VBDs" || k == "VIFs" || k == "snapshots" || k == "children" || k == "VTPMs")
      v = XmlRpcValue(XmlRpcArray{});
    else if (k == "resident_on" || k == "suspend_VDI") v = NullRef();
    else if (k == "domid") v = XmlRpcValue(int64_t{-1});
    else if (k == "current_operations" || k == "blocked_operations") v = XmlRpcValue(XmlRpcStruct{});
  }
  // Snapshot chain as xapi_vm_clone.ml: the snapshot takes the VM's parent.
  std::string snap = st.Create("VM", std::move(fields));
  std::string old_parent = StrField(*st.Find("VM", vm), "parent");
  st.Mutate("VM", snap)->Set("parent", XmlRpcValue(old_parent));
  st.Mutate("VM", vm)->Set("parent", XmlRpcValue(snap));
  st.AddToSet("VM", snap, "children", vm);
  st.AddToSet("VM", vm, "snapshots", snap);

  RETURN_IF_ERROR(CopyDevicesToSnapshot(ctx, vm, snap, {}));
  UpdateVmAllowedOperations(st, snap);
  UpdateVmAllowedOperations(st, vm);
  return snap;
}

// The SR for a new suspend image: that of the VM's first Disk VDI, else the
// pool's default SR ("" if neither exists).
std::string SuspendSr(const Store& st, const XmlRpcValue& vm) {
  for (const auto& vbd : vm.Find("VBDs")->array()) {
    const XmlRpcValue* b = st.Find("VBD", vbd.str());
    if (b == nullptr || StrField(*b, "type") != "Disk") continue;
    const XmlRpcValue* d = st.Find("VDI", StrField(*b, "VDI"));
    if (d != nullptr && st.Find("SR", StrField(*d, "SR")) != nullptr) return StrField(*d, "SR");
  }
  for (const auto& [ref, pool] : st.Objects("pool")) {
    const std::string& sr = StrField(pool.record, "default_SR");
    if (st.Find("SR", sr) != nullptr) return sr;
  }
  return "";
}

// X:ocaml/xapi/xapi_vm_snapshot.ml checkpoint: a Running VM is suspended,
// cloned with its suspend image and resumed, so its checkpoint is Suspended
// and holds a memory image (an empty sparse VDI of memory_static_max bytes
// here). A Suspended VM's checkpoint gets a copy of its suspend image.
Result<XmlRpcValue> Checkpoint(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  std::string vm = RefArg(args[0]);
  if (!args[1].is_string()) return XapiError({"FIELD_TYPE_ERROR", "new_name"});
  RETURN_IF_ERROR(CheckVmOperation(st, vm, "checkpoint"));
  XmlRpcValue rec = *st.Find("VM", vm);
  const std::string& power = StrField(rec, "power_state");
  XmlRpcStruct info;
  if (power == "Running")
    info = {{"power-state-at-snapshot", XmlRpcValue(power)},
            {"disk-snapshot-type", XmlRpcValue("crash_consistent")}};
  std::string image;
  if (power == "Suspended" && st.Find("VDI", StrField(rec, "suspend_VDI")) != nullptr) {
    ASSIGN_OR_RETURN(image, SnapshotVdi(ctx, StrField(rec, "suspend_VDI")));
  } else if (power == "Running") {
    std::string sr = SuspendSr(st, rec);
    if (!sr.empty()) {
      std::string uuid = st.NewUuid();
      int64_t size = IntField(rec, "memory_static_max");
      std::string dir = ctx.sim.state_dir();
      if (!dir.empty()) {
        Status s = CreateDisk(DiskPath(dir, uuid), static_cast<uint64_t>(size));
        if (!s.ok()) return XapiError({"SR_BACKEND_FAILURE_44", "", s.ToString()});
      }
      image = st.Create("VDI", {{"uuid", XmlRpcValue(uuid)}, {"location", XmlRpcValue(uuid)},
                                {"name_label", XmlRpcValue("Suspend image")},
                                {"SR", XmlRpcValue(sr)}, {"type", XmlRpcValue("suspend")},
                                {"virtual_size", XmlRpcValue(size)}});
      st.AddToSet("SR", sr, "VDIs", image);
    }
  }
  ASSIGN_OR_RETURN(std::string snap, CopyAsSnapshot(ctx, vm, args[1], std::move(info)));
  if (!image.empty()) {
    XmlRpcValue* s = st.Mutate("VM", snap);
    s->Set("power_state", XmlRpcValue("Suspended"));
    s->Set("suspend_VDI", XmlRpcValue(image));
    UpdateVmAllowedOperations(st, snap);
  }
  return XmlRpcValue(snap);
}

// Removed in CH 8.1 (API 2.14): MESSAGE_REMOVED []. Before, the VM must be
// Running and have a VSS agent; without one XAPI answers
// VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED with the VM only, although the
// datamodel declares [vm, error] (867bf71408~1:ocaml/xapi/xapi_vm_snapshot.ml).
Result<XmlRpcValue> SnapshotWithQuiesce(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  if (ApiVersion(st) >= 214) return XapiError({"MESSAGE_REMOVED"});
  std::string vm = RefArg(args[0]);
  if (!args[1].is_string()) return XapiError({"FIELD_TYPE_ERROR", "new_name"});
  RETURN_IF_ERROR(CheckVmOperation(st, vm, "snapshot_with_quiesce"));
  const XmlRpcValue* other = st.Find("VM", vm)->Find("other_config");
  const XmlRpcValue* vss = other != nullptr ? other->Find("casulo-sim:vss") : nullptr;
  if (vss == nullptr || !vss->is_string() || vss->str() != "true")
    return XapiError({"VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED", vm});
  XmlRpcStruct info{{"power-state-at-snapshot", XmlRpcValue("Running")},
                    {"disk-snapshot-type", XmlRpcValue("quiesced")}};
  ASSIGN_OR_RETURN(std::string snap, CopyAsSnapshot(ctx, vm, args[1], std::move(info)));
  return XmlRpcValue(snap);
}

const SpecialMethod kCheckpoint[] = {
    {"VM.checkpoint", {2, 2, true, true, &Checkpoint}},
    {"VM.snapshot_with_quiesce", {2, 2, true, true, &SnapshotWithQuiesce}},
};

}  // namespace

std::span<const SpecialMethod> VmCheckpointMethods() { return kCheckpoint; }

}  // namespace casulo::sim

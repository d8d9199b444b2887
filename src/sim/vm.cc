// VM operations with behaviour: snapshot and destroy, with XAPI's power-state
// and snapshot/template rules (xapi-protocol.md §2.2).
#include <charconv>

#include "sim/cbt.h"
#include "sim/sim.h"

namespace casulo::sim {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// True when the host this endpoint plays runs xapi >= 21.4, where
// VM.snapshot takes ignore_vdis (software_version "xapi" key).
bool HasIgnoreVdis(const Store& st) {
  const XmlRpcValue* host = st.Find("host", st.this_host);
  const XmlRpcValue* sw = host != nullptr ? host->Find("software_version") : nullptr;
  const XmlRpcValue* xapi = sw != nullptr ? sw->Find("xapi") : nullptr;
  if (xapi == nullptr || !xapi->is_string()) return false;
  int major = 0, minor = 0;
  const std::string& v = xapi->str();
  auto r = std::from_chars(v.data(), v.data() + v.size(), major);
  if (r.ptr < v.data() + v.size() && *r.ptr == '.')
    std::from_chars(r.ptr + 1, v.data() + v.size(), minor);
  return major > 21 || (major == 21 && minor >= 4);
}

const std::string& Str(const XmlRpcValue& rec, std::string_view field) {
  return rec.Find(field)->str();
}

Result<XmlRpcValue> Snapshot(CallContext& ctx, std::string_view method, Args args) {
  Store& st = ctx.store;
  if (args.size() == 3 && !HasIgnoreVdis(st))
    return XapiError({"MESSAGE_PARAMETER_COUNT_MISMATCH", std::string(method), "2", "3"});
  std::string vm = RefArg(args[0]);
  const XmlRpcValue* rec = st.Find("VM", vm);
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", "VM", vm});
  if (!args[1].is_string()) return XapiError({"FIELD_TYPE_ERROR", "new_name"});
  std::vector<std::string> ignore;
  if (args.size() == 3) {
    if (!args[2].is_array()) return XapiError({"FIELD_TYPE_ERROR", "ignore_vdis"});
    for (const auto& v : args[2].array()) ignore.push_back(RefArg(v));
  }
  if (rec->Find("is_a_snapshot")->b()) return XapiError({"VM_IS_SNAPSHOT", vm, "snapshot"});
  if (rec->Find("is_a_template")->b()) return XapiError({"VM_IS_TEMPLATE", vm, "snapshot"});
  if (rec->Find("is_control_domain")->b())
    return XapiError({"OPERATION_NOT_ALLOWED", "Cannot snapshot a control domain"});

  // The VM record first, so the VBDs and VIFs can point at it.
  XmlRpcStruct fields = rec->members();
  std::string power = Str(*rec, "power_state");
  for (auto& [k, v] : fields) {
    if (k == "uuid") v = XmlRpcValue("");
    else if (k == "name_label") v = args[1];
    else if (k == "is_a_snapshot" || k == "is_a_template") v = XmlRpcValue(true);
    else if (k == "power_state") v = XmlRpcValue("Halted");
    else if (k == "snapshot_of") v = XmlRpcValue(vm);
    else if (k == "snapshot_time") v = NowDate();
    else if (k == "snapshot_info")
      v = XmlRpcValue(XmlRpcStruct{{"power-state-at-snapshot", XmlRpcValue(power)},
                                   {"disk-snapshot-type", XmlRpcValue("crash_consistent")}});
    else if (k == "VBDs" || k == "VIFs" || k == "snapshots" || k == "children" || k == "VTPMs")
      v = XmlRpcValue(XmlRpcArray{});
    else if (k == "resident_on" || k == "suspend_VDI") v = NullRef();
    else if (k == "domid") v = XmlRpcValue(int64_t{-1});
    else if (k == "current_operations") v = XmlRpcValue(XmlRpcStruct{});
  }
  // Snapshot chain: the snapshot takes the VM's old parent, the VM's parent
  // becomes the snapshot (xapi_vm_clone.ml).
  std::string snap = st.Create("VM", std::move(fields));
  std::string old_parent = Str(*st.Find("VM", vm), "parent");
  st.Mutate("VM", snap)->Set("parent", XmlRpcValue(old_parent));
  st.Mutate("VM", vm)->Set("parent", XmlRpcValue(snap));
  st.AddToSet("VM", snap, "children", vm);
  st.AddToSet("VM", vm, "snapshots", snap);

  RETURN_IF_ERROR(CopyDevicesToSnapshot(ctx, vm, snap, ignore));
  return XmlRpcValue(snap);
}

// Deletes the VM, its VBDs and VIFs; never its VDIs (xapi_vm_helpers.ml).
Result<XmlRpcValue> Destroy(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  std::string vm = RefArg(args[0]);
  const XmlRpcValue* rec = st.Find("VM", vm);
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", "VM", vm});
  if (rec->Find("is_control_domain")->b())
    return XapiError({"OPERATION_NOT_ALLOWED", "Cannot destroy a control domain"});
  std::string power = Str(*rec, "power_state");
  if (power != "Halted" && power != "Suspended")
    return XapiError({"VM_BAD_POWER_STATE", vm, "halted, suspended", Lower(power)});
  XmlRpcValue copy = *rec;
  for (const auto& vbd_ref : copy.Find("VBDs")->array()) {
    const XmlRpcValue* vbd = st.Find("VBD", vbd_ref.str());
    if (vbd == nullptr) continue;
    std::string vdi = Str(*vbd, "VDI");
    if (st.Find("VDI", vdi) != nullptr) {
      st.RemoveFromSet("VDI", vdi, "VBDs", vbd_ref.str());
      if (st.Find("VDI", vdi)->Find("VBDs")->array().empty()) NoteVbdsGone(vdi);
    }
    st.Remove("VBD", vbd_ref.str());
  }
  for (const auto& vif_ref : copy.Find("VIFs")->array()) {
    const XmlRpcValue* vif = st.Find("VIF", vif_ref.str());
    if (vif == nullptr) continue;
    std::string net = Str(*vif, "network");
    if (st.Find("network", net) != nullptr) st.RemoveFromSet("network", net, "VIFs", vif_ref.str());
    st.Remove("VIF", vif_ref.str());
  }
  std::string of = Str(copy, "snapshot_of");
  if (st.Find("VM", of) != nullptr) {
    st.RemoveFromSet("VM", of, "snapshots", vm);
    if (Str(*st.Find("VM", of), "parent") == vm)
      st.Mutate("VM", of)->Set("parent", copy.Find("parent") ? *copy.Find("parent") : NullRef());
  }
  st.Remove("VM", vm);
  return XmlRpcValue("");
}

const SpecialMethod kVm[] = {
    {"VM.snapshot", {2, 3, true, true, &Snapshot}},
    {"VM.destroy", {1, 1, true, true, &Destroy}},
};

}  // namespace

std::span<const SpecialMethod> VmMethods() { return kVm; }

// Gives snapshot VM `snap` copies of `vm`'s VBDs (over snapshot VDIs of its
// disks, except those in `ignore`) and VIFs, with back-references.
Status CopyDevicesToSnapshot(CallContext& ctx, const std::string& vm, const std::string& snap,
                             const std::vector<std::string>& ignore) {
  Store& st = ctx.store;
  XmlRpcArray vbds = st.Find("VM", vm)->Find("VBDs")->array();
  for (const auto& vbd_ref : vbds) {
    const XmlRpcValue* vbd = st.Find("VBD", vbd_ref.str());
    if (vbd == nullptr) continue;
    std::string vdi = Str(*vbd, "VDI");
    bool disk = Str(*vbd, "type") == "Disk" && st.Find("VDI", vdi) != nullptr;
    if (disk && std::find(ignore.begin(), ignore.end(), vdi) != ignore.end()) continue;
    std::string new_vdi = vdi;
    if (disk) {
      ASSIGN_OR_RETURN(new_vdi, SnapshotVdi(ctx, vdi));
    }
    XmlRpcStruct f = st.Find("VBD", vbd_ref.str())->members();
    for (auto& [k, v] : f) {
      if (k == "uuid") v = XmlRpcValue("");
      else if (k == "VM") v = XmlRpcValue(snap);
      else if (k == "VDI") v = XmlRpcValue(new_vdi);
      else if (k == "currently_attached") v = XmlRpcValue(false);
      else if (k == "current_operations") v = XmlRpcValue(XmlRpcStruct{});
    }
    std::string nv = st.Create("VBD", std::move(f));
    st.AddToSet("VM", snap, "VBDs", nv);
    if (st.Find("VDI", new_vdi) != nullptr) st.AddToSet("VDI", new_vdi, "VBDs", nv);
  }
  XmlRpcArray vifs = st.Find("VM", vm)->Find("VIFs")->array();
  for (const auto& vif_ref : vifs) {
    const XmlRpcValue* vif = st.Find("VIF", vif_ref.str());
    if (vif == nullptr) continue;
    XmlRpcStruct f = vif->members();
    for (auto& [k, v] : f) {
      if (k == "uuid") v = XmlRpcValue("");
      else if (k == "VM") v = XmlRpcValue(snap);
      else if (k == "currently_attached") v = XmlRpcValue(false);
    }
    std::string nv = st.Create("VIF", std::move(f));
    st.AddToSet("VM", snap, "VIFs", nv);
    std::string net = Str(*st.Find("VIF", nv), "network");
    if (st.Find("network", net) != nullptr) st.AddToSet("network", net, "VIFs", nv);
  }
  return OkStatus();
}

}  // namespace casulo::sim

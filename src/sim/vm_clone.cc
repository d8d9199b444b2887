// VM.clone (X:ocaml/xapi/xapi_vm_clone.ml, clone with Disk_op_clone): how
// a VM is made from a template (`xe vm-install` is a clone, then
// is_a_template false) or copied while halted. The disks are cloned first
// (VDI.clone: a copy of the data, no CBT), then the VM record, its VBDs and
// its VIFs; a failure removes the clones made so far, as safe_clone_disks
// does.
#include "sim/disks.h"
#include "vm_rules.h"

namespace casulo::sim {
namespace {

// Removes VDI `ref` made by this call (record, SR back-reference, file).
void DropVdi(CallContext& ctx, const std::string& ref) {
  Store& st = ctx.store;
  const XmlRpcValue* rec = st.Find("VDI", ref);
  if (rec == nullptr) return;
  std::string uuid = UuidOf(*rec), sr = StrField(*rec, "SR");
  if (st.Find("SR", sr) != nullptr) st.RemoveFromSet("SR", sr, "VDIs", ref);
  st.Remove("VDI", ref);
  std::string path = DiskPath(ctx.sim.state_dir(), uuid);
  if (!path.empty()) (void)RemoveFile(path);
}

// copy_vm_record's other_config: a fresh mac_seed (so the clone's VIFs get
// new MACs), default_template and xensource_internal dropped, and the
// template's name kept as base_template_name when cloning a template.
XmlRpcValue CloneOtherConfig(Store& st, const XmlRpcValue& src) {
  XmlRpcStruct out;
  if (const XmlRpcValue* oc = src.Find("other_config"); oc != nullptr && oc->is_struct())
    for (const auto& [k, v] : oc->members())
      if (k != "mac_seed" && k != "default_template" && k != "xensource_internal")
        out.emplace_back(k, v);
  out.emplace_back("mac_seed", XmlRpcValue(st.NewUuid()));
  bool has_base = false;
  for (const auto& [k, v] : out) has_base |= k == "base_template_name";
  if (BoolField(src, "is_a_template") && !has_base)
    out.emplace_back("base_template_name", XmlRpcValue(StrField(src, "name_label")));
  return XmlRpcValue(std::move(out));
}

// VM.clone(vm, new_name) -> the new VM. Allowed where check_operation_error
// allows `clone` (Halted; templates and snapshots too).
Result<XmlRpcValue> Clone(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  std::string vm = RefArg(args[0]);
  if (!args[1].is_string()) return XapiError({"FIELD_TYPE_ERROR", "new_name"});
  RETURN_IF_ERROR(CheckVmOperation(st, vm, "clone"));
  const XmlRpcValue src = *st.Find("VM", vm);

  // Disks first: an empty VBD stays empty, a CD keeps its VDI (ISOs are not
  // copied), a Disk gets a clone of its VDI.
  struct Dev {
    std::string vbd, vdi;
  };
  std::vector<Dev> devs;
  std::vector<std::string> made;
  for (const auto& v : src.Find("VBDs")->array()) {
    const XmlRpcValue* vbd = st.Find("VBD", v.str());
    if (vbd == nullptr) continue;
    std::string vdi = StrField(*vbd, "VDI");
    if (!BoolField(*vbd, "empty") && StrField(*vbd, "type") == "Disk" &&
        st.Find("VDI", vdi) != nullptr) {
      auto c = CloneVdi(ctx, vdi);
      if (!c.ok()) {
        for (const auto& m : made) DropVdi(ctx, m);
        return std::move(c).status();
      }
      made.push_back(*c);
      vdi = *c;
    }
    devs.push_back({v.str(), vdi});
  }

  XmlRpcStruct fields = src.members();
  const std::string power = StrField(src, "power_state") == "Suspended" ? "Suspended" : "Halted";
  for (auto& [k, v] : fields) {
    if (k == "uuid")
      v = XmlRpcValue("");
    else if (k == "name_label")
      v = args[1];
    else if (k == "is_a_snapshot" || k == "is_default_template")
      v = XmlRpcValue(false);
    else if (k == "power_state")
      v = XmlRpcValue(power);
    else if (k == "snapshot_of" || k == "parent" || k == "resident_on" || k == "suspend_VDI")
      v = NullRef();  // CA-52668: a clone is a new top-level VM
    else if (k == "snapshot_time")
      v = NullDate();
    else if (k == "snapshot_info" || k == "blocked_operations" || k == "current_operations")
      v = XmlRpcValue(XmlRpcStruct{});
    else if (k == "VBDs" || k == "VIFs" || k == "snapshots" || k == "children" || k == "VTPMs" ||
             k == "allowed_operations")
      v = XmlRpcValue(XmlRpcArray{});
    else if (k == "domid")
      v = XmlRpcValue(int64_t{-1});
    else if (k == "other_config")
      v = CloneOtherConfig(st, src);
  }
  std::string clone = st.Create("VM", std::move(fields));

  // Xapi_vbd_helpers.copy: the new VBD on the new VDI, detached; a Disk
  // VBD is marked as owning its VDI (CA-58405: "owner" in other_config).
  for (const auto& d : devs) {
    XmlRpcStruct f = st.Find("VBD", d.vbd)->members();
    bool disk = StrField(*st.Find("VBD", d.vbd), "type") == "Disk";
    for (auto& [k, v] : f) {
      if (k == "uuid")
        v = XmlRpcValue("");
      else if (k == "VM")
        v = XmlRpcValue(clone);
      else if (k == "VDI")
        v = d.vdi.empty() ? NullRef() : XmlRpcValue(d.vdi);
      else if (k == "currently_attached")
        v = XmlRpcValue(false);
      else if (k == "current_operations")
        v = XmlRpcValue(XmlRpcStruct{});
      else if (k == "other_config" && disk && v.is_struct() && v.Find("owner") == nullptr) {
        XmlRpcStruct oc = v.members();
        oc.emplace_back("owner", XmlRpcValue(""));
        v = XmlRpcValue(std::move(oc));
      }
    }
    std::string nv = st.Create("VBD", std::move(f));
    st.AddToSet("VM", clone, "VBDs", nv);
    if (st.Find("VDI", d.vdi) != nullptr) st.AddToSet("VDI", d.vdi, "VBDs", nv);
  }
  // Xapi_vif_helpers.copy ~preserve_mac_address:false: MACs generated from
  // the clone's new mac_seed.
  const std::string seed = st.Find("VM", clone)->Find("other_config")->Find("mac_seed")->str();
  for (const auto& v : src.Find("VIFs")->array()) {
    const XmlRpcValue* vif = st.Find("VIF", v.str());
    if (vif == nullptr) continue;
    XmlRpcStruct f = vif->members();
    int device = std::atoi(StrField(*vif, "device").c_str());
    for (auto& [k, val] : f) {
      if (k == "uuid")
        val = XmlRpcValue("");
      else if (k == "VM")
        val = XmlRpcValue(clone);
      else if (k == "MAC")
        val = XmlRpcValue(GenMac(device, seed));
      else if (k == "MAC_autogenerated")
        val = XmlRpcValue(true);
      else if (k == "currently_attached")
        val = XmlRpcValue(false);
      else if (k == "current_operations")
        val = XmlRpcValue(XmlRpcStruct{});
    }
    std::string nv = st.Create("VIF", std::move(f));
    st.AddToSet("VM", clone, "VIFs", nv);
    std::string net = StrField(*st.Find("VIF", nv), "network");
    if (st.Find("network", net) != nullptr) st.AddToSet("network", net, "VIFs", nv);
  }
  UpdateVmAllowedOperations(st, clone);
  return XmlRpcValue(clone);
}

const SpecialMethod kClone[] = {
    {"VM.clone", {2, 2, true, true, &Clone}},
};

}  // namespace

std::span<const SpecialMethod> VmCloneMethods() { return kClone; }

}  // namespace casulo::sim

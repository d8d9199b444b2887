// VBD.create/destroy/plug/unplug and VIF.create/destroy (xapi-protocol.md
// §2.3, §2.5, §7.5), with the checks of X:ocaml/xapi/xapi_vbd.ml create,
// xapi_vbd_helpers.ml (valid_operations, destroy) and xapi_vif_helpers.ml
// (create, gen_mac, destroy). The back-references VM.VBDs, VDI.VBDs,
// VM.VIFs and network.VIFs follow every create and destroy.
#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <set>

#include "vm_rules.h"

namespace casulo::sim {
namespace {

const XmlRpcValue kVoid("");

bool IsUnsigned(const std::string& s) {
  return !s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos;
}

Result<XmlRpcValue> VbdCreate(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  ASSIGN_OR_RETURN(XmlRpcStruct f, RecordArg("VBD", args[0]));
  std::string vm = FindIn(f, "VM")->str(), vdi = FindIn(f, "VDI")->str();
  const XmlRpcValue* vm_rec = st.Find("VM", vm);
  if (vm_rec == nullptr) return XapiError({"HANDLE_INVALID", "VM", vm});
  bool empty = FindIn(f, "empty")->b();
  std::string type = FindIn(f, "type")->str(), mode = FindIn(f, "mode")->str();
  if (type != "CD" && type != "Disk" && type != "Floppy") return XapiError({"FIELD_TYPE_ERROR", "type"});
  if (mode != "RO" && mode != "RW") return XapiError({"FIELD_TYPE_ERROR", "mode"});
  const XmlRpcValue* vdi_rec = st.Find("VDI", vdi);
  if (!empty) {
    if (vdi_rec == nullptr) return XapiError({"HANDLE_INVALID", "VDI", vdi});
    const std::string& vt = StrField(*vdi_rec, "type");
    if (vt == "ha_statefile" || vt == "redo_log" || vt == "cbt_metadata")
      return XapiError({"VDI_INCOMPATIBLE_TYPE", vdi, vt});
  }
  if (type == "CD" && mode != "RO") return XapiError({"VBD_CDS_MUST_BE_READONLY"});
  if (type != "CD" && empty) return XapiError({"VBD_NOT_REMOVABLE_MEDIA", "in constructor"});
  if (mode == "RW") {
    if (vdi_rec == nullptr) return XapiError({"HANDLE_INVALID", "VDI", vdi});
    if (BoolField(*vdi_rec, "read_only")) return XapiError({"VDI_READONLY", vdi});
  }
  for (const auto& [task, op] : vm_rec->Find("current_operations")->members())
    if (op.is_string() && (op.str() == "migrate_send" || op.str() == "pool_migrate"))
      return XapiError({"OTHER_OPERATION_IN_PROGRESS", "VM", vm, op.str(), task});
  std::set<int> used;
  for (const auto& b : vm_rec->Find("VBDs")->array())
    if (const XmlRpcValue* r = st.Find("VBD", b.str()); r != nullptr) {
      used.insert(DiskNumber(StrField(*r, "userdevice")));
      used.insert(DiskNumber(StrField(*r, "device")));
    }
  std::string userdevice = FindIn(f, "userdevice")->str();
  // valid_device accepts any integer (its range test is `n >= 0 || n < 16`)
  // and device names; "autodetect" takes the lowest free number.
  bool integer = !userdevice.empty() &&
                 userdevice.find_first_not_of("0123456789", userdevice[0] == '-' ? 1 : 0) ==
                     std::string::npos && userdevice != "-";
  if (userdevice == "autodetect") {
    int last = ApiVersion(st) >= 205 ? 254 : 15;
    int n = 0;
    while (n <= last && used.count(n) != 0) ++n;
    if (n > last) return XapiError({"INVALID_DEVICE", userdevice});
    userdevice = std::to_string(n);
  } else if (!integer && DiskNumber(userdevice) < 0) {
    return XapiError({"INVALID_DEVICE", userdevice});
  }
  if (used.count(DiskNumber(userdevice)) != 0 && DiskNumber(userdevice) >= 0)
    return XapiError({"DEVICE_ALREADY_EXISTS", userdevice});
  // device and currently_attached are kept only for a Suspended VM.
  bool suspended = StrField(*vm_rec, "power_state") == "Suspended";
  SetIn(f, "userdevice", XmlRpcValue(userdevice));
  if (!suspended) {
    SetIn(f, "device", XmlRpcValue(""));
    SetIn(f, "currently_attached", XmlRpcValue(false));
  }
  SetIn(f, "uuid", XmlRpcValue(""));
  SetIn(f, "storage_lock", XmlRpcValue(false));
  SetIn(f, "current_operations", XmlRpcValue(XmlRpcStruct{}));
  if (empty) SetIn(f, "VDI", NullRef());
  std::string ref = st.Create("VBD", std::move(f));
  st.AddToSet("VM", vm, "VBDs", ref);
  if (!empty) st.AddToSet("VDI", vdi, "VBDs", ref);
  UpdateVmAllowedOperations(st, vm);
  return XmlRpcValue(ref);
}

Result<const XmlRpcValue*> FindVbd(const Store& st, const std::string& vbd) {
  const XmlRpcValue* rec = st.Find("VBD", vbd);
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", "VBD", vbd});
  return rec;
}

// Detaching first is the caller's job (xapi_vbd_helpers.ml destroy).
Result<XmlRpcValue> VbdDestroy(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  std::string vbd = RefArg(args[0]);
  ASSIGN_OR_RETURN(const XmlRpcValue* rec, FindVbd(st, vbd));
  std::string vm = StrField(*rec, "VM"), vdi = StrField(*rec, "VDI");
  const XmlRpcValue* vm_rec = st.Find("VM", vm);
  if (BoolField(*rec, "currently_attached"))
    return XapiError({"OPERATION_NOT_ALLOWED",
                      "VBD '" + StrField(*rec, "uuid") + "' still attached to '" +
                          (vm_rec != nullptr ? StrField(*vm_rec, "uuid") : "") + "'"});
  if (vm_rec != nullptr) st.RemoveFromSet("VM", vm, "VBDs", vbd);
  if (st.Find("VDI", vdi) != nullptr) st.RemoveFromSet("VDI", vdi, "VBDs", vbd);
  st.Remove("VBD", vbd);
  UpdateVmAllowedOperations(st, vm);
  return kVoid;
}

// valid_operations for plug/unplug, first error wins in XAPI's order:
// unpluggable, then the VM's power state and the attachment, then sharing.
// Not modelled: HVM guests without PV drivers (the simulated ones all have
// them), current_operations.
Result<XmlRpcValue> VbdPlugging(CallContext& ctx, std::string_view method, Args args) {
  Store& st = ctx.store;
  std::string vbd = RefArg(args[0]);
  bool plug = method == "VBD.plug";
  ASSIGN_OR_RETURN(const XmlRpcValue* rec, FindVbd(st, vbd));
  std::string vm = StrField(*rec, "VM"), vdi = StrField(*rec, "VDI");
  const XmlRpcValue* vm_rec = st.Find("VM", vm);
  if (vm_rec == nullptr) return XapiError({"HANDLE_INVALID", "VM", vm});
  if (!plug && !BoolField(*rec, "unpluggable")) return XapiError({"VBD_NOT_UNPLUGGABLE", vbd});
  const std::string& power = StrField(*vm_rec, "power_state");
  bool attached = BoolField(*rec, "currently_attached");
  if (power != "Running") return XapiError({"VM_BAD_POWER_STATE", vm, "running", LowerState(power)});
  if (plug && attached) return XapiError({"DEVICE_ALREADY_ATTACHED", vbd});
  if (!plug && !attached) return XapiError({"DEVICE_ALREADY_DETACHED", vbd});
  if (StrField(*rec, "type") == "CD" && StrField(*vm_rec, "domain_type") != "pv")
    return XapiError({"OPERATION_NOT_ALLOWED",
                      "HVM CDROMs cannot be hotplugged/unplugged, only inserted or ejected"});
  if (plug && !BoolField(*rec, "empty")) {
    const XmlRpcValue* d = st.Find("VDI", vdi);
    if (d == nullptr) return XapiError({"HANDLE_INVALID", "VDI", vdi});
    bool need_write = StrField(*rec, "mode") == "RW";
    bool others = false, others_rw = false;
    for (const auto& o : d->Find("VBDs")->array()) {
      const XmlRpcValue* other = st.Find("VBD", o.str());
      if (o.str() == vbd || other == nullptr || !BoolField(*other, "currently_attached")) continue;
      others = true;
      others_rw = others_rw || StrField(*other, "mode") == "RW";
    }
    if (!BoolField(*d, "sharable") && (others_rw || (need_write && others)))
      return XapiError({"VDI_IN_USE", vdi});
    if (need_write && BoolField(*d, "read_only")) return XapiError({"VDI_READONLY", vdi});
  }
  XmlRpcValue* m = st.Mutate("VBD", vbd);
  m->Set("currently_attached", XmlRpcValue(plug));
  if (plug && StrField(*m, "device").empty())
    m->Set("device", XmlRpcValue(DeviceName(StrField(*m, "userdevice"))));
  return kVoid;
}

}  // namespace

// xapi_vif_helpers.ml gen_mac: MD5 chained 2*device+1 times over the VM's
// mac_seed, then bytes 0-3 of that and 1-2 of its MD5; locally
// administered, unicast.
std::string GenMac(int device, const std::string& seed) {
  auto md5 = [](const std::string& in) {
    std::array<unsigned char, 16> out{};
    unsigned int n = 0;
    EVP_Digest(in.data(), in.size(), out.data(), &n, EVP_md5(), nullptr);
    return std::string(reinterpret_cast<const char*>(out.data()), out.size());
  };
  std::string h = seed;
  for (int i = 0; i < device * 2 + 1; ++i) h = md5(h);
  std::string h2 = md5(h);
  auto b = [](const std::string& s, int i) { return static_cast<unsigned>(static_cast<unsigned char>(s[i])); };
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", (b(h, 0) | 0x2) & ~0x1u, b(h, 1),
                b(h, 2), b(h, 3), b(h2, 1), b(h2, 2));
  return buf;
}

namespace {

bool ValidMac(const std::string& mac) {
  if (mac.size() != 17) return false;
  for (size_t i = 0; i < mac.size(); ++i)
    if (i % 3 == 2 ? mac[i] != ':' : !std::isxdigit(static_cast<unsigned char>(mac[i]))) return false;
  return true;
}

// A blank MAC is generated only from the VM's mac_seed (which VM.create
// adds); without one XAPI keeps "" and rejects it as MAC_INVALID.
Result<XmlRpcValue> VifCreate(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  ASSIGN_OR_RETURN(XmlRpcStruct f, RecordArg("VIF", args[0]));
  std::string vm = FindIn(f, "VM")->str(), net = FindIn(f, "network")->str();
  std::string device = FindIn(f, "device")->str(), mac = FindIn(f, "MAC")->str();
  if (st.Find("network", net) == nullptr) return XapiError({"HANDLE_INVALID", "network", net});
  const XmlRpcValue* vm_rec = st.Find("VM", vm);
  if (vm_rec == nullptr) return XapiError({"HANDLE_INVALID", "VM", vm});
  if (!IsUnsigned(device)) return XapiError({"INVALID_DEVICE", device});
  bool generated = false;
  const XmlRpcValue* seed = vm_rec->Find("other_config")->Find("mac_seed");
  if (mac.empty() && seed != nullptr && seed->is_string()) {
    mac = GenMac(std::stoi(device), seed->str());
    generated = true;
  }
  if (!ValidMac(mac)) return XapiError({"MAC_INVALID", mac});
  for (const auto& v : vm_rec->Find("VIFs")->array())
    if (const XmlRpcValue* r = st.Find("VIF", v.str());
        r != nullptr && IsUnsigned(StrField(*r, "device")) &&
        std::stoi(StrField(*r, "device")) == std::stoi(device))
      return XapiError({"DEVICE_ALREADY_EXISTS", device});
  SetIn(f, "MAC", XmlRpcValue(mac));
  SetIn(f, "MAC_autogenerated", XmlRpcValue(generated));
  SetIn(f, "uuid", XmlRpcValue(""));
  SetIn(f, "current_operations", XmlRpcValue(XmlRpcStruct{}));
  if (StrField(*vm_rec, "power_state") != "Suspended") SetIn(f, "currently_attached", XmlRpcValue(false));
  std::string ref = st.Create("VIF", std::move(f));
  st.AddToSet("VM", vm, "VIFs", ref);
  st.AddToSet("network", net, "VIFs", ref);
  return XmlRpcValue(ref);
}

Result<XmlRpcValue> VifDestroy(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  std::string vif = RefArg(args[0]);
  const XmlRpcValue* rec = st.Find("VIF", vif);
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", "VIF", vif});
  std::string vm = StrField(*rec, "VM"), net = StrField(*rec, "network");
  const XmlRpcValue* vm_rec = st.Find("VM", vm);
  if (vm_rec != nullptr && StrField(*vm_rec, "power_state") == "Running" &&
      BoolField(*rec, "currently_attached"))
    return XapiError({"OPERATION_NOT_ALLOWED", "VIF currently attached to a running VM"});
  if (vm_rec != nullptr) st.RemoveFromSet("VM", vm, "VIFs", vif);
  if (st.Find("network", net) != nullptr) st.RemoveFromSet("network", net, "VIFs", vif);
  st.Remove("VIF", vif);
  return kVoid;
}

const SpecialMethod kVbdVif[] = {
    {"VBD.create", {1, 1, true, true, &VbdCreate}},
    {"VBD.destroy", {1, 1, true, true, &VbdDestroy}},
    {"VBD.plug", {1, 1, true, true, &VbdPlugging}},
    {"VBD.unplug", {1, 1, true, true, &VbdPlugging}},
    {"VBD.unplug_force", {1, 1, true, true, &VbdPlugging}},
    {"VIF.create", {1, 1, true, true, &VifCreate}},
    {"VIF.destroy", {1, 1, true, true, &VifDestroy}},
};

}  // namespace

std::span<const SpecialMethod> VbdVifMethods() { return kVbdVif; }

}  // namespace casulo::sim

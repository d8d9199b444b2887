// VM creation and power operations (xapi-protocol.md §2.2, §7.5): VM.create,
// start/start_on, clean/hard shutdown and reboot, pool_migrate,
// update_allowed_operations, get_allowed_VBD_devices. Every operation is
// checked by CheckVmOperation (vm_rules.h), so blocked_operations, power
// states, templates and snapshots answer as XAPI's
// Xapi_vm_lifecycle.check_operation_error does. Domains are not simulated:
// a start attaches the VM's VBDs and VIFs and gives it a domid.
#include <set>

#include "sim/disks.h"
#include "vm_rules.h"

namespace casulo::sim {
namespace {

const XmlRpcValue kVoid("");

// X:ocaml/xapi/xapi_vm.ml create: blocked_operations is ignored (XO sets it
// afterwards, XO:@xen-orchestra/xapi/vm.mjs create), a mac_seed is added to
// other_config when absent, and the VM is Halted unless created Suspended
// with a suspend VDI, last_booted_record and last_boot_CPU_flags.
Result<XmlRpcValue> Create(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  ASSIGN_OR_RETURN(XmlRpcStruct f, RecordArg("VM", args[0]));
  const XmlRpcStruct& in = args[0].members();
  bool suspended = StrField(args[0], "power_state") == "Suspended";
  std::string suspend_vdi = StrField(args[0], "suspend_VDI");
  std::string uuid = st.NewUuid();
  std::string ref = "OpaqueRef:" + st.NewUuid();  // XAPI names the ref it was about to make
  if (suspended) {
    const XmlRpcValue* flags = FindIn(in, "last_boot_CPU_flags");
    bool have_flags = flags != nullptr && flags->is_struct() && !flags->members().empty();
    if (!have_flags || StrField(args[0], "last_booted_record").empty() ||
        suspend_vdi.empty() || suspend_vdi == kNullRef)
      return XapiError({"VM_BAD_POWER_STATE", ref, "halted", "suspended"});
    if (st.Find("VDI", suspend_vdi) == nullptr)
      return XapiError({"HANDLE_INVALID", "VDI", suspend_vdi});
  }
  const std::string& power = StrField(args[0], "power_state");
  if (FindIn(in, "power_state") != nullptr && power != "Halted" && power != "Paused" &&
      power != "Running" && power != "Suspended")
    return XapiError({"FIELD_TYPE_ERROR", "power_state"});
  XmlRpcStruct other = FindIn(f, "other_config")->members();
  if (FindIn(other, "mac_seed") == nullptr) other.emplace_back("mac_seed", XmlRpcValue(st.NewUuid()));
  SetIn(f, "other_config", XmlRpcValue(std::move(other)));
  if (StrField(args[0], "domain_type").empty() || StrField(args[0], "domain_type") == "unspecified")
    SetIn(f, "domain_type", XmlRpcValue(StrField(args[0], "HVM_boot_policy").empty() ? "pv" : "hvm"));
  // Fields VM.create does not take from the record (DB defaults).
  for (std::string_view k : {"blocked_operations", "allowed_operations", "current_operations",
                             "snapshot_info", "bios_strings"})
    SetIn(f, k, XmlRpcValue(XmlRpcStruct{}));
  for (std::string_view k : {"VBDs", "VIFs", "VTPMs", "snapshots", "children"})
    SetIn(f, k, XmlRpcValue(XmlRpcArray{}));
  for (std::string_view k : {"snapshot_of", "parent", "resident_on", "metrics", "guest_metrics"})
    SetIn(f, k, NullRef());
  for (std::string_view k : {"is_a_snapshot", "is_control_domain", "is_default_template"})
    SetIn(f, k, XmlRpcValue(false));
  SetIn(f, "snapshot_time", NullDate());
  SetIn(f, "domid", XmlRpcValue(int64_t{-1}));
  SetIn(f, "power_state", XmlRpcValue(suspended ? "Suspended" : "Halted"));
  SetIn(f, "suspend_VDI", suspended ? XmlRpcValue(suspend_vdi) : NullRef());
  SetIn(f, "uuid", XmlRpcValue(uuid));
  std::string made = st.Create("VM", std::move(f));
  UpdateVmAllowedOperations(st, made);
  return XmlRpcValue(made);
}

// Attaches or detaches what a running domain would hold.
void SetAttached(Store& st, const std::string& vm, bool attached) {
  XmlRpcValue rec = *st.Find("VM", vm);
  for (const auto& vbd : rec.Find("VBDs")->array()) {
    const XmlRpcValue* b = st.Find("VBD", vbd.str());
    if (b == nullptr) continue;
    bool want = attached && !BoolField(*b, "empty");
    if (BoolField(*b, "currently_attached") == want) continue;
    XmlRpcValue* m = st.Mutate("VBD", vbd.str());
    m->Set("currently_attached", XmlRpcValue(want));
    if (want && StrField(*m, "device").empty())
      m->Set("device", XmlRpcValue(DeviceName(StrField(*m, "userdevice"))));
  }
  for (const auto& vif : rec.Find("VIFs")->array())
    if (st.Find("VIF", vif.str()) != nullptr)
      st.Mutate("VIF", vif.str())->Set("currently_attached", XmlRpcValue(attached));
}

void SetResident(Store& st, const std::string& vm, const std::string& host) {
  std::string old = StrField(*st.Find("VM", vm), "resident_on");
  if (old == host) return;
  if (st.Find("host", old) != nullptr) st.RemoveFromSet("host", old, "resident_VMs", vm);
  st.Mutate("VM", vm)->Set("resident_on", XmlRpcValue(host));
  if (st.Find("host", host) != nullptr) st.AddToSet("host", host, "resident_VMs", vm);
}

// A domid no resident VM uses (dom0 is 0).
int64_t FreeDomid(const Store& st) {
  std::set<int64_t> used;
  for (const auto& [ref, obj] : st.Objects("VM")) used.insert(IntField(obj.record, "domid"));
  int64_t d = 1;
  while (used.count(d) != 0) ++d;
  return d;
}

Result<XmlRpcValue> Boot(CallContext& ctx, const std::string& vm, const std::string& host,
                         const XmlRpcValue& paused, std::string_view op) {
  Store& st = ctx.store;
  if (paused.type() != XmlRpcValue::Type::kBool) return XapiError({"FIELD_TYPE_ERROR", "start_paused"});
  RETURN_IF_ERROR(CheckVmOperation(st, vm, op));
  if (st.Find("host", host) == nullptr) return XapiError({"HANDLE_INVALID", "host", host});
  SetResident(st, vm, host);
  XmlRpcValue* m = st.Mutate("VM", vm);
  m->Set("power_state", XmlRpcValue(paused.b() ? "Paused" : "Running"));
  m->Set("domid", XmlRpcValue(FreeDomid(st)));
  SetAttached(st, vm, true);
  UpdateVmAllowedOperations(st, vm);
  return kVoid;
}

// VM.start(vm, start_paused, force): on the host that took the call.
Result<XmlRpcValue> Start(CallContext& ctx, std::string_view, Args args) {
  std::string host = ctx.host.empty() ? ctx.store.this_host : ctx.host;
  return Boot(ctx, RefArg(args[0]), host, args[1], "start");
}

// VM.start_on(vm, host, start_paused, force).
Result<XmlRpcValue> StartOn(CallContext& ctx, std::string_view, Args args) {
  return Boot(ctx, RefArg(args[0]), RefArg(args[1]), args[2], "start_on");
}

// Shutdowns end in Halted with no domain; a hard shutdown of a Suspended VM
// discards its suspend image (the VDI record and file).
Result<XmlRpcValue> Shutdown(CallContext& ctx, std::string_view method, Args args) {
  Store& st = ctx.store;
  std::string vm = RefArg(args[0]);
  std::string op(method.substr(3));  // "VM.clean_shutdown" -> "clean_shutdown"
  RETURN_IF_ERROR(CheckVmOperation(st, vm, op));
  SetAttached(st, vm, false);
  SetResident(st, vm, std::string(kNullRef));
  std::string suspend = StrField(*st.Find("VM", vm), "suspend_VDI");
  XmlRpcValue* m = st.Mutate("VM", vm);
  m->Set("power_state", XmlRpcValue("Halted"));
  m->Set("domid", XmlRpcValue(int64_t{-1}));
  m->Set("suspend_VDI", NullRef());
  if (const XmlRpcValue* s = st.Find("VDI", suspend); s != nullptr && s->Find("VBDs")->array().empty()) {
    std::string uuid = UuidOf(*s), sr = StrField(*s, "SR");
    if (st.Find("SR", sr) != nullptr) st.RemoveFromSet("SR", sr, "VDIs", suspend);
    st.Remove("VDI", suspend);
    std::string path = DiskPath(ctx.sim.state_dir(), uuid);
    if (!path.empty()) (void)RemoveFile(path);
  }
  UpdateVmAllowedOperations(st, vm);
  return kVoid;
}

// Reboots keep the VM Running in a new domain.
Result<XmlRpcValue> Reboot(CallContext& ctx, std::string_view method, Args args) {
  Store& st = ctx.store;
  std::string vm = RefArg(args[0]);
  RETURN_IF_ERROR(CheckVmOperation(st, vm, method.substr(3)));
  int64_t domid = FreeDomid(st);
  XmlRpcValue* m = st.Mutate("VM", vm);
  m->Set("power_state", XmlRpcValue("Running"));
  m->Set("domid", XmlRpcValue(domid));
  UpdateVmAllowedOperations(st, vm);
  return kVoid;
}

// VM.pool_migrate(vm, host, options): moves resident_on; the options
// (live, force, copy, compress) change nothing here.
Result<XmlRpcValue> PoolMigrate(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  std::string vm = RefArg(args[0]), host = RefArg(args[1]);
  if (!args[2].is_struct()) return XapiError({"FIELD_TYPE_ERROR", "options"});
  RETURN_IF_ERROR(CheckVmOperation(st, vm, "pool_migrate"));
  if (st.Find("host", host) == nullptr) return XapiError({"HANDLE_INVALID", "host", host});
  SetResident(st, vm, host);
  UpdateVmAllowedOperations(st, vm);
  return kVoid;
}

Result<XmlRpcValue> UpdateAllowed(CallContext& ctx, std::string_view, Args args) {
  std::string vm = RefArg(args[0]);
  if (ctx.store.Find("VM", vm) == nullptr) return XapiError({"HANDLE_INVALID", "VM", vm});
  UpdateVmAllowedOperations(ctx.store, vm);
  return kVoid;
}

// VM.get_allowed_VBD_devices: disks 0..254 since XenServer 7.0 (API 2.5;
// X:... CP-13285 "allow up to 255 VBDs per VM"), 0..15 before; minus the
// numbers the VM's VBDs use as userdevice or device.
Result<XmlRpcValue> AllowedVbdDevices(CallContext& ctx, std::string_view, Args args) {
  const Store& st = ctx.store;
  std::string vm = RefArg(args[0]);
  const XmlRpcValue* rec = st.Find("VM", vm);
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", "VM", vm});
  std::set<int> used;
  for (const auto& vbd : rec->Find("VBDs")->array())
    if (const XmlRpcValue* b = st.Find("VBD", vbd.str()); b != nullptr) {
      used.insert(DiskNumber(StrField(*b, "userdevice")));
      used.insert(DiskNumber(StrField(*b, "device")));
    }
  int last = BoolField(*rec, "is_control_domain") ? 255 : ApiVersion(st) >= 205 ? 254 : 15;
  XmlRpcArray out;
  for (int n = 0; n <= last; ++n)
    if (used.count(n) == 0) out.emplace_back(std::to_string(n));
  return XmlRpcValue(std::move(out));
}

const SpecialMethod kLifecycle[] = {
    {"VM.create", {1, 1, true, true, &Create}},
    {"VM.start", {3, 3, true, true, &Start}},
    {"VM.start_on", {4, 4, true, true, &StartOn}},
    {"VM.clean_shutdown", {1, 1, true, true, &Shutdown}},
    {"VM.hard_shutdown", {1, 1, true, true, &Shutdown}},
    {"VM.clean_reboot", {1, 1, true, true, &Reboot}},
    {"VM.hard_reboot", {1, 1, true, true, &Reboot}},
    {"VM.pool_migrate", {3, 3, true, true, &PoolMigrate}},
    {"VM.update_allowed_operations", {1, 1, true, true, &UpdateAllowed}},
    {"VM.get_allowed_VBD_devices", {1, 1, true, false, &AllowedVbdDevices}},
};

}  // namespace

std::span<const SpecialMethod> VmLifecycleMethods() { return kLifecycle; }

}  // namespace casulo::sim

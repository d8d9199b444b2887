// VDI.create, VDI.clone, VDI.resize, VDI.copy (xapi-protocol.md §2.4, §7.5:
// what a restore calls). Records and sparse files (disks.h) change together
// under the store lock; a failed call leaves both as they were.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sim/disks.h"
#include "vm_rules.h"

namespace casulo::sim {
namespace {

constexpr std::string_view kVdiTypes[] = {"system",   "user",     "ephemeral", "suspend",
                                          "crashdump", "ha_statefile", "metadata", "redo_log",
                                          "rrd",      "pvs_cache", "cbt_metadata"};

bool KnownType(const std::string& t) {
  for (auto k : kVdiTypes)
    if (k == t) return true;
  return false;
}

// SM's answer to a bad size (XE_SR_ERRORCODES.xml VDISize = 79), as
// xapi's sm_exec.ml wraps SM faults: ["", reason, stderr].
Status BadSize(std::string_view why) {
  return XapiError({"SR_BACKEND_FAILURE_79", "", "VDI Invalid size [opterr=" + std::string(why) + "]", ""});
}

// Fields of a new VDI that the caller does not choose (Xapi_vdi.create and
// the SM's vdi_info): identity, location, snapshot and CBT state.
void Fresh(XmlRpcStruct& f, const std::string& uuid) {
  SetIn(f, "uuid", XmlRpcValue(uuid));
  SetIn(f, "location", XmlRpcValue(uuid));
  for (std::string_view k : {"VBDs", "crash_dumps", "snapshots"}) SetIn(f, k, XmlRpcValue(XmlRpcArray{}));
  for (std::string_view k : {"snapshot_of", "parent", "metadata_of_pool"}) SetIn(f, k, NullRef());
  for (std::string_view k : {"is_a_snapshot", "cbt_enabled", "missing", "storage_lock",
                             "is_tools_iso", "metadata_latest", "allow_caching"})
    SetIn(f, k, XmlRpcValue(false));
  SetIn(f, "managed", XmlRpcValue(true));
  SetIn(f, "snapshot_time", NullDate());
  SetIn(f, "physical_utilisation", XmlRpcValue(int64_t{0}));
  SetIn(f, "on_boot", XmlRpcValue("persist"));
  SetIn(f, "allowed_operations", XmlRpcValue(XmlRpcArray{}));
  SetIn(f, "current_operations", XmlRpcValue(XmlRpcStruct{}));
}

// Adds the record (after its file was made) and the SR back-reference.
std::string Add(Store& st, XmlRpcStruct f) {
  std::string sr = FindIn(f, "SR")->str();
  std::string ref = st.Create("VDI", std::move(f));
  st.AddToSet("SR", sr, "VDIs", ref);
  return ref;
}

Status DiskError(const Status& s) { return XapiError({"SR_BACKEND_FAILURE_44", "", s.ToString()}); }

// X:ocaml/xapi/xapi_vdi.ml create: cbt_metadata VDIs cannot be made
// (VDI_INCOMPATIBLE_TYPE ["", "cbt_metadata"]); the SR must exist.
Result<XmlRpcValue> Create(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  ASSIGN_OR_RETURN(XmlRpcStruct f, RecordArg("VDI", args[0]));
  const std::string& type = FindIn(f, "type")->str();
  if (!KnownType(type)) return XapiError({"FIELD_TYPE_ERROR", "type"});
  if (type == "cbt_metadata") return XapiError({"VDI_INCOMPATIBLE_TYPE", "", "cbt_metadata"});
  std::string sr = FindIn(f, "SR")->str();
  if (st.Find("SR", sr) == nullptr) return XapiError({"HANDLE_INVALID", "SR", sr});
  int64_t size = FindIn(f, "virtual_size")->i();
  if (size < 0) return BadSize("negative size");
  std::string uuid = st.NewUuid();
  Fresh(f, uuid);
  std::string dir = ctx.sim.state_dir();
  if (!dir.empty()) {
    if (Status s = CreateDisk(DiskPath(dir, uuid), static_cast<uint64_t>(size)); !s.ok())
      return DiskError(s);
  }
  // A thick LVM SR allocates the whole logical volume at create: the VDI's
  // and the SR's physical_utilisation grow by the virtual size (VDI.destroy
  // gives it back). Thin SRs grow with writes, which the simulator does not
  // account for.
  const std::string& sr_type = st.Find("SR", sr)->Find("type")->str();
  if (sr_type.rfind("lvm", 0) == 0) {
    SetIn(f, "physical_utilisation", XmlRpcValue(size));
    XmlRpcValue* srec = st.Mutate("SR", sr);
    const XmlRpcValue* used = srec->Find("physical_utilisation");
    srec->Set("physical_utilisation", XmlRpcValue((used != nullptr ? used->i() : 0) + size));
  }
  return XmlRpcValue(Add(st, std::move(f)));
}

// A writable copy of `vdi` (record and data) in `sr`: what VDI.clone and
// VDI.copy make. Clones and copies are not snapshots and carry no CBT.
Result<std::string> Duplicate(CallContext& ctx, const std::string& vdi, const std::string& sr,
                              bool keep_sm_config) {
  Store& st = ctx.store;
  XmlRpcStruct f = st.Find("VDI", vdi)->members();
  std::string uuid = st.NewUuid();
  Fresh(f, uuid);
  SetIn(f, "SR", XmlRpcValue(sr));
  if (!keep_sm_config) SetIn(f, "sm_config", XmlRpcValue(XmlRpcStruct{}));
  std::string dir = ctx.sim.state_dir();
  if (!dir.empty()) {
    if (Status s = CloneDisk(DiskPath(dir, UuidOf(*st.Find("VDI", vdi))), DiskPath(dir, uuid));
        !s.ok())
      return DiskError(s);
  }
  return Add(st, std::move(f));
}

// The check_operation_error rule every data operation shares (§2.4): a
// cbt_metadata VDI has no data to clone, copy or resize.
Status CheckData(const Store& st, const std::string& vdi) {
  const XmlRpcValue* rec = st.Find("VDI", vdi);
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", "VDI", vdi});
  if (StrField(*rec, "type") == "cbt_metadata")
    return XapiError({"VDI_INCOMPATIBLE_TYPE", vdi, "cbt_metadata"});
  return OkStatus();
}

// VDI.clone(vdi [, driver_params]): same SR; XO uses it on a kept snapshot
// for differential restores (§7.5).
Result<XmlRpcValue> Clone(CallContext& ctx, std::string_view, Args args) {
  std::string vdi = RefArg(args[0]);
  if (args.size() == 2 && !args[1].is_struct()) return XapiError({"FIELD_TYPE_ERROR", "driver_params"});
  RETURN_IF_ERROR(CheckData(ctx.store, vdi));
  std::string sr = StrField(*ctx.store.Find("VDI", vdi), "SR");
  ASSIGN_OR_RETURN(std::string ref, Duplicate(ctx, vdi, sr, true));
  return XmlRpcValue(ref);
}

// VDI.resize(vdi, size): grows the file; shrinking is the SM's
// SR_BACKEND_FAILURE_79 "shrinking not allowed" (SM:drivers/*SR.py).
Result<XmlRpcValue> Resize(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  std::string vdi = RefArg(args[0]);
  auto size = args[1].AsInt("size");
  if (!size.ok()) return XapiError({"FIELD_TYPE_ERROR", "size"});
  RETURN_IF_ERROR(CheckData(st, vdi));
  const XmlRpcValue& rec = *st.Find("VDI", vdi);
  if (*size < IntField(rec, "virtual_size")) return BadSize("shrinking not allowed");
  if (*size == IntField(rec, "virtual_size")) return XmlRpcValue("");
  std::string path = DiskPath(ctx.sim.state_dir(), UuidOf(rec));
  if (!path.empty()) {
    if (Status s = CreateDisk(path, static_cast<uint64_t>(*size)); !s.ok()) return DiskError(s);
  }
  st.Mutate("VDI", vdi)->Set("virtual_size", XmlRpcValue(*size));
  return XmlRpcValue("");
}

// VDI.copy(vdi [, sr, base_vdi, into_vdi]) (X:ocaml/xapi/xapi_vdi.ml copy):
// into a valid into_vdi (VDI_READONLY, VDI_TOO_SMALL [dst, size]) or a new
// VDI in sr. base_vdi only saves work in XAPI; the result is the same full
// copy, which is what is made here.
Result<XmlRpcValue> Copy(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  std::string vdi = RefArg(args[0]);
  std::string sr = args.size() > 1 ? RefArg(args[1]) : std::string(kNullRef);
  std::string into = args.size() > 3 ? RefArg(args[3]) : std::string(kNullRef);
  RETURN_IF_ERROR(CheckData(st, vdi));
  const XmlRpcValue* dst = st.Find("VDI", into);
  if (dst == nullptr) {
    if (st.Find("SR", sr) == nullptr) return XapiError({"HANDLE_INVALID", "SR", sr});
    ASSIGN_OR_RETURN(std::string ref, Duplicate(ctx, vdi, sr, false));
    st.Mutate("VDI", ref)->Set("read_only", XmlRpcValue(false));  // CA-64962
    return XmlRpcValue(ref);
  }
  int64_t need = IntField(*st.Find("VDI", vdi), "virtual_size");
  if (BoolField(*dst, "read_only")) return XapiError({"VDI_READONLY", into});
  if (IntField(*dst, "virtual_size") < need)
    return XapiError({"VDI_TOO_SMALL", into, std::to_string(need)});
  std::string dir = ctx.sim.state_dir();
  if (!dir.empty()) {
    std::string to = DiskPath(dir, UuidOf(*dst));
    std::string tmp = to + ".copy";
    (void)RemoveFile(tmp);
    Status s = CloneDisk(DiskPath(dir, UuidOf(*st.Find("VDI", vdi))), tmp);
    if (s.ok()) s = CreateDisk(tmp, static_cast<uint64_t>(IntField(*dst, "virtual_size")));
    if (s.ok() && std::rename(tmp.c_str(), to.c_str()) != 0)
      s = Error(Code::kIoError, "rename {}: {}", tmp, std::strerror(errno));
    if (!s.ok()) return DiskError(s);
  }
  st.Mutate("VDI", into);  // its data changed
  return XmlRpcValue(into);
}

const SpecialMethod kVdiOps[] = {
    {"VDI.create", {1, 1, true, true, &Create}},
    {"VDI.clone", {1, 2, true, true, &Clone}},
    {"VDI.resize", {2, 2, true, true, &Resize}},
    {"VDI.copy", {1, 4, true, true, &Copy}},
};

}  // namespace

std::span<const SpecialMethod> VdiOpsMethods() { return kVdiOps; }

}  // namespace casulo::sim

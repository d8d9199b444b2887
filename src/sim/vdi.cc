// VDI operations with behaviour: snapshot, clone, destroy (xapi-protocol.md §2.4),
// with the pre-checks and CBT log handling of cbt.h.
// Data lives in sparse files (disks.h); records and files change together
// under the store lock.
#include "sim/cbt.h"
#include "sim/disks.h"
#include "sim/sim.h"

namespace casulo::sim {

std::string RefArg(const XmlRpcValue& v) {
  return v.is_string() ? v.str() : formats::PrintXmlRpcValue(v);
}

namespace {

// A snapshot (is_a_snapshot, snapshot_of, CBT log moved) or a clone (a new
// independent VDI without CBT) of `vdi`, sharing its data until either is
// written (ShareDisk).
Result<std::string> CopyVdi(CallContext& ctx, const std::string& vdi, bool snapshot) {
  Store& st = ctx.store;
  const XmlRpcValue* orig = st.Find("VDI", vdi);
  if (orig == nullptr) return XapiError({"HANDLE_INVALID", "VDI", vdi});
  RETURN_IF_ERROR(CheckVdiOperation(st, vdi, snapshot ? "snapshot" : "clone"));
  XmlRpcStruct fields = orig->members();
  for (auto& [k, v] : fields) {
    if (k == "uuid") v = XmlRpcValue("");
    else if (k == "is_a_snapshot") v = XmlRpcValue(snapshot);
    else if (k == "snapshot_of") v = snapshot ? XmlRpcValue(vdi) : NullRef();
    else if (k == "snapshot_time") v = snapshot ? NowDate() : NullDate();
    else if (k == "cbt_enabled" && !snapshot) v = XmlRpcValue(false);
    else if (k == "VBDs" || k == "snapshots" || k == "crash_dumps") v = XmlRpcValue(XmlRpcArray{});
    else if (k == "current_operations") v = XmlRpcValue(XmlRpcStruct{});
  }
  std::string uuid = st.NewUuid();
  fields.emplace_back("uuid", XmlRpcValue(uuid));
  fields.emplace_back("location", XmlRpcValue(uuid));
  std::string dir = ctx.sim.state_dir();
  if (!dir.empty()) {
    Status s = ShareDisk(DiskPath(dir, UuidOf(*orig)), DiskPath(dir, uuid));
    if (!s.ok()) return XapiError({"SR_BACKEND_FAILURE_44", "", s.ToString()});
  }
  // The leaf's CBT log moves to the snapshot (SM _cbt_snapshot); a
  // snapshot of a snapshot starts no chain of its own.
  if (snapshot && orig->Find("cbt_enabled")->b() && !orig->Find("is_a_snapshot")->b()) {
    Status s = CbtOnSnapshot(dir, UuidOf(*orig), uuid, uint64_t(orig->Find("virtual_size")->i()));
    if (!s.ok()) return XapiError({"INTERNAL_ERROR", s.ToString()});
  }
  std::string ref = st.Create("VDI", std::move(fields));
  if (snapshot) st.AddToSet("VDI", vdi, "snapshots", ref);
  st.AddToSet("SR", st.Find("VDI", ref)->Find("SR")->str(), "VDIs", ref);
  return ref;
}

Result<XmlRpcValue> Snapshot(CallContext& ctx, std::string_view, Args args) {
  ASSIGN_OR_RETURN(std::string ref, CopyVdi(ctx, RefArg(args[0]), true));
  return XmlRpcValue(ref);
}

Result<XmlRpcValue> Clone(CallContext& ctx, std::string_view, Args args) {
  ASSIGN_OR_RETURN(std::string ref, CopyVdi(ctx, RefArg(args[0]), false));
  return XmlRpcValue(ref);
}

// VDIs are destroyed only once no VBD refers to them; the data file goes too.
Result<XmlRpcValue> Destroy(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  std::string vdi = RefArg(args[0]);
  const XmlRpcValue* rec = st.Find("VDI", vdi);
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", "VDI", vdi});
  RETURN_IF_ERROR(CheckVdiOperation(st, vdi, "destroy"));
  if (!rec->Find("VBDs")->array().empty()) return XapiError({"VDI_IN_USE", vdi, "destroy"});
  std::string uuid = UuidOf(*rec);
  // SM's delete: the CBT log's changes go to the next VDI of the chain.
  if (Status s = CbtOnDestroy(ctx.sim.state_dir(), uuid); !s.ok())
    return XapiError({"INTERNAL_ERROR", s.ToString()});
  std::string sr = rec->Find("SR")->str();
  std::string parent = rec->Find("snapshot_of")->str();
  if (st.Find("SR", sr) != nullptr) {
    st.RemoveFromSet("SR", sr, "VDIs", vdi);
    // What the VDI occupied is the SR's again.
    const XmlRpcValue* mine = rec->Find("physical_utilisation");
    int64_t freed = mine != nullptr && mine->type() == XmlRpcValue::Type::kInt ? mine->i() : 0;
    XmlRpcValue* srec = st.Mutate("SR", sr);
    const XmlRpcValue* used = srec->Find("physical_utilisation");
    if (freed > 0 && used != nullptr && used->type() == XmlRpcValue::Type::kInt)
      srec->Set("physical_utilisation", XmlRpcValue(std::max<int64_t>(0, used->i() - freed)));
  }
  if (st.Find("VDI", parent) != nullptr) st.RemoveFromSet("VDI", parent, "snapshots", vdi);
  st.Remove("VDI", vdi);
  std::string path = DiskPath(ctx.sim.state_dir(), uuid);
  if (!path.empty()) {
    Status s = RemoveFile(path);
    if (!s.ok() && s.code() != Code::kNotFound)
      return XapiError({"INTERNAL_ERROR", s.ToString()});
  }
  return XmlRpcValue("");
}

const SpecialMethod kVdi[] = {
    {"VDI.snapshot", {1, 2, true, true, &Snapshot}},
    {"VDI.destroy", {1, 1, true, true, &Destroy}},
    {"VDI.clone", {1, 2, true, true, &Clone}},
};

}  // namespace

Result<std::string> SnapshotVdi(CallContext& ctx, const std::string& vdi) {
  return CopyVdi(ctx, vdi, true);
}

Result<std::string> CloneVdi(CallContext& ctx, const std::string& vdi) {
  return CopyVdi(ctx, vdi, false);
}

std::span<const SpecialMethod> VdiMethods() { return kVdi; }

}  // namespace casulo::sim

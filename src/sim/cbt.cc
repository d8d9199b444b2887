// VDI.enable_cbt, disable_cbt, list_changed_blocks, data_destroy and
// set_on_boot (xapi-protocol.md §2.4), and the VDI operation pre-checks of
// xapi_vdi.ml check_operation_error that vdi.cc shares.
#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "core/file.h"
#include "sim/cbt.h"
#include "sim/disks.h"

namespace casulo::sim {
namespace {

using Clock = std::chrono::steady_clock;

const XmlRpcValue kVoid("");

// When the last VBD of a VDI went away (NoteVbdsGone), for the linger fault.
std::mutex g_gone_mu;
std::map<std::string, Clock::time_point, std::less<>> g_gone;

std::optional<Clock::time_point> VbdsGoneAt(const std::string& vdi) {
  std::lock_guard l(g_gone_mu);
  auto it = g_gone.find(vdi);
  if (it == g_gone.end()) return std::nullopt;
  return it->second;
}

const std::string& Str(const XmlRpcValue& rec, std::string_view field) {
  return rec.Find(field)->str();
}
bool Bool(const XmlRpcValue& rec, std::string_view field) { return rec.Find(field)->b(); }

// SM's list_changed_blocks failure (XE_SR_ERRORCODES.xml CBTChangedBlocksError,
// xs_errors.XenError with opterr); xapi's sm_exec turns an SM fault into
// SR_BACKEND_FAILURE_<code> ["", text, ""].
Status ChangedBlocksError(std::string_view opterr) {
  return XapiError({"SR_BACKEND_FAILURE_460", "",
                    "Failed to calculate changed blocks for given VDIs. [opterr=" +
                        std::string(opterr) + "]",
                    ""});
}

Status Internal(const Status& s) { return XapiError({"INTERNAL_ERROR", s.ToString()}); }

Result<const XmlRpcValue*> FindVdi(const Store& st, const std::string& ref) {
  const XmlRpcValue* rec = st.Find("VDI", ref);
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", "VDI", ref});
  return rec;
}

// SM's configure_blocktracking(enable=true): a fresh empty log.
Result<XmlRpcValue> EnableCbt(CallContext& ctx, std::string_view, Args args) {
  std::string vdi = RefArg(args[0]);
  ASSIGN_OR_RETURN(const XmlRpcValue* rec, FindVdi(ctx.store, vdi));
  RETURN_IF_ERROR(CheckVdiOperation(ctx.store, vdi, "enable_cbt"));
  const std::string& dir = ctx.sim.state_dir();
  std::string uuid = UuidOf(*rec);
  auto log = LoadCbtLog(dir, uuid);
  if (!log.ok()) return Internal(log.status());
  if (!*log) {
    Status s = SaveCbtLog(dir, uuid, CbtLog::Empty(uint64_t(rec->Find("virtual_size")->i())));
    if (!s.ok()) return Internal(s);
  }
  if (!Bool(*rec, "cbt_enabled")) ctx.store.Mutate("VDI", vdi)->Set("cbt_enabled", true);
  return kVoid;
}

// SM's configure_blocktracking(enable=false): the leaf's log is deleted and
// its parent's log no longer names a child. Snapshots keep their logs.
Result<XmlRpcValue> DisableCbt(CallContext& ctx, std::string_view, Args args) {
  std::string vdi = RefArg(args[0]);
  ASSIGN_OR_RETURN(const XmlRpcValue* rec, FindVdi(ctx.store, vdi));
  RETURN_IF_ERROR(CheckVdiOperation(ctx.store, vdi, "disable_cbt"));
  const std::string& dir = ctx.sim.state_dir();
  std::string uuid = UuidOf(*rec);
  auto log = LoadCbtLog(dir, uuid);
  if (!log.ok()) return Internal(log.status());
  if (*log) {
    auto parent = LoadCbtLog(dir, (*log)->parent);
    if (!parent.ok()) return Internal(parent.status());
    if (*parent) {
      (*parent)->child.clear();
      if (Status s = SaveCbtLog(dir, (*log)->parent, **parent); !s.ok()) return Internal(s);
    }
    if (Status s = RemoveCbtLog(dir, uuid); !s.ok()) return Internal(s);
  }
  if (Bool(*rec, "cbt_enabled")) ctx.store.Mutate("VDI", vdi)->Set("cbt_enabled", false);
  return kVoid;
}

// SM's list_changed_blocks: from vdi_from's log, follow the child links to
// vdi_to, ORing each log on the way (vdi_from's own log, the changes before
// it, is not included).
Result<XmlRpcValue> ListChangedBlocks(CallContext& ctx, std::string_view, Args args) {
  const Store& st = ctx.store;
  std::string from = RefArg(args[0]), to = RefArg(args[1]);
  ASSIGN_OR_RETURN(const XmlRpcValue* from_rec, FindVdi(st, from));
  ASSIGN_OR_RETURN(const XmlRpcValue* to_rec, FindVdi(st, to));
  RETURN_IF_ERROR(CheckVdiOperation(st, from, "list_changed_blocks"));
  RETURN_IF_ERROR(CheckVdiOperation(st, to, "list_changed_blocks"));
  std::string from_uuid = UuidOf(*from_rec), to_uuid = UuidOf(*to_rec);
  if (from_uuid == to_uuid) return ChangedBlocksError("Source and target VDI are same");
  const std::string& dir = ctx.sim.state_dir();
  auto cur_log = LoadCbtLog(dir, from_uuid);
  if (!cur_log.ok()) return Internal(cur_log.status());
  auto to_log = LoadCbtLog(dir, to_uuid);
  if (!to_log.ok()) return Internal(to_log.status());
  if (Bool(*from_rec, "cbt_enabled") && Bool(*to_rec, "cbt_enabled") && *cur_log && *to_log) {
    CbtLog merged = CbtLog::Empty(0);
    std::string cur = from_uuid;
    // Each step visits a different VDI's log; a corrupt cycle ends here.
    for (size_t steps = 0; steps <= st.Objects("VDI").size(); ++steps) {
      std::string next = (*cur_log)->child;
      cur_log = LoadCbtLog(dir, next);
      if (!cur_log.ok()) return Internal(cur_log.status());
      if (!*cur_log) break;
      cur = next;
      const CbtLog& log = **cur_log;
      if (log.size > merged.size) {
        merged.size = log.size;
        merged.bitmap.resize(log.bitmap.size(), 0);
      }
      for (size_t i = 0; i < std::min(log.bitmap.size(), merged.bitmap.size()); ++i)
        merged.bitmap[i] |= log.bitmap[i];
      if (cur == to_uuid) {
        // ceil(virtual_size / 64 KiB) bits of vdi_to, byte-padded (§8).
        uint64_t size = uint64_t(to_rec->Find("virtual_size")->i());
        merged.bitmap.resize(size_t((size + kCbtBlockSize - 1) / kCbtBlockSize + 7) / 8, 0);
        return XmlRpcValue(CbtBase64(merged.bitmap));
      }
    }
  }
  return ChangedBlocksError("Source and target VDI are unrelated");
}

// xapi_vdi.ml _data_destroy: waits up to 4 s for every VBD of the VDI to be
// destroyed (wait_for_vbds_to_be_unplugged_and_destroyed), with the store
// lock released, then deletes the data and keeps the CBT log.
Result<XmlRpcValue> DataDestroy(CallContext& ctx, std::string_view, Args args) {
  std::string vdi = RefArg(args[0]);
  ASSIGN_OR_RETURN(const XmlRpcValue* rec, FindVdi(ctx.store, vdi));
  RETURN_IF_ERROR(CheckVdiOperation(ctx.store, vdi, "data_destroy"));
  if (Str(*rec, "type") == "cbt_metadata") return kVoid;
  auto deadline = Clock::now() + std::chrono::seconds(4);
  auto linger = ctx.sim.faults().VdiInUseLinger();
  for (;;) {
    ASSIGN_OR_RETURN(rec, FindVdi(ctx.store, vdi));
    Clock::time_point until = deadline;
    bool free = rec->Find("VBDs")->array().empty();
    if (free && linger.count() > 0) {
      if (auto gone = VbdsGoneAt(vdi); gone && Clock::now() < *gone + linger) {
        free = false;
        until = std::min(deadline, *gone + linger);
      }
    }
    if (free) break;
    if (Clock::now() >= deadline || ctx.lock == nullptr)
      return XapiError({"VDI_IN_USE", vdi, "data_destroy"});
    ctx.sim.WaitForChange(ctx, ctx.store.generation(), until);
  }
  // The store may have changed while the lock was released.
  RETURN_IF_ERROR(CheckVdiOperation(ctx.store, vdi, "data_destroy"));
  if (Str(*rec, "type") == "cbt_metadata") return kVoid;
  std::string path = DiskPath(ctx.sim.state_dir(), UuidOf(*rec));
  if (!path.empty()) {
    Status s = RemoveFile(path);
    if (!s.ok() && s.code() != Code::kNotFound) return Internal(s);
  }
  XmlRpcValue* m = ctx.store.Mutate("VDI", vdi);
  m->Set("type", "cbt_metadata");
  m->Set("physical_utilisation", int64_t{0});
  return kVoid;
}

// VDI.set_on_boot exists here for the CBT rules: refused while CBT is on.
Result<XmlRpcValue> SetOnBoot(CallContext& ctx, std::string_view, Args args) {
  std::string vdi = RefArg(args[0]);
  ASSIGN_OR_RETURN(const XmlRpcValue* rec, FindVdi(ctx.store, vdi));
  if (!args[1].is_string() || (args[1].str() != "reset" && args[1].str() != "persist"))
    return XapiError({"FIELD_TYPE_ERROR", "value"});
  RETURN_IF_ERROR(CheckVdiOperation(ctx.store, vdi, "set_on_boot"));
  if (Str(*rec, "on_boot") != args[1].str()) ctx.store.Mutate("VDI", vdi)->Set("on_boot", args[1]);
  return kVoid;
}

bool HasCbt(const Store& st) { return ProductHasCbt(st); }

const SpecialMethod kCbt[] = {
    {"VDI.enable_cbt", {1, 1, true, true, &EnableCbt, &HasCbt}},
    {"VDI.disable_cbt", {1, 1, true, true, &DisableCbt, &HasCbt}},
    {"VDI.list_changed_blocks", {2, 2, true, true, &ListChangedBlocks, &HasCbt}},
    {"VDI.data_destroy", {1, 1, true, true, &DataDestroy, &HasCbt}},
    {"VDI.set_on_boot", {2, 2, true, true, &SetOnBoot}},
};

// SR types whose SM lacks VDI_CONFIG_CBT (raw and device SRs); VHD-based
// SRs (ext, nfs, lvm, lvmoiscsi, ...) have it.
bool SrHasCbt(const XmlRpcValue& sr) {
  const std::string& type = Str(sr, "type");
  for (std::string_view t : {"iso", "udev", "rawhba", "dummy"})
    if (type == t) return false;
  return Str(sr, "content_type") != "iso" && !Bool(sr, "is_tools_sr");
}

bool IsCbtOp(std::string_view op) {
  return op == "enable_cbt" || op == "disable_cbt" || op == "data_destroy" ||
         op == "list_changed_blocks";
}

// Operations XAPI allows while a VBD of the VDI is attached.
bool IsLiveOp(std::string_view op) {
  for (std::string_view o : {"snapshot", "clone", "resize_online", "blocked", "mirror",
                             "enable_cbt", "disable_cbt", "data_destroy"})
    if (op == o) return true;
  return false;
}

}  // namespace

std::span<const SpecialMethod> CbtMethods() { return kCbt; }

bool ProductHasCbt(const Store& st) {
  const XmlRpcValue* host = st.Find("host", st.this_host);
  if (host == nullptr) return true;
  int64_t major = host->Find("API_version_major")->i();
  int64_t minor = host->Find("API_version_minor")->i();
  return major > 2 || (major == 2 && minor >= 8);
}

void NoteVbdsGone(const std::string& vdi_ref) {
  std::lock_guard l(g_gone_mu);
  g_gone[vdi_ref] = Clock::now();
}

Status CheckVdiOperation(const Store& st, const std::string& vdi, std::string_view op) {
  const XmlRpcValue& rec = *st.Find("VDI", vdi);
  const std::string& type = Str(rec, "type");
  const std::string opname(op);
  if (type == "cbt_metadata") {
    bool allowed = false;
    for (std::string_view o : {"data_destroy", "destroy", "list_changed_blocks", "forget",
                               "force_unlock", "generate_config", "update", "blocked"})
      allowed = allowed || op == o;
    if (!allowed) return XapiError({"VDI_INCOMPATIBLE_TYPE", vdi, "cbt_metadata"});
  }
  bool reset = Str(rec, "on_boot") == "reset";
  if (op == "data_destroy") {
    if (!Bool(rec, "is_a_snapshot"))
      return XapiError({"OPERATION_NOT_ALLOWED", "VDI is not a snapshot: " + vdi});
    if (!Bool(rec, "cbt_enabled")) return XapiError({"VDI_NO_CBT_METADATA", vdi});
  }
  if (op == "enable_cbt" || op == "disable_cbt") {
    if (Bool(rec, "is_a_snapshot"))
      return XapiError({"OPERATION_NOT_ALLOWED", "VDI is a snapshot: " + vdi});
    if (type != "user" && type != "system") return XapiError({"VDI_INCOMPATIBLE_TYPE", vdi, type});
    if (reset) return XapiError({"VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION"});
  }
  if ((op == "mirror" || op == "set_on_boot") && Bool(rec, "cbt_enabled"))
    return XapiError({"VDI_CBT_ENABLED", vdi});
  const XmlRpcValue* sr = st.Find("SR", Str(rec, "SR"));
  if (IsCbtOp(op) && sr != nullptr && !SrHasCbt(*sr))
    return XapiError({"SR_OPERATION_NOT_SUPPORTED", Str(rec, "SR")});
  if (!IsLiveOp(op)) {
    for (const auto& vbd_ref : rec.Find("VBDs")->array()) {
      const XmlRpcValue* vbd = st.Find("VBD", vbd_ref.str());
      if (vbd == nullptr || !Bool(*vbd, "currently_attached")) continue;
      // list_changed_blocks tolerates VBDs of snapshot VMs only.
      const XmlRpcValue* vm = st.Find("VM", Str(*vbd, "VM"));
      if (op == "list_changed_blocks" && vm != nullptr && Bool(*vm, "is_a_snapshot")) continue;
      return XapiError({"VDI_IN_USE", vdi, opname});
    }
  }
  if (op == "snapshot" && Bool(rec, "sharable")) return XapiError({"VDI_IS_SHARABLE", vdi});
  if (op == "snapshot" && reset) return XapiError({"VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION"});
  return OkStatus();
}

}  // namespace casulo::sim

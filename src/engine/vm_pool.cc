// Pool-side helpers of the VM backup: record fields, retried calls, the undo
// list, and the removal of what we created (now or by a killed run).
#include <fmt/format.h>

#include "vm_internal.h"
#include "xapi/task.h"

namespace casulo::engine::vm {

std::string Str(const XmlRpcValue& rec, std::string_view field) {
  const XmlRpcValue* v = rec.Find(field);
  return v != nullptr && v->is_string() ? v->str() : "";
}

bool Bool(const XmlRpcValue& rec, std::string_view field) {
  const XmlRpcValue* v = rec.Find(field);
  if (v == nullptr) return false;
  if (v->type() == XmlRpcValue::Type::kBool) return v->b();
  return v->is_string() && v->str() == "true";
}

int64_t Int(const XmlRpcValue& rec, std::string_view field) {
  const XmlRpcValue* v = rec.Find(field);
  if (v == nullptr) return 0;
  if (v->type() == XmlRpcValue::Type::kInt) return v->i();
  return v->is_string() ? std::strtoll(v->str().c_str(), nullptr, 10) : 0;
}

std::vector<std::string> Refs(const XmlRpcValue& rec, std::string_view field) {
  std::vector<std::string> out;
  const XmlRpcValue* v = rec.Find(field);
  if (v != nullptr && v->is_array())
    for (const auto& e : v->array())
      if (e.is_string()) out.push_back(e.str());
  return out;
}

std::string MapValue(const XmlRpcValue& rec, std::string_view field, std::string_view key) {
  const XmlRpcValue* m = rec.Find(field);
  if (m == nullptr) return "";
  const XmlRpcValue* v = m->Find(key);
  return v != nullptr && v->is_string() ? v->str() : "";
}

Result<XmlRpcValue> Call(xapi::Session& s, std::string_view method, XmlRpcArray params) {
  xapi::RetryPolicy p;
  p.max_attempts = 8;
  p.initial_delay = std::chrono::milliseconds(250);
  p.max_delay = std::chrono::milliseconds(2000);
  return xapi::CallWithRetry(s, method, std::move(params), p);
}

Result<XmlRpcValue> CleanupCall(xapi::Session& s, std::string_view method, XmlRpcArray params) {
  xapi::RetryPolicy p;
  p.max_attempts = 8;
  p.initial_delay = std::chrono::milliseconds(250);
  p.max_delay = std::chrono::milliseconds(2000);
  p.cancel = nullptr;
  return xapi::CallWithRetry(s, method, std::move(params), p);
}

std::vector<std::string> Undo::RunAll() {
  std::vector<std::string> errors;
  while (!steps_.empty()) {
    Step step = std::move(steps_.back());
    steps_.pop_back();
    if (Status st = step.fn(); !st.ok()) errors.push_back(step.what + ": " + st.ToString());
  }
  return errors;
}

Status DestroySnapshotVm(xapi::Session& s, const std::string& snap_ref, const std::vector<std::string>& keep) {
  std::vector<std::string> vdis;
  ASSIGN_OR_RETURN(XmlRpcValue vbds, CleanupCall(s, "VM.get_VBDs", {XmlRpcValue(snap_ref)}));
  for (const auto& vbd : vbds.array()) {
    auto rec = CleanupCall(s, "VBD.get_record", {vbd});
    if (!rec.ok()) continue;
    if (Str(*rec, "type") != "Disk" || xapi::IsNullRef(Str(*rec, "VDI"))) continue;
    vdis.push_back(Str(*rec, "VDI"));
  }
  RETURN_IF_ERROR(
      CleanupCall(s, "VM.destroy", {XmlRpcValue(snap_ref)}).status().With("destroying snapshot " + snap_ref));
  Status first;
  for (const auto& vdi : vdis) {
    auto uuid = CleanupCall(s, "VDI.get_uuid", {XmlRpcValue(vdi)});
    if (uuid.ok() && std::find(keep.begin(), keep.end(), uuid->str()) != keep.end()) continue;
    Status st = CleanupCall(s, "VDI.destroy", {XmlRpcValue(vdi)}).status();
    if (!st.ok() && first.ok()) first = std::move(st).With("destroying snapshot disk " + vdi);
  }
  return first;
}

void RemoveFinishedTasks(xapi::Session& s, const XmlRpcValue& vm_rec, std::vector<std::string>* removed) {
  std::vector<std::string> labels{kTaskPrefix + Str(vm_rec, "name_label")};
  for (const auto& vbd : Refs(vm_rec, "VBDs")) {
    auto vdi = CleanupCall(s, "VBD.get_VDI", {XmlRpcValue(vbd)});
    if (!vdi.ok() || !vdi->is_string() || xapi::IsNullRef(vdi->str())) continue;
    if (auto name = CleanupCall(s, "VDI.get_name_label", {*vdi}); name.ok() && name->is_string())
      labels.push_back(kTaskPrefix + name->str());
  }
  auto tasks = CleanupCall(s, "task.get_all_records", {});
  if (!tasks.ok() || !tasks->is_struct()) return;
  for (const auto& [ref, rec] : tasks->members()) {
    std::string status = Str(rec, "status");
    if (status == "pending" || status == "cancelling") continue;
    if (std::find(labels.begin(), labels.end(), Str(rec, "name_label")) == labels.end()) continue;
    if (CleanupCall(s, "task.destroy", {XmlRpcValue(ref)}).ok() && removed != nullptr)
      removed->push_back("task " + Str(rec, "name_label"));
  }
}

Result<std::vector<std::string>> SweepLeftovers(xapi::Session& s, const XmlRpcValue& vm_ref, const XmlRpcValue& vm_rec,
                                                const std::string& vm_uuid,
                                                const std::vector<std::string>& keep) {
  std::vector<std::string> removed;
  for (const auto& snap : Refs(vm_rec, "snapshots")) {
    auto rec = Call(s, "VM.get_record", {XmlRpcValue(snap)});
    if (!rec.ok()) continue;
    bool ours = MapValue(*rec, "other_config", kTagVm) == vm_uuid ||
                MapValue(*rec, "blocked_operations", "pool_migrate") == kBlockReason;
    if (!ours) continue;
    RETURN_IF_ERROR(DestroySnapshotVm(s, snap, keep));
    removed.push_back("snapshot VM " + Str(*rec, "uuid"));
  }
  // Snapshot VDIs of the VM's disks that no VM holds (kept bases, or the
  // disks of a snapshot VM destroyed before its VDIs were).
  for (const auto& vbd : Refs(vm_rec, "VBDs")) {
    auto vbd_rec = Call(s, "VBD.get_record", {XmlRpcValue(vbd)});
    if (!vbd_rec.ok() || Str(*vbd_rec, "type") != "Disk" || xapi::IsNullRef(Str(*vbd_rec, "VDI"))) continue;
    auto vdi_rec = Call(s, "VDI.get_record", {XmlRpcValue(Str(*vbd_rec, "VDI"))});
    if (!vdi_rec.ok()) continue;
    for (const auto& sv : Refs(*vdi_rec, "snapshots")) {
      auto sr = Call(s, "VDI.get_record", {XmlRpcValue(sv)});
      if (!sr.ok() || MapValue(*sr, "other_config", kTagVm) != vm_uuid) continue;
      std::string uuid = Str(*sr, "uuid");
      if (std::find(keep.begin(), keep.end(), uuid) != keep.end()) continue;
      if (!Refs(*sr, "VBDs").empty()) continue;  // still on a snapshot VM: handled above or not ours
      RETURN_IF_ERROR(Call(s, "VDI.destroy", {XmlRpcValue(sv)}).status().With("removing leftover VDI " + uuid));
      removed.push_back("snapshot VDI " + uuid);
    }
  }
  RemoveFinishedTasks(s, vm_rec, &removed);
  for (const char* op : {"pool_migrate", "migrate_send"}) {
    if (MapValue(vm_rec, "blocked_operations", op) != kBlockReason) continue;
    RETURN_IF_ERROR(Call(s, "VM.remove_from_blocked_operations", {vm_ref, XmlRpcValue(op)})
                        .status()
                        .With(std::string("lifting a stale block of ") + op));
    removed.push_back(std::string("blocked operation ") + op);
  }
  return removed;
}

}  // namespace casulo::engine::vm

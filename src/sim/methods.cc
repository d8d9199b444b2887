// Methods with behaviour of their own (not derived from the schema):
// sessions, system.listMethods, tasks.
#include "sim/sim.h"

namespace casulo::sim {
namespace {

const XmlRpcValue kVoid("");

Result<XmlRpcValue> Login(CallContext& ctx, std::string_view, Args args) {
  Store& st = ctx.store;
  // A pool member refuses logins and names the master (xapi_session.ml);
  // the address is bare, IPv6 unbracketed. The member is the host whose
  // address received the call.
  const std::string& receiver = ctx.host.empty() ? st.this_host : ctx.host;
  const auto& pools = st.Objects("pool");
  if (!pools.empty()) {
    const XmlRpcValue* master = pools.begin()->second.record.Find("master");
    if (master != nullptr && master->is_string() && master->str() != receiver) {
      const XmlRpcValue* host = st.Find("host", master->str());
      const XmlRpcValue* addr = host != nullptr ? host->Find("address") : nullptr;
      return XapiError({"HOST_IS_SLAVE", addr != nullptr && addr->is_string() ? addr->str() : ""});
    }
  }
  std::string user = args[0].is_string() ? args[0].str() : "";
  std::string password = args[1].is_string() ? args[1].str() : "";
  // XAPI declares no params but sends [uname, message] (after a 5 s delay,
  // which the simulator skips).
  if (!ctx.sim.Authenticate(user, password))
    return XapiError({"SESSION_AUTHENTICATION_FAILED", user, "Authentication failure"});
  std::string originator = args.size() == 4 && args[3].is_string() ? args[3].str() : "";
  std::string ref = st.Create("session", {{"this_host", XmlRpcValue(st.this_host)},
                                          {"last_active", NowDate()},
                                          {"validation_time", NowDate()},
                                          {"auth_user_name", XmlRpcValue(user)},
                                          {"originator", XmlRpcValue(originator)}});
  return XmlRpcValue(ref);
}

Result<XmlRpcValue> Logout(CallContext& ctx, std::string_view, Args) {
  ctx.store.Remove("session", ctx.session);
  return kVoid;
}

Result<XmlRpcValue> ListMethodsCall(CallContext& ctx, std::string_view, Args) {
  XmlRpcArray out;
  for (auto& m : ListMethods()) {
    std::string_view name = m;
    if (name.substr(0, 6) == "Async.") name.remove_prefix(6);
    MethodSpec spec = ResolveSpecial(name);
    if (spec.fn == nullptr) spec = ResolveGeneric(name);
    if (spec.available != nullptr && !spec.available(ctx.store)) continue;
    out.emplace_back(std::move(m));
  }
  return XmlRpcValue(std::move(out));
}

// The database is always "synced" here (db.json is written after every
// mutating call); kept because it is a cheap real method with an Async form.
Result<XmlRpcValue> SyncDatabase(CallContext&, std::string_view, Args) { return kVoid; }

Result<XmlRpcValue> TaskCreate(CallContext& ctx, std::string_view, Args args) {
  if (!args[0].is_string() || !args[1].is_string())
    return XapiError({"FIELD_TYPE_ERROR", "label"});
  return XmlRpcValue(ctx.store.Create(
      "task", {{"name_label", args[0]}, {"name_description", args[1]}, {"created", NowDate()},
               {"resident_on", XmlRpcValue(ctx.store.this_host)},
               {"allowed_operations", XmlRpcValue(XmlRpcArray{XmlRpcValue("cancel")})}}));
}

Result<XmlRpcValue> TaskDestroy(CallContext& ctx, std::string_view, Args args) {
  std::string ref = args[0].is_string() ? args[0].str() : "";
  if (!ctx.store.Remove("task", ref)) return XapiError({"HANDLE_INVALID", "task", ref});
  return kVoid;
}

// Only tasks still pending (made with task.create) can be cancelled; the
// simulator's own Async tasks finish before their ref is returned.
Result<XmlRpcValue> TaskCancel(CallContext& ctx, std::string_view, Args args) {
  std::string ref = args[0].is_string() ? args[0].str() : "";
  const XmlRpcValue* t = ctx.store.Find("task", ref);
  if (t == nullptr) return XapiError({"HANDLE_INVALID", "task", ref});
  const XmlRpcValue* status = t->Find("status");
  if (status == nullptr || !status->is_string() || status->str() != "pending")
    return XapiError({"OPERATION_NOT_ALLOWED", "task " + ref + " is not pending"});
  XmlRpcValue* m = ctx.store.Mutate("task", ref);
  m->Set("status", "cancelled");
  m->Set("finished", NowDate());
  m->Set("error_info", XmlRpcValue(XmlRpcArray{XmlRpcValue("TASK_CANCELLED"), XmlRpcValue(ref)}));
  return kVoid;
}

const SpecialMethod kSpecials[] = {
    {"session.login_with_password", {2, 4, false, false, &Login}},
    {"session.logout", {0, 0, true, false, &Logout}},
    {"system.listMethods", {0, 0, false, false, &ListMethodsCall}},
    {"pool.sync_database", {0, 0, true, true, &SyncDatabase}},
    {"task.create", {2, 2, true, false, &TaskCreate}},
    {"task.destroy", {1, 1, true, false, &TaskDestroy}},
    {"task.cancel", {1, 1, true, true, &TaskCancel}},
};

std::span<const SpecialMethod> AllTables(size_t i) {
  switch (i) {
    case 0: return kSpecials;
    case 1: return EventMethods();
    case 2: return VmMethods();
    case 3: return VdiMethods();
    case 4: return CbtMethods();
    case 5: return NbdMethods();
    case 6: return VmLifecycleMethods();
    case 7: return VmCheckpointMethods();
    case 8: return VdiOpsMethods();
    case 9: return VbdVifMethods();
    case 10: return VmCloneMethods();
    default: return {};
  }
}
constexpr size_t kTables = 11;

}  // namespace

MethodSpec ResolveSpecial(std::string_view method) {
  for (size_t t = 0; t < kTables; ++t)
    for (const auto& s : AllTables(t))
      if (s.name == method) return s.spec;
  return {};
}

std::vector<std::string> ListMethods() {
  std::vector<std::string> out;
  for (size_t t = 0; t < kTables; ++t)
    for (const auto& s : AllTables(t)) {
      out.emplace_back(s.name);
      if (s.spec.async) out.push_back("Async." + std::string(s.name));
    }
  for (auto& m : ListGenericMethods()) out.push_back(std::move(m));
  return out;
}

}  // namespace casulo::sim

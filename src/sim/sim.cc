// Sim: state loading and saving, and the call path every request takes:
// resolve the method (MESSAGE_METHOD_UNKNOWN), check the arity
// (MESSAGE_PARAMETER_COUNT_MISMATCH), check the session (SESSION_INVALID),
// answer an armed fault (faults.h) or run it, wrap Async. calls in a task,
// save when the store changed. This is the order of XAPI's generated server
// (gen_server.ml): a fault stands for an error the method itself raised.
#include "sim/sim.h"

#include <ctime>

#include "core/file.h"

namespace casulo::sim {

Status XapiError(std::vector<std::string> description) {
  std::string text = description.empty() ? "" : description[0];
  for (size_t i = 1; i < description.size(); ++i) text += (i == 1 ? " " : ", ") + description[i];
  return Status(Code::kRemote, text).WithRemote(std::move(description));
}

std::vector<std::string> ErrorDescription(const Status& s) {
  if (!s.remote().empty()) return s.remote();
  return {"INTERNAL_ERROR", s.ToString()};
}

XmlRpcValue NowDate() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H:%M:%SZ", &tm);
  return XmlRpcValue(XmlRpcValue::DateTime{buf});
}

Result<std::unique_ptr<Sim>> Sim::Open(std::string state_dir) {
  auto sim = std::make_unique<Sim>();
  sim->dir_ = std::move(state_dir);
  if (sim->dir_.empty()) return sim;
  RETURN_IF_ERROR(MakeDirs(sim->dir_));
  std::string db = sim->dir_ + "/db.json";
  ASSIGN_OR_RETURN(bool have_db, PathExists(db));
  if (have_db) {
    ASSIGN_OR_RETURN(Bytes bytes, ReadFile(db));
    Json j = Json::parse(AsChars(bytes), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Error(Code::kCorruption, "{}: not valid JSON", db);
    ASSIGN_OR_RETURN(sim->store_, Store::FromJson(j).With(db));
  }
  std::string users = sim->dir_ + "/users.json";
  ASSIGN_OR_RETURN(bool have_users, PathExists(users));
  if (have_users) {
    ASSIGN_OR_RETURN(Bytes bytes, ReadFile(users));
    Json j = Json::parse(AsChars(bytes), nullptr, false);
    if (!j.is_object()) return Error(Code::kCorruption, "{}: expected {{\"user\": \"password\"}}", users);
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.value().is_string()) sim->users_[it.key()] = it.value().get<std::string>();
  }
  return sim;
}

Status Sim::Save() {
  if (dir_.empty()) return OkStatus();
  std::string text = store_.ToJson().dump(1);
  return WriteFileAtomic(dir_ + "/db.json", AsBytes(text));
}

Status Sim::SaveUsers() {
  if (dir_.empty()) return OkStatus();
  Json j = Json::object();
  for (const auto& [u, p] : users_) j[u] = p;
  std::string text = j.dump(1);
  return WriteFileAtomic(dir_ + "/users.json", AsBytes(text), 0600);
}

bool Sim::Authenticate(std::string_view user, std::string_view password) const {
  auto it = users_.find(user);
  return it != users_.end() && it->second == password;
}

Status Sim::Committed(uint64_t before) {
  if (store_.generation() == before) return OkStatus();
  changed_.notify_all();
  // How many snapshot VMs exist after this change: a client backing up
  // several VMs at once holds several (GET /casulo-sim/stats, "gauges").
  int64_t snapshots = 0;
  for (const auto& [ref, obj] : store_.Objects("VM"))
    if (const XmlRpcValue* f = obj.record.Find("is_a_snapshot"); f && f->type() == XmlRpcValue::Type::kBool && f->b())
      ++snapshots;
  stats_.Gauge("snapshot_vms", snapshots);
  return Save();
}

void ExpireSessions(Store& store) {
  std::vector<std::string> refs;
  for (const auto& [ref, obj] : store.Objects("session")) refs.push_back(ref);
  for (const auto& ref : refs) store.Remove("session", ref);
}

Result<XmlRpcValue> Sim::Call(std::string_view method, const XmlRpcArray& params,
                              std::string_view host) {
  std::unique_lock lock(mu_);
  uint64_t before = store_.generation();
  Result<XmlRpcValue> r = CallLocked(method, params, lock, host);
  if (Status s = Committed(before); !s.ok()) return XapiError({"INTERNAL_ERROR", s.ToString()});
  return r;
}

Status Sim::Update(const std::function<Status(Store&)>& fn) {
  std::unique_lock lock(mu_);
  uint64_t before = store_.generation();
  Status st = fn(store_);
  Status saved = Committed(before);
  return st.ok() ? saved : st;
}

void Sim::WaitForChange(CallContext& ctx, uint64_t seen,
                        std::chrono::steady_clock::time_point deadline) {
  changed_.wait_until(*ctx.lock, deadline, [&] { return store_.generation() > seen; });
}

Result<XmlRpcValue> Sim::CallLocked(std::string_view method, const XmlRpcArray& params,
                                    std::unique_lock<std::mutex>& lock,
                                    std::string_view host) {
  stats_.CountCall(method);
  if (faults_.TakeExpireSessions()) ExpireSessions(store_);
  constexpr std::string_view kAsync = "Async.";
  bool async = method.substr(0, kAsync.size()) == kAsync;
  std::string_view name = async ? method.substr(kAsync.size()) : method;
  MethodSpec spec = ResolveSpecial(name);
  if (spec.fn == nullptr) spec = ResolveGeneric(name);
  if (spec.fn == nullptr || (async && !spec.async) ||
      (spec.available != nullptr && !spec.available(store_)))
    return XapiError({"MESSAGE_METHOD_UNKNOWN", std::string(method)});

  int n = static_cast<int>(params.size()) - (spec.session ? 1 : 0);
  if (n < spec.min_args || n > spec.max_args)
    return XapiError({"MESSAGE_PARAMETER_COUNT_MISMATCH", std::string(method),
                      std::to_string(spec.min_args), std::to_string(n < 0 ? 0 : n)});
  CallContext ctx{*this, store_, "", &lock, std::string(host)};
  Args args(params);
  if (spec.session) {
    const XmlRpcValue& s = params[0];
    ctx.session = s.is_string() ? s.str() : formats::PrintXmlRpcValue(s);
    if (store_.Find("session", ctx.session) == nullptr)
      return XapiError({"SESSION_INVALID", ctx.session});
    args = args.subspan(1);
  }
  std::optional<std::vector<std::string>> fault = faults_.TakeError(name);
  auto run = [&]() -> Result<XmlRpcValue> {
    if (fault) return XapiError(*fault);
    return spec.fn(ctx, name, args);
  };
  if (!async) return run();

  // Async: the task is created, the method runs to completion, and the task
  // holds the outcome; `result` is the XML-RPC text of the value even for
  // JSON-RPC callers (taskHelper.ml), which XO parses as XML-RPC.
  XmlRpcValue now = NowDate();
  std::string task = store_.Create(
      "task", {{"name_label", XmlRpcValue(std::string(method))}, {"created", now},
               {"resident_on", XmlRpcValue(store_.this_host)}});
  Result<XmlRpcValue> r = run();
  XmlRpcValue* t = store_.Mutate("task", task);
  t->Set("finished", NowDate());
  t->Set("progress", 1.0);
  if (r.ok()) {
    t->Set("status", "success");
    t->Set("result", formats::PrintXmlRpcValue(*r, formats::XmlRpcStyle::kBare));
  } else {
    std::vector<std::string> desc = ErrorDescription(r.status());
    bool cancelled = !desc.empty() && desc[0] == "TASK_CANCELLED";
    t->Set("status", cancelled ? "cancelled" : "failure");
    XmlRpcArray info;
    for (auto& d : desc) info.emplace_back(std::move(d));
    t->Set("error_info", XmlRpcValue(std::move(info)));
  }
  return XmlRpcValue(task);
}

}  // namespace casulo::sim

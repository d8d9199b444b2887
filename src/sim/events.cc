// event.from and event.inject (xapi-protocol.md §1.5).
//
// Every store mutation bumps one generation counter; objects carry the
// generation of their creation and of their last change, removals leave a
// tombstone. A token names a generation: event.from(classes, token, timeout)
// reports what changed after it, and waits (releasing the store lock) up to
// `timeout` seconds when nothing has yet. Tokens are XAPI's
// "%020d,%020d" (database generation, message generation); the simulator has
// no messages, so the second number is always 0.
#include <fmt/format.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>

#include "sim/sim.h"

namespace casulo::sim {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Token(uint64_t generation) { return fmt::format("{:020},{:020}", generation, 0); }

// "" = from the beginning; else two decimal numbers joined by a comma.
Result<uint64_t> ParseToken(std::string_view token) {
  if (token.empty()) return uint64_t{0};
  auto bad = [&] { return XapiError({"EVENT_FROM_TOKEN_PARSE_FAILURE", std::string(token)}); };
  size_t comma = token.find(',');
  if (comma == std::string_view::npos) return bad();
  uint64_t parts[2] = {0, 0};
  std::string_view text[2] = {token.substr(0, comma), token.substr(comma + 1)};
  for (int i = 0; i < 2; ++i) {
    if (text[i].empty() || text[i].size() > 20) return bad();
    for (char c : text[i]) {
      if (c < '0' || c > '9') return bad();
      parts[i] = parts[i] * 10 + uint64_t(c - '0');
    }
  }
  return parts[0];
}

// A subscription: "*", a class (any case), or "class/ref".
struct Subscription {
  std::string cls;  // lower case; "*" for every class
  std::string ref;  // "" for the whole class
};

Result<std::vector<Subscription>> ParseSubscriptions(const XmlRpcValue& classes) {
  if (!classes.is_array()) return XapiError({"FIELD_TYPE_ERROR", "classes"});
  std::vector<Subscription> out;
  for (const auto& c : classes.array()) {
    if (!c.is_string()) return XapiError({"FIELD_TYPE_ERROR", "classes"});
    const std::string& s = c.str();
    size_t slash = s.find('/');
    Subscription sub{Lower(s.substr(0, slash)), ""};
    if (slash != std::string::npos) {
      sub.ref = s.substr(slash + 1);
      if (sub.ref.empty() || sub.ref.find('/') != std::string::npos || sub.cls == "*")
        return XapiError({"EVENT_SUBSCRIPTION_PARSE_FAILURE", s});
    }
    if (sub.cls.empty()) return XapiError({"EVENT_SUBSCRIPTION_PARSE_FAILURE", s});
    out.push_back(std::move(sub));
  }
  return out;
}

bool Wants(const std::vector<Subscription>& subs, std::string_view lower_cls,
           std::string_view ref) {
  for (const auto& s : subs)
    if (s.cls == "*" || (s.cls == lower_cls && (s.ref.empty() || s.ref == ref))) return true;
  return false;
}

bool WantsClass(const std::vector<Subscription>& subs, std::string_view lower_cls) {
  for (const auto& s : subs)
    if (s.cls == "*" || s.cls == lower_cls) return true;
  return false;
}

std::string Timestamp() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  return fmt::format("{}.{:06}", tv.tv_sec, tv.tv_usec);
}

// Events after generation `from`, in generation order. Objects created and
// removed since `from` are not reported at all (XAPI's collect_events).
XmlRpcArray Collect(const Store& st, const std::vector<Subscription>& subs, uint64_t from) {
  struct Ev {
    uint64_t gen;
    XmlRpcValue value;
  };
  std::vector<Ev> evs;
  std::string ts = Timestamp();
  auto event = [&](uint64_t gen, const std::string& cls, const std::string& ref,
                   const char* op, const XmlRpcValue* snapshot) {
    XmlRpcStruct e{{"id", XmlRpcValue(std::to_string(gen))}, {"timestamp", XmlRpcValue(ts)},
                   {"class", XmlRpcValue(cls)}, {"operation", XmlRpcValue(op)},
                   {"ref", XmlRpcValue(ref)}};
    if (snapshot != nullptr) e.emplace_back("snapshot", *snapshot);
    evs.push_back({gen, XmlRpcValue(std::move(e))});
  };
  for (const auto& [cls, table] : st.tables()) {
    std::string lower = Lower(cls);
    if (!WantsClass(subs, lower)) continue;
    for (const auto& [ref, obj] : table) {
      if (obj.modified <= from || !Wants(subs, lower, ref)) continue;
      XmlRpcValue rec = RecordForRelease(st, cls, obj.record);  // as the release serves it
      event(obj.modified, lower, ref, obj.created > from ? "add" : "mod", &rec);
    }
  }
  for (const auto& t : st.tombstones()) {
    std::string lower = Lower(t.cls);
    if (t.deleted > from && t.created <= from && Wants(subs, lower, t.ref))
      event(t.deleted, lower, t.ref, "del", nullptr);
  }
  std::stable_sort(evs.begin(), evs.end(), [](const Ev& a, const Ev& b) { return a.gen < b.gen; });
  XmlRpcArray out;
  out.reserve(evs.size());
  for (auto& e : evs) out.push_back(std::move(e.value));
  return out;
}

Result<XmlRpcValue> EventFrom(CallContext& ctx, std::string_view, Args args) {
  ASSIGN_OR_RETURN(std::vector<Subscription> subs, ParseSubscriptions(args[0]));
  if (!args[1].is_string()) return XapiError({"EVENT_FROM_TOKEN_PARSE_FAILURE", ""});
  ASSIGN_OR_RETURN(uint64_t from, ParseToken(args[1].str()));
  double timeout = 0;
  if (args[2].type() == XmlRpcValue::Type::kDouble) timeout = args[2].d();
  else if (args[2].type() == XmlRpcValue::Type::kInt) timeout = double(args[2].i());
  else return XapiError({"FIELD_TYPE_ERROR", "timeout"});
  timeout = std::clamp(timeout, 0.0, 24 * 3600.0);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::microseconds(int64_t(timeout * 1e6));
  if (from != 0 && from < ctx.store.tombstone_floor()) return XapiError({"EVENTS_LOST"});
  XmlRpcArray events;
  for (;;) {
    uint64_t seen = ctx.store.generation();
    events = Collect(ctx.store, subs, from);
    if (!events.empty() || std::chrono::steady_clock::now() >= deadline) break;
    ctx.sim.WaitForChange(ctx, seen, deadline);
    // The caller's session may have been logged out while we waited.
    if (ctx.store.Find("session", ctx.session) == nullptr)
      return XapiError({"SESSION_INVALID", ctx.session});
  }
  XmlRpcStruct counts;
  for (const auto& [cls, table] : ctx.store.tables())
    if (WantsClass(subs, Lower(cls))) counts.emplace_back(Lower(cls), int64_t(table.size()));
  return XmlRpcValue(XmlRpcStruct{{"events", XmlRpcValue(std::move(events))},
                                  {"valid_ref_counts", XmlRpcValue(std::move(counts))},
                                  {"token", XmlRpcValue(Token(ctx.store.generation()))}});
}

// Touches the object and returns a token just before the touch, so that
// event.from(token) reports it at once (XO's starting token).
Result<XmlRpcValue> EventInject(CallContext& ctx, std::string_view, Args args) {
  std::string cls = args[0].is_string() ? args[0].str() : "";
  std::string ref = args[1].is_string() ? args[1].str() : "";
  const ClassSchema* schema = nullptr;
  for (const auto& c : AllClasses())
    if (Lower(c.name) == Lower(cls)) schema = &c;
  if (schema == nullptr) return XapiError({"HANDLE_INVALID", cls, ref});
  uint64_t before = ctx.store.generation();
  if (ctx.store.Mutate(schema->name, ref) == nullptr)
    return XapiError({"HANDLE_INVALID", schema->name, ref});
  return XmlRpcValue(Token(before));
}

const SpecialMethod kEvents[] = {
    {"event.from", {3, 3, true, false, &EventFrom}},
    {"event.inject", {2, 2, true, false, &EventInject}},
};

}  // namespace

std::span<const SpecialMethod> EventMethods() { return kEvents; }

}  // namespace casulo::sim

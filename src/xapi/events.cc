#include "xapi/events.h"

namespace casulo::xapi {
namespace {

std::string Text(const XmlRpcValue* v) { return v != nullptr && v->is_string() ? v->str() : ""; }

}  // namespace

EventWatcher::EventWatcher(Session& session, std::vector<std::string> classes) : session_(session) {
  XmlRpcArray a;
  for (auto& c : classes) a.emplace_back(std::move(c));
  classes_ = XmlRpcValue(std::move(a));
}

Status EventWatcher::StartFromNow() {
  token_.clear();
  // An empty token with timeout 0 answers at once with the current token
  // (and every object, which we drop).
  ASSIGN_OR_RETURN(auto ignored, Next(std::chrono::milliseconds(0)));
  (void)ignored;
  return OkStatus();
}

Result<std::vector<Event>> EventWatcher::Next(std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(XmlRpcValue r, session_.Call("event.from",
                                                {classes_, XmlRpcValue(token_),
                                                 XmlRpcValue(timeout.count() / 1000.0)}));
  const XmlRpcValue* token = r.Find("token");
  const XmlRpcValue* events = r.Find("events");
  if (token == nullptr || !token->is_string() || events == nullptr || !events->is_array())
    return Error(Code::kRemote, "event.from: unexpected answer {}", ValueText(r));
  token_ = token->str();
  std::vector<Event> out;
  out.reserve(events->array().size());
  for (const auto& e : events->array()) {
    Event ev;
    ev.cls = Text(e.Find("class"));
    ev.operation = Text(e.Find("operation"));
    ev.ref = Text(e.Find("ref"));
    if (const XmlRpcValue* s = e.Find("snapshot")) ev.snapshot = *s;
    out.push_back(std::move(ev));
  }
  return out;
}

}  // namespace casulo::xapi

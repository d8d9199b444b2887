// event.from watching (reference §1.5): a token-driven stream of changes,
// used to follow task progress without polling and to notice pool changes
// (a VM migrating away mid-backup, a snapshot appearing).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/status.h"
#include "xapi/session.h"

namespace casulo::xapi {

struct Event {
  std::string cls;        // lower case, as XAPI sends it: "vm", "task"
  std::string operation;  // "add", "mod", "del"
  std::string ref;
  XmlRpcValue snapshot;   // the record after the change; nil for "del"
};

class EventWatcher {
 public:
  // `classes`: "*", class names, or "class/ref" for one object.
  EventWatcher(Session& session, std::vector<std::string> classes);

  // Skips everything that exists now: the next Next() reports only later
  // changes. Without it the first Next() reports every current object
  // ("add"), as XAPI does for an empty token.
  Status StartFromNow();

  // Blocks up to `timeout` (XAPI's own wait, server side) and returns the
  // changes since the last call, possibly none. EVENTS_LOST (the server
  // forgot our token) is returned as is; call Reset() and re-read state.
  Result<std::vector<Event>> Next(std::chrono::milliseconds timeout);

  void Reset() { token_.clear(); }
  const std::string& token() const { return token_; }

 private:
  Session& session_;
  XmlRpcValue classes_;
  std::string token_;
};

}  // namespace casulo::xapi

#include "xapi/transfer.h"

#include <fmt/format.h>

#include <algorithm>

namespace casulo::xapi {
namespace {

std::string PercentEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

Result<std::string> CreateTask(Session& session, const std::string& label) {
  ASSIGN_OR_RETURN(XmlRpcValue ref, session.Call("task.create", {XmlRpcValue(label), XmlRpcValue("")}));
  if (!ref.is_string()) return Error(Code::kRemote, "task.create returned {}", ValueText(ref));
  return ref.str();
}

// The query with our session and task first.
HandlerRequest WithAuth(const HandlerRequest& req, const std::string& session,
                        const std::string& task) {
  HandlerRequest out{req.path, {{"session_id", session}}};
  if (!task.empty()) out.query.emplace_back("task_id", task);
  for (const auto& kv : req.query) out.query.push_back(kv);
  return out;
}

// A transfer that never reached the handler leaves our task pending: cancel
// it so it does not linger, and destroy it.
void AbandonTask(Session& session, const std::string& task) {
  (void)session.Call("task.cancel", {XmlRpcValue(task)});
  (void)session.Call("task.destroy", {XmlRpcValue(task)});
}

// Combines the transfer's and the task's outcomes (see Download). After a
// failed transfer the handler may never have taken the task (connection
// refused, 401 before the handler): the wait is bounded and the task then
// abandoned.
Result<TransferOutcome> Judge(Session& session, const std::string& task, Result<TransferReply> xfer,
                              const HandlerOptions& options, const std::string& what) {
  TaskWaitOptions wait = options.wait;
  if (!xfer.ok() && wait.give_up_after.count() == 0) wait.give_up_after = std::chrono::seconds(10);
  Result<XmlRpcValue> outcome = WaitForTask(session, task, wait);
  if (!outcome.ok() && !xfer.ok() && outcome.status().code() == Code::kIoError &&
      outcome.status().remote().empty()) {
    AbandonTask(session, task);
    return std::move(xfer).status().With(what);
  }
  if (!outcome.ok()) {
    Status s = std::move(outcome).status();
    if (!xfer.ok()) return std::move(s).With(fmt::format("{} ({})", what, xfer.status().ToString()));
    return std::move(s).With(what);
  }
  if (!xfer.ok()) return std::move(xfer).status().With(what);
  return TransferOutcome{std::move(*xfer), std::move(*outcome)};
}

}  // namespace

std::string BuildPathQuery(const std::string& path,
                           const std::vector<std::pair<std::string, std::string>>& query) {
  std::string out = path;
  char sep = '?';
  for (const auto& [k, v] : query) {
    out += sep;
    out += PercentEncode(k);
    out += '=';
    out += PercentEncode(v);
    sep = '&';
  }
  return out;
}

Result<TransferOutcome> Download(Session& session, const Endpoint& endpoint,
                                 const HandlerRequest& req, Sink& sink,
                                 const HandlerOptions& options) {
  ASSIGN_OR_RETURN(std::string task, CreateTask(session, options.task_label));
  HandlerRequest full = WithAuth(req, session.ref(), task);
  Result<TransferReply> xfer = HttpGet(endpoint, BuildPathQuery(full.path, full.query), sink, options.transfer);
  return Judge(session, task, std::move(xfer), options, "GET " + req.path);
}

Result<TransferOutcome> Upload(Session& session, const Endpoint& endpoint,
                               const HandlerRequest& req, Source& source, uint64_t content_length,
                               const HandlerOptions& options) {
  Endpoint target = endpoint;
  std::string path = req.path;
  // A probe must change nothing: an empty /import fails and an empty raw
  // write onto a VDI writes nothing, but /import_raw_vdi with an SR would
  // create an empty VDI, so that one goes unprobed.
  bool creates = req.path.rfind("/import_raw_vdi", 0) == 0 &&
                 std::any_of(req.query.begin(), req.query.end(),
                             [](const auto& kv) { return kv.first == "sr_id" || kv.first == "sr_uuid"; });
  if (options.probe_redirect && !creates) {
    // An empty body without task_id: a handler that does not redirect fails
    // its own task on the empty input and we go on with the real PUT.
    HandlerRequest probe = WithAuth(req, session.ref(), "");
    MemorySource empty({});
    TransferOptions once = options.transfer;
    std::string moved_to;
    once.redirected_to = &moved_to;
    (void)HttpPut(endpoint, BuildPathQuery(probe.path, probe.query), empty, 0, once);
    if (!moved_to.empty()) {
      std::string_view url = moved_to;
      size_t scheme = url.find("://");
      size_t slash = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
      if (slash != std::string_view::npos) {
        Endpoint moved = endpoint;
        moved.url = std::string(url.substr(0, slash));
        target = moved;
        path = std::string(url.substr(slash, url.find('?', slash) - slash));
      }
    }
  }
  ASSIGN_OR_RETURN(std::string task, CreateTask(session, options.task_label));
  HandlerRequest full = WithAuth(req, session.ref(), task);
  full.path = path;
  Result<TransferReply> xfer =
      HttpPut(target, BuildPathQuery(full.path, full.query), source, content_length, options.transfer);
  return Judge(session, task, std::move(xfer), options, "PUT " + req.path);
}

}  // namespace casulo::xapi

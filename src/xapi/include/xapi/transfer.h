// Data-handler transfers run the way XAPI expects (reference §3.1): inside a
// task of ours, with session_id and task_id in the query (cookies are not
// copied into redirects), and judged by the task as well as the HTTP
// exchange, because handlers answer 200 before they fail.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/stream.h"
#include "xapi/session.h"
#include "xapi/task.h"
#include "xapi/transport.h"

namespace casulo::xapi {

// A handler and its own parameters (session_id and task_id are added).
struct HandlerRequest {
  std::string path;  // "/export_raw_vdi"
  std::vector<std::pair<std::string, std::string>> query;
};

// path?k=v&... with keys and values percent-encoded.
std::string BuildPathQuery(const std::string& path,
                           const std::vector<std::pair<std::string, std::string>>& query);

struct TransferOutcome {
  TransferReply reply;
  XmlRpcValue task_result;  // the task's result (e.g. the VDI ref of an import)
};

struct HandlerOptions {
  TransferOptions transfer;
  TaskWaitOptions wait;
  // Label of the task we create (shown in XenCenter/XO task lists).
  std::string task_label = "casulo transfer";
  // PUT only: send an empty PUT first to learn where a 302 leads before
  // streaming, as XO's putResource does (a source cannot rewind).
  bool probe_redirect = true;
};

// GET `req` into `sink` (not Finish()ed). task.create, the transfer, then
// WaitForTask (which destroys the task). When both fail, the task's error is
// returned (it names the cause: VDI_IO_ERROR, ...) with the transfer's as
// context; a transfer that failed while the task says success is still an
// error (the body is short).
Result<TransferOutcome> Download(Session& session, const Endpoint& endpoint,
                                 const HandlerRequest& req, Sink& sink,
                                 const HandlerOptions& options = {});

// PUT `content_length` bytes of `source` to `req`, the same way.
Result<TransferOutcome> Upload(Session& session, const Endpoint& endpoint,
                               const HandlerRequest& req, Source& source, uint64_t content_length,
                               const HandlerOptions& options = {});

}  // namespace casulo::xapi

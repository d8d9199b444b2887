#include "xapi/task.h"

#include "xapi/events.h"

#include <algorithm>
#include <thread>

namespace casulo::xapi {
namespace {

bool Cancelled(const std::atomic<bool>* flag) {
  return flag != nullptr && flag->load(std::memory_order_relaxed);
}

std::vector<std::string> ErrorInfo(const XmlRpcValue& record) {
  std::vector<std::string> out;
  const XmlRpcValue* info = record.Find("error_info");
  if (info && info->is_array()) {
    for (const auto& e : info->array()) out.push_back(ValueText(e));
  }
  return out;
}

Result<XmlRpcValue> ParseTaskResult(const XmlRpcValue& record) {
  const XmlRpcValue* result = record.Find("result");
  if (result == nullptr || !result->is_string()) return XmlRpcValue();
  std::string_view text = result->str();
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return XmlRpcValue();
  auto v = formats::ParseXmlRpcValue(text);
  if (!v.ok()) return std::move(v).status().With("parsing the task result");
  return v;
}

}  // namespace

void RealSleep(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

Result<XmlRpcValue> WaitForTask(Session& session, const std::string& task_ref,
                                const TaskWaitOptions& options) {
  auto destroy = [&] {
    if (options.destroy) (void)session.Call("task.destroy", {XmlRpcValue(task_ref)});
  };
  auto interval = options.poll_interval;
  std::chrono::milliseconds waited{0};
  bool cancel_sent = false;
  bool use_events = options.use_events;
  EventWatcher watcher(session, {"task/" + task_ref});
  while (true) {
    auto rec = session.Call("task.get_record", {XmlRpcValue(task_ref)});
    if (!rec.ok()) {
      // The task is unusable (gone, or the pool unreachable); leave it to
      // XAPI's garbage collection rather than hide the error.
      return std::move(rec).status().With("waiting for task " + task_ref);
    }
    std::string status;
    if (const XmlRpcValue* s = rec->Find("status"); s && s->is_string()) status = s->str();
    if (const XmlRpcValue* p = rec->Find("progress"); p && options.progress) {
      if (p->type() == XmlRpcValue::Type::kDouble) options.progress(p->d());
    }
    if (status == "success") {
      auto result = ParseTaskResult(*rec);
      destroy();
      return result;
    }
    if (status == "failure") {
      destroy();
      return XapiError(ErrorInfo(*rec)).With("task " + task_ref);
    }
    if (status == "cancelled") {
      destroy();
      std::vector<std::string> info = ErrorInfo(*rec);
      if (info.empty()) info = {"TASK_CANCELLED", task_ref};
      return Status(Code::kCancelled, "task " + task_ref + " was cancelled").WithRemote(std::move(info));
    }
    if (status != "pending" && status != "cancelling") {
      return Error(Code::kRemote, "task {} has unknown status '{}'", task_ref, status);
    }
    if (Cancelled(options.cancel) && !cancel_sent) {
      // Ask XAPI to stop, then keep polling so the task ends (and is
      // destroyed) rather than running on unobserved.
      cancel_sent = true;
      auto c = session.Call("task.cancel", {XmlRpcValue(task_ref)});
      if (!c.ok()) {
        // Refused: either it just finished (then it is ours to destroy) or
        // it cannot be cancelled (we stop waiting; XAPI finishes it).
        auto again = session.Call("task.get_status", {XmlRpcValue(task_ref)});
        if (again.ok() && again->is_string() && again->str() != "pending" && again->str() != "cancelling")
          destroy();
        return Status(Code::kCancelled, "cancelled while waiting for task " + task_ref);
      }
    }
    if (options.give_up_after.count() > 0 && waited >= options.give_up_after) {
      return Error(Code::kIoError, "task {} still {} after {} ms", task_ref, status, waited.count());
    }
    if (use_events) {
      auto changes = watcher.Next(interval);
      if (!changes.ok()) use_events = false;
    }
    if (!use_events) options.sleep(interval);
    waited += interval;
    interval = std::min(options.max_poll_interval, interval + interval / 2);
  }
}

bool IsRetryable(const Status& s) {
  return IsXapiError(s, "TOO_MANY_PENDING_TASKS") || IsXapiError(s, "OTHER_OPERATION_IN_PROGRESS") ||
         IsXapiError(s, "VDI_IN_USE");
}

Result<XmlRpcValue> Retry(const RetryPolicy& policy, const std::function<Result<XmlRpcValue>()>& fn) {
  auto delay = policy.initial_delay;
  for (int attempt = 1;; ++attempt) {
    auto r = fn();
    if (r.ok() || !policy.retryable(r.status())) return r;
    if (attempt >= policy.max_attempts) {
      return std::move(r).With(fmt::format("still failing after {} attempts", attempt));
    }
    if (Cancelled(policy.cancel)) return Status(Code::kCancelled, "cancelled while retrying");
    policy.sleep(delay);
    delay = std::min(policy.max_delay,
                     std::chrono::milliseconds(static_cast<int64_t>(delay.count() * policy.multiplier)));
  }
}

Result<XmlRpcValue> CallWithRetry(Session& session, std::string_view method, XmlRpcArray params,
                                  const RetryPolicy& policy) {
  return Retry(policy, [&] { return session.Call(method, params); });
}

}  // namespace casulo::xapi

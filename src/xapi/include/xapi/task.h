// XAPI tasks and the retry rule for "busy" errors (reference §1.5, §5).
//
// Time is injected (sleep function, cancel flag) so the tests run instantly
// and deterministically.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "core/cancel.h"
#include "core/status.h"
#include "xapi/rpc.h"
#include "xapi/session.h"

namespace casulo::xapi {

using SleepFn = std::function<void(std::chrono::milliseconds)>;
// std::this_thread::sleep_for.
void RealSleep(std::chrono::milliseconds d);

struct TaskWaitOptions {
  // Polls task.get_record after `poll_interval`, growing by half each time up
  // to `max_poll_interval` (the xe CLI polls every second).
  std::chrono::milliseconds poll_interval{1000};
  std::chrono::milliseconds max_poll_interval{5000};
  std::function<void(double)> progress;  // 0..1, called after each poll
  const std::atomic<bool>* cancel = &CancelFlag();
  SleepFn sleep = RealSleep;
  // Destroy the task once it is finished (or abandoned): XAPI keeps finished
  // tasks for 65 min and counts them against TOO_MANY_PENDING_TASKS.
  bool destroy = true;
  // Give up on a task still pending after this much waiting (summed
  // sleeps); 0 = wait as long as it takes. Used after a transfer failed
  // before a handler took the task: nobody will ever finish it.
  std::chrono::milliseconds give_up_after{0};
  // Wait with event.from on the task (server-side, woken by any change, so
  // progress is seen when it happens) instead of sleeping between polls;
  // falls back to sleeping if event.from fails.
  bool use_events = false;
};

// Waits for `task_ref` to leave `pending`/`cancelling` and returns its result
// parsed as an XML-RPC value (task.result holds XML-RPC text such as
// "<value>OpaqueRef:...</value>"; an empty result, as 6.5 and void methods
// give, is a nil value). A failed task is XapiError(error_info); a cancelled
// one is kCancelled with remote() = error_info. When `cancel` is set, the task
// is cancelled (task.cancel, best effort) and kCancelled returned.
Result<XmlRpcValue> WaitForTask(Session& session, const std::string& task_ref,
                                const TaskWaitOptions& options = {});

// Which XAPI errors mean "busy, try again later": TOO_MANY_PENDING_TASKS,
// OTHER_OPERATION_IN_PROGRESS, VDI_IN_USE.
bool IsRetryable(const Status& s);

struct RetryPolicy {
  int max_attempts = 10;  // XO: 10 tries, 5 s apart
  std::chrono::milliseconds initial_delay{1000};
  std::chrono::milliseconds max_delay{5000};
  double multiplier = 2.0;
  SleepFn sleep = RealSleep;
  const std::atomic<bool>* cancel = &CancelFlag();
  std::function<bool(const Status&)> retryable = IsRetryable;
};

// Runs `fn` until it succeeds, fails with a non-retryable error, or
// max_attempts are used (the last error is returned, with the attempt count
// as context). Cancellation between attempts gives kCancelled.
Result<XmlRpcValue> Retry(const RetryPolicy& policy,
                          const std::function<Result<XmlRpcValue>()>& fn);

// session.Call with Retry.
Result<XmlRpcValue> CallWithRetry(Session& session, std::string_view method, XmlRpcArray params,
                                  const RetryPolicy& policy = {});

}  // namespace casulo::xapi

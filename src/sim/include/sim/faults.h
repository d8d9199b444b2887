// Faults on demand (issue 4): the simulator misbehaves as real pools do, so
// the client's retry and cleanup paths can be tested. Set from the command
// line (--fault SPEC), `casulo-sim fault`, or the control endpoint
// (control.cc). Grammar in docs/design/simulator.md "Faults and statistics".
// Thread-safe: read by the dispatcher and by data-plane handler threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sim/value_json.h"

namespace casulo::sim {

// What an armed data-plane fault does to one transfer of a handler path.
struct TransferFaults {
  static constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
  uint64_t drop_after = kNever;  // bytes moved before the connection is reset
  uint64_t bytes_per_second = 0;  // 0 = full speed
};

class Faults {
 public:
  // Adds one fault described by `spec`; kInvalidArgument names what is wrong.
  Status Add(std::string_view spec);
  // Several specs, one a line ('#' comments and blank lines skipped); all
  // are checked before any is armed.
  Status AddLines(std::string_view text);
  void Clear();
  // The armed faults as spec lines, with the counts that remain.
  std::vector<std::string> List() const;

  // The dispatcher's hook: the XAPI error to answer instead of running
  // `method` (the name without "Async."), consumed: each armed error fires
  // a set number of times.
  std::optional<std::vector<std::string>> TakeError(std::string_view method);
  // True once after `expire-sessions` was armed: the caller removes every
  // session (the next call with an old one gets SESSION_INVALID).
  bool TakeExpireSessions();
  // How long VDI.data_destroy keeps answering VDI_IN_USE after the VDI's
  // last VBD went away (0 = not at all).
  std::chrono::milliseconds VdiInUseLinger() const;
  // The faults for a new transfer on `path` (a request path; "/export/x"
  // is handler "/export"). Consumes one use of a counted drop/slow.
  TransferFaults TakeTransfer(std::string_view path);

 private:
  struct ErrorFault {
    std::string method;
    int remaining = 0;
    std::vector<std::string> error;
  };
  struct TransferFault {
    enum Kind { kDrop, kSlow } kind = kDrop;
    std::string path;
    uint64_t value = 0;
    int remaining = -1;  // -1 = until cleared
  };
  struct Parsed;
  static Result<Parsed> Parse(std::string_view spec);
  void Arm(Parsed p);

  mutable std::mutex mu_;
  std::vector<ErrorFault> errors_;
  std::vector<TransferFault> transfers_;
  bool expire_sessions_ = false;
  std::chrono::milliseconds vdi_in_use_{0};
};

// Counters for GET /casulo-sim/stats: calls per wire method name, and per
// data-plane handler path the requests and body bytes sent and received.
class Stats {
 public:
  void CountCall(std::string_view method);
  void CountRequest(std::string_view path);
  void CountBytes(std::string_view path, uint64_t sent, uint64_t received);
  // Records the current value of a gauge (e.g. "snapshot_vms", the snapshot
  // VMs alive): its latest value and the highest seen since start or Clear.
  // What clients did at once shows here as a fact, not as a timing.
  void Gauge(std::string_view name, int64_t value);
  // Resets the counters; a gauge's max restarts from its current value.
  void Clear();
  // {"calls": {method: n}, "http": {path: {"requests", "bytes_sent",
  // "bytes_received"}}, "gauges": {name: {"now", "max"}}}
  Json ToJson() const;

 private:
  struct Http {
    uint64_t requests = 0, sent = 0, received = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, uint64_t, std::less<>> calls_;
  std::map<std::string, Http, std::less<>> http_;
  struct GaugeValue {
    int64_t now = 0, max = 0;
  };
  std::map<std::string, GaugeValue, std::less<>> gauges_;
};

// "/export_raw_vdi/" and "/export_raw_vdi" -> "/export_raw_vdi": the key
// stats and faults use for a request path (the query is not part of it).
std::string HandlerPath(std::string_view request_path);

}  // namespace casulo::sim

// Faults on demand (issue 4): the simulator misbehaves as real pools do, so
// the client's retry and cleanup paths can be tested. Set from the command
// line (--fault SPEC), `casulo-sim fault`, or the control endpoint.
// Thread-safe: read by the dispatcher and by data-plane handler threads.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace casulo::sim {

class Faults {
 public:
  // Adds one fault described by `spec` (grammar in docs/design/simulator.md).
  Status Add(std::string_view spec);
  // The dispatcher's hook: the XAPI error to answer instead of running
  // `method` (consumed: each armed error fires a set number of times).
  std::optional<std::vector<std::string>> TakeError(std::string_view method);
  // How long VDI.data_destroy keeps answering VDI_IN_USE after the VDI's
  // last VBD went away (0 = not at all).
  std::chrono::milliseconds VdiInUseLinger() const;

 private:
  mutable std::mutex mu_;
};

}  // namespace casulo::sim

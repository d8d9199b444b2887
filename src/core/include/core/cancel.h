// Process-wide cancellation: set from a signal handler (SIGINT, SIGTERM),
// polled by long operations between units of work, which then stop with
// Code::kCancelled and leave the repository consistent.
#pragma once

#include <atomic>

namespace casulo {

inline std::atomic<bool>& CancelFlag() {
  static std::atomic<bool> flag{false};
  return flag;
}
inline bool CancelRequested() { return CancelFlag().load(std::memory_order_relaxed); }

}  // namespace casulo

// The progress display of `casulo backup vm` (docs/design/vm-backup.md,
// "Several VMs at once"): one line per running VM on stderr with its phase,
// bytes, rate and ETA. On a terminal the lines are a block redrawn in place;
// otherwise (a log, a pipe) plain lines: one when a VM starts and one per
// running VM every kPlainEvery. Nothing with --quiet or --json.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cli/common.h"

namespace casulo::cli {

class VmProgress {
 public:
  static constexpr std::chrono::seconds kPlainEvery{10};

  // `names[i]` and `uuids[i]` name VM i.
  VmProgress(const GlobalOptions& g, std::vector<std::string> names, std::vector<std::string> uuids);

  // From the workers (thread-safe): VM i started, reported progress
  // (VmBackupOptions::progress), finished.
  void Start(size_t i);
  void Update(size_t i, std::string_view phase, uint64_t done, uint64_t total);
  void Finish(size_t i);

  // From the thread that owns the terminal: redraw (terminal) or print the
  // periodic lines (plain); and erase the block before writing to stdout,
  // so that the summaries are not mixed with it.
  void Tick();
  void Clear();

 private:
  using Clock = std::chrono::steady_clock;
  struct Vm {
    bool running = false;
    std::string phase;
    uint64_t done = 0, total = 0;
    Clock::time_point phase_start{};
  };
  std::string LineLocked(size_t i, Clock::time_point now) const;

  enum class Mode { kOff, kTerminal, kPlain };
  Mode mode_;
  std::vector<std::string> names_, uuids_;
  std::mutex mu_;
  std::vector<Vm> vms_;     // GUARDED_BY(mu_)
  int drawn_ = 0;           // lines of the block now on the terminal (owner thread)
  Clock::time_point last_plain_ = Clock::now();
};

}  // namespace casulo::cli

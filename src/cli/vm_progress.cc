#include "vm_progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>

namespace casulo::cli {

VmProgress::VmProgress(const GlobalOptions& g, std::vector<std::string> names, std::vector<std::string> uuids)
    : mode_(g.json || g.quiet ? Mode::kOff : isatty(STDERR_FILENO) ? Mode::kTerminal : Mode::kPlain),
      names_(std::move(names)),
      uuids_(std::move(uuids)),
      vms_(names_.size()) {}

void VmProgress::Start(size_t i) {
  std::lock_guard lock(mu_);
  vms_[i].running = true;
  vms_[i].phase_start = Clock::now();
  // A line per start in plain mode, as the one-VM-at-a-time loop always
  // printed (a terminal shows the VM in the block instead).
  if (mode_ == Mode::kPlain) std::fprintf(stderr, "backing up %s (%s)\n", names_[i].c_str(), uuids_[i].c_str());
}

void VmProgress::Update(size_t i, std::string_view phase, uint64_t done, uint64_t total) {
  if (mode_ == Mode::kOff) return;
  std::lock_guard lock(mu_);
  Vm& v = vms_[i];
  if (v.phase != phase) {
    v.phase = std::string(phase);
    v.phase_start = Clock::now();
  }
  v.done = done;
  v.total = total;
}

void VmProgress::Finish(size_t i) {
  std::lock_guard lock(mu_);
  vms_[i].running = false;
}

// "debian-web  disk debian-web disk 0  120.0 MiB / 200.0 MiB  45.2 MiB/s  ETA 0:02";
// the rate and ETA are those of the current disk (its progress restarts at 0).
std::string VmProgress::LineLocked(size_t i, Clock::time_point now) const {
  const Vm& v = vms_[i];
  std::string line = names_[i] + "  " + (v.phase.empty() ? "starting" : v.phase);
  if (v.total == 0 && v.done == 0) return line;
  double secs = std::chrono::duration<double>(now - v.phase_start).count();
  double rate = secs > 0 ? double(v.done) / secs : 0;
  line += "  " + HumanBytes(v.done);
  if (v.total > 0) line += " / " + HumanBytes(v.total);
  line += "  " + HumanBytes(uint64_t(rate)) + "/s";
  if (v.total > v.done && rate > 0) {
    auto eta = int64_t(double(v.total - v.done) / rate);
    line += fmt::format("  ETA {}:{:02d}", eta / 60, eta % 60);
  }
  return line;
}

void VmProgress::Tick() {
  if (mode_ == Mode::kOff) return;
  auto now = Clock::now();
  std::vector<std::string> lines;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < vms_.size(); ++i)
      if (vms_[i].running) lines.push_back(LineLocked(i, now));
  }
  if (mode_ == Mode::kPlain) {
    if (now - last_plain_ < kPlainEvery) return;
    last_plain_ = now;
    for (const auto& l : lines) std::fprintf(stderr, "  %s\n", l.c_str());
    return;
  }
  // Lines cut to the terminal's width: a wrapped line would make the block
  // taller than what the next redraw erases.
  winsize ws{};
  size_t width = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col - 1 : 79;
  Clear();
  for (auto& l : lines) {
    if (l.size() > width) l.resize(width);
    std::fprintf(stderr, "%s\n", l.c_str());
  }
  drawn_ = int(lines.size());
  std::fflush(stderr);
}

void VmProgress::Clear() {
  if (mode_ != Mode::kTerminal || drawn_ == 0) return;
  std::fprintf(stderr, "\033[%dA\033[J", drawn_);  // up to the block's first line, erase to the end
  drawn_ = 0;
  std::fflush(stderr);
}

}  // namespace casulo::cli

// Several VM backups at once (issue 5, "Concurrency"; docs/design/vm-backup.md,
// "Several VMs at once"): a global limit, a limit per host and one per SR,
// claimed all together so that no set of running backups can wait on each
// other, and results handed back in the order the VMs were given.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/vm_backup.h"
#include "repo/repository.h"
#include "xapi/session.h"
#include "xapi/transport.h"

namespace casulo::engine {

// What a VM's backup loads in the pool: the host that serves its disks and
// the SRs that hold them (each snapshot and export works on all of them).
struct VmPlacement {
  // resident_on when the VM runs; when halted, the host of the PBD of a
  // non-shared SR holding one of its disks (only that host can read it);
  // "" when halted on shared SRs only (any host can serve it: no host limit).
  std::string host;
  std::vector<std::string> srs;  // refs, sorted, unique; Disk VBDs only
};

// Reads the VM's records to place it. A VM that cannot be read gets an empty
// placement: its backup will report why.
VmPlacement PlaceVm(xapi::Session& s, const std::string& vm_uuid);

struct ConcurrencyLimits {
  int total = 1;     // VMs at once (>= 1)
  int per_host = 0;  // VMs at once on one host; 0: no limit
  int per_sr = 0;    // VMs at once with a disk on one SR; 0: no limit
};

// Which VM starts next. Thread-safe. A VM starts only when the global count,
// its host's and every one of its SRs' counts are all below their limits,
// and then it claims them all at once: nothing is held while waiting, so
// there is no deadlock, and when nothing runs the first VM not yet started
// always fits (every limit is at least 1), so there is always progress.
// Among the VMs that fit, the first in the given order starts.
class VmScheduler {
 public:
  VmScheduler(std::vector<VmPlacement> vms, ConcurrencyLimits limits);

  // Blocks until a VM may start and claims it; nullopt when every VM has
  // started, or once `stop` returns true (polled every `poll`: a signal
  // handler cannot wake a condition variable).
  std::optional<size_t> Next(const std::function<bool()>& stop,
                             std::chrono::milliseconds poll = std::chrono::milliseconds(50));
  // Releases what VM `i` claimed.
  void Done(size_t i);
  // The most VMs that ran at once so far.
  int max_running() const;

 private:
  bool FitsLocked(size_t i) const;
  void ClaimLocked(size_t i, int delta);

  std::vector<VmPlacement> vms_;
  ConcurrencyLimits limits_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<bool> started_;                // GUARDED_BY(mu_)
  int running_ = 0, max_running_ = 0;        // GUARDED_BY(mu_)
  std::map<std::string, int> by_host_, by_sr_;  // GUARDED_BY(mu_): VMs running on each
};

struct VmBatchOptions {
  ConcurrencyLimits limits;
  // One per VM (the progress callback differs by VM); called on the calling
  // thread before the workers start. Progress callbacks then run on worker
  // threads.
  std::function<VmBackupOptions(size_t index)> options_for;
  // Called from the worker that starts VM `index`, before BackupVm
  // (must be thread-safe).
  std::function<void(size_t index)> on_start;
  // Called on the calling thread, in the order of the VMs, as soon as a VM
  // and every one before it have finished. A VM not started because of
  // SIGINT/SIGTERM gets kCancelled.
  std::function<void(size_t index, Result<VmBackupReport> result)> on_result;
  // Called on the calling thread about every `tick` while backups run
  // (the progress display).
  std::function<void()> on_tick;
  std::chrono::milliseconds tick{250};
};

// Backs up every VM of `vm_uuids` (placed by `placements`, same order) with
// one worker thread per session in `sessions` (a Session is not
// thread-safe: each worker owns one; give min(limits.total, VMs) of them).
// The repository is shared: each disk has its own BlobWriter and packs
// (repository.h, "Thread-safety"). Returns when every worker has ended;
// the per-VM outcomes go to on_result.
void BackupVms(const std::vector<xapi::Session*>& sessions, const xapi::Endpoint& endpoint,
               repo::Repository& repo, const std::vector<std::string>& vm_uuids,
               const std::vector<VmPlacement>& placements, const VmBatchOptions& options);

}  // namespace casulo::engine

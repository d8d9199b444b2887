// Repository locks (docs/design/repository.md, section 9). Backups, restores
// and check hold a shared lock, prune and `key passwd` an exclusive one, so a
// backup can never reference a chunk that prune is deleting.
//
// A lock is a file locks/<32 random hex> holding a sealed (ObjectType::kLock)
// JSON object {"host","pid","uid","time","exclusive","purpose","refreshed"},
// times in unix seconds. Taking a lock is *write, then list*: once our file is
// durable we read every other lock, and if one conflicts (either side is
// exclusive) and is not stale, we remove ours and fail with kLocked. Two
// racers thus both see each other and both back off; never both proceed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/status.h"
#include "repo/backend.h"
#include "repo/envelope.h"

namespace casulo::repo {

struct LockOptions {
  // How often a holder rewrites its lock with a fresh "refreshed" time.
  std::chrono::milliseconds refresh_interval = std::chrono::minutes(5);
  // A lock not refreshed for this long is stale, whoever holds it. Must be
  // well above refresh_interval so a slow backend does not lose a live lock.
  std::chrono::seconds stale_after = std::chrono::minutes(30);
};

// The decoded content of one lock file.
struct LockInfo {
  std::string name;  // file name under locks/
  std::string host;
  int64_t pid = 0;
  int64_t uid = 0;
  int64_t time = 0;  // when it was taken
  bool exclusive = false;
  std::string purpose;  // "backup", "prune", ...
  int64_t refreshed = 0;
};

// Reads and opens locks/<name>. kNotFound when it is gone; kCorruption (or the
// Sealer's error) when it cannot be opened or is not a valid lock object.
Result<LockInfo> LoadLock(Backend& be, const Sealer& sealer, std::string_view name);

// Stale: taken on this host (same hostname) by a process that no longer
// exists (kill(pid, 0) fails with ESRCH), or not refreshed for more than
// stale_after before `now` (unix seconds).
bool IsStale(const LockInfo& lock, int64_t now, std::chrono::seconds stale_after);

// "host h1 pid 42 (prune, exclusive, taken 3m12s ago)" for messages.
std::string DescribeLock(const LockInfo& lock, int64_t now);

// A held lock. Created only by Acquire; released by Release() or, best
// effort, by the destructor. `be` and `sealer` must outlive it: a background
// thread refreshes the lock file every refresh_interval.
class Lock {
 public:
  // Takes a lock per the protocol above. kLocked when a conflicting lock that
  // is not stale exists, or when another lock file cannot be read (it might be
  // exclusive, so it is conservatively treated as held): the message names
  // the holder or the file and points to `casulo unlock`.
  static Result<std::unique_ptr<Lock>> Acquire(Backend& be, const Sealer& sealer, bool exclusive,
                                               std::string_view purpose,
                                               const LockOptions& options = {});

  ~Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Stops the refresher and removes the lock file. Idempotent; a lock file
  // already removed by someone else counts as released.
  Status Release();

  // OK while the lock is known to be held. kLocked once the refresher found
  // the file removed (`casulo unlock --remove-all`), or when no refresh has
  // succeeded for stale_after (another process may now consider it stale).
  // Long operations check this before an irreversible step.
  Status status() const;

  const std::string& name() const { return name_; }
  bool exclusive() const { return exclusive_; }

 private:
  Lock(Backend& be, const Sealer& sealer, std::string name, bool exclusive, std::string purpose,
       int64_t time, const LockOptions& options);
  void RefreshLoop();

  Backend& be_;
  const Sealer& sealer_;
  const std::string name_;
  const bool exclusive_;
  const std::string purpose_;
  const int64_t time_;
  const LockOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool released_ = false;  // guarded by mu_
  Status lost_;            // guarded by mu_; set when the file vanished
  int64_t last_refresh_;   // guarded by mu_; unix seconds of the last good write
  std::thread refresher_;
};

// Removes stale locks (IsStale), or with `all` every lock, live or unreadable
// (for `casulo unlock --remove-all`, when the user knows no process uses the
// repository). Unreadable locks are kept unless `all`. Returns how many files
// were removed; a lock that vanished meanwhile is not counted.
Result<int> RemoveStaleLocks(Backend& be, const Sealer& sealer, bool all,
                             const LockOptions& options = {});

}  // namespace casulo::repo

#include "repo/lock.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <nlohmann/json.hpp>

#include "repo/crypto.h"

namespace casulo::repo {

namespace {

// A lock object is a few hundred bytes; anything larger is not ours.
constexpr size_t kMaxLockSize = 64 << 10;

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// "45 s", "12 min", "5 h", "3 days": coarse on purpose, for messages.
std::string FormatAge(int64_t s) {
  if (s < 0) return "in the future";
  if (s < 120) return fmt::format("{} s", s);
  if (s < 2 * 3600) return fmt::format("{} min", s / 60);
  if (s < 48 * 3600) return fmt::format("{} h", s / 3600);
  return fmt::format("{} days", s / 86400);
}

Bytes SealLock(const Sealer& sealer, const LockInfo& l) {
  const nlohmann::json j = {{"host", l.host},
                            {"pid", l.pid},
                            {"uid", l.uid},
                            {"time", l.time},
                            {"exclusive", l.exclusive},
                            {"purpose", l.purpose},
                            {"refreshed", l.refreshed}};
  // replace: a non-UTF-8 host or purpose must not throw.
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return sealer.Seal(ObjectType::kLock, {}, AsBytes(text));
}

// Decodes without exceptions: parse(..., false) and type checks before get().
Result<LockInfo> ParseLock(std::string_view name, ByteSpan plain) {
  const nlohmann::json j = nlohmann::json::parse(AsChars(plain), nullptr, false);
  auto bad = [&](std::string_view why) {
    return Error(Code::kCorruption, "lock {}: {}", name, why);
  };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  LockInfo l;
  l.name = std::string(name);
  using StringField = std::pair<const char*, std::string*>;
  for (auto [key, out] : {StringField{"host", &l.host}, StringField{"purpose", &l.purpose}}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return bad(fmt::format("missing string '{}'", key));
    *out = it->get<std::string>();
  }
  using IntField = std::pair<const char*, int64_t*>;
  for (auto [key, out] : {IntField{"pid", &l.pid}, IntField{"uid", &l.uid},
                          IntField{"time", &l.time}, IntField{"refreshed", &l.refreshed}}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer())
      return bad(fmt::format("missing integer '{}'", key));
    *out = it->get<int64_t>();
  }
  auto ex = j.find("exclusive");
  if (ex == j.end() || !ex->is_boolean()) return bad("missing boolean 'exclusive'");
  l.exclusive = ex->get<bool>();
  // kill() with pid <= 0 addresses process groups: never let one through.
  if (l.pid <= 0 || l.pid > INT_MAX) return bad(fmt::format("invalid pid {}", l.pid));
  return l;
}

// OK when no other lock conflicts with `me`; kLocked naming the first
// conflicting (or unreadable) lock otherwise; other codes when listing fails.
Status CheckOthers(Backend& be, const Sealer& sealer, const LockInfo& me,
                   const LockOptions& options) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, be.List(FileType::kLock));
  std::sort(names.begin(), names.end());  // deterministic messages
  const int64_t now = NowSeconds();
  for (const std::string& name : names) {
    if (name == me.name) continue;
    Result<LockInfo> other = LoadLock(be, sealer, name);
    if (!other.ok()) {
      if (other.status().code() == Code::kNotFound) continue;  // released meanwhile
      // It might be exclusive: treat it as held rather than guess.
      return Error(Code::kLocked,
                   "repository {} holds lock {} that cannot be read ({}), so it is treated as "
                   "held; if no other process uses the repository, `casulo unlock --remove-all` "
                   "removes it",
                   be.Location(), name, other.status().ToString());
    }
    if (!me.exclusive && !other->exclusive) continue;
    if (IsStale(*other, now, options.stale_after)) continue;
    return Error(Code::kLocked,
                 "repository {} is locked by {}; if that process is gone, `casulo unlock` removes "
                 "stale locks (a lock is stale once its process has exited or it was not "
                 "refreshed for {} min)",
                 be.Location(), DescribeLock(*other, now), options.stale_after.count() / 60);
  }
  return OkStatus();
}

}  // namespace

Result<LockInfo> LoadLock(Backend& be, const Sealer& sealer, std::string_view name) {
  ASSIGN_OR_RETURN(Bytes sealed, be.Load(FileType::kLock, name));
  if (sealed.size() > kMaxLockSize)
    return Error(Code::kCorruption, "lock {}: {} bytes is too large", name, sealed.size());
  ASSIGN_OR_RETURN(
      Bytes plain,
      sealer.Open(ObjectType::kLock, {}, sealed, kMaxLockSize).With("lock " + std::string(name)));
  return ParseLock(name, plain);
}

bool IsStale(const LockInfo& lock, int64_t now, std::chrono::seconds stale_after) {
  if (now - lock.refreshed > stale_after.count()) return true;
  if (lock.host == Hostname() && lock.pid > 0 && lock.pid <= INT_MAX) {
    // EPERM means the process exists under another user: alive.
    if (kill(static_cast<pid_t>(lock.pid), 0) != 0 && errno == ESRCH) return true;
  }
  return false;
}

std::string DescribeLock(const LockInfo& l, int64_t now) {
  return fmt::format("host {} pid {} ({}, {}, taken {} ago, refreshed {} ago)", l.host, l.pid,
                     l.purpose, l.exclusive ? "exclusive" : "shared", FormatAge(now - l.time),
                     FormatAge(now - l.refreshed));
}

Result<std::unique_ptr<Lock>> Lock::Acquire(Backend& be, const Sealer& sealer, bool exclusive,
                                            std::string_view purpose, const LockOptions& options) {
  std::array<uint8_t, 16> rnd;
  RandomBytes(rnd);
  const int64_t now = NowSeconds();
  LockInfo me{ToHex(rnd), Hostname(),           getpid(), getuid(), now,
              exclusive,  std::string(purpose), now};
  // Write first, durably, then look: see the header for why this order.
  RETURN_IF_ERROR(be.Save(FileType::kLock, me.name, SealLock(sealer, me)).With("write lock"));
  Status check = CheckOthers(be, sealer, me, options);
  if (!check.ok()) {
    Status rm = be.Remove(FileType::kLock, me.name);
    if (!rm.ok() && rm.code() != Code::kNotFound) {
      check = Status(check.code(), fmt::format("{}; our own lock {} could not be removed: {}",
                                               check.message(), me.name, rm.ToString()));
    }
    return check;
  }
  std::unique_ptr<Lock> lock(new Lock(be, sealer, me.name, exclusive, me.purpose, now, options));
  lock->refresher_ = std::thread(&Lock::RefreshLoop, lock.get());
  return lock;
}

Lock::Lock(Backend& be, const Sealer& sealer, std::string name, bool exclusive, std::string purpose,
           int64_t time, const LockOptions& options)
    : be_(be),
      sealer_(sealer),
      name_(std::move(name)),
      exclusive_(exclusive),
      purpose_(std::move(purpose)),
      time_(time),
      options_(options),
      last_refresh_(time) {}

Lock::~Lock() { static_cast<void>(Release()); }

Status Lock::Release() {
  {
    std::lock_guard lk(mu_);
    if (released_) return OkStatus();
    released_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  // Joined before removing, so a refresh in flight cannot recreate the file.
  if (refresher_.joinable()) refresher_.join();
  Status s = be_.Remove(FileType::kLock, name_);
  if (!s.ok() && s.code() != Code::kNotFound) return s.With("release lock " + name_);
  return OkStatus();
}

Status Lock::status() const {
  std::lock_guard lk(mu_);
  if (released_) return Error(Code::kLocked, "lock {} was released", name_);
  if (!lost_.ok()) return lost_;
  const int64_t age = NowSeconds() - last_refresh_;
  if (age > options_.stale_after.count())
    return Error(Code::kLocked,
                 "lock {} could not be refreshed for {}; another process may have removed it "
                 "as stale",
                 name_, FormatAge(age));
  return OkStatus();
}

void Lock::RefreshLoop() {
  std::unique_lock lk(mu_);
  while (true) {
    if (cv_.wait_for(lk, options_.refresh_interval, [this] { return stopping_; })) return;
    lk.unlock();
    // Rewriting a removed lock would resurrect it behind the back of whoever
    // removed it (`unlock --remove-all`, or a prune that judged it stale), so
    // a vanished file is reported, not recreated. The check and the write are
    // not atomic; the window is one backend call.
    Result<uint64_t> size = be_.Size(FileType::kLock, name_);
    Status s;
    const int64_t now = NowSeconds();
    if (!size.ok() && size.status().code() == Code::kNotFound) {
      s = Error(Code::kLocked, "lock {} was removed by another process", name_);
    } else {
      LockInfo me{name_, Hostname(), getpid(), getuid(), time_, exclusive_, purpose_, now};
      s = be_.Save(FileType::kLock, name_, SealLock(sealer_, me));
    }
    lk.lock();
    if (s.ok()) {
      last_refresh_ = now;
    } else if (s.code() == Code::kLocked) {
      lost_ = std::move(s);
      return;
    }
    // Other failures are retried at the next interval; status() reports them
    // once stale_after has passed without a successful write.
  }
}

Result<int> RemoveStaleLocks(Backend& be, const Sealer& sealer, bool all,
                             const LockOptions& options) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, be.List(FileType::kLock));
  const int64_t now = NowSeconds();
  int removed = 0;
  for (const std::string& name : names) {
    if (!all) {
      Result<LockInfo> info = LoadLock(be, sealer, name);
      if (!info.ok() || !IsStale(*info, now, options.stale_after)) continue;
    }
    Status s = be.Remove(FileType::kLock, name);
    if (s.ok()) {
      ++removed;
    } else if (s.code() != Code::kNotFound) {
      return s.With("remove lock " + name);
    }
  }
  return removed;
}

}  // namespace casulo::repo

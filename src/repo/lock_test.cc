#include "repo/lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

namespace casulo::repo {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ThisHost() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// A pid that certainly belonged to a process that has exited.
int64_t DeadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status;
  waitpid(pid, &status, 0);
  return pid;
}

class LockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/casulo-lock-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    be_ = NewLocalBackend(dir_ + "/repo");
    Status s = be_->Create();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> Locks() {
    auto names = be_->List(FileType::kLock);
    EXPECT_TRUE(names.ok()) << names.status().ToString();
    if (!names.ok()) return {};
    std::sort(names->begin(), names->end());
    return *names;
  }

  // Writes a lock file as another process would, in the documented format.
  void WriteLock(const std::string& name, const std::string& host, int64_t pid, bool exclusive,
                 int64_t refreshed) {
    nlohmann::json j = {{"host", host},
                        {"pid", pid},
                        {"uid", 0},
                        {"time", refreshed - 60},
                        {"exclusive", exclusive},
                        {"purpose", "prune"},
                        {"refreshed", refreshed}};
    const std::string text = j.dump();
    Status s = be_->Save(FileType::kLock, name, sealer_.Seal(ObjectType::kLock, {}, AsBytes(text)));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::unique_ptr<Lock> MustAcquire(bool exclusive, const LockOptions& options = {}) {
    auto lock = Lock::Acquire(*be_, sealer_, exclusive, exclusive ? "prune" : "backup", options);
    EXPECT_TRUE(lock.ok()) << lock.status().ToString();
    return lock.ok() ? std::move(lock).value() : nullptr;
  }

  std::string dir_;
  std::unique_ptr<Backend> be_;
  Sealer sealer_{std::nullopt, 0};
};

TEST_F(LockTest, FileHoldsWhoAndWhy) {
  auto lock = MustAcquire(true);
  ASSERT_NE(lock, nullptr);
  EXPECT_EQ(lock->name().size(), 32u);
  EXPECT_THAT(Locks(), ElementsAre(lock->name()));
  auto info = LoadLock(*be_, sealer_, lock->name());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->host, ThisHost());
  EXPECT_EQ(info->pid, getpid());
  EXPECT_EQ(info->uid, getuid());
  EXPECT_TRUE(info->exclusive);
  EXPECT_EQ(info->purpose, "prune");
  EXPECT_NEAR(info->time, Now(), 5);
  EXPECT_EQ(info->refreshed, info->time);
  EXPECT_FALSE(IsStale(*info, Now(), std::chrono::minutes(30)));
  EXPECT_TRUE(lock->status().ok());
}

TEST_F(LockTest, ReleaseRemovesTheFile) {
  auto lock = MustAcquire(false);
  ASSERT_NE(lock, nullptr);
  EXPECT_THAT(Locks(), SizeIs(1));
  EXPECT_TRUE(lock->Release().ok());
  EXPECT_THAT(Locks(), IsEmpty());
  EXPECT_TRUE(lock->Release().ok());  // idempotent
  EXPECT_EQ(lock->status().code(), Code::kLocked);
  {
    auto scoped = MustAcquire(true);
    EXPECT_THAT(Locks(), SizeIs(1));
  }
  EXPECT_THAT(Locks(), IsEmpty());  // the destructor released it
}

TEST_F(LockTest, TwoSharedLocksCoexist) {
  auto a = MustAcquire(false);
  auto b = MustAcquire(false);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_THAT(Locks(), SizeIs(2));
}

TEST_F(LockTest, SharedBlocksExclusive) {
  auto shared = MustAcquire(false);
  ASSERT_NE(shared, nullptr);
  auto ex = Lock::Acquire(*be_, sealer_, true, "prune");
  ASSERT_FALSE(ex.ok());
  EXPECT_EQ(ex.status().code(), Code::kLocked);
  const std::string& msg = ex.status().message();
  EXPECT_THAT(msg, HasSubstr("host " + ThisHost()));
  EXPECT_THAT(msg, HasSubstr(fmt::format("pid {}", getpid())));
  EXPECT_THAT(msg, HasSubstr("(backup, shared, taken"));
  EXPECT_THAT(msg, HasSubstr("`casulo unlock` removes stale locks"));
  EXPECT_THAT(Locks(), ElementsAre(shared->name()));  // ours was removed
}

TEST_F(LockTest, ExclusiveBlocksSharedAndExclusive) {
  auto ex = MustAcquire(true);
  ASSERT_NE(ex, nullptr);
  for (bool exclusive : {false, true}) {
    auto other = Lock::Acquire(*be_, sealer_, exclusive, "backup");
    ASSERT_FALSE(other.ok());
    EXPECT_EQ(other.status().code(), Code::kLocked);
    EXPECT_THAT(other.status().message(), HasSubstr("(prune, exclusive"));
  }
  EXPECT_THAT(Locks(), ElementsAre(ex->name()));
  ASSERT_TRUE(ex->Release().ok());
  EXPECT_NE(MustAcquire(false), nullptr);  // free again
}

TEST_F(LockTest, DeadPidOnThisHostIsStaleAndIgnored) {
  const int64_t pid = DeadPid();
  WriteLock("dead", ThisHost(), pid, true, Now());
  auto info = LoadLock(*be_, sealer_, "dead");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(IsStale(*info, Now(), std::chrono::minutes(30)));
  EXPECT_NE(MustAcquire(true), nullptr);
}

TEST_F(LockTest, PidIsNotCheckedOnAnotherHost) {
  WriteLock("elsewhere", "not-" + ThisHost(), DeadPid(), true, Now());
  auto lock = Lock::Acquire(*be_, sealer_, false, "backup");
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), Code::kLocked);
  EXPECT_THAT(lock.status().message(), HasSubstr("host not-" + ThisHost()));
}

TEST_F(LockTest, LockNotRefreshedForStaleAfterIsStale) {
  WriteLock("old", "not-" + ThisHost(), 1, true, Now() - 31 * 60);
  auto info = LoadLock(*be_, sealer_, "old");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(IsStale(*info, Now(), std::chrono::minutes(30)));
  EXPECT_NE(MustAcquire(true), nullptr);
  // Within the limit it still counts.
  WriteLock("recent", "not-" + ThisHost(), 1, true, Now() - 29 * 60);
  EXPECT_EQ(Lock::Acquire(*be_, sealer_, false, "backup").status().code(), Code::kLocked);
}

TEST_F(LockTest, UnreadableLockIsTreatedAsHeld) {
  ASSERT_TRUE(be_->Save(FileType::kLock, "garbage", AsBytes("not an envelope")).ok());
  WriteLock("shared", "h", 1, false, Now());
  ASSERT_TRUE(be_->Save(FileType::kLock, "notalock",
                        sealer_.Seal(ObjectType::kLock, {}, AsBytes(R"({"host":"h"})")))
                  .ok());
  for (const char* name : {"garbage", "notalock"}) {
    auto lock = Lock::Acquire(*be_, sealer_, false, "backup");
    ASSERT_FALSE(lock.ok());
    EXPECT_EQ(lock.status().code(), Code::kLocked);
    EXPECT_THAT(lock.status().message(),
                HasSubstr(fmt::format("lock {} that cannot be read", name)));
    EXPECT_THAT(lock.status().message(), HasSubstr("`casulo unlock --remove-all`"));
    ASSERT_TRUE(be_->Remove(FileType::kLock, name).ok());
  }
  EXPECT_THAT(Locks(), ElementsAre("shared"));  // readable and shared: no conflict
}

TEST_F(LockTest, UnlockRemovesStaleOnlyUnlessAll) {
  auto live = MustAcquire(false);
  ASSERT_NE(live, nullptr);
  WriteLock("dead", ThisHost(), DeadPid(), false, Now());
  WriteLock("old", "not-" + ThisHost(), 1, true, Now() - 3600);
  ASSERT_TRUE(be_->Save(FileType::kLock, "garbage", AsBytes("?")).ok());

  auto removed = RemoveStaleLocks(*be_, sealer_, false);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 2);
  std::vector<std::string> want = {"garbage", live->name()};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(Locks(), want);

  removed = RemoveStaleLocks(*be_, sealer_, true);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 2);
  EXPECT_THAT(Locks(), IsEmpty());
  EXPECT_TRUE(live->Release().ok());  // already gone counts as released
}

TEST_F(LockTest, RefresherRewritesTheLock) {
  LockOptions options;
  options.refresh_interval = std::chrono::milliseconds(100);
  auto lock = MustAcquire(false, options);
  ASSERT_NE(lock, nullptr);
  const int64_t taken = LoadLock(*be_, sealer_, lock->name())->time;
  // "refreshed" has one-second resolution: wait until it moves.
  int64_t refreshed = taken;
  for (int i = 0; i < 50 && refreshed == taken; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    refreshed = LoadLock(*be_, sealer_, lock->name())->refreshed;
  }
  EXPECT_GT(refreshed, taken);
  EXPECT_EQ(LoadLock(*be_, sealer_, lock->name())->time, taken);
  EXPECT_TRUE(lock->status().ok());
}

TEST_F(LockTest, RefresherReportsARemovedLockAndDoesNotRecreateIt) {
  LockOptions options;
  options.refresh_interval = std::chrono::milliseconds(20);
  auto lock = MustAcquire(true, options);
  ASSERT_NE(lock, nullptr);
  ASSERT_TRUE(RemoveStaleLocks(*be_, sealer_, true).ok());
  for (int i = 0; i < 100 && lock->status().ok(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(lock->status().code(), Code::kLocked);
  EXPECT_THAT(lock->status().message(), HasSubstr("removed by another process"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_THAT(Locks(), IsEmpty());
}

}  // namespace
}  // namespace casulo::repo

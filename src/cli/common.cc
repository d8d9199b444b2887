#include "cli/common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/file.h"

namespace casulo::cli {

int ExitCode(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return 0;
    case Code::kInternal: return 1;
    case Code::kInvalidArgument: return 2;
    case Code::kNotFound: return 3;
    case Code::kAlreadyExists: return 4;
    case Code::kCorruption: return 5;
    case Code::kIoError: return 6;
    case Code::kAuth: return 7;
    case Code::kLocked: return 8;
    case Code::kUnsupported: return 9;
    case Code::kRemote: return 10;
    case Code::kCancelled: return 130;
  }
  return 1;
}

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = double(n);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

static Result<std::string> PromptNoEcho(const char* prompt) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return Error(Code::kInvalidArgument,
                 "no password: set CASULO_PASSWORD_FILE (or CASULO_PASSWORD), or run on a "
                 "terminal");
  (void)!::write(fd, prompt, strlen(prompt));
  termios old{}, quiet{};
  bool tty = tcgetattr(fd, &old) == 0;
  if (tty) {
    quiet = old;
    quiet.c_lflag &= ~tcflag_t(ECHO);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
  if (tty) tcsetattr(fd, TCSAFLUSH, &old);
  (void)!::write(fd, "\n", 1);
  ::close(fd);
  return line;
}

static Result<std::string> PasswordFromFile(const std::string& path) {
  ASSIGN_OR_RETURN(Bytes b, ReadFile(path).With("password file"));
  std::string s(b.begin(), b.end());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return Error(Code::kInvalidArgument, "password file {} is empty", path);
  return s;
}

Result<std::string> ReadPassword(bool confirm) {
  if (const char* f = getenv("CASULO_PASSWORD_FILE"); f && *f) return PasswordFromFile(f);
  if (const char* p = getenv("CASULO_PASSWORD"); p && *p) return std::string(p);
  ASSIGN_OR_RETURN(std::string a, PromptNoEcho("repository password: "));
  if (confirm) {
    ASSIGN_OR_RETURN(std::string b, PromptNoEcho("repeat password: "));
    if (a != b) return Error(Code::kInvalidArgument, "the passwords differ");
  }
  if (a.empty()) return Error(Code::kInvalidArgument, "empty password");
  return a;
}

Result<std::string> ReadNewPassword() {
  if (const char* f = getenv("CASULO_NEW_PASSWORD_FILE"); f && *f) return PasswordFromFile(f);
  ASSIGN_OR_RETURN(std::string a, PromptNoEcho("new password: "));
  ASSIGN_OR_RETURN(std::string b, PromptNoEcho("repeat new password: "));
  if (a != b) return Error(Code::kInvalidArgument, "the passwords differ");
  if (a.empty()) return Error(Code::kInvalidArgument, "empty password");
  return a;
}

Result<std::unique_ptr<repo::Repository>> OpenRepo(const GlobalOptions& g, bool sync_index) {
  if (g.repo.empty())
    return Error(Code::kInvalidArgument, "no repository: give -r DIR or set CASULO_REPO");
  struct stat st;
  if (::stat(g.repo.c_str(), &st) != 0)
    return Error(Code::kNotFound, "no repository at {}: {}", g.repo, std::strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return Error(Code::kInvalidArgument, "{} is not a directory, so not a repository", g.repo);
  repo::OpenOptions o;
  o.cache_dir = g.cache_dir;
  o.sync_index = sync_index;
  return repo::Repository::Open(repo::NewLocalBackend(g.repo), [] { return ReadPassword(); }, o)
      .With("repository " + g.repo);
}

Result<std::unique_ptr<repo::Lock>> LockRepo(repo::Repository& r, bool exclusive,
                                             std::string_view purpose) {
  return repo::Lock::Acquire(r.backend(), r.sealer(), exclusive, purpose);
}

engine::ProgressFn MakeProgress(const GlobalOptions& g, std::string label) {
  if (g.json || g.quiet || !isatty(STDERR_FILENO)) return nullptr;
  auto start = std::chrono::steady_clock::now();
  auto last = start - std::chrono::seconds(1);
  return [=](uint64_t done, uint64_t total) mutable {
    auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::milliseconds(100) && done != total) return;
    last = now;
    double secs = std::chrono::duration<double>(now - start).count();
    double rate = secs > 0 ? done / secs : 0;
    std::string line;
    if (total > 0) {
      double frac = double(done) / double(total);
      int width = 24, fill = int(frac * width);
      double eta = rate > 0 ? (total - done) / rate : 0;
      line = fmt::format("\r{} [{}{}] {:3.0f}% {} / {}  {}/s  ETA {}:{:02d}  ", label,
                         std::string(fill, '#'), std::string(width - fill, '.'), frac * 100,
                         HumanBytes(done), HumanBytes(total), HumanBytes(uint64_t(rate)),
                         int(eta) / 60, int(eta) % 60);
    } else {
      line = fmt::format("\r{} {}  {}/s  ", label, HumanBytes(done), HumanBytes(uint64_t(rate)));
    }
    std::fputs(line.c_str(), stderr);
  };
}

void EndProgress(const GlobalOptions& g) {
  if (g.json || g.quiet || !isatty(STDERR_FILENO)) return;
  std::fputs("\n", stderr);
}

}  // namespace casulo::cli

#include "cli_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/file.h"

extern char** environ;

namespace casulo::testing {

namespace fs = std::filesystem;

std::string HttpBody(int port, const std::string& method, const std::string& path, const std::string& body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string resp;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n";
    if (!body.empty()) req += fmt::format("Content-Type: text/xml\r\nContent-Length: {}\r\n", body.size());
    req += "\r\n" + body;
    size_t sent = 0;
    while (sent < req.size()) {
      ssize_t n = write(fd, req.data() + sent, req.size() - sent);
      if (n <= 0) break;
      sent += size_t(n);
    }
    if (sent == req.size()) {
      char buf[8192];
      for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) resp.append(buf, size_t(n));
    }
  }
  close(fd);
  size_t at = resp.find("\r\n\r\n");
  return at == std::string::npos ? "" : resp.substr(at + 4);
}

CliHarness::CliHarness() {
  static int counter = 0;
  dir_ = fs::temp_directory_path() / fmt::format("casulo-cli-{}-{}", getpid(), counter++);
  fs::create_directories(dir_);
  std::ofstream(dir_ / "password") << "integration test password\n";
}

CliHarness::~CliHarness() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::vector<std::string> CliHarness::Env(const std::map<std::string, std::string>& env) const {
  std::map<std::string, std::string> vars = {
      {"CASULO_PASSWORD_FILE", Path("password")},
      {"CASULO_CACHE_DIR", Path("cache")},
      {"CASULO_REPO", repo()},
  };
  for (const auto& [k, v] : env) vars[k] = v;
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (key.rfind("CASULO_", 0) == 0) continue;
    out.push_back(kv);
  }
  for (const auto& [k, v] : vars)
    if (!v.empty()) out.push_back(k + "=" + v);
  return out;
}

static pid_t Spawn(const std::vector<std::string>& args, const std::vector<std::string>& env,
                   const std::string& out, const std::string& err) {
  std::vector<char*> argv, envp;
  std::string bin = CASULO_BIN;
  argv.push_back(bin.data());
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  // Relative paths in a test's arguments name files of its scratch directory.
  // (the output files live there).
  std::string cwd = std::filesystem::path(out).parent_path().string();
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  if (posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

int CliHarness::Wait(pid_t pid) {
  int st = 0;
  if (waitpid(pid, &st, 0) != pid) return -1;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

static std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

RunResult CliHarness::Run(const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env) const {
  pid_t pid = Spawn(args, Env(env), Path("last.out"), Path("last.err"));
  RunResult r;
  if (pid < 0) return r;
  r.exit_code = Wait(pid);
  r.out = Slurp(Path("last.out"));
  r.err = Slurp(Path("last.err"));
  return r;
}

pid_t CliHarness::Start(const std::vector<std::string>& args, const std::string& tag,
                        const std::map<std::string, std::string>& env) const {
  return Spawn(args, Env(env), Path(tag + ".out"), Path(tag + ".err"));
}

void CliHarness::Init(const std::vector<std::string>& extra) const {
  std::vector<std::string> args = {"init", "--kdf-memory", "8", "--kdf-passes", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = Run(args);
  if (r.exit_code != 0) throw std::runtime_error("casulo init failed: " + r.err);
}

void CliHarness::MakeImage(const std::string& name, uint64_t size, uint64_t stride,
                           uint32_t seed) const {
  auto f = File::Open(Path(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!f.ok() || !f->Truncate(size).ok()) throw std::runtime_error("cannot make " + name);
  std::mt19937_64 rng(seed);
  Bytes block(64 * 1024);
  for (uint64_t off = 0; off < size; off += stride) {
    for (size_t i = 0; i < block.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(block.data() + i, &v, 8);
    }
    // Half of each block is text-like so it compresses, as disks do.
    std::memset(block.data(), 'a' + int(off / stride % 26), block.size() / 2);
    size_t n = size_t(std::min<uint64_t>(block.size(), size - off));
    if (!f->PWrite(off, ByteSpan(block).first(n)).ok()) throw std::runtime_error("write");
  }
}

Bytes CliHarness::Read(const std::string& name) const {
  auto b = ReadFile(Path(name));
  return b.ok() ? *b : Bytes{};
}

std::string CliHarness::LatestSnapshot() const {
  RunResult r = Run({"snapshots", "--json"});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (!j.is_array() || j.empty()) return "";
  return j.back()["id"].get<std::string>();
}

}  // namespace casulo::testing

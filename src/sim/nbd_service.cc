#include "sim/nbd_service.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/file.h"
#include "sim/nbd_cert.h"

extern char** environ;

namespace casulo::sim {
namespace {

std::mutex g_mu;
std::optional<NbdEndpoints> g_endpoints;

void Warn(const std::string& what) {
  std::fprintf(stderr, "casulo-sim: warning: NBD: %s; VDI.get_nbd_info will answer []\n",
               what.c_str());
}

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= p.size();) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string cand = p.substr(start, end - start) + "/" + name;
    if (end > start && access(cand.c_str(), X_OK) == 0) return cand;
    start = end + 1;
  }
  return {};
}

// A listening TCP socket on ip:port (port 0: any), or -1 with errno.
int Listen(const std::string& ip, int port, int* bound_port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(ip.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) {
    errno = EADDRNOTAVAIL;
    return -1;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    errno = e;
    return -1;
  }
  freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  *bound_port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return fd;
}

bool IsLocalAddress(const std::string& ip) {
  int port = 0;
  int fd = Listen(ip, 0, &port);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// Starts nbdkit with the listening sockets handed over by systemd-style
// socket activation (LISTEN_FDS/LISTEN_PID): the port is bound here, so it
// is known before nbdkit runs and nothing can take it in between. Returns
// once nbdkit wrote its pid file (ready) or failed.
Result<pid_t> Spawn(const std::vector<std::string>& args, const std::vector<int>& fds,
                    const std::string& pidfile) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // Everything the child needs is built before fork: after it only
  // async-signal-safe calls are allowed (the simulator has threads).
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "LISTEN_", 7) != 0) env_store.emplace_back(*e);
  env_store.push_back("LISTEN_FDS=" + std::to_string(fds.size()));
  env_store.push_back("LISTEN_PID=0000000000000000");
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  char* pid_digits = envp[envp.size() - 2] + std::strlen("LISTEN_PID=");
  pid_t parent = getpid();
  std::remove(pidfile.c_str());

  pid_t pid = fork();
  if (pid < 0) return Error(Code::kIoError, "fork: {}", std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the simulator blocks SIGTERM for its waiter
    int n = int(fds.size());
    std::vector<int>::const_iterator it = fds.begin();
    for (int i = 0; i < n; ++i, ++it)
      if (fcntl(*it, F_DUPFD_CLOEXEC, 1000 + i) < 0) _exit(1);
    for (int i = 0; i < n; ++i)
      if (dup2(1000 + i, 3 + i) < 0) _exit(1);  // dup2 clears FD_CLOEXEC
    syscall(SYS_close_range, 3 + n, ~0U, 0);
    char digits[16];
    int len = 0;
    for (pid_t me = getpid(); me > 0; me /= 10) digits[len++] = char('0' + me % 10);
    for (int i = 0; i < len; ++i) pid_digits[i] = digits[len - 1 - i];
    pid_digits[len] = 0;
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return Error(Code::kIoError, "nbdkit exited at start (status {})", status);
    struct stat st{};
    if (stat(pidfile.c_str(), &st) == 0 && st.st_size > 0) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return Error(Code::kIoError, "nbdkit did not become ready");
}

class RunningService : public NbdService {
 public:
  ~RunningService() override {
    {
      std::lock_guard<std::mutex> l(g_mu);
      g_endpoints.reset();
    }
    for (pid_t p : pids) kill(p, SIGTERM);
    for (pid_t p : pids) waitpid(p, nullptr, 0);
  }
  std::vector<pid_t> pids;
};

bool HasPurpose(const XmlRpcValue& net, std::string_view purpose) {
  const XmlRpcValue* p = net.Find("purpose");
  if (p == nullptr || !p->is_array()) return false;
  for (const auto& v : p->array())
    if (v.is_string() && v.str() == purpose) return true;
  return false;
}

}  // namespace

std::optional<NbdEndpoints> CurrentNbdEndpoints() {
  std::lock_guard<std::mutex> l(g_mu);
  return g_endpoints;
}

void SetNbdEndpointsForTest(std::optional<NbdEndpoints> endpoints) {
  std::lock_guard<std::mutex> l(g_mu);
  g_endpoints = std::move(endpoints);
}

Result<std::unique_ptr<NbdService>> NbdService::Start(Sim& sim, const NbdOptions& opts) {
  auto service = std::make_unique<RunningService>();
  auto none = [&](const std::string& why) -> Result<std::unique_ptr<NbdService>> {
    if (!why.empty()) Warn(why);
    return std::unique_ptr<NbdService>(std::move(service));
  };
  const std::string& dir = sim.state_dir();
  std::string nbdkit = FindInPath("nbdkit");
  const char* env_plugin = std::getenv("CASULO_NBD_PLUGIN");
  std::string plugin = env_plugin != nullptr ? env_plugin : CASULO_NBD_PLUGIN;
  if (dir.empty()) return none("no state directory");
  if (nbdkit.empty()) return none("nbdkit not found in PATH");
  if (access(plugin.c_str(), R_OK) != 0) return none("plugin " + plugin + " missing");

  // PIF IP -> listen address, and which listen addresses want TLS.
  const Store& st = sim.store();
  NbdEndpoints ep;
  std::map<std::string, bool> tls_of;  // listen address -> TLS required
  std::vector<std::string> dns;
  for (const auto& [ref, host] : st.Objects("host"))
    if (const XmlRpcValue* h = host.record.Find("hostname"); h != nullptr && !h->str().empty())
      dns.push_back(h->str());
  for (const auto& [ref, pif] : st.Objects("PIF")) {
    const XmlRpcValue& rec = pif.record;
    const XmlRpcValue* net = st.Find("network", rec.Find("network")->str());
    std::string ip = rec.Find("IP")->str();
    if (net == nullptr || ip.empty()) continue;
    bool tls = HasPurpose(*net, "nbd"), plain = HasPurpose(*net, "insecure_nbd");
    if (tls == plain) continue;  // neither, or both: xapi-nbd refuses (§4.4)
    std::string listen = IsLocalAddress(ip) ? ip : opts.host;
    auto [it, fresh] = tls_of.emplace(listen, tls);
    if (!fresh && it->second != tls) {
      Warn(ip + " would need TLS and plaintext on " + listen + "; skipped");
      continue;
    }
    ep.address_of[ip] = listen;
  }
  if (tls_of.empty()) return none("");  // no NBD network: [] is the right answer

  // One port for every address (XAPI: 10809 everywhere).
  std::map<std::string, int> fd_of;
  for (int attempt = 0; attempt < 20 && fd_of.size() < tls_of.size(); ++attempt) {
    for (auto& [a, fd] : fd_of) close(fd);
    fd_of.clear();
    int port = opts.port;
    for (const auto& [addr, tls] : tls_of) {
      int bound = 0;
      int fd = Listen(addr, port, &bound);
      if (fd < 0) break;
      fd_of[addr] = fd;
      port = bound;
    }
    ep.port = port;
  }
  if (fd_of.size() < tls_of.size()) {
    for (auto& [a, fd] : fd_of) close(fd);
    return Error(Code::kIoError, "cannot bind one port on every NBD address: {}", std::strerror(errno));
  }

  std::string run = dir + "/nbd-run", tls_dir = dir + "/nbd-tls";
  RETURN_IF_ERROR(MakeDirs(run));
  RETURN_IF_ERROR(MakeDirs(dir + "/nbd-stats"));
  // XAPI hands out the host's certificate whatever the purpose (§2.4).
  std::vector<std::string> all_addrs;
  for (const auto& [addr, tls] : tls_of) all_addrs.push_back(addr);
  RETURN_IF_ERROR(MakeDirs(tls_dir, 0700));
  auto pem = WriteNbdCertificate(tls_dir, dns.empty() ? "casulo-sim" : dns.front(), all_addrs, dns);
  Status failed = pem.status();
  if (pem.ok()) ep.cert_pem = *pem;
  for (bool want_tls : {true, false}) {
    std::vector<int> fds;
    for (const auto& [addr, tls] : tls_of)
      if (tls == want_tls) fds.push_back(fd_of[addr]);
    if (fds.empty() || !failed.ok()) continue;
    std::vector<std::string> args = {nbdkit, "-f", "--exit-with-parent", "-P",
                                     run + (want_tls ? "/tls.pid" : "/plain.pid"),
                                     "--filter=limit"};
    if (want_tls) args.insert(args.end(), {"--tls=require", "--tls-certificates=" + tls_dir});
    args.insert(args.end(), {plugin, "state=" + dir, "rpc=" + opts.rpc_url, "limit=16"});
    if (opts.rpc_url.rfind("https:", 0) == 0) args.push_back("rpc-ca=" + dir + "/server.pem");
    auto pid = Spawn(args, fds, args[4]);
    if (pid.ok()) service->pids.push_back(*pid);
    else failed = pid.status();
  }
  for (auto& [a, fd] : fd_of) close(fd);  // the children hold their copies
  if (!failed.ok()) return failed;  // service's destructor stops what started
  {
    std::lock_guard<std::mutex> l(g_mu);
    g_endpoints = std::move(ep);
  }
  return std::unique_ptr<NbdService>(std::move(service));
}

}  // namespace casulo::sim

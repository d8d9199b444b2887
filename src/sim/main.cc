// casulo-sim --state DIR --listen HOST:PORT [--tls] [--demo] [--product P] [--fault SPEC]...
// casulo-sim write ...   (guest activity; sim/commands.h)
// casulo-sim fault ...   (arm a fault on a running simulator)
//
// Prints "casulo-sim listening on HOST:PORT" once it accepts connections
// (PORT 0 picks a free port; HOST is the pool master's address: on a
// 127.x.y.z HOST each pool member listens on the next addresses, same port), and exits 0 on SIGTERM/SIGINT after the last
// call's state has been saved (every mutating call saves before replying).
#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "sim/demo.h"
#include "core/file.h"
#include "sim/commands.h"
#include "sim/disks.h"
#include "sim/nbd_service.h"
#include "sim/server.h"
#include "sim/sim.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: casulo-sim --state DIR --listen HOST:PORT [--tls] [--demo] "
               "[--product xenserver-6.5|xenserver-7.1|citrix-8.2|xcp-ng-8.3] [--fault SPEC]...\n"
               "       casulo-sim write ...\n"
               "       casulo-sim fault ...\n");
  return 2;
}

int Fail(const casulo::Status& s) {
  std::fprintf(stderr, "casulo-sim: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace casulo::sim;
  if (argc > 1 && std::string(argv[1]) == "write") return RunWriteCommand(argc - 2, argv + 2);
  if (argc > 1 && std::string(argv[1]) == "fault") return RunFaultCommand(argc - 2, argv + 2);
  std::vector<std::string> faults;
  std::string state, listen = "127.0.0.1:0", product = "citrix-8.2";
  bool tls = false, demo = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--tls") tls = true;
    else if (a == "--demo") demo = true;
    else if (a == "--state" && (v = next())) state = v;
    else if (a == "--listen" && (v = next())) listen = v;
    else if (a == "--product" && (v = next())) product = v;
    else if (a == "--fault" && (v = next())) faults.emplace_back(v);
    else return Usage();
  }
  size_t colon = listen.rfind(':');
  if (state.empty() || colon == std::string::npos || !IsKnownProduct(product)) return Usage();
  ServerOptions opts;
  opts.host = listen.substr(0, colon);
  opts.port = std::atoi(listen.c_str() + colon + 1);
  opts.tls = tls;

  auto sim = Sim::Open(state);
  if (!sim.ok()) return Fail(sim.status());
  Sim& s = **sim;
  for (const auto& f : faults)
    if (auto st = s.faults().Add(f); !st.ok()) return Fail(st);
  // On a 127.x.y.z address every host of the pool gets its own address
  // (listen, listen+1, ...); a stored pool keeps the addresses it has.
  bool loopback = !LoopbackHostAddresses(opts.host, 1).empty();
  if (demo && s.store().Objects("pool").empty()) {
    BuildDemoPool(s.store(), product, LoopbackHostAddresses(opts.host, kDemoHosts));
    if (!s.Authenticate("root", "casulo")) s.SetUser("root", "casulo");
    if (auto st = s.SaveUsers(); !st.ok()) return Fail(st);
    if (auto st = s.Save(); !st.ok()) return Fail(st);
  }
  // --demo also gives every VDI its sparse file (guest disks with content);
  // files already there are left alone.
  if (demo) {
    if (auto st = CreateDemoDisks(s.store(), state); !st.ok()) return Fail(st);
  }
  if (loopback) opts.hosts = PoolListeners(s.store());
  const std::string master = opts.hosts.empty() ? opts.host : opts.hosts[0].address;
  if (tls) {
    opts.cert_file = state + "/server.pem";
    opts.key_file = state + "/server.key";
    if (auto st = EnsureSelfSignedCert(opts.cert_file, opts.key_file, master); !st.ok())
      return Fail(st);
  }

  // Signals are taken by a waiting thread, not a handler: stopping the
  // server is not async-signal-safe.
  // A client that goes away (or a drop fault's reset) makes later writes
  // fail with EPIPE instead of killing the process.
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  Server server(s);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    server.Stop();
  });
  std::unique_ptr<NbdService> nbd;
  casulo::Status st = server.Run(opts, [&](int port) {
    NbdOptions nbd_opts;
    nbd_opts.host = master;
    nbd_opts.rpc_url = (tls ? "https://" : "http://") + master + ":" + std::to_string(port) + "/";
    auto started = NbdService::Start(s, nbd_opts);
    if (!started.ok()) {
      std::fprintf(stderr, "casulo-sim: NBD server: %s\n", started.status().ToString().c_str());
    } else {
      nbd = std::move(*started);
    }
    // DIR/endpoint: how `casulo-sim write|fault --state DIR` find us.
    if (auto w = casulo::WriteFileAtomic(state + "/endpoint", casulo::AsBytes(nbd_opts.rpc_url)); !w.ok())
      std::fprintf(stderr, "casulo-sim: %s\n", w.ToString().c_str());
    std::printf("casulo-sim listening on %s:%d\n", master.c_str(), port);
    std::fflush(stdout);
  });
  if (!st.ok()) {
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    return Fail(st);
  }
  waiter.join();
  return 0;
}

// casulo-sim's HTTP(S) front: routes request bodies to Sim. XML-RPC at
// POST / and every path not otherwise routed (XO posts to /xmlrpc), JSON-RPC
// at POST /jsonrpc; CORS pre-flight for OPTIONS.
//
// A pool is played host by host: each host listens on its own address (all
// on one port), and the RPC dispatcher is told which host received a call,
// so a pool member answers HOST_IS_SLAVE as a real one does
// (xapi-protocol.md §1.4).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/sim.h"

namespace casulo::sim {

// One listening address and the host ref it plays ("" = the master).
struct HostAddress {
  std::string address;
  std::string host;
};

struct ServerOptions {
  std::string host = "127.0.0.1";  // the only address when `hosts` is empty
  int port = 0;  // 0: any free port, reported through on_listening
  bool tls = false;
  std::string cert_file, key_file;  // PEM; REQUIRED when tls
  // Every host of the pool, master first; all bind the same port. Empty:
  // one listener on `host` playing the master.
  std::vector<HostAddress> hosts;
};

// Serves until Stop() is called from another thread (e.g. a signal waiter).
class Server {
 public:
  explicit Server(Sim& sim);
  ~Server();
  // Binds every address (port 0: a port free on all of them, a few tries),
  // calls on_listening(port), then blocks serving.
  Status Run(const ServerOptions& opts, const std::function<void(int port)>& on_listening);
  void Stop();

 private:
  struct Impl;
  Sim& sim_;
  Impl* impl_ = nullptr;
};

// `count` consecutive loopback addresses starting at `listen` when it is an
// IPv4 127.x.y.z address (listen, listen+1, ...); empty otherwise, or when
// the last octet would pass 254.
std::vector<std::string> LoopbackHostAddresses(const std::string& listen, int count);

// The listeners of a stored pool: every host on its `address`, the master
// first; empty (one listener playing the master) when the store has no pool
// or an address is not IPv4 loopback (the demo's 10.0.0.x).
std::vector<HostAddress> PoolListeners(const Store& store);

// Writes a self-signed RSA certificate and key (CN = `common_name`) unless
// both files exist: XenServer hosts also ship self-signed certificates.
Status EnsureSelfSignedCert(const std::string& cert_file, const std::string& key_file,
                            const std::string& common_name);

}  // namespace casulo::sim

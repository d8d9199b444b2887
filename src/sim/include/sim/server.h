// casulo-sim's HTTP(S) front: routes request bodies to Sim. XML-RPC at
// POST / and every path not otherwise routed (XO posts to /xmlrpc), JSON-RPC
// at POST /jsonrpc; CORS pre-flight for OPTIONS.
#pragma once

#include <functional>
#include <string>

#include "core/status.h"
#include "sim/sim.h"

namespace casulo::sim {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port, reported through on_listening
  bool tls = false;
  std::string cert_file, key_file;  // PEM; REQUIRED when tls
};

// Serves until Stop() is called from another thread (e.g. a signal waiter).
class Server {
 public:
  explicit Server(Sim& sim);
  ~Server();
  // Binds, calls on_listening(port), then blocks serving.
  Status Run(const ServerOptions& opts, const std::function<void(int port)>& on_listening);
  void Stop();

 private:
  struct Impl;
  Sim& sim_;
  Impl* impl_ = nullptr;
};

// Writes a self-signed RSA certificate and key (CN = `common_name`) unless
// both files exist: XenServer hosts also ship self-signed certificates.
Status EnsureSelfSignedCert(const std::string& cert_file, const std::string& key_file,
                            const std::string& common_name);

}  // namespace casulo::sim

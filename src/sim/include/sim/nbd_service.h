// The NBD side of the simulated pool (xapi-protocol.md §4.4): a real NBD
// server (nbdkit with the casulo_nbd plugin, src/sim/nbd_plugin) serving VDIs
// read-only at the addresses and port that VDI.get_nbd_info returns.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "sim/sim.h"

namespace casulo::sim {

struct NbdOptions {
  std::string host = "127.0.0.1";  // where PIF IPs that are not local are served
  int port = 0;                    // 0: a free port
  std::string rpc_url;             // the simulator's own URL, to validate sessions
};

// What the running service offers, read by VDI.get_nbd_info.
struct NbdEndpoints {
  int port = 0;
  std::string cert_pem;  // the NBD servers' certificate (TLS listeners)
  // PIF IP (on a network whose purpose has nbd or insecure_nbd) -> the
  // address where a server listens for it: the IP itself when it is a local
  // address, else NbdOptions::host. PIFs without an entry get no record.
  std::map<std::string, std::string> address_of;
};

// The endpoints of the running service; nullopt when none runs (no state
// dir, nbdkit or the plugin missing): get_nbd_info then answers [].
std::optional<NbdEndpoints> CurrentNbdEndpoints();
// Dispatcher tests: pretend a service runs (nullopt: none).
void SetNbdEndpointsForTest(std::optional<NbdEndpoints> endpoints);

// Runs the NBD servers for as long as it lives; the destructor stops them
// (SIGTERM, then waits). The children also die with the simulator
// (PR_SET_PDEATHSIG), even when it is SIGKILLed.
//
// Called once the RPC server is bound and before it serves: reads the store
// unsynchronised. Listeners follow the network purposes at start: `nbd` ->
// TLS required, `insecure_nbd` -> plaintext, both -> none (xapi-nbd refuses
// such connections); later purpose changes need a restart. Without nbdkit
// in PATH, the plugin, or a state dir, it prints a warning and serves
// nothing (an OK result).
class NbdService {
 public:
  static Result<std::unique_ptr<NbdService>> Start(Sim& sim, const NbdOptions& opts);
  virtual ~NbdService() = default;
};

}  // namespace casulo::sim

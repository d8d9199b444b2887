// The NBD side of the simulated pool (xapi-protocol.md §4.4): a real NBD
// server (nbdkit) serving VDIs read-only at the address and port that
// VDI.get_nbd_info returns.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "sim/sim.h"

namespace casulo::sim {

struct NbdOptions {
  std::string host = "127.0.0.1";  // where the NBD server listens
  int port = 0;                    // 0: a free port
  std::string rpc_url;             // the simulator's own URL, to validate sessions
};

// Runs the NBD server for as long as it lives; the destructor stops it.
class NbdService {
 public:
  static Result<std::unique_ptr<NbdService>> Start(Sim& sim, const NbdOptions& opts);
  virtual ~NbdService() = default;
};

}  // namespace casulo::sim

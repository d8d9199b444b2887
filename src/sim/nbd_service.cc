#include "sim/nbd_service.h"

namespace casulo::sim {

Result<std::unique_ptr<NbdService>> NbdService::Start(Sim&, const NbdOptions&) {
  return std::make_unique<NbdService>();
}

}  // namespace casulo::sim

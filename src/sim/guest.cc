#include "sim/sim.h"

namespace casulo::sim {

std::span<const SpecialMethod> GuestMethods() { return {}; }

}  // namespace casulo::sim

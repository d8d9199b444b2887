#include "sim/sim.h"

namespace casulo::sim {

std::span<const SpecialMethod> VmMethods() { return {}; }

}  // namespace casulo::sim

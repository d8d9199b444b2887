#include "sim/sim.h"

namespace casulo::sim {

std::span<const SpecialMethod> VdiMethods() { return {}; }

}  // namespace casulo::sim

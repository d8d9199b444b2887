#include "sim/sim.h"

namespace casulo::sim {

std::span<const SpecialMethod> CbtMethods() { return {}; }

}  // namespace casulo::sim

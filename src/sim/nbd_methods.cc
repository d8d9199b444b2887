#include "sim/sim.h"

namespace casulo::sim {

std::span<const SpecialMethod> NbdMethods() { return {}; }

}  // namespace casulo::sim

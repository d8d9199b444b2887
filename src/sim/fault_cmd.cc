#include <cstdio>

#include "sim/commands.h"

namespace casulo::sim {

int RunFaultCommand(int, char**) {
  std::fprintf(stderr, "casulo-sim fault: not built yet\n");
  return 2;
}

}  // namespace casulo::sim

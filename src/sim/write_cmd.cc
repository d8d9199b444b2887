#include <cstdio>

#include "sim/commands.h"

namespace casulo::sim {

int RunWriteCommand(int, char**) {
  std::fprintf(stderr, "casulo-sim write: not built yet\n");
  return 2;
}

}  // namespace casulo::sim

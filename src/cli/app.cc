#include "cli/app.h"

#include <cstdio>

namespace casulo::cli {
int Main(int, char**) {
  std::puts("casulo 0.1.0");
  return 0;
}
}  // namespace casulo::cli

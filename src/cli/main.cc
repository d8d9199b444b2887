#include "cli/app.h"

#include <malloc.h>

int main(int argc, char** argv) {
  // Keep freed memory for reuse instead of returning it to the kernel and
  // faulting it in again: the pipeline recycles ~16 MiB pack buffers and
  // ~1 MiB frames, and fresh pages are expensive on virtual machines.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  return casulo::cli::Main(argc, argv);
}

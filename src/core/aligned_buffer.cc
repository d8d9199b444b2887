#include "core/aligned_buffer.h"

#include <cstdio>

namespace casulo {

AlignedPtr AllocateAligned(size_t size) {
  void* p = nullptr;
  if (posix_memalign(&p, kDirectIoAlign, size ? size : kDirectIoAlign) != 0) {
    std::fprintf(stderr, "casulo: out of memory allocating %zu bytes\n", size);
    std::abort();
  }
  return AlignedPtr(static_cast<uint8_t*>(p));
}

AlignedPtr BufferPool::Get() {
  {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      AlignedPtr p = std::move(free_.back());
      free_.pop_back();
      return p;
    }
  }
  return AllocateAligned(size_);
}

void BufferPool::Put(AlignedPtr p) {
  if (!p) return;
  std::lock_guard lock(mu_);
  free_.push_back(std::move(p));
}

}  // namespace casulo

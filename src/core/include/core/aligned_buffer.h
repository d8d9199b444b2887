// Page-aligned buffers for O_DIRECT I/O, and a pool that recycles them.
// Recycling matters beyond malloc's cost: on a VM, touching fresh pages can
// cost more CPU than the copy into them, so hot paths reuse their memory.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "core/bytes.h"

namespace casulo {

inline constexpr size_t kDirectIoAlign = 4096;

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedPtr = std::unique_ptr<uint8_t[], FreeDeleter>;

// Uninitialised, kDirectIoAlign-aligned memory; aborts on exhaustion like new.
AlignedPtr AllocateAligned(size_t size);

// A free list of equal-sized aligned buffers. Thread-safe. Buffers handed out
// must be returned (Put) before the pool is destroyed, or are freed by
// their owner.
class BufferPool {
 public:
  explicit BufferPool(size_t buffer_size) : size_(buffer_size) {}
  size_t buffer_size() const { return size_; }
  AlignedPtr Get();
  void Put(AlignedPtr p);

 private:
  size_t size_;
  std::mutex mu_;
  std::vector<AlignedPtr> free_;
};

}  // namespace casulo

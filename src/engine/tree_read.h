// Reading a stored tree back in order with the decoding spread over threads:
// the one restore loop behind `restore image`, `restore disk`, `restore vm`
// and `export vm`. Internal to the engine.
#pragma once

#include <functional>

#include "core/bytes.h"
#include "core/status.h"
#include "repo/repository.h"

namespace casulo::engine {

// Called on one thread, in ascending offset order. `data` gets each stored
// chunk (the span lives until the call returns); `hole` each all-zero chunk
// (optional: unset means holes are skipped); `progress` the bytes covered
// so far, after each batch.
struct TreeVisitor {
  std::function<Status(uint64_t offset, ByteSpan data)> data;
  std::function<Status(uint64_t offset, uint64_t length)> hole;
  std::function<void(uint64_t done)> progress;
};

// Walks the tree of a `size`-byte object cut into `chunk`-byte chunks.
// Batches end at pack frame boundaries so each frame is decoded once; at
// most a few batches are in flight, so memory does not grow with the size.
// threads <= 0: one per core. Stops at the first error or on cancellation.
Status ReadTreeInOrder(repo::Repository& repo, const repo::TreeRoot& root, uint64_t size,
                       uint32_t chunk, int threads, const TreeVisitor& visit);

}  // namespace casulo::engine

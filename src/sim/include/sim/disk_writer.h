// Bulk writes into a VDI file, as tapdisk makes them on a real SR: with
// O_DIRECT (tapdisk opens VHD and raw files with O_DIRECT), so an import of
// a large disk neither fills the page cache nor pays for the page cache's
// fresh pages. On this project's machines a new 1 GiB file costs 0.37 GB/s
// through the page cache when its pages are touched for the first time and
// 2.2 GB/s with O_DIRECT (docs/design/simulator.md, "Disk data").
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/bytes.h"
#include "core/file.h"
#include "core/status.h"

namespace casulo::sim {

class DiskWriter {
 public:
  DiskWriter() = default;
  // Opens an existing VDI file for writing (OpenDiskForWrite: a file shared
  // with a snapshot is unshared first). Where the file system refuses
  // O_DIRECT, every write goes through the page cache.
  static Result<DiskWriter> Open(const std::string& path);

  bool valid() const { return buffered_.valid(); }
  bool direct() const { return direct_.valid(); }
  const File& file() const { return buffered_; }

  // Pieces whose offset and length are multiples of kAlign go through the
  // O_DIRECT descriptor (copied into an aligned buffer first); others, and
  // everything after the file system refused a direct write, through the
  // buffered one. The kernel keeps both views coherent.
  Status PWrite(uint64_t offset, ByteSpan data);

  static constexpr size_t kAlign = 4096;

 private:
  struct FreeAligned {
    void operator()(uint8_t* p) const;
  };
  File buffered_, direct_;
  std::unique_ptr<uint8_t, FreeAligned> bounce_;
  size_t bounce_size_ = 0;
};

}  // namespace casulo::sim

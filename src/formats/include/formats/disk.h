// The common shape of a disk image once a codec has parsed it: a virtual size
// and a forward stream of data extents. Every codec's reader produces this and
// every writer consumes it, so `convert` is reader -> writer and the engine
// (issue 5) feeds extents to the repository without knowing the format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/bytes.h"
#include "core/status.h"

namespace casulo::formats {

enum class DiskKind {
  kFull,   // bytes outside every extent read as zeros
  kDelta,  // bytes outside every extent are those of the parent disk
};

struct DiskInfo {
  uint64_t virtual_size = 0;
  DiskKind kind = DiskKind::kFull;
  // For a delta: the parent's identity as the container states it (a VHD
  // parent UUID in canonical text form, "" when unknown).
  std::string parent_id;
};

// A run of bytes at a virtual offset. `data` is owned by the reader and valid
// until the next call to Next(). Extents may contain zeros.
struct Extent {
  uint64_t offset = 0;
  ByteSpan data;
};

// Extents come in strictly ascending, non-overlapping order and lie inside
// [0, virtual_size). Next() returns nullopt at the end, after the reader has
// checked whatever trails the data (a VHD footer, XVA checksums).
class ExtentReader {
 public:
  virtual ~ExtentReader() = default;
  virtual const DiskInfo& info() const = 0;
  virtual Result<std::optional<Extent>> Next() = 0;
};

// A consumer of extents in the same order (a format writer, a raw file).
class ExtentWriter {
 public:
  virtual ~ExtentWriter() = default;
  virtual Status Write(const Extent& extent) = 0;
  virtual Status Finish() = 0;
};

// Pumps every extent of `in` into `out`, then calls out.Finish().
Status CopyExtents(ExtentReader& in, ExtentWriter& out);

}  // namespace casulo::formats

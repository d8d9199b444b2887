// Raw disk images as extent streams: the plainest format, and the one every
// other converts through.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "core/stream.h"
#include "formats/disk.h"

namespace casulo::formats {

// Reads a raw image sequentially and yields its non-zero `granularity`-sized
// pieces (adjacent ones merged up to `max_extent` bytes). When `size` is
// given the stream must hold exactly that many bytes (kCorruption if it is
// shorter or longer); otherwise the size is what the stream holds, and
// info().virtual_size is only final once Next() has returned nullopt.
struct RawReadOptions {
  std::optional<uint64_t> size;
  uint32_t granularity = 64 * 1024;   // power of two, >= 512
  uint32_t max_extent = 4 * 1024 * 1024;  // multiple of granularity
};
Result<std::unique_ptr<ExtentReader>> OpenRawStream(Source& src, const RawReadOptions& opts = {});

// The same over random access: reads only what `ranges` says may hold data
// (e.g. SEEK_DATA ranges of a sparse file; all of it when empty).
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};
Result<std::unique_ptr<ExtentReader>> OpenRawImage(const RandomSource& src,
                                                   std::vector<ByteRange> data_ranges = {},
                                                   const RawReadOptions& opts = {});

// Writes extents as a raw image to a forward-only sink: gaps become zeros,
// and Finish() pads with zeros to `virtual_size`. A raw stream cannot say
// "unchanged", so callers flatten a delta onto its parent first.
std::unique_ptr<ExtentWriter> NewRawStreamWriter(Sink& sink, uint64_t virtual_size);
// The same for a source whose size is final only at its end (a raw stream):
// `info` is read when Finish() pads, and must outlive the writer.
std::unique_ptr<ExtentWriter> NewRawStreamWriter(Sink& sink, const DiskInfo& info);

}  // namespace casulo::formats

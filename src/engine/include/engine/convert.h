// Image files on disk or on a pipe, in any format `formats` reads: format
// detection, `casulo convert` and `casulo inspect`. This is the glue between
// the pure codecs and files; the codecs themselves never see a descriptor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "formats/checksum.h"
#include "formats/compress.h"

namespace casulo::engine {

enum class ImageFormat { kRaw, kVhd, kXva };
std::string_view ImageFormatName(ImageFormat f);  // "raw", "vhd", "xva"
Result<ImageFormat> ParseImageFormat(std::string_view name);

// What the first bytes (and, for a regular file, the last 512) say. A VHD
// footer copy at 0 means dynamic or differencing; a VHD footer at the end
// only means fixed; a gzip/zstd stream or a tar whose first member is
// ova.xml means XVA; anything else is raw.
ImageFormat DetectImageFormat(ByteSpan head, ByteSpan tail);

struct ConvertOptions {
  std::string input;   // a path, or "-" for stdin
  std::string output;  // a path, or "-" for stdout
  std::optional<ImageFormat> from;  // detected when unset
  ImageFormat to = ImageFormat::kRaw;
  // VHD input: the parents of a differencing disk, nearest first, to flatten
  // it into a full disk. Without them a delta can only become a delta VHD.
  std::vector<std::string> parents;
  // XVA input with several disks: which one (ova.xml id, VDI uuid or name).
  std::string disk;
  // Raw input on a pipe: its size, needed up front only for XVA output.
  std::optional<uint64_t> size;
  // XVA input: check chunk checksums (default on).
  bool verify = true;
  // XVA output.
  formats::ChunkChecksum checksum = formats::ChunkChecksum::kXxh64;
  formats::Compression compression = formats::Compression::kNone;
  std::string vm_name;  // the VM wrapped around a single disk; default: input's name
  bool overwrite = false;
  std::string temp_dir;  // for spooling when a VHD's block list is unknown; "" = $TMPDIR
};

struct ConvertReport {
  ImageFormat from = ImageFormat::kRaw;
  ImageFormat to = ImageFormat::kRaw;
  uint64_t virtual_size = 0;
  uint64_t data_bytes = 0;     // bytes of extents carried across
  uint64_t output_bytes = 0;   // bytes written to the output
  bool spooled = false;        // the VHD block list needed a first pass
  std::vector<std::string> notes;  // things the user should know (rounding, choices)
};

// Streams `input` into `output`. The output appears under its name only when
// complete (written to a temporary name and renamed); an existing output is
// refused (kAlreadyExists) unless `overwrite`.
Result<ConvertReport> ConvertImage(const ConvertOptions& opts);

struct InspectOptions {
  std::string input;  // a path or "-"
  std::optional<ImageFormat> from;
  // Read every byte: XVA chunk checksums, VHD bitmaps and trailing footer,
  // raw allocation. Off: only what the headers say.
  bool verify = true;
};

// A description of the image as JSON (the CLI prints it as text or as is):
// format, sizes, allocation, and per format the VMs and disks of an XVA or
// the footer, header and parent of a VHD. Problems found while reading fail
// the call, with the JSON up to that point in `partial` when given.
Result<nlohmann::json> InspectImage(const InspectOptions& opts, nlohmann::json* partial = nullptr);

}  // namespace casulo::engine

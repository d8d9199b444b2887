// Opening an image file or pipe as an extent stream, shared by convert and
// inspect. Owns every layer (descriptor, buffering, decompression, codec
// reader) so the reader's borrowed references stay valid.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/file.h"
#include "core/stream.h"
#include "engine/convert.h"
#include "formats/disk.h"
#include "formats/ova.h"
#include "formats/raw.h"
#include "formats/vhd_reader.h"
#include "formats/xva_reader.h"

namespace casulo::engine::internal {

struct OpenedImage {
  ImageFormat format = ImageFormat::kRaw;
  std::string name;  // path, or "stdin"
  File file;
  bool regular = false;  // random access possible
  uint64_t file_size = 0;
  std::unique_ptr<FileSource> stream;
  std::unique_ptr<PeekableSource> peek;
  std::unique_ptr<FileRandomSource> random;

  // VHD opened as a file: the image and its parents (nearest first).
  std::vector<File> parent_files;
  std::vector<std::unique_ptr<FileRandomSource>> parent_sources;
  std::unique_ptr<formats::VhdChain> chain;  // child first; depth 1 without parents

  // XVA: the reader and its parsed ova.xml (owned by the reader).
  std::unique_ptr<formats::XvaReader> xva;
  const formats::OvaXml* ova = nullptr;

  // The disk being read; for XVA, set by SelectXvaDisk.
  std::unique_ptr<formats::ExtentReader> owned_reader;
  formats::ExtentReader* reader = nullptr;
  // Blocks a VHD writer must declare, when known without reading the data.
  std::optional<std::vector<uint32_t>> vhd_blocks;
  // Raw regular file: where data may be (SEEK_DATA), for a second reader.
  std::vector<formats::ByteRange> data_ranges;
  // Tolerated damage the user should hear about (a VHD footer replaced by its copy).
  std::vector<std::string> warnings;
};

struct OpenImageOptions {
  std::optional<ImageFormat> from;
  std::vector<std::string> parents;  // VHD parents, nearest first
  bool verify = true;                // XVA checksums
  std::optional<uint64_t> raw_size;  // raw stream: declared size
};

// Opens `path` ("-" = stdin) and, except for XVA, its disk reader.
Result<std::unique_ptr<OpenedImage>> OpenImage(const std::string& path,
                                               const OpenImageOptions& opts);

// XVA: advances to the disk named by `which` (ova.xml id, VDI uuid or
// name_label; "" = the only disk) and makes it img.reader. Lists the disks in
// the error when the choice is ambiguous or matches nothing.
Status SelectXvaDisk(OpenedImage& img, const std::string& which);

}  // namespace casulo::engine::internal

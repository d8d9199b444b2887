// Reading VHD files: forward-only from a stream (what XAPI's import does),
// random access from a file (any layout), and differencing chains.
//
// Semantics (docs/format/vhd.md): a dynamic disk's unallocated blocks and
// clear bitmap bits read as zeros; a differencing disk's read as the
// parent's. Extents carry only sectors whose bit is set, split at bitmap runs,
// and never extend past the virtual size (footer current_size).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/stream.h"
#include "formats/disk.h"
#include "formats/vhd.h"

namespace casulo::formats {

struct VhdStreamOptions {
  // Length of the whole stream (an HTTP Content-Length), 0 when unknown. When
  // set, the trailing footer is looked for at (total_length - 1) & ~511, as
  // vhd-tool does, and blocks past it are rejected before any data is read.
  // A fixed VHD (no footer copy at 0) can only be streamed when it is set.
  uint64_t total_length = 0;
};

// Opens a VHD on a forward-only Source. Reads the footer copy at 0, skips to
// the dynamic header and then to the BAT, so both must follow in that order.
// Blocks are then visited in file order, skipping gaps, locators and a batmap
// between them; because extents must ascend by virtual offset, blocks must be
// stored in ascending index order (every writer we know of does so) — other
// orders fail at open with kUnsupported ("open it as a file"). After the last
// extent the trailing footer is read and must match the copy (unique id,
// type, size). A fixed VHD yields its data in 2 MiB extents, all-zero ranges
// skipped. `src` must outlive the reader.
Result<std::unique_ptr<ExtentReader>> OpenVhdStream(Source& src, const VhdStreamOptions& opts = {});

class VhdChain;

// A parent locator entry with its payload decoded (see DecodeVhdLocatorPath).
struct VhdLocatorPath {
  uint32_t platform_code = 0;
  std::string path;  // UTF-8; empty when the code is not a path we decode
};

// A VHD file opened for random access. Thread-compatible: const methods may
// run concurrently when the RandomSource allows it.
class VhdImage {
 public:
  virtual ~VhdImage() = default;

  const VhdFooter& footer() const { return footer_; }
  // The dynamic header; nullopt for fixed disks.
  const std::optional<VhdHeader>& header() const { return header_; }
  uint64_t virtual_size() const { return footer_.current_size; }
  VhdDiskType type() const { return footer_.disk_type; }
  // kFull for fixed and dynamic disks; kDelta with the parent UUID's text for
  // differencing ones.
  const DiskInfo& info() const { return info_; }
  // Non-empty when the image opened despite damage it tolerates, e.g. a bad
  // trailing footer replaced by the copy at offset 0.
  const std::string& warning() const { return warning_; }

  // Block size used by the addressing below: the header's, or 2 MiB for a
  // fixed disk (whose every block counts as allocated).
  uint32_t block_size() const { return block_size_; }
  uint32_t block_count() const;
  // Indices of allocated blocks, ascending.
  std::vector<uint32_t> AllocatedBlocks() const;
  // File offset of block `index`'s sector bitmap, nullopt when unallocated;
  // fixed disks: the offset of the block's data. REQUIRES index < block_count().
  std::optional<uint64_t> BlockOffset(uint32_t index) const;

  // Reads and decodes the parent locators named in the header (differencing
  // disks; empty otherwise). Payloads longer than 64 KiB or outside the file
  // fail with kCorruption.
  Result<std::vector<VhdLocatorPath>> ParentLocators() const;

  // Reads virtual bytes [offset, offset + out.size()), which must lie within
  // virtual_size(). Sectors this image does not hold are zero-filled; when
  // some of them belong to the parent (differencing disks only),
  // *any_from_parent (if given) is set to true, else to false.
  Status ReadAt(uint64_t offset, MutableByteSpan out, bool* any_from_parent = nullptr) const;

  // Every extent of this image in ascending order (the image must outlive
  // the reader). Fixed disks skip all-zero blocks.
  std::unique_ptr<ExtentReader> Extents() const;

  // Implementation detail for the chain reader: the sector bitmap of block
  // `index` into `bitmap` (VhdBitmapBytes(block_size()) bytes): all ones for
  // fixed disks, all zeros for unallocated blocks, bits past virtual_size()
  // cleared.
  Status ReadBitmap(uint32_t index, MutableByteSpan bitmap) const;
  // Reads `count` sectors from sector `first` of allocated block `index`.
  Status ReadSectors(uint32_t index, uint32_t first, uint32_t count, uint8_t* out) const;

 protected:
  VhdImage() = default;

 private:
  friend Result<std::unique_ptr<VhdImage>> OpenVhdImage(const RandomSource& src);
  // A chain addresses a fixed base in the block size of its other images.
  friend Result<std::unique_ptr<VhdChain>> OpenVhdChain(
      std::vector<std::unique_ptr<VhdImage>> child_first);
  Status LoadDynamic(uint64_t footer_at);

  const RandomSource* src_ = nullptr;
  VhdFooter footer_;
  std::optional<VhdHeader> header_;
  DiskInfo info_;
  std::string warning_;
  uint32_t block_size_ = kVhdDefaultBlockSize;
  uint32_t bitmap_bytes_ = 512;
  // Per used block: the bitmap's sector number, kVhdUnusedBatEntry when
  // unallocated. Empty for fixed disks, whose block i starts at i * block_size.
  std::vector<uint32_t> bat_;
};

// Opens a VHD on a RandomSource that must outlive the image. The trailing
// footer at (size - 1) & ~511 is authoritative; when it is damaged, a
// dynamic or differencing disk falls back to the copy at offset 0 and says so
// in warning(). Validates the header and every BAT entry: blocks must lie
// inside the file, clear of the footers, header and BAT, and must not overlap
// each other.
Result<std::unique_ptr<VhdImage>> OpenVhdImage(const RandomSource& src);

// A differencing chain flattened into one disk.
class VhdChain {
 public:
  // The child's size; kFull when the last image is fixed or dynamic, else a
  // kDelta over the last image's parent.
  const DiskInfo& info() const { return info_; }
  size_t depth() const { return images_.size(); }
  const VhdImage& image(size_t i) const { return *images_[i]; }
  // As VhdImage::ReadAt, over the whole chain.
  Status ReadAt(uint64_t offset, MutableByteSpan out, bool* any_from_parent = nullptr) const;
  // Every extent of the flattened disk in ascending order; for a kFull chain
  // sectors no image holds are not emitted (they read as zeros). The chain
  // must outlive the reader.
  std::unique_ptr<ExtentReader> Extents() const;

 private:
  friend Result<std::unique_ptr<VhdChain>> OpenVhdChain(
      std::vector<std::unique_ptr<VhdImage>> child_first);
  std::vector<std::unique_ptr<VhdImage>> images_;
  DiskInfo info_;
};

// Takes the images child first (the leaf, its parent, ..., the base). Every
// image but the last must be differencing, with header parent_id equal to
// the next image's footer unique_id (kInvalidArgument naming both UUIDs
// otherwise); all dynamic/differencing images must share one block size
// (kUnsupported otherwise). A parent smaller than its child reads as zeros
// past its end.
Result<std::unique_ptr<VhdChain>> OpenVhdChain(std::vector<std::unique_ptr<VhdImage>> child_first);

}  // namespace casulo::formats

// Writing dynamic and differencing VHDs as one forward stream, in the layout
// XAPI's import_raw_vdi accepts (docs/format/vhd.md "Writing"):
//
//   0     footer copy
//   512   dynamic header (data offset 512)
//   1536  BAT, padded to a sector
//   ...   allocated blocks in ascending index: bitmap sector(s) + block data
//   end   footer, identical to the copy
//
// The BAT precedes the data, so the caller declares the allocated blocks up
// front (from a CBT bitmap, an XVA chunk list or a first pass) and the file
// size is known before writing (an HTTP Content-Length).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/stream.h"
#include "formats/disk.h"
#include "formats/vhd.h"

namespace casulo::formats {

struct VhdWriteOptions {
  // Bytes; a multiple of 512, at most kVhdMaxWriteSize (2040 GiB).
  uint64_t virtual_size = 0;
  // kDynamic (a full disk) or kDifferencing (a delta over parent_id).
  VhdDiskType type = VhdDiskType::kDynamic;
  VhdUuid unique_id;                  // zero: a random one
  std::optional<uint32_t> timestamp;  // VHD epoch; nullopt: now
  // A power of two in [kVhdMinBlockSize, kVhdMaxBlockSize]. XenServer only
  // accepts 2 MiB; smaller blocks are for tests and fuzz seeds.
  uint32_t block_size = kVhdDefaultBlockSize;
  // Differencing only: the parent footer's unique id (must be non-zero), its
  // file's mtime in VHD epoch, and its name (UTF-8, at most 256 UTF-16 units;
  // stored UTF-16BE in the header). No parent locators are written: XAPI and
  // XO chain by UUID.
  VhdUuid parent_id;
  uint32_t parent_timestamp = 0;
  std::string parent_name;
};

// Assembles extents into blocks and streams them. Extents must come in
// ascending order (the ExtentWriter contract), lie inside the virtual size
// and inside declared blocks (kInvalidArgument otherwise). Bitmaps: a
// dynamic disk's are all ones (unwritten bytes of a declared block are
// zeros); a differencing disk's have exactly the sectors its extents cover,
// so its extents must be sector-aligned (a whole-block delta gets an
// all-ones bitmap, as XAPI's own). Declared blocks that receive no extent
// are still written (zeros; an empty bitmap for a delta).
class VhdWriter final : public ExtentWriter {
 public:
  // Validates the options and the block list (ascending, unique, inside the
  // disk), then writes the footer copy, header and BAT.
  static Result<std::unique_ptr<VhdWriter>> Create(Sink& sink, const VhdWriteOptions& opts,
                                                   std::vector<uint32_t> blocks);
  // Bytes Create + Write + Finish produce for `nblocks` declared blocks.
  static uint64_t EncodedSize(uint64_t virtual_size, uint64_t nblocks,
                              uint32_t block_size = kVhdDefaultBlockSize);

  Status Write(const Extent& extent) override;
  // Writes the remaining declared blocks and the trailing footer. Does not
  // call sink.Finish(): the caller owns the sink.
  Status Finish() override;

  const VhdFooter& footer() const { return footer_; }
  const VhdHeader& header() const { return header_; }

 private:
  VhdWriter(Sink& sink, std::vector<uint32_t> blocks) : sink_(sink), blocks_(std::move(blocks)) {}
  Status FlushCurrent();  // writes block blocks_[next_] and advances
  Status AdvanceTo(uint32_t index, uint64_t offset);

  Sink& sink_;
  std::vector<uint32_t> blocks_;
  VhdFooter footer_;
  VhdHeader header_;
  bool delta_ = false;
  size_t next_ = 0;          // position in blocks_ of the block being assembled
  bool dirty_ = false;       // data_/bitmap_ hold something for blocks_[next_]
  uint64_t written_to_ = 0;  // virtual end of the last extent (ordering check)
  uint64_t expected_size_ = 0;
  uint64_t start_position_ = 0;
  bool finished_ = false;
  Bytes data_, bitmap_, full_bitmap_;
};

// The blocks (of `block_size` bytes) that extents touch, ascending and
// unique: what to declare to VhdWriter::Create for a known extent list.
std::vector<uint32_t> VhdBlocksOfRanges(const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                                        uint32_t block_size = kVhdDefaultBlockSize);

}  // namespace casulo::formats

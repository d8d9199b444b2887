// Pack files: many blobs in one file, so 64 KiB chunks do not become one file
// each. Layout (docs/format/pack.md):
//   frame envelope* | header envelope | u32le header_length | "CASULOP1"
// A *frame* is one envelope whose plaintext is the concatenation of up to
// ~2 MiB of blobs of one type: chunks stay the unit of deduplication, frames
// are the unit of compression and encryption, because zstd on 2 MiB stores
// 10 % less than on 64 KiB pieces of the same disk, and faster
// (design section 6). The header, sealed like any object, lists every blob
// with its frame; the trailer lets a reader find the header from the end, so
// a pack is written in one forward pass and can be streamed to object storage.
#pragma once

#include <vector>

#include "core/bytes.h"
#include "repo/envelope.h"

namespace casulo::repo {

inline constexpr char kPackMagic[8] = {'C', 'A', 'S', 'U', 'L', 'O', 'P', '1'};
inline constexpr size_t kPackTrailerSize = 12;
inline constexpr size_t kPackEntrySize = 49;
// Frames are closed once their plaintext reaches this size.
inline constexpr size_t kFrameTarget = 2 << 20;
// Initial capacity of a pack buffer: the default pack size plus a frame.
inline constexpr size_t kPackReserve = (16u << 20) + (2u << 20);
// Upper bound of a frame's plaintext accepted when opening (hostile input).
inline constexpr size_t kMaxFramePlain = 32u << 20;

// One blob's place: which kind, its id, where its frame's envelope starts in
// the pack and how long it is, where the blob starts in the frame's
// plaintext, and the blob's plaintext length. Blobs of one frame share
// `offset` and `length`.
struct BlobEntry {
  ObjectType type = ObjectType::kData;
  Hash256 id;
  uint32_t offset = 0;
  uint32_t length = 0;
  uint32_t frame_offset = 0;
  uint32_t raw_length = 0;
  bool operator==(const BlobEntry&) const = default;
};

// A sealed frame ready for a pack: the envelope, and its blobs with
// frame_offset and raw_length set (offset and length are set by the pack).
struct SealedFrame {
  ObjectType type = ObjectType::kData;
  Bytes sealed;
  std::vector<BlobEntry> blobs;
};

// Builds frames: add plaintext blobs, then Seal. Not thread-safe.
class FrameBuilder {
 public:
  explicit FrameBuilder(ObjectType type) : type_(type) {}
  void Add(const Hash256& id, ByteSpan plain);
  size_t size() const { return plain_.size(); }
  bool empty() const { return blobs_.empty(); }
  SealedFrame Seal(const Sealer& sealer);  // empties the builder

 private:
  ObjectType type_;
  Bytes plain_;
  std::vector<BlobEntry> blobs_;
};

// Extracts one blob from an opened frame; kCorruption if out of range.
Result<ByteSpan> SliceFrame(ByteSpan frame_plain, const BlobEntry& e);

// Codec of the entry list shared by pack headers and index files.
void EncodeBlobEntries(const std::vector<BlobEntry>& entries, Bytes& out);
Result<std::vector<BlobEntry>> DecodeBlobEntries(ByteReader& in, uint32_t count);

// Builds a pack in memory. Not thread-safe; one per writer thread.
class PackBuilder {
 public:
  // Appends a sealed frame, listing only `keep` of its blobs (the others are
  // already stored elsewhere; their bytes become dead space for prune).
  void AddFrame(const SealedFrame& frame, const std::vector<bool>& keep);
  size_t size() const { return data_.size(); }
  size_t count() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<BlobEntry>& entries() const { return entries_; }
  // Seals the header, appends header and trailer, and returns the finished
  // pack bytes; the builder is empty afterwards.
  Bytes Finish(const Sealer& sealer);

 private:
  Bytes data_;
  std::vector<BlobEntry> entries_;
};

// Reads the entry list of a finished pack given its tail. `tail` must hold at
// least the last `header_length + 12` bytes of the pack (ReadPackHeaderLength
// tells how many); `pack_size` is the full size, to check offsets.
Result<uint32_t> ReadPackHeaderLength(ByteSpan trailer);  // the last 12 bytes
Result<std::vector<BlobEntry>> DecodePackHeader(const Sealer& sealer, ByteSpan header_envelope,
                                                uint64_t pack_size);

}  // namespace casulo::repo

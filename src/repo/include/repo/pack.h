// Pack files: many blobs in one file, so 64 KiB chunks do not become one file
// each. Layout (docs/format/pack.md):
//   blob envelope* | header envelope | u32le header_length | "CASULOP1"
// The header, sealed like any object, lists every blob; the trailer lets a
// reader find the header from the end, so a pack is written in one forward
// pass and can be streamed to object storage.
#pragma once

#include <vector>

#include "core/bytes.h"
#include "repo/envelope.h"

namespace casulo::repo {

inline constexpr char kPackMagic[8] = {'C', 'A', 'S', 'U', 'L', 'O', 'P', '1'};
inline constexpr size_t kPackTrailerSize = 12;
inline constexpr size_t kPackEntrySize = 45;

// One blob's place: which kind, its id, where its envelope starts in the pack,
// the envelope's length and the plaintext length.
struct BlobEntry {
  ObjectType type = ObjectType::kData;
  Hash256 id;
  uint32_t offset = 0;
  uint32_t length = 0;
  uint32_t raw_length = 0;
  bool operator==(const BlobEntry&) const = default;
};

// Codec of the entry list shared by pack headers and index files.
void EncodeBlobEntries(const std::vector<BlobEntry>& entries, Bytes& out);
Result<std::vector<BlobEntry>> DecodeBlobEntries(ByteReader& in, uint32_t count);

// Builds a pack in memory. Not thread-safe; one per writer thread.
class PackBuilder {
 public:
  // Appends one sealed blob. REQUIRES: !Full() is advisory only.
  void Add(ObjectType type, const Hash256& id, ByteSpan sealed, uint32_t raw_length);
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

// Streaming tar: a member reader over a Source and the V7 header writer XAPI
// uses for XVA streams (docs/format/xva.md, "Container").
//
// The reader understands V7, POSIX ustar (name prefix), GNU (long names via
// 'L' members, base-256 numbers) and pax ('x' records `path` and `size` are
// honoured, 'g' global records are skipped). Each header's checksum is
// verified, accepting the unsigned and the historical signed byte sum. The
// archive ends at two zero blocks, at one zero block followed by the end of
// the stream, or at the end of the stream on a block boundary (XAPI's reader
// also treats a lone zero block followed by a header as padding, and so do
// we). Member data is read in pieces; nothing is buffered beyond one header
// block and the small metadata payloads (capped).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"
#include "core/stream.h"

namespace casulo::formats {

inline constexpr size_t kTarBlock = 512;

struct TarMember {
  std::string name;  // with the ustar prefix, GNU long name or pax path applied
  uint64_t size = 0;
  char type = '\0';  // typeflag as stored: '\0' (V7) or '0' for a regular file
  uint32_t mode = 0;
  int64_t mtime = 0;
  uint64_t header_offset = 0;  // stream offset of the member's (last) header block

  bool IsRegularFile() const { return type == '\0' || type == '0' || type == '7'; }
};

// How the archive ended, once TarReader::Next returned nullptr.
enum class TarEnd { kNotYet, kTwoZeroBlocks, kOneZeroBlock, kEndOfStream };

class TarReader {
 public:
  // Caps the payload of GNU long-name and pax members, the only data the
  // reader itself holds; bigger ones fail with kUnsupported.
  static constexpr uint64_t kMaxMetaSize = 1 << 20;

  explicit TarReader(Source& src) : src_(src) {}

  // Skips whatever is left of the current member's data and padding, then
  // reads the next member's header(s). Returns nullptr at the end of the
  // archive; the pointer is valid until the next call. Fails with
  // kCorruption for a bad checksum, a malformed numeric field or a stream
  // that ends inside a block.
  Result<const TarMember*> Next();

  // Reads up to out.size() bytes of the current member's data; 0 once it is
  // all read. A stream ending early fails with kCorruption naming the member.
  Result<size_t> Read(MutableByteSpan out);
  // Exactly out.size() (<= remaining()) bytes of the current member's data.
  Status ReadExact(MutableByteSpan out);
  // Unread data bytes of the current member.
  uint64_t remaining() const { return remaining_; }

  TarEnd end() const { return end_; }
  uint64_t position() const { return src_.position(); }

 private:
  // One header block into block_; false at the end of the stream.
  Result<bool> ReadBlock();
  Status ReadMeta(uint64_t size, std::string* out);
  Status SkipRest();

  Source& src_;
  std::array<uint8_t, kTarBlock> block_{};
  TarMember member_;
  uint64_t remaining_ = 0;  // data left in the current member
  uint64_t padding_ = 0;    // zeros after it
  TarEnd end_ = TarEnd::kNotYet;
};

// Zero bytes that follow `size` data bytes to reach a block boundary.
inline uint64_t TarPadding(uint64_t size) { return (kTarBlock - size % kTarBlock) % kTarBlock; }

// One header block as ocaml-tar marshals a V7 header for XAPI: name
// NUL-padded; mode, uid, gid, size, mtime as zero-padded octal filling the
// field but its last byte, which is NUL; the checksum as 7 octal digits and a
// NUL; typeflag NUL; no link name, no ustar magic. Names must be 1..99 bytes
// without NUL (a NUL terminator always fits) and size/mtime must fit 11 octal
// digits, else kInvalidArgument.
Result<std::array<uint8_t, kTarBlock>> EncodeV7Header(std::string_view name, uint64_t size,
                                                      uint64_t mtime = 0, uint32_t mode = 0400);

// Header, data and padding of one member.
Status WriteTarMember(Sink& out, std::string_view name, ByteSpan data, uint64_t mtime = 0);
// Two zero blocks, the end of an archive (no padding to a 10 KiB record).
Status WriteTarEnd(Sink& out);

}  // namespace casulo::formats

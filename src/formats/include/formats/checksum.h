// The per-chunk checksums of an XVA stream (docs/format/xva.md).
//
// Every chunk member `<disk>/NNNNNNNN` is followed by a member holding the
// checksum of its bytes as text: `.checksum` carries SHA-1 as 40 lowercase
// hex digits (XenServer up to Citrix Hypervisor 8.0), `.xxhash` carries
// XXH64 with seed 0 as 16 uppercase hex digits of the 64-bit value (8.1 and
// later). Neither has a trailing newline.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"

namespace casulo::formats {

enum class ChunkChecksum {
  kXxh64,  // member suffix ".xxhash", the default of modern hosts
  kSha1,   // member suffix ".checksum", hosts before Citrix Hypervisor 8.1
};

// 40 lowercase hex digits.
std::string Sha1Hex(ByteSpan data);
// 16 uppercase hex digits of XXH64(data, seed 0), most significant first
// (printf "%016llX").
std::string Xxh64Hex(ByteSpan data);

// The checksum text XAPI writes for `kind`.
std::string ChunkChecksumText(ChunkChecksum kind, ByteSpan data);
// ".xxhash" or ".checksum".
std::string_view ChunkChecksumSuffix(ChunkChecksum kind);
// The kind whose suffix ends `member_name`, or nullopt.
std::optional<ChunkChecksum> ChunkChecksumFromName(std::string_view member_name);
// Number of hex digits the kind's text has (16 or 40).
size_t ChunkChecksumTextSize(ChunkChecksum kind);

// True when `stored` (the member's content) names the same digest as
// `computed` (our text). XAPI compares case-sensitively; we accept either
// case and trailing ASCII whitespace (a hand-made member ending in "\n"), so
// a reader never rejects data whose digest is right.
bool ChunkChecksumMatches(std::string_view stored, std::string_view computed);

}  // namespace casulo::formats

#include "formats/tar.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>

namespace casulo::formats {

namespace {

// Field offsets and sizes of the 512-byte header.
constexpr size_t kName = 0, kNameLen = 100;
constexpr size_t kMode = 100, kModeLen = 8;
constexpr size_t kUid = 108, kGid = 116, kIdLen = 8;
constexpr size_t kSize = 124, kSizeLen = 12;
constexpr size_t kMtime = 136, kMtimeLen = 12;
constexpr size_t kChksum = 148, kChksumLen = 8;
constexpr size_t kType = 156;
constexpr size_t kMagic = 257;
constexpr size_t kPrefix = 345, kPrefixLen = 155;

std::string_view CString(const uint8_t* p, size_t max) {
  const char* c = reinterpret_cast<const char*>(p);
  return std::string_view(c, strnlen(c, max));
}

// An octal field (leading spaces, digits, then NUL/space to the end) or a
// GNU base-256 field (first byte 0x80, big-endian value). nullopt when
// malformed or negative.
std::optional<uint64_t> ParseNumber(const uint8_t* p, size_t len) {
  if (p[0] & 0x80) {
    if (p[0] & 0x40) return std::nullopt;  // negative
    uint64_t v = p[0] & 0x3F;
    for (size_t i = 1; i < len; ++i) {
      if (v >> 55) return std::nullopt;  // would overflow 63 bits
      v = v << 8 | p[i];
    }
    return v;
  }
  size_t i = 0;
  while (i < len && p[i] == ' ') ++i;
  uint64_t v = 0;
  bool digits = false;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 60) return std::nullopt;
    v = v * 8 + (p[i] - '0');
    digits = true;
  }
  for (; i < len; ++i)
    if (p[i] != '\0' && p[i] != ' ') return std::nullopt;
  if (!digits) return 0;  // an empty field (V7 writers leave some blank)
  return v;
}

bool IsZeroBlock(const std::array<uint8_t, kTarBlock>& b) { return IsAllZero(b); }

// Sums with the checksum field taken as spaces: unsigned (POSIX) and signed
// (what some historical tars computed).
void HeaderSums(const std::array<uint8_t, kTarBlock>& b, uint64_t* unsigned_sum,
                int64_t* signed_sum) {
  uint64_t u = 0;
  int64_t s = 0;
  for (size_t i = 0; i < kTarBlock; ++i) {
    const uint8_t c = (i >= kChksum && i < kChksum + kChksumLen) ? ' ' : b[i];
    u += c;
    s += static_cast<int8_t>(c);
  }
  *unsigned_sum = u;
  *signed_sum = s;
}

// pax records "LEN key=value\n": honours path and size.
Status ApplyPax(std::string_view data, std::optional<std::string>* path,
                std::optional<uint64_t>* size) {
  while (!data.empty()) {
    size_t sp = data.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp > 20)
      return Error(Code::kCorruption, "malformed pax record length");
    uint64_t len = 0;
    for (char c : data.substr(0, sp)) {
      if (c < '0' || c > '9') return Error(Code::kCorruption, "malformed pax record length");
      len = len * 10 + (c - '0');
    }
    if (len <= sp + 1 || len > data.size() || data[len - 1] != '\n')
      return Error(Code::kCorruption, "malformed pax record of length {}", len);
    std::string_view rec = data.substr(sp + 1, len - sp - 2);
    data.remove_prefix(len);
    const size_t eq = rec.find('=');
    if (eq == std::string_view::npos) return Error(Code::kCorruption, "pax record without '='");
    std::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
    if (key == "path") {
      *path = std::string(value);
    } else if (key == "size") {
      uint64_t v = 0;
      if (value.empty() || value.size() > 19)
        return Error(Code::kCorruption, "bad pax size '{}'", value);
      for (char c : value) {
        if (c < '0' || c > '9') return Error(Code::kCorruption, "bad pax size '{}'", value);
        v = v * 10 + (c - '0');
      }
      *size = v;
    }
  }
  return OkStatus();
}

}  // namespace

Result<bool> TarReader::ReadBlock() {
  const uint64_t at = src_.position();
  ASSIGN_OR_RETURN(size_t n, ReadFull(src_, block_));
  if (n == 0) return false;
  if (n != kTarBlock)
    return Error(Code::kCorruption, "truncated tar header at offset {} ({} of 512 bytes)", at, n);
  return true;
}

Status TarReader::SkipRest() {
  const uint64_t n = remaining_ + padding_;
  remaining_ = padding_ = 0;
  if (n == 0) return OkStatus();
  return src_.Skip(n, fmt::format("tar member '{}'", member_.name));
}

Status TarReader::ReadMeta(uint64_t size, std::string* out) {
  if (size > kMaxMetaSize)
    return Error(Code::kUnsupported, "tar extended header of {} bytes (limit {})", size,
                 kMaxMetaSize);
  out->resize(size_t(size));
  RETURN_IF_ERROR(
      casulo::ReadExact(src_, MutableByteSpan(reinterpret_cast<uint8_t*>(out->data()), out->size()),
                        "tar extended header"));
  return src_.Skip(TarPadding(size), "tar extended header");
}

Result<const TarMember*> TarReader::Next() {
  if (end_ != TarEnd::kNotYet) return nullptr;
  RETURN_IF_ERROR(SkipRest());
  std::optional<std::string> long_name;  // GNU 'L' or pax path for the next header
  std::optional<uint64_t> pax_size;
  bool pending_meta = false;
  for (;;) {
    const uint64_t at = src_.position();
    ASSIGN_OR_RETURN(bool got, ReadBlock());
    if (got && IsZeroBlock(block_)) {
      ASSIGN_OR_RETURN(got, ReadBlock());
      if (!got || IsZeroBlock(block_)) {
        if (pending_meta)
          return Error(Code::kCorruption, "tar extended header at offset {} ends the archive", at);
        end_ = got ? TarEnd::kTwoZeroBlocks : TarEnd::kOneZeroBlock;
        return nullptr;
      }
      // A lone zero block followed by a header: padding, as ocaml-tar reads it.
    } else if (!got) {
      if (pending_meta)
        return Error(Code::kCorruption, "tar extended header at offset {} ends the archive", at);
      end_ = TarEnd::kEndOfStream;
      return nullptr;
    }
    const uint64_t header_at = src_.position() - kTarBlock;
    std::optional<uint64_t> stored = ParseNumber(&block_[kChksum], kChksumLen);
    uint64_t usum;
    int64_t ssum;
    HeaderSums(block_, &usum, &ssum);
    if (!stored || (*stored != usum && int64_t(*stored) != ssum))
      return Error(Code::kCorruption, "not a tar header at offset {} (header checksum mismatch)",
                   header_at);
    std::optional<uint64_t> size = ParseNumber(&block_[kSize], kSizeLen);
    if (!size)
      return Error(Code::kCorruption, "bad size field in tar header at offset {}", header_at);
    const char type = char(block_[kType]);
    if (type == 'L' || type == 'x' || type == 'X') {
      std::string meta;
      RETURN_IF_ERROR(ReadMeta(*size, &meta));
      if (type == 'L') {
        long_name =
            std::string(CString(reinterpret_cast<const uint8_t*>(meta.data()), meta.size()));
      } else {
        RETURN_IF_ERROR(ApplyPax(meta, &long_name, &pax_size)
                            .With(fmt::format("pax header at offset {}", header_at)));
      }
      pending_meta = true;
      continue;
    }
    if (type == 'g' || type == 'K') {  // global pax records, GNU long link names
      RETURN_IF_ERROR(src_.Skip(*size + TarPadding(*size), "tar extended header"));
      continue;
    }
    member_ = TarMember();
    member_.header_offset = header_at;
    member_.type = type;
    member_.mode = uint32_t(ParseNumber(&block_[kMode], kModeLen).value_or(0) & 07777);
    member_.mtime = int64_t(ParseNumber(&block_[kMtime], kMtimeLen).value_or(0) & INT64_MAX);
    if (long_name) {
      member_.name = std::move(*long_name);
    } else {
      member_.name = std::string(CString(&block_[kName], kNameLen));
      // POSIX ustar ("ustar\0"); GNU's "ustar  " keeps times where the prefix would be.
      if (std::memcmp(&block_[kMagic], "ustar", 6) == 0) {
        std::string_view prefix = CString(&block_[kPrefix], kPrefixLen);
        if (!prefix.empty()) member_.name = std::string(prefix) + "/" + member_.name;
      }
    }
    member_.size = pax_size.value_or(*size);
    // Hard links, symlinks, devices, directories and FIFOs carry no data
    // whatever the size field says.
    const bool has_data = member_.IsRegularFile() || (type >= 'A' && type <= 'Z');
    remaining_ = has_data ? member_.size : 0;
    padding_ = TarPadding(remaining_);
    return &member_;
  }
}

Result<size_t> TarReader::Read(MutableByteSpan out) {
  if (remaining_ == 0 || out.empty()) return size_t{0};
  const size_t want = size_t(std::min<uint64_t>(out.size(), remaining_));
  ASSIGN_OR_RETURN(size_t n, src_.Read(out.first(want)));
  if (n == 0)
    return Error(Code::kCorruption, "truncated tar member '{}' at offset {} ({} bytes missing)",
                 member_.name, src_.position(), remaining_);
  remaining_ -= n;
  return n;
}

Status TarReader::ReadExact(MutableByteSpan out) {
  if (out.size() > remaining_)
    return Error(Code::kInternal, "tar: reading {} bytes of '{}' with {} left", out.size(),
                 member_.name, remaining_);
  size_t done = 0;
  while (done < out.size()) {
    ASSIGN_OR_RETURN(size_t n, Read(out.subspan(done)));
    done += n;
  }
  return OkStatus();
}

// --- Writing ---------------------------------------------------------------

namespace {

// Zero-padded octal of width len-1, then NUL (ocaml-tar's marshal_int).
bool PutOctal(uint8_t* field, size_t len, uint64_t v) {
  const std::string s = fmt::format("{:0{}o}", v, len - 1);
  if (s.size() != len - 1) return false;
  std::memcpy(field, s.data(), s.size());
  field[len - 1] = '\0';
  return true;
}

}  // namespace

Result<std::array<uint8_t, kTarBlock>> EncodeV7Header(std::string_view name, uint64_t size,
                                                      uint64_t mtime, uint32_t mode) {
  if (name.empty() || name.size() >= kNameLen || name.find('\0') != std::string_view::npos)
    return Error(Code::kInvalidArgument, "tar member name '{}' must be 1..99 bytes without NUL",
                 name);
  std::array<uint8_t, kTarBlock> b{};
  std::memcpy(&b[kName], name.data(), name.size());
  if (!PutOctal(&b[kMode], kModeLen, mode & 07777) || !PutOctal(&b[kUid], kIdLen, 0) ||
      !PutOctal(&b[kGid], kIdLen, 0))
    return Error(Code::kInternal, "tar: mode field overflow");
  if (!PutOctal(&b[kSize], kSizeLen, size))
    return Error(Code::kInvalidArgument, "tar member '{}': size {} needs more than 11 octal digits",
                 name, size);
  if (!PutOctal(&b[kMtime], kMtimeLen, mtime))
    return Error(Code::kInvalidArgument, "tar member '{}': mtime {} out of range", name, mtime);
  b[kType] = '\0';  // V7 regular file
  uint64_t usum;
  int64_t ssum;
  HeaderSums(b, &usum, &ssum);
  PutOctal(&b[kChksum], kChksumLen, usum);  // < 512*255, always 7 digits
  return b;
}

Status WriteTarMember(Sink& out, std::string_view name, ByteSpan data, uint64_t mtime) {
  ASSIGN_OR_RETURN(auto header, EncodeV7Header(name, data.size(), mtime));
  RETURN_IF_ERROR(out.Write(header));
  RETURN_IF_ERROR(out.Write(data));
  return WriteZeros(out, TarPadding(data.size()));
}

Status WriteTarEnd(Sink& out) { return WriteZeros(out, 2 * kTarBlock); }

}  // namespace casulo::formats

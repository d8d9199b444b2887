#include "repo/pack.h"

#include <cstring>

namespace casulo::repo {

void EncodeBlobEntries(const std::vector<BlobEntry>& entries, Bytes& out) {
  out.reserve(out.size() + entries.size() * kPackEntrySize);
  for (const auto& e : entries) {
    PutU8(out, static_cast<uint8_t>(e.type));
    PutBytes(out, e.id.b);
    PutU32(out, e.offset);
    PutU32(out, e.length);
    PutU32(out, e.raw_length);
  }
}

Result<std::vector<BlobEntry>> DecodeBlobEntries(ByteReader& in, uint32_t count) {
  if (in.remaining() / kPackEntrySize < count)
    return Error(Code::kCorruption, "{} blob entries announced, room for {}", count,
                 in.remaining() / kPackEntrySize);
  std::vector<BlobEntry> out(count);
  for (auto& e : out) {
    ASSIGN_OR_RETURN(uint8_t type, in.U8("blob type"));
    if (type != uint8_t(ObjectType::kData) && type != uint8_t(ObjectType::kTree))
      return Error(Code::kCorruption, "blob entry has unknown type {}", type);
    e.type = ObjectType(type);
    ASSIGN_OR_RETURN(ByteSpan id, in.Take(32, "blob id"));
    e.id = Hash256::FromSpan(id);
    ASSIGN_OR_RETURN(e.offset, in.U32("blob offset"));
    ASSIGN_OR_RETURN(e.length, in.U32("blob length"));
    ASSIGN_OR_RETURN(e.raw_length, in.U32("blob raw length"));
  }
  return out;
}

void PackBuilder::Add(ObjectType type, const Hash256& id, ByteSpan sealed, uint32_t raw_length) {
  entries_.push_back(BlobEntry{type, id, uint32_t(data_.size()), uint32_t(sealed.size()),
                               raw_length});
  PutBytes(data_, sealed);
}

Bytes PackBuilder::Finish(const Sealer& sealer) {
  Bytes header;
  PutU32(header, uint32_t(entries_.size()));
  EncodeBlobEntries(entries_, header);
  Bytes sealed = sealer.Seal(ObjectType::kPackHeader, {}, header);
  PutBytes(data_, sealed);
  PutU32(data_, uint32_t(sealed.size()));
  data_.insert(data_.end(), kPackMagic, kPackMagic + 8);
  entries_.clear();
  return std::move(data_);
}

Result<uint32_t> ReadPackHeaderLength(ByteSpan trailer) {
  if (trailer.size() != kPackTrailerSize)
    return Error(Code::kCorruption, "pack trailer is {} bytes, expected 12", trailer.size());
  if (std::memcmp(trailer.data() + 4, kPackMagic, 8) != 0)
    return Error(Code::kCorruption, "not a pack: trailer magic missing");
  return LoadU32(trailer.data());
}

Result<std::vector<BlobEntry>> DecodePackHeader(const Sealer& sealer, ByteSpan header_envelope,
                                                uint64_t pack_size) {
  ASSIGN_OR_RETURN(Bytes header, sealer.Open(ObjectType::kPackHeader, {}, header_envelope)
                                     .With("pack header"));
  ByteReader in(header);
  ASSIGN_OR_RETURN(uint32_t count, in.U32("blob count"));
  ASSIGN_OR_RETURN(auto entries, DecodeBlobEntries(in, count));
  if (in.remaining() != 0)
    return Error(Code::kCorruption, "pack header has {} trailing bytes", in.remaining());
  uint64_t data_end = pack_size - header_envelope.size() - kPackTrailerSize;
  uint64_t expect = 0;
  for (const auto& e : entries) {
    if (e.offset != expect)
      return Error(Code::kCorruption, "blob {} at offset {}, expected {}", e.id.ShortHex(),
                   e.offset, expect);
    expect = uint64_t(e.offset) + e.length;
  }
  if (expect != data_end)
    return Error(Code::kCorruption, "blobs end at {}, header starts at {}", expect, data_end);
  return entries;
}

}  // namespace casulo::repo

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
    PutU32(out, e.frame_offset);
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
    ASSIGN_OR_RETURN(e.length, in.U32("frame length"));
    ASSIGN_OR_RETURN(e.frame_offset, in.U32("offset in frame"));
    ASSIGN_OR_RETURN(e.raw_length, in.U32("blob raw length"));
    if (uint64_t(e.frame_offset) + e.raw_length > kMaxFramePlain)
      return Error(Code::kCorruption, "blob {} ends beyond the largest frame", e.id.ShortHex());
  }
  return out;
}

void FrameBuilder::Add(const Hash256& id, ByteSpan plain) {
  blobs_.push_back(BlobEntry{type_, id, 0, 0, uint32_t(plain_.size()), uint32_t(plain.size())});
  PutBytes(plain_, plain);
}

SealedFrame FrameBuilder::Seal(const Sealer& sealer) {
  SealedFrame f{type_, sealer.Seal(type_, {}, plain_), std::move(blobs_)};
  plain_.clear();
  blobs_.clear();
  return f;
}

Result<ByteSpan> SliceFrame(ByteSpan frame_plain, const BlobEntry& e) {
  if (uint64_t(e.frame_offset) + e.raw_length > frame_plain.size())
    return Error(Code::kCorruption, "blob {} at {}+{} lies outside its {}-byte frame",
                 e.id.ShortHex(), e.frame_offset, e.raw_length, frame_plain.size());
  return frame_plain.subspan(e.frame_offset, e.raw_length);
}

void PackBuilder::AddFrame(const SealedFrame& frame, const std::vector<bool>& keep) {
  // Packs are ~16 MiB: reserve once instead of doubling through 8 copies.
  if (data_.capacity() == 0) data_.reserve(kPackReserve);
  for (size_t i = 0; i < frame.blobs.size(); ++i) {
    if (!keep[i]) continue;
    BlobEntry e = frame.blobs[i];
    e.offset = uint32_t(data_.size());
    e.length = uint32_t(frame.sealed.size());
    entries_.push_back(e);
  }
  PutBytes(data_, frame.sealed);
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
  // Frames are listed in order; a frame may have unlisted (dead) blobs but
  // never overlaps another or the header.
  uint64_t data_end = pack_size - header_envelope.size() - kPackTrailerSize;
  uint64_t frame_end = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    bool same_frame = i > 0 && e.offset == entries[i - 1].offset;
    if (same_frame ? e.length != entries[i - 1].length : e.offset < frame_end)
      return Error(Code::kCorruption, "blob {}: frame at offset {} overlaps the previous one",
                   e.id.ShortHex(), e.offset);
    frame_end = uint64_t(e.offset) + e.length;
  }
  if (frame_end > data_end)
    return Error(Code::kCorruption, "frames end at {}, header starts at {}", frame_end, data_end);
  return entries;
}

}  // namespace casulo::repo

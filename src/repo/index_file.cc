#include "repo/index_file.h"

#include <cstring>

namespace casulo::repo {

Bytes EncodeIndex(const IndexFile& index) {
  Bytes out(kIndexMagic, kIndexMagic + 8);
  PutU32(out, kIndexVersion);
  PutU32(out, uint32_t(index.supersedes.size()));
  for (const auto& id : index.supersedes) PutBytes(out, id.b);
  PutU32(out, uint32_t(index.packs.size()));
  for (const auto& p : index.packs) {
    PutBytes(out, p.pack.b);
    PutU32(out, uint32_t(p.blobs.size()));
    EncodeBlobEntries(p.blobs, out);
  }
  return out;
}

Result<IndexFile> DecodeIndex(ByteSpan payload) {
  ByteReader in(payload);
  ASSIGN_OR_RETURN(ByteSpan magic, in.Take(8, "index magic"));
  if (std::memcmp(magic.data(), kIndexMagic, 8) != 0)
    return Error(Code::kCorruption, "not an index file (bad magic)");
  ASSIGN_OR_RETURN(uint32_t version, in.U32("index version"));
  if (version != kIndexVersion)
    return Error(Code::kUnsupported, "index version {} (this casulo reads {})", version,
                 kIndexVersion);
  IndexFile out;
  ASSIGN_OR_RETURN(uint32_t nsup, in.U32("superseded count"));
  if (in.remaining() / 32 < nsup) return Error(Code::kCorruption, "superseded list truncated");
  out.supersedes.resize(nsup);
  for (auto& id : out.supersedes) {
    ASSIGN_OR_RETURN(ByteSpan b, in.Take(32, "superseded id"));
    id = Hash256::FromSpan(b);
  }
  ASSIGN_OR_RETURN(uint32_t npacks, in.U32("pack count"));
  if (in.remaining() / 36 < npacks) return Error(Code::kCorruption, "pack list truncated");
  out.packs.resize(npacks);
  for (auto& p : out.packs) {
    ASSIGN_OR_RETURN(ByteSpan b, in.Take(32, "pack id"));
    p.pack = Hash256::FromSpan(b);
    ASSIGN_OR_RETURN(uint32_t nblobs, in.U32("blob count"));
    ASSIGN_OR_RETURN(p.blobs, DecodeBlobEntries(in, nblobs).With("pack " + p.pack.ShortHex()));
  }
  if (in.remaining() != 0)
    return Error(Code::kCorruption, "index has {} trailing bytes", in.remaining());
  return out;
}

}  // namespace casulo::repo

#include "repo/blob_writer.h"

#include "core/blake3.h"

namespace casulo::repo {

Result<bool> BlobWriter::Known(const Hash256& id) {
  if (pending_.count(id)) return true;
  ASSIGN_OR_RETURN(auto loc, repo_.index().Find(id));
  return loc.has_value();
}

Result<bool> BlobWriter::Add(ObjectType type, const Hash256& id, ByteSpan sealed,
                             uint32_t raw_length) {
  ASSIGN_OR_RETURN(bool known, Known(id));
  if (known) return false;
  pack_.Add(type, id, sealed, raw_length);
  pending_.insert(id);
  stats_.new_blobs++;
  stats_.new_bytes += raw_length;
  stats_.stored_bytes += sealed.size();
  if (pack_.size() >= repo_.config().pack_size) RETURN_IF_ERROR(SavePack());
  return true;
}

Result<Hash256> BlobWriter::AddPlain(ObjectType type, ByteSpan plain) {
  Hash256 id = repo_.sealer().ChunkId(plain);
  ASSIGN_OR_RETURN(bool known, Known(id));
  if (!known) {
    Bytes sealed = repo_.sealer().Seal(type, id.b, plain);
    RETURN_IF_ERROR(Add(type, id, sealed, uint32_t(plain.size())));
  }
  return id;
}

Status BlobWriter::SavePack() {
  if (pack_.empty()) return OkStatus();
  PackIndex entry{Hash256{}, pack_.entries()};
  Bytes bytes = pack_.Finish(repo_.sealer());
  entry.pack = Blake3(bytes);
  RETURN_IF_ERROR(repo_.backend().Save(FileType::kPack, entry.pack.Hex(), bytes));
  unindexed_.push_back(std::move(entry));
  stats_.packs++;
  if (unindexed_.size() >= kPacksPerIndex) RETURN_IF_ERROR(WriteIndex());
  return OkStatus();
}

Status BlobWriter::WriteIndex() {
  if (unindexed_.empty()) return OkStatus();
  IndexFile index;
  index.packs = std::move(unindexed_);
  unindexed_.clear();
  ASSIGN_OR_RETURN(std::string name,
                   repo_.SaveFile(FileType::kIndex, ObjectType::kIndex, EncodeIndex(index)));
  stats_.index_files++;
  RETURN_IF_ERROR(repo_.index().Add(name, index));
  for (const auto& p : index.packs)
    for (const auto& b : p.blobs) pending_.erase(b.id);
  return OkStatus();
}

Status BlobWriter::Flush() {
  RETURN_IF_ERROR(SavePack());
  return WriteIndex();
}

}  // namespace casulo::repo

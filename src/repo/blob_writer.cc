#include "repo/blob_writer.h"

#include "core/blake3.h"

namespace casulo::repo {

Result<bool> BlobWriter::Known(const Hash256& id) {
  if (pending_.count(id)) return true;
  ASSIGN_OR_RETURN(auto loc, repo_.index().Find(id));
  return loc.has_value();
}

Result<size_t> BlobWriter::AddFrame(const SealedFrame& frame) {
  std::vector<bool> keep(frame.blobs.size());
  size_t added = 0;
  for (size_t i = 0; i < frame.blobs.size(); ++i) {
    const Hash256& id = frame.blobs[i].id;
    ASSIGN_OR_RETURN(bool known, Known(id));
    if (known) continue;
    keep[i] = true;
    pending_.insert(id);
    ++added;
    stats_.new_blobs++;
    stats_.new_bytes += frame.blobs[i].raw_length;
  }
  if (added == 0) return size_t(0);
  pack_.AddFrame(frame, keep);
  stats_.stored_bytes += frame.sealed.size();
  if (pack_.size() >= repo_.config().pack_size) RETURN_IF_ERROR(SavePack());
  return added;
}

Result<Hash256> BlobWriter::AddPlain(ObjectType type, ByteSpan plain) {
  Hash256 id = repo_.sealer().ChunkId(plain);
  ASSIGN_OR_RETURN(bool known, Known(id));
  if (!known) {
    FrameBuilder fb(type);
    fb.Add(id, plain);
    RETURN_IF_ERROR(AddFrame(fb.Seal(repo_.sealer())));
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

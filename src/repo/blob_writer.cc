#include "repo/blob_writer.h"

#include "core/blake3.h"

namespace casulo::repo {

BlobWriter::BlobWriter(Repository& repo) : repo_(repo) {
  saver_ = std::thread([this] { SaverLoop(); });
}

BlobWriter::~BlobWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  saver_.join();
}

void BlobWriter::SaverLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return to_save_.has_value() || stop_; });
    if (!to_save_) return;  // stop requested and nothing left
    auto job = std::move(*to_save_);
    to_save_.reset();
    saving_ = true;
    lock.unlock();
    Status s = repo_.backend().Save(FileType::kPack, job.first.pack.Hex(), job.second);
    job.second = Bytes();
    lock.lock();
    saving_ = false;
    if (s.ok()) {
      saved_.push_back(std::move(job.first));
    } else if (save_error_.ok()) {
      save_error_ = std::move(s);
    }
    cv_.notify_all();
  }
}

Status BlobWriter::WaitSaved() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !to_save_ && !saving_; });
  return save_error_;
}

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
  stats_.packs++;
  size_t saved;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !to_save_.has_value(); });
    if (!save_error_.ok()) return save_error_;
    to_save_.emplace(std::move(entry), std::move(bytes));
    saved = saved_.size();
    cv_.notify_all();
  }
  if (saved >= kPacksPerIndex) RETURN_IF_ERROR(WriteIndex());
  return OkStatus();
}

Status BlobWriter::WriteIndex() {
  IndexFile index;
  {
    std::lock_guard lock(mu_);
    index.packs = std::move(saved_);
    saved_.clear();
  }
  if (index.packs.empty()) return OkStatus();
  ASSIGN_OR_RETURN(std::string name,
                   repo_.SaveFile(FileType::kIndex, ObjectType::kIndex, EncodeIndex(index)));
  stats_.index_files++;
  RETURN_IF_ERROR(repo_.index().Add(name, index));
  for (const auto& p : index.packs)
    for (const auto& b : p.blobs) pending_.erase(b.id);
  return OkStatus();
}

Status BlobWriter::Flush() {
  Status s = SavePack();
  Status w = WaitSaved();  // even after an error: index what did reach the backend
  Status i = WriteIndex();
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(w);
  return i;
}

}  // namespace casulo::repo

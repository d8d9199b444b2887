#include "engine/disk.h"

#include "block_source.h"

namespace casulo::engine {

using namespace internal;

namespace {

// Checks the parent against the repository's chunk size and opens its tree.
Status CheckParent(const repo::Repository& repo, const DiskBackupOptions& opt) {
  if (opt.parent && opt.parent->chunk_size != repo.config().chunk_size)
    return Error(Code::kInvalidArgument, "parent disk {} has chunk size {}, repository {}", opt.parent->key,
                 opt.parent->chunk_size, repo.config().chunk_size);
  return OkStatus();
}

DiskBackupResult ToResult(DiskResult d) { return DiskBackupResult{d.size, d.tree, d.stats}; }

}  // namespace

Result<DiskBackupResult> BackupDiskExtents(repo::Repository& repo, formats::ExtentReader& in,
                                           const DiskBackupOptions& opt) {
  RETURN_IF_ERROR(CheckParent(repo, opt));
  const uint32_t chunk = repo.config().chunk_size;
  if (in.info().kind == formats::DiskKind::kDelta) {
    if (!opt.parent) return Error(Code::kInvalidArgument, "a differencing disk stream needs the parent disk");
    if (opt.parent->size != in.info().virtual_size)
      return Error(Code::kInvalidArgument, "differencing disk of {} bytes over a parent of {}",
                   in.info().virtual_size, opt.parent->size);
  }
  std::optional<repo::TreeReader> parent_tree;
  if (opt.parent) parent_tree.emplace(opt.parent->tree, [&repo](const Hash256& id) { return repo.LoadBlob(id); });
  BufferPool pool(size_t(kMaxDataBlocksPerBatch) * chunk);
  auto src = NewExtentBlockSource(in, chunk, {parent_tree ? &*parent_tree : nullptr, opt.parent ? opt.parent->size : 0},
                                  pool, [&repo](const Hash256& id) { return repo.LoadBlob(id); });
  ASSIGN_OR_RETURN(DiskResult d, RunDiskBackup(repo, *src, pool, opt.threads, opt.progress));
  return ToResult(d);
}

Result<DiskBackupResult> BackupDiskRandom(repo::Repository& repo, const RandomDisk& disk,
                                          const DiskBackupOptions& opt) {
  RETURN_IF_ERROR(CheckParent(repo, opt));
  if (disk.data == nullptr) return Error(Code::kInvalidArgument, "no disk data source");
  if (disk.changed_blocks && !opt.parent)
    return Error(Code::kInvalidArgument, "a changed-block bitmap needs the parent disk it is relative to");
  const uint32_t chunk = repo.config().chunk_size;
  std::optional<repo::TreeReader> parent_tree;
  if (opt.parent) parent_tree.emplace(opt.parent->tree, [&repo](const Hash256& id) { return repo.LoadBlob(id); });
  BufferPool pool(size_t(kMaxDataBlocksPerBatch) * chunk);
  auto src = NewRandomBlockSource(*disk.data, disk.allocated, disk.changed_blocks ? &*disk.changed_blocks : nullptr,
                                  chunk, {parent_tree ? &*parent_tree : nullptr, opt.parent ? opt.parent->size : 0},
                                  pool);
  ASSIGN_OR_RETURN(DiskResult d, RunDiskBackup(repo, *src, pool, opt.threads, opt.progress));
  return ToResult(d);
}

}  // namespace casulo::engine

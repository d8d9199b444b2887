#include <unistd.h>

#include <ctime>

#include "block_source.h"
#include "engine/image.h"

namespace casulo::engine {

using namespace internal;

Result<ImageBackupResult> BackupImage(repo::Repository& repo, ImageInput& input,
                                      const ImageBackupOptions& opt) {
  const uint32_t chunk = repo.config().chunk_size;

  std::optional<repo::Snapshot> parent;
  std::optional<repo::TreeReader> parent_tree;
  if (opt.parent) {
    ASSIGN_OR_RETURN(parent, repo.LoadSnapshot(*opt.parent).With("parent"));
    if (parent->chunk_size != chunk)
      return Error(Code::kInvalidArgument, "parent {} has chunk size {}, repository {}",
                   *opt.parent, parent->chunk_size, chunk);
    parent_tree.emplace(parent->tree, [&repo](const Hash256& id) { return repo.LoadBlob(id); });
  }
  if (opt.changed_blocks && !parent)
    return Error(Code::kInvalidArgument, "--changed-blocks needs --parent: the bitmap says "
                                         "what changed since that snapshot");
  if (opt.changed_blocks && !input.seekable)
    return Error(Code::kInvalidArgument, "--changed-blocks needs a file or device, not a stream");

  BufferPool pool(size_t(kMaxDataBlocksPerBatch) * chunk);
  auto src = NewFileBlockSource(input, chunk, opt.changed_blocks ? &*opt.changed_blocks : nullptr,
                                {parent_tree ? &*parent_tree : nullptr, parent ? parent->size : 0}, pool);
  ASSIGN_OR_RETURN(DiskResult disk, RunDiskBackup(repo, *src, pool, opt.threads, opt.progress));

  repo::Snapshot snap;
  snap.kind = opt.kind;
  snap.source = opt.source;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  snap.hostname = host;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  snap.time = now.tv_sec;
  snap.time_nanos = uint32_t(now.tv_nsec);
  snap.tags = opt.tags;
  snap.parent = opt.parent;
  snap.size = disk.size;
  snap.chunk_size = chunk;
  snap.tree = disk.tree;
  snap.stats = disk.stats;
  ASSIGN_OR_RETURN(std::string id, repo.SaveSnapshot(snap));
  return ImageBackupResult{id, snap};
}

}  // namespace casulo::engine

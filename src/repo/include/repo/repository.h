// Repository: an opened repository — its backend, config, key, index cache —
// and the operations on named files (config, keys, index files, snapshots)
// and on blobs. The write side for blobs is BlobWriter (blob_writer.h).
//
// Thread-safety: const-like reads (LoadBlob, LoadFile, index lookups) may run
// from several threads; key changes from one. Several backups may write at
// once from one process (`backup vm --concurrency`): each owns its
// BlobWriter, hence its own packs and index files; the index cache is
// locked; files are saved under unique temporary names and renamed; the
// Sealer keeps its compression contexts per thread; SaveSnapshot writes a
// new file per snapshot. Two writers storing the same new chunk at the same
// time both store it: a duplicate blob, harmless (check reports it as
// information, prune keeps one copy), and the price of not locking across
// writers.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "repo/backend.h"
#include "repo/envelope.h"
#include "repo/index_cache.h"
#include "repo/keyfile.h"
#include "repo/snapshot.h"

namespace casulo::repo {

inline constexpr uint32_t kRepoVersion = 1;
inline constexpr uint32_t kDefaultChunkSize = 64 * 1024;
inline constexpr uint32_t kDefaultPackSize = 16 * 1024 * 1024;
// Decoded frames each reading thread keeps (LoadBlob, ReadBlobAt): 4 × 2 MiB.
inline constexpr size_t kFramesCachedPerThread = 4;

struct RepoConfig {
  uint32_t version = kRepoVersion;
  std::string id;  // 32 hex digits, random at init
  uint32_t chunk_size = kDefaultChunkSize;
  uint32_t pack_size = kDefaultPackSize;
  int compression = 3;  // zstd level, 0 = off
  bool encrypted = true;
  int64_t created = 0;
};

Bytes EncodeConfig(const RepoConfig& c);
Result<RepoConfig> DecodeConfig(ByteSpan json);

// Asked for the password only when the repository is encrypted.
using PasswordFn = std::function<Result<std::string>()>;

struct InitOptions {
  bool encrypted = true;
  int compression = 3;
  uint32_t pack_size = kDefaultPackSize;
  KdfParams kdf;
};

struct OpenOptions {
  // Directory for the index cache; empty: $CASULO_CACHE_DIR, else
  // $XDG_CACHE_HOME/casulo, else $HOME/.cache/casulo. "-" keeps it in memory.
  std::string cache_dir;
  bool sync_index = true;  // false: do not load index files (key commands)
};

struct SnapshotEntry {
  std::string id;  // hex name
  Snapshot snap;
};

class Repository {
 public:
  static Status Init(Backend& backend, const InitOptions& options, const PasswordFn& password);
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<Backend> backend,
                                                  const PasswordFn& password,
                                                  const OpenOptions& options = {});

  Backend& backend() { return *backend_; }
  const Sealer& sealer() const { return *sealer_; }
  const RepoConfig& config() const { return config_; }
  IndexCache& index() { return *index_; }

  // Loads the index files present into the cache (done by Open unless told not to).
  Status SyncIndex();

  // Seals `plain`, names the file by the BLAKE3 of the sealed bytes, saves it.
  Result<std::string> SaveFile(FileType ft, ObjectType ot, ByteSpan plain);
  // Loads a file, checks its name against its content, opens it.
  Result<Bytes> LoadFile(FileType ft, ObjectType ot, const std::string& name,
                         size_t max_plain = 256u << 20);
  Result<IndexFile> LoadIndex(const std::string& name);

  // Reads a blob by id: index lookup, read, open, and check that its content
  // hashes to `id`. kNotFound when no index names it.
  Result<Bytes> LoadBlob(const Hash256& id);
  Result<Bytes> LoadBlobAt(const Hash256& id, const BlobLocation& loc);
  // Like LoadBlobAt, into `out`, which must be exactly loc.raw_length bytes.
  Status ReadBlobAt(const Hash256& id, const BlobLocation& loc, MutableByteSpan out);

  Result<std::string> SaveSnapshot(const Snapshot& snap);
  Result<Snapshot> LoadSnapshot(const std::string& id);
  // Every snapshot, oldest first; unreadable ones fail the call.
  Result<std::vector<SnapshotEntry>> ListSnapshots();
  // "latest", a full id, or a unique prefix of at least 4 hex digits.
  Result<std::string> ResolveSnapshot(std::string_view ref);

  // Key files: add one for `passphrase`; remove one by name.
  Result<std::string> AddKey(std::string_view passphrase, const KdfParams& kdf);
  Status RemoveKey(const std::string& name);
  const std::string& key_name() const { return key_name_; }  // the file that opened it

 private:
  Repository() = default;
  std::unique_ptr<Backend> backend_;
  RepoConfig config_;
  std::optional<MasterKey> key_;
  std::string key_name_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<IndexCache> index_;
};

// Where the index cache lives for the repository cache key `key`
// (`<repo id>-<8 hex of BLAKE3 of its location>`; see OpenOptions).
Result<std::string> IndexCachePath(const std::string& cache_dir, const std::string& key);

}  // namespace casulo::repo

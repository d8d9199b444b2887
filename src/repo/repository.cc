#include "repo/repository.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/blake3.h"
#include "core/file.h"
#include "repo/pack.h"

namespace casulo::repo {

using nlohmann::json;

Bytes EncodeConfig(const RepoConfig& c) {
  json j = {{"version", c.version},         {"id", c.id},
            {"chunk_size", c.chunk_size},   {"pack_size", c.pack_size},
            {"compression", c.compression}, {"encryption", c.encrypted ? "aes-256-gcm" : "none"},
            {"created", FormatTime(c.created)}};
  std::string s = j.dump(2);
  return Bytes(s.begin(), s.end());
}

Result<RepoConfig> DecodeConfig(ByteSpan bytes) {
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Error(Code::kCorruption, "config is not a JSON object");
  RepoConfig c;
  try {
    c.version = j.at("version").get<uint32_t>();
    if (c.version != kRepoVersion)
      return Error(Code::kUnsupported, "repository version {}; this casulo handles {}", c.version,
                   kRepoVersion);
    c.id = j.at("id").get<std::string>();
    c.chunk_size = j.at("chunk_size").get<uint32_t>();
    c.pack_size = j.at("pack_size").get<uint32_t>();
    c.compression = j.at("compression").get<int>();
    std::string enc = j.at("encryption").get<std::string>();
    if (enc != "aes-256-gcm" && enc != "none")
      return Error(Code::kUnsupported, "encryption '{}'", enc);
    c.encrypted = enc != "none";
    ASSIGN_OR_RETURN(c.created, ParseTime(j.at("created").get<std::string>()));
  } catch (const json::exception& e) {
    return Error(Code::kCorruption, "config: {}", e.what());
  }
  if (c.id.size() != 32 || !FromHex(c.id).ok())
    return Error(Code::kCorruption, "config id '{}' is not 32 hex digits", c.id);
  if (c.chunk_size < 4096 || c.chunk_size > (16u << 20) || (c.chunk_size & (c.chunk_size - 1)))
    return Error(Code::kCorruption, "config chunk_size {} is not a power of two in 4K..16M",
                 c.chunk_size);
  if (c.pack_size < (1u << 20) || c.pack_size > (1u << 30))
    return Error(Code::kCorruption, "config pack_size {} out of range", c.pack_size);
  if (c.compression < 0 || c.compression > 19)
    return Error(Code::kCorruption, "config compression level {}", c.compression);
  return c;
}

Status Repository::Init(Backend& backend, const InitOptions& options, const PasswordFn& password) {
  if (options.compression < 0 || options.compression > 19)
    return Error(Code::kInvalidArgument, "compression level {} not in 0..19", options.compression);
  RepoConfig c;
  Bytes rid(16);
  RandomBytes(rid);
  c.id = ToHex(rid);
  c.compression = options.compression;
  c.pack_size = options.pack_size;
  c.encrypted = options.encrypted;
  c.created = std::time(nullptr);
  std::optional<MasterKey> key;
  Bytes keyfile;
  if (c.encrypted) {
    ASSIGN_OR_RETURN(std::string pass, password());
    key = NewMasterKey();
    ASSIGN_OR_RETURN(keyfile, EncodeKeyFile(*key, pass, options.kdf));
  }
  RETURN_IF_ERROR(backend.Create());
  if (c.encrypted)
    RETURN_IF_ERROR(backend.Save(FileType::kKey, Blake3(keyfile).Hex(), keyfile));
  Sealer sealer(key, c.compression);
  // The config is written last: a repository without one is not a repository,
  // so an interrupted init can simply be run again.
  return backend.Save(FileType::kConfig, "config", sealer.Seal(ObjectType::kConfig, {},
                                                               EncodeConfig(c)));
}

Result<std::string> IndexCachePath(const std::string& cache_dir, const std::string& key) {
  std::string dir = cache_dir;
  if (dir.empty()) {
    if (const char* d = getenv("CASULO_CACHE_DIR"); d && *d) {
      dir = d;
    } else if (const char* x = getenv("XDG_CACHE_HOME"); x && *x) {
      dir = std::string(x) + "/casulo";
    } else if (const char* h = getenv("HOME"); h && *h) {
      dir = std::string(h) + "/.cache/casulo";
    } else {
      return Error(Code::kInvalidArgument, "no cache directory: set CASULO_CACHE_DIR");
    }
  }
  return dir + "/" + key + "/index.sqlite";
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<Backend> backend,
                                                     const PasswordFn& password,
                                                     const OpenOptions& options) {
  std::string where = backend->Location();
  auto raw = backend->Load(FileType::kConfig, "config");
  if (!raw.ok()) {
    if (raw.status().code() == Code::kNotFound)
      return Error(Code::kNotFound, "{} is not a casulo repository (no config file)", where);
    return raw.status();
  }
  auto encrypted = Sealer::IsEncrypted(*raw);
  if (!encrypted.ok())
    return Error(Code::kCorruption, "{}: config file is not a casulo config", where);
  std::unique_ptr<Repository> repo(new Repository());
  ASSIGN_OR_RETURN(auto key_names, backend->List(FileType::kKey));
  if (!*encrypted && !key_names.empty())
    // Someone with write access could swap in a plain config to make us write
    // unencrypted backups into an encrypted repository.
    return Error(Code::kCorruption,
                 "{}: config is unencrypted but key files exist; refusing a possibly forged "
                 "config",
                 where);
  if (*encrypted) {
    const auto& names = key_names;
    if (names.empty()) return Error(Code::kCorruption, "{}: no key files in keys/", where);
    ASSIGN_OR_RETURN(std::string pass, password());
    // A damaged key file must neither hide another that works nor pass for a
    // wrong password: its name is the BLAKE3 of its content, so damage shows.
    std::vector<std::string> damaged;
    for (const auto& name : names) {
      auto kf = backend->Load(FileType::kKey, name);
      if (!kf.ok() || Blake3(*kf).Hex() != name) {
        damaged.push_back("key " + name);
        continue;
      }
      auto key = DecodeKeyFile(*kf, pass);
      if (key.ok()) {
        repo->key_ = *key;
        repo->key_name_ = name;
        break;
      }
      if (key.status().code() != Code::kAuth) damaged.push_back("key " + name);
    }
    if (!repo->key_) {
      std::string list = fmt::format("{}", fmt::join(damaged, ", "));
      if (damaged.size() == names.size())
        return Error(Code::kCorruption, "{}: every key file is damaged ({})", where, list);
      if (!damaged.empty())
        return Error(Code::kAuth, "wrong password: no intact key file of {} opens (damaged: {})",
                     where, list);
      return Error(Code::kAuth, "wrong password: no key file of {} opens", where);
    }
  }
  Sealer probe(repo->key_, 0);
  ASSIGN_OR_RETURN(Bytes cfg, probe.Open(ObjectType::kConfig, {}, *raw).With("config"));
  ASSIGN_OR_RETURN(repo->config_, DecodeConfig(cfg));
  if (repo->config_.encrypted != *encrypted)
    return Error(Code::kCorruption, "config says encryption {}, its envelope says otherwise",
                 repo->config_.encrypted);
  repo->sealer_ = std::make_unique<Sealer>(repo->key_, repo->config_.compression);
  repo->backend_ = std::move(backend);
  if (options.cache_dir == "-") {
    ASSIGN_OR_RETURN(repo->index_, IndexCache::OpenInMemory());
  } else {
    // Keyed by id and location: a copy of a repository (same id, another
    // place) must not share, and keep rebuilding, the original's cache.
    std::string loc = repo->backend_->Location();
    if (char* real = realpath(loc.c_str(), nullptr)) {
      loc = real;
      free(real);
    }
    ASSIGN_OR_RETURN(std::string path,
                     IndexCachePath(options.cache_dir,
                                    repo->config_.id + "-" + Blake3(AsBytes(loc)).Hex().substr(0, 8)));
    ASSIGN_OR_RETURN(repo->index_, IndexCache::Open(path));
  }
  if (options.sync_index) RETURN_IF_ERROR(repo->SyncIndex());
  return repo;
}

Status Repository::SyncIndex() {
  ASSIGN_OR_RETURN(auto names, backend_->List(FileType::kIndex));
  return index_->Sync(names, [this](const std::string& n) { return LoadIndex(n); });
}

Result<std::string> Repository::SaveFile(FileType ft, ObjectType ot, ByteSpan plain) {
  Bytes sealed = sealer_->Seal(ot, {}, plain);
  std::string name = Blake3(sealed).Hex();
  RETURN_IF_ERROR(backend_->Save(ft, name, sealed));
  return name;
}

Result<Bytes> Repository::LoadFile(FileType ft, ObjectType ot, const std::string& name,
                                   size_t max_plain) {
  ASSIGN_OR_RETURN(Bytes sealed, backend_->Load(ft, name));
  if (Blake3(sealed).Hex() != name)
    return Error(Code::kCorruption, "{}/{}: content does not match its name",
                 FileTypeName(ft), name);
  return sealer_->Open(ot, {}, sealed, max_plain).With(fmt::format("{}/{}", FileTypeName(ft), name));
}

Result<IndexFile> Repository::LoadIndex(const std::string& name) {
  ASSIGN_OR_RETURN(Bytes plain, LoadFile(FileType::kIndex, ObjectType::kIndex, name));
  return DecodeIndex(plain).With("index/" + name);
}

Result<Bytes> Repository::LoadBlob(const Hash256& id) {
  ASSIGN_OR_RETURN(auto loc, index_->Find(id));
  if (!loc) return Error(Code::kNotFound, "blob {} is in no index", id.Hex());
  return LoadBlobAt(id, *loc);
}

Result<Bytes> Repository::LoadBlobAt(const Hash256& id, const BlobLocation& loc) {
  Bytes out(loc.raw_length);
  RETURN_IF_ERROR(ReadBlobAt(id, loc, out));
  return out;
}

Status Repository::ReadBlobAt(const Hash256& id, const BlobLocation& loc, MutableByteSpan out) {
  auto ctx = [&] { return fmt::format("blob {} in pack {}", id.ShortHex(), loc.pack.ShortHex()); };
  if (out.size() != loc.raw_length)
    return Error(Code::kInternal, "{}: buffer of {} bytes for {}", ctx(), out.size(),
                 loc.raw_length);
  // A few decoded frames per thread: an in-order reader (restore) takes the
  // ~32 chunks of a frame after one read and one decryption, and an
  // incremental's small frames of changed chunks interleave with their
  // parent's frames without evicting them. Keyed by pack name and offset,
  // which name immutable content.
  struct CachedFrame {
    Hash256 pack;
    uint32_t offset = 0;
    uint64_t used = 0;  // 0: empty
    Bytes plain;
  };
  thread_local std::array<CachedFrame, kFramesCachedPerThread> cache;
  thread_local uint64_t clock = 0;
  CachedFrame* hit = nullptr;
  CachedFrame* victim = &cache[0];
  for (auto& c : cache) {
    if (c.used && c.pack == loc.pack && c.offset == loc.offset) hit = &c;
    if (c.used < victim->used) victim = &c;
  }
  if (!hit) {
    hit = victim;
    hit->used = 0;
    ASSIGN_OR_RETURN(Bytes sealed,
                     backend_->Load(FileType::kPack, loc.pack.Hex(), loc.offset, loc.length)
                         .With(ctx()));
    ASSIGN_OR_RETURN(hit->plain,
                     sealer_->Open(loc.type, {}, sealed, kMaxFramePlain).With(ctx()));
    hit->pack = loc.pack;
    hit->offset = loc.offset;
  }
  hit->used = ++clock;
  BlobEntry e{loc.type, id, loc.offset, loc.length, loc.frame_offset, loc.raw_length};
  ASSIGN_OR_RETURN(ByteSpan plain, SliceFrame(hit->plain, e).With(ctx()));
  if (sealer_->ChunkId(plain) != id)
    return Error(Code::kCorruption, "{}: content does not hash to its id", ctx());
  std::memcpy(out.data(), plain.data(), plain.size());
  return OkStatus();
}

Result<std::string> Repository::SaveSnapshot(const Snapshot& snap) {
  return SaveFile(FileType::kSnapshot, ObjectType::kSnapshot, EncodeSnapshot(snap));
}

Result<Snapshot> Repository::LoadSnapshot(const std::string& id) {
  ASSIGN_OR_RETURN(Bytes plain, LoadFile(FileType::kSnapshot, ObjectType::kSnapshot, id, 16 << 20));
  return DecodeSnapshot(plain).With("snapshot " + id.substr(0, 12));
}

Result<std::vector<SnapshotEntry>> Repository::ListSnapshots() {
  ASSIGN_OR_RETURN(auto names, backend_->List(FileType::kSnapshot));
  std::vector<SnapshotEntry> out;
  for (auto& n : names) {
    ASSIGN_OR_RETURN(Snapshot s, LoadSnapshot(n));
    out.push_back({std::move(n), std::move(s)});
  }
  std::sort(out.begin(), out.end(), [](const SnapshotEntry& a, const SnapshotEntry& b) {
    if (a.snap.time != b.snap.time) return a.snap.time < b.snap.time;
    if (a.snap.time_nanos != b.snap.time_nanos) return a.snap.time_nanos < b.snap.time_nanos;
    return a.id < b.id;
  });
  return out;
}

Result<std::string> Repository::ResolveSnapshot(std::string_view ref) {
  if (ref == "latest") {
    ASSIGN_OR_RETURN(auto all, ListSnapshots());
    if (all.empty()) return Error(Code::kNotFound, "no snapshots in the repository");
    return all.back().id;
  }
  if (ref.size() < 4) return Error(Code::kInvalidArgument, "snapshot id '{}' is too short", ref);
  ASSIGN_OR_RETURN(auto names, backend_->List(FileType::kSnapshot));
  std::string found;
  for (const auto& n : names) {
    if (n.compare(0, ref.size(), ref) != 0) continue;
    if (!found.empty()) return Error(Code::kInvalidArgument, "snapshot id '{}' is ambiguous", ref);
    found = n;
  }
  if (found.empty()) return Error(Code::kNotFound, "no snapshot '{}'", ref);
  return found;
}

Result<std::string> Repository::AddKey(std::string_view passphrase, const KdfParams& kdf) {
  if (!key_) return Error(Code::kInvalidArgument, "the repository is not encrypted");
  ASSIGN_OR_RETURN(Bytes kf, EncodeKeyFile(*key_, passphrase, kdf));
  std::string name = Blake3(kf).Hex();
  RETURN_IF_ERROR(backend_->Save(FileType::kKey, name, kf));
  return name;
}

Status Repository::RemoveKey(const std::string& name) {
  return backend_->Remove(FileType::kKey, name);
}

}  // namespace casulo::repo

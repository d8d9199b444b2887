#include "repo/index_cache.h"

#include <sqlite3.h>

#include <set>

#include "core/file.h"

namespace casulo::repo {

namespace {

Status SqlError(sqlite3* db, std::string_view what) {
  return Error(Code::kIoError, "index cache: {}: {}", what, sqlite3_errmsg(db));
}

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

constexpr int kSchemaVersion = 2;
constexpr const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA cache_size=-16000;"
    "CREATE TABLE IF NOT EXISTS index_files(name TEXT PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS packs(n INTEGER PRIMARY KEY, id BLOB UNIQUE NOT NULL);"
    "CREATE TABLE IF NOT EXISTS blobs(id BLOB PRIMARY KEY, pack INTEGER NOT NULL,"
    " type INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,"
    " frame_offset INTEGER NOT NULL, raw_length INTEGER NOT NULL) WITHOUT ROWID;";

Result<sqlite3*> OpenDb(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    Status s = Error(Code::kIoError, "index cache {}: {}", path,
                     db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_close(db);
    return s;
  }
  sqlite3_busy_timeout(db, 60000);  // another casulo process may be writing
  char* err = nullptr;
  // A cache of an older layout is dropped, not migrated: it is derived data.
  sqlite3_stmt* v = nullptr;
  int version = -1;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &v, nullptr) == SQLITE_OK &&
      sqlite3_step(v) == SQLITE_ROW)
    version = sqlite3_column_int(v, 0);
  sqlite3_finalize(v);
  if (version != kSchemaVersion) {
    std::string reset = fmt::format(
        "DROP TABLE IF EXISTS blobs; DROP TABLE IF EXISTS packs; DROP TABLE IF EXISTS "
        "index_files; PRAGMA user_version={};",
        kSchemaVersion);
    if (sqlite3_exec(db, reset.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      Status s = Error(Code::kIoError, "index cache {}: {}", path, err ? err : "reset");
      sqlite3_free(err);
      sqlite3_close(db);
      return s;
    }
  }
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
    Status s = Error(Code::kIoError, "index cache {}: {}", path, err ? err : "schema");
    sqlite3_free(err);
    sqlite3_close(db);
    return s;
  }
  return db;
}

}  // namespace

Result<std::unique_ptr<IndexCache>> IndexCache::Open(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) RETURN_IF_ERROR(MakeDirs(path.substr(0, slash), 0700));
  auto db = OpenDb(path);
  if (!db.ok()) {
    // A damaged cache is only a cache: drop it and start again.
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
    db = OpenDb(path);
  }
  if (!db.ok()) return db.status();
  return std::unique_ptr<IndexCache>(new IndexCache(*db));
}

Result<std::unique_ptr<IndexCache>> IndexCache::OpenInMemory() {
  ASSIGN_OR_RETURN(sqlite3 * db, OpenDb(":memory:"));
  return std::unique_ptr<IndexCache>(new IndexCache(db));
}

IndexCache::~IndexCache() {
  sqlite3_finalize(find_);
  sqlite3_close(db_);
}

Status IndexCache::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    Status s = Error(Code::kIoError, "index cache: {}", err ? err : sql);
    sqlite3_free(err);
    return s;
  }
  return OkStatus();
}

Status IndexCache::Clear() {
  return Exec("DELETE FROM blobs; DELETE FROM packs; DELETE FROM index_files;");
}

Status IndexCache::Insert(const std::string& name, const IndexFile& index) {
  Stmt name_stmt(db_, "INSERT OR IGNORE INTO index_files(name) VALUES(?)");
  Stmt pack_stmt(db_, "INSERT OR IGNORE INTO packs(id) VALUES(?)");
  Stmt pack_get(db_, "SELECT n FROM packs WHERE id=?");
  Stmt blob_stmt(db_,
                 "INSERT OR IGNORE INTO blobs(id,pack,type,offset,length,frame_offset,"
                 "raw_length) VALUES(?,?,?,?,?,?,?)");
  if (!name_stmt.ok() || !pack_stmt.ok() || !pack_get.ok() || !blob_stmt.ok())
    return SqlError(db_, "prepare");
  sqlite3_bind_text(name_stmt.get(), 1, name.data(), int(name.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(name_stmt.get()) != SQLITE_DONE) return SqlError(db_, "insert index file");
  for (const auto& p : index.packs) {
    sqlite3_bind_blob(pack_stmt.get(), 1, p.pack.b.data(), 32, SQLITE_STATIC);
    if (sqlite3_step(pack_stmt.get()) != SQLITE_DONE) return SqlError(db_, "insert pack");
    sqlite3_reset(pack_stmt.get());
    sqlite3_bind_blob(pack_get.get(), 1, p.pack.b.data(), 32, SQLITE_STATIC);
    if (sqlite3_step(pack_get.get()) != SQLITE_ROW) return SqlError(db_, "pack number");
    int64_t n = sqlite3_column_int64(pack_get.get(), 0);
    sqlite3_reset(pack_get.get());
    for (const auto& b : p.blobs) {
      sqlite3_stmt* s = blob_stmt.get();
      sqlite3_bind_blob(s, 1, b.id.b.data(), 32, SQLITE_STATIC);
      sqlite3_bind_int64(s, 2, n);
      sqlite3_bind_int(s, 3, int(b.type));
      sqlite3_bind_int64(s, 4, b.offset);
      sqlite3_bind_int64(s, 5, b.length);
      sqlite3_bind_int64(s, 6, b.frame_offset);
      sqlite3_bind_int64(s, 7, b.raw_length);
      if (sqlite3_step(s) != SQLITE_DONE) return SqlError(db_, "insert blob");
      sqlite3_reset(s);
    }
  }
  return OkStatus();
}

Status IndexCache::Add(const std::string& name, const IndexFile& index) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = Insert(name, index);
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  return Exec("COMMIT");
}

Status IndexCache::Sync(const std::vector<std::string>& present, const LoadIndexFn& load) {
  std::lock_guard lock(mu_);
  std::set<std::string> cached;
  {
    Stmt q(db_, "SELECT name FROM index_files");
    if (!q.ok()) return SqlError(db_, "prepare");
    while (sqlite3_step(q.get()) == SQLITE_ROW)
      cached.insert(reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0)));
  }
  std::set<std::string> present_set(present.begin(), present.end());
  bool rebuild = false;
  for (const auto& c : cached)
    if (!present_set.count(c)) rebuild = true;

  // Load what the cache lacks (everything on a rebuild).
  std::vector<std::pair<std::string, IndexFile>> loaded;
  auto load_missing = [&](bool all) -> Status {
    loaded.clear();
    for (const auto& name : present) {
      if (!all && cached.count(name)) continue;
      ASSIGN_OR_RETURN(IndexFile f, load(name).With("index " + name.substr(0, 12)));
      loaded.emplace_back(name, std::move(f));
    }
    return OkStatus();
  };
  RETURN_IF_ERROR(load_missing(rebuild));
  std::set<std::string> superseded;
  for (const auto& [name, f] : loaded)
    for (const auto& id : f.supersedes) superseded.insert(id.Hex());
  if (!rebuild) {
    for (const auto& c : cached)
      if (superseded.count(c)) rebuild = true;
    if (rebuild) {
      RETURN_IF_ERROR(load_missing(true));
      for (const auto& [name, f] : loaded)
        for (const auto& id : f.supersedes) superseded.insert(id.Hex());
    }
  }
  if (loaded.empty() && !rebuild) return OkStatus();
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = rebuild ? Clear() : OkStatus();
  for (const auto& [name, f] : loaded) {
    if (!s.ok()) break;
    if (superseded.count(name)) continue;
    s = Insert(name, f);
  }
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  return Exec("COMMIT");
}

Result<std::optional<BlobLocation>> IndexCache::Find(const Hash256& id) {
  std::lock_guard lock(mu_);
  if (!find_) {
    if (sqlite3_prepare_v2(db_,
                           "SELECT p.id, b.type, b.offset, b.length, b.frame_offset, b.raw_length FROM blobs b "
                           "JOIN packs p ON p.n = b.pack WHERE b.id=?",
                           -1, &find_, nullptr) != SQLITE_OK)
      return SqlError(db_, "prepare");
  }
  sqlite3_stmt* q = find_;
  sqlite3_reset(q);
  sqlite3_bind_blob(q, 1, id.b.data(), 32, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_DONE) return std::optional<BlobLocation>();
  if (rc != SQLITE_ROW) return SqlError(db_, "find blob");
  BlobLocation loc;
  if (sqlite3_column_bytes(q, 0) != 32) return SqlError(db_, "pack id size");
  loc.pack =
      Hash256::FromSpan(ByteSpan(static_cast<const uint8_t*>(sqlite3_column_blob(q, 0)), 32));
  loc.type = ObjectType(sqlite3_column_int(q, 1));
  loc.offset = uint32_t(sqlite3_column_int64(q, 2));
  loc.length = uint32_t(sqlite3_column_int64(q, 3));
  loc.frame_offset = uint32_t(sqlite3_column_int64(q, 4));
  loc.raw_length = uint32_t(sqlite3_column_int64(q, 5));
  sqlite3_reset(q);
  return std::optional<BlobLocation>(loc);
}

Result<uint64_t> IndexCache::BlobCount() {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT count(*) FROM blobs");
  if (!q.ok() || sqlite3_step(q.get()) != SQLITE_ROW) return SqlError(db_, "count");
  return uint64_t(sqlite3_column_int64(q.get(), 0));
}



Result<IndexCache::Totals> IndexCache::GetTotals() {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT count(*), count(DISTINCT pack), coalesce(sum(raw_length),0), "
         "(SELECT coalesce(sum(length),0) FROM (SELECT DISTINCT pack, offset, length FROM "
         "blobs)) FROM blobs");
  if (!q.ok() || sqlite3_step(q.get()) != SQLITE_ROW) return SqlError(db_, "totals");
  Totals t;
  t.blobs = uint64_t(sqlite3_column_int64(q.get(), 0));
  t.packs = uint64_t(sqlite3_column_int64(q.get(), 1));
  t.raw_bytes = uint64_t(sqlite3_column_int64(q.get(), 2));
  t.stored_bytes = uint64_t(sqlite3_column_int64(q.get(), 3));
  return t;
}

}  // namespace casulo::repo

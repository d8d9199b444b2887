// Test fixture for check and prune: a real encrypted repository in a
// temporary directory, and snapshots built directly with BlobWriter and
// TreeBuilder (no engine), so tests control exactly which chunks land in
// which pack.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "core/file.h"
#include "repo/blob_writer.h"
#include "repo/repository.h"
#include "repo/tree.h"

namespace casulo::repo::testing {

inline constexpr char kPassword[] = "check-test-password";

// 4 KiB of pseudo-random (incompressible) bytes, distinct per seed.
inline Bytes RandomChunk(uint32_t seed) {
  Bytes b(4096);
  uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (auto& c : b) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = uint8_t(x);
  }
  return b;
}

class RepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/casulo-check-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/repo";
    auto be = NewLocalBackend(root_);
    InitOptions o;
    o.kdf = KdfParams{8 * 1024, 1};
    o.pack_size = 1 << 20;
    Status s = Repository::Init(*be, o, [] { return Result<std::string>(kPassword); });
    ASSERT_TRUE(s.ok()) << s.ToString();
    Reopen();
  }
  void TearDown() override {
    repo_.reset();
    std::filesystem::remove_all(dir_);
  }

  Result<std::unique_ptr<Repository>> OpenRepo(const std::string& password = kPassword) {
    OpenOptions o;
    o.cache_dir = dir_ + "/cache";
    o.sync_index = false;  // as check does; tests call SyncIndex when they need it
    return Repository::Open(
        NewLocalBackend(root_), [password] { return Result<std::string>(password); }, o);
  }
  void Reopen() {
    repo_.reset();
    auto r = OpenRepo();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
    Status s = repo_->SyncIndex();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static Bytes Chunk(uint32_t seed) { return RandomChunk(seed); }

  // Stores the chunks (an empty Bytes stands for an all-zero chunk), three
  // to a frame, and their tree in one BlobWriter, flushes, and saves a
  // snapshot.
  std::string MakeSnapshot(const std::string& source, const std::vector<Bytes>& chunks,
                           int64_t time = 1700000000) {
    BlobWriter w(*repo_);
    TreeBuilder tree([&w](ByteSpan node) { return w.AddPlain(ObjectType::kTree, node); });
    FrameBuilder frame(ObjectType::kData);
    auto close_frame = [&] {
      if (frame.empty()) return;
      EXPECT_TRUE(w.AddFrame(frame.Seal(repo_->sealer())).ok());
    };
    for (const auto& c : chunks) {
      if (c.empty()) {
        EXPECT_TRUE(tree.Append(Hash256{}).ok());
        continue;
      }
      const Hash256 id = repo_->sealer().ChunkId(c);
      frame.Add(id, c);
      if (frame.size() >= 3 * 4096) close_frame();
      EXPECT_TRUE(tree.Append(id).ok());
    }
    close_frame();
    Result<TreeRoot> root = tree.Finish();
    EXPECT_TRUE(root.ok()) << root.status().ToString();
    Status s = w.Flush();
    EXPECT_TRUE(s.ok()) << s.ToString();
    Snapshot snap;
    snap.source = source;
    snap.hostname = "test";
    snap.time = time;
    snap.size = chunks.size() * 4096;
    snap.chunk_size = 4096;
    snap.tree = *root;
    Result<std::string> id = repo_->SaveSnapshot(snap);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : "";
  }

  // A finished pack of one frame holding `chunks` (not saved, not indexed);
  // its entries go to `*entries` when given.
  Bytes BuildPack(const std::vector<Bytes>& chunks, std::vector<BlobEntry>* entries = nullptr) {
    FrameBuilder frame(ObjectType::kData);
    for (const auto& c : chunks) frame.Add(repo_->sealer().ChunkId(c), c);
    SealedFrame sealed = frame.Seal(repo_->sealer());
    PackBuilder pack;
    pack.AddFrame(sealed, std::vector<bool>(sealed.blobs.size(), true));
    if (entries) *entries = pack.entries();
    return pack.Finish(repo_->sealer());
  }

  // Every file of the repository but locks, relative to its root, sorted.
  std::vector<std::string> Files() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root_)) {
      std::string rel = std::filesystem::relative(e.path(), root_).string();
      if (e.is_regular_file() && rel.rfind("locks/", 0) != 0) out.push_back(rel);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> List(FileType t) const {
    auto names = NewLocalBackend(root_)->List(t);
    EXPECT_TRUE(names.ok()) << names.status().ToString();
    std::vector<std::string> out = names.ok() ? *names : std::vector<std::string>{};
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string PackPath(const std::string& hex) const {
    return root_ + "/data/" + hex.substr(0, 2) + "/" + hex;
  }
  std::string PathOf(FileType t, const std::string& name) const {
    if (t == FileType::kPack) return PackPath(name);
    if (t == FileType::kConfig) return root_ + "/config";
    return root_ + "/" + std::string(FileTypeName(t)) + "/" + name;
  }
  // XORs one byte of a file in place (files are read-only by convention
  // only: 0600, owned by us).
  static void FlipByte(const std::string& path, uint64_t offset) {
    Result<Bytes> b = ReadFile(path);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    ASSERT_LT(offset, b->size());
    (*b)[offset] ^= 0x40;
    Status s = WriteFileAtomic(path, *b, 0600);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  static uint64_t FileSize(const std::string& path) { return std::filesystem::file_size(path); }

  std::string dir_, root_;
  std::unique_ptr<Repository> repo_;
};

}  // namespace casulo::repo::testing

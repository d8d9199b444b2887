// Disks of a multi-disk recovery point from extent streams and random
// access: full and delta streams with partly covered chunks, CBT bitmaps
// that skip unchanged chunks, allocation maps that skip holes. Each result
// is restored through RestoreImage and compared byte for byte.
#include "engine/disk.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

namespace casulo::engine {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kChunk = 64 * 1024;

// A scripted extent stream.
class ListReader final : public formats::ExtentReader {
 public:
  ListReader(uint64_t size, formats::DiskKind kind, std::vector<std::pair<uint64_t, Bytes>> extents)
      : extents_(std::move(extents)) {
    info_.virtual_size = size;
    info_.kind = kind;
  }
  const formats::DiskInfo& info() const override { return info_; }
  Result<std::optional<formats::Extent>> Next() override {
    if (i_ >= extents_.size()) return std::optional<formats::Extent>();
    const auto& [off, data] = extents_[i_++];
    return std::optional<formats::Extent>(formats::Extent{off, data});
  }

 private:
  formats::DiskInfo info_;
  std::vector<std::pair<uint64_t, Bytes>> extents_;
  size_t i_ = 0;
};

class DiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("casulo-disk-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    repo::InitOptions io;
    io.kdf = {8 * 1024, 1};
    auto be = repo::NewLocalBackend(dir_ / "repo");
    ASSERT_TRUE(repo::Repository::Init(*be, io, Pw).ok());
    repo::OpenOptions oo;
    oo.cache_dir = dir_ / "cache";
    auto r = repo::Repository::Open(repo::NewLocalBackend(dir_ / "repo"), Pw, oo);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(*r);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static Result<std::string> Pw() { return std::string("pw"); }

  static Bytes Random(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes b(n);
    for (auto& x : b) x = uint8_t(rng());
    return b;
  }

  // The image of a disk result, through the image restore path.
  Bytes Restore(const DiskBackupResult& d) {
    repo::Snapshot s;
    s.size = d.size;
    s.chunk_size = repo_->config().chunk_size;
    s.tree = d.tree;
    std::string path = dir_ / "out.img";
    fs::remove(path);
    auto f = File::Open(path, O_RDWR | O_CREAT, 0644);
    EXPECT_TRUE(f.ok());
    auto st = RestoreImage(*repo_, s, *f, true, {});
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    auto bytes = ReadFile(path);
    return bytes.ok() ? *bytes : Bytes();
  }

  repo::SnapshotDisk AsParent(const DiskBackupResult& d) {
    return repo::SnapshotDisk{"vdi", "xvda", d.size, repo_->config().chunk_size, d.tree, d.stats, {}};
  }

  fs::path dir_;
  std::unique_ptr<repo::Repository> repo_;
};

TEST_F(DiskTest, FullStreamWithPartialChunksAndHoles) {
  const uint64_t size = 10 * kChunk + 512;
  Bytes a = Random(3 * kChunk + 100, 1), b = Random(4000, 2), c = Random(512, 3);
  ListReader in(size, formats::DiskKind::kFull, {{kChunk / 2, a}, {6 * kChunk + 7, b}, {10 * kChunk, c}});
  auto r = BackupDiskExtents(*repo_, in, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Bytes want(size, 0);
  std::memcpy(want.data() + kChunk / 2, a.data(), a.size());
  std::memcpy(want.data() + 6 * kChunk + 7, b.data(), b.size());
  std::memcpy(want.data() + 10 * kChunk, c.data(), c.size());
  EXPECT_EQ(Restore(*r), want);
  EXPECT_EQ(r->size, size);
  EXPECT_EQ(r->stats.chunks, 11u);
  EXPECT_EQ(r->stats.zero_chunks, 5u) << "chunks 4, 5, 7, 8 and 9 are untouched";
  EXPECT_EQ(r->stats.read_bytes, a.size() + b.size() + c.size());
}

TEST_F(DiskTest, DeltaStreamOverlaysTheParent) {
  const uint64_t size = 8 * kChunk;
  Bytes base = Random(size, 7);
  ListReader full(size, formats::DiskKind::kFull, {{0, base}});
  auto parent = BackupDiskExtents(*repo_, full, {});
  ASSERT_TRUE(parent.ok());
  // A delta that changes 50 bytes inside chunk 1 and the whole of chunk 6.
  Bytes patch = Random(50, 8), whole = Random(kChunk, 9);
  ListReader delta(size, formats::DiskKind::kDelta, {{kChunk + 100, patch}, {6 * kChunk, whole}});
  DiskBackupOptions o;
  o.parent = AsParent(*parent);
  auto r = BackupDiskExtents(*repo_, delta, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Bytes want = base;
  std::memcpy(want.data() + kChunk + 100, patch.data(), patch.size());
  std::memcpy(want.data() + 6 * kChunk, whole.data(), whole.size());
  EXPECT_EQ(Restore(*r), want);
  EXPECT_EQ(r->stats.reused_chunks, 6u);
  EXPECT_EQ(r->stats.new_chunks, 3u) << "two chunks and the new leaf";
}

TEST_F(DiskTest, DeltaWithoutParentIsRefused) {
  ListReader delta(kChunk, formats::DiskKind::kDelta, {});
  auto r = BackupDiskExtents(*repo_, delta, {});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST_F(DiskTest, OutOfOrderExtentsAreCorruption) {
  ListReader in(4 * kChunk, formats::DiskKind::kFull, {{2 * kChunk, Random(10, 1)}, {kChunk, Random(10, 2)}});
  auto r = BackupDiskExtents(*repo_, in, {});
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
}

TEST_F(DiskTest, RandomReadsOnlyChangedBlocks) {
  const uint64_t size = 16 * kChunk;
  Bytes day1 = Random(size, 11);
  MemoryRandomSource src1(day1);
  RandomDisk d1{&src1, {{0, size}}, std::nullopt};
  auto parent = BackupDiskRandom(*repo_, d1, {});
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();

  Bytes day2 = day1;
  Bytes changed = Random(kChunk, 12);
  std::memcpy(day2.data() + 3 * kChunk, changed.data(), kChunk);
  day2[9 * kChunk] ^= 0xff;  // not in the bitmap: CBT says unchanged, the parent's chunk is kept
  MemoryRandomSource src2(day2);
  Bytes bitmap(size / kChunk / 8, 0);
  bitmap[0] = 0x80 >> 3;
  RandomDisk d2{&src2, {{0, size}}, bitmap};
  DiskBackupOptions o;
  o.parent = AsParent(*parent);
  auto r = BackupDiskRandom(*repo_, d2, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stats.read_bytes, kChunk) << "only the changed chunk is read";
  EXPECT_EQ(r->stats.reused_chunks, 15u);
  Bytes want = day1;
  std::memcpy(want.data() + 3 * kChunk, changed.data(), kChunk);
  EXPECT_EQ(Restore(*r), want);
}

TEST_F(DiskTest, RandomSkipsUnallocatedRanges) {
  const uint64_t size = 8 * kChunk;
  Bytes img = Random(size, 21);
  MemoryRandomSource src(img);
  // Only chunks 1 and 5..6 are allocated; the rest must come back as zeros
  // whatever the source holds there (NBD reads holes as zeros).
  RandomDisk d{&src, {{kChunk, kChunk}, {5 * kChunk, 2 * kChunk}}, std::nullopt};
  auto r = BackupDiskRandom(*repo_, d, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stats.read_bytes, 3 * kChunk);
  Bytes want(size, 0);
  std::memcpy(want.data() + kChunk, img.data() + kChunk, kChunk);
  std::memcpy(want.data() + 5 * kChunk, img.data() + 5 * kChunk, 2 * kChunk);
  EXPECT_EQ(Restore(*r), want);
}

TEST_F(DiskTest, BitmapWithoutParentIsRefused) {
  Bytes img(kChunk, 1);
  MemoryRandomSource src(img);
  RandomDisk d{&src, {{0, kChunk}}, Bytes(1, 0xff)};
  EXPECT_EQ(BackupDiskRandom(*repo_, d, {}).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace casulo::engine

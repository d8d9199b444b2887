// DiskWriter: whatever the alignment of a piece, and whether the file
// system takes O_DIRECT (ext4 under /var/tmp) or not, the file ends up with
// exactly the bytes written, a file shared with a snapshot is unshared
// first, and the snapshot keeps its data.
#include "sim/disk_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "sim/disks.h"

namespace casulo::sim {
namespace {

Bytes Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = uint8_t(rng());
  return b;
}

class DiskWriterTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = std::string(GetParam()) + "/casulo-disk-writer-" + std::to_string(getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_P(DiskWriterTest, AlignedAndUnalignedPiecesLandWhereTheyAreAimed) {
  std::string path = dir_ + "/d.img";
  constexpr uint64_t kSize = 8 << 20;
  ASSERT_TRUE(CreateDisk(path, kSize).ok());
  Bytes want(kSize, 0);
  auto w = DiskWriter::Open(path);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  struct Piece {
    uint64_t at;
    size_t len;
  };
  // Aligned (direct), unaligned offset, unaligned length, tiny, and an
  // aligned piece after the unaligned ones (both descriptors in turn).
  for (Piece p : {Piece{0, 1 << 20}, Piece{(1 << 20) + 512, 4096}, Piece{2 << 20, 5000}, Piece{3 << 20, 7},
                  Piece{4 << 20, 2 << 20}, Piece{(1 << 20) + 1024, 100}}) {
    Bytes data = Random(p.len, p.at + p.len);
    ASSERT_TRUE(w->PWrite(p.at, data).ok());
    std::copy(data.begin(), data.end(), want.begin() + long(p.at));
  }
  auto f = File::OpenRead(path);
  ASSERT_TRUE(f.ok());
  Bytes got(kSize);
  ASSERT_TRUE(f->PReadFull(0, got).ok());
  EXPECT_TRUE(got == want);
  ASSERT_TRUE(f->Size().ok());
  EXPECT_EQ(*f->Size(), kSize);
}

TEST_P(DiskWriterTest, ASharedFileIsUnsharedBeforeTheFirstWrite) {
  std::string src = dir_ + "/src.img", snap = dir_ + "/snap.img";
  ASSERT_TRUE(CreateDisk(src, 1 << 20).ok());
  ASSERT_TRUE(ShareDisk(src, snap).ok());
  auto w = DiskWriter::Open(src);
  ASSERT_TRUE(w.ok());
  Bytes data = Random(1 << 20, 1);
  ASSERT_TRUE(w->PWrite(0, data).ok());
  auto s = File::OpenRead(snap);
  ASSERT_TRUE(s.ok());
  Bytes old(1 << 20);
  ASSERT_TRUE(s->PReadFull(0, old).ok());
  EXPECT_TRUE(IsAllZero(old)) << "the snapshot saw the write";
}

// /var/tmp is a disk file system (O_DIRECT); /dev/shm is tmpfs, which
// takes O_DIRECT only on recent kernels: the fallback is exercised there.
INSTANTIATE_TEST_SUITE_P(FileSystems, DiskWriterTest, ::testing::Values("/var/tmp", "/dev/shm"));

}  // namespace
}  // namespace casulo::sim

// Round trips of images through a real repository in a temporary directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/image.h"

namespace casulo::engine {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kChunk = 64 * 1024;

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("casulo-image-{}-{}", getpid(), counter_++);
    fs::create_directories(dir_);
    repo::InitOptions io;
    io.kdf = {8 * 1024, 1};
    auto be = repo::NewLocalBackend(dir_ / "repo");
    ASSERT_TRUE(repo::Repository::Init(*be, io, Pw).ok());
    Reopen();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static Result<std::string> Pw() { return std::string("test password"); }

  void Reopen() {
    repo_.reset();
    repo::OpenOptions oo;
    oo.cache_dir = dir_ / "cache";
    auto r = repo::Repository::Open(repo::NewLocalBackend(dir_ / "repo"), Pw, oo);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(*r);
  }

  std::string Path(const std::string& name) { return dir_ / name; }

  // Writes `data` at `offset` of file `name` (created sparse).
  void WriteAt(const std::string& name, uint64_t offset, ByteSpan data) {
    auto f = File::Open(Path(name), O_WRONLY | O_CREAT, 0644);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->PWrite(offset, data).ok());
  }
  void SetSize(const std::string& name, uint64_t size) {
    auto f = File::Open(Path(name), O_WRONLY | O_CREAT, 0644);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->Truncate(size).ok());
  }
  Bytes Random(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes b(n);
    for (auto& x : b) x = uint8_t(rng());
    return b;
  }

  Result<ImageBackupResult> Backup(const std::string& name, ImageBackupOptions o = {}) {
    ASSIGN_OR_RETURN(ImageInput in, OpenImageInput(Path(name)));
    o.source = name;
    return BackupImage(*repo_, in, o);
  }

  // Restores `snap` to a new file and returns its bytes.
  Bytes Restore(const std::string& id, bool seekable = true) {
    auto snap = repo_->LoadSnapshot(id);
    EXPECT_TRUE(snap.ok()) << snap.status().ToString();
    std::string out = Path("restored-" + id.substr(0, 8) + (seekable ? "" : "-stream"));
    auto f = File::Open(out, O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT_TRUE(f.ok());
    auto r = RestoreImage(*repo_, *snap, *f, seekable, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return *ReadFile(out);
  }

  Bytes Contents(const std::string& name) { return *ReadFile(Path(name)); }

  fs::path dir_;
  std::unique_ptr<repo::Repository> repo_;
  static inline int counter_ = 0;
};

TEST_F(ImageTest, RoundTripSparseNonAligned) {
  const uint64_t size = 10 * kChunk * 7 + 12345;  // not a multiple of the chunk size
  SetSize("a.img", size);
  WriteAt("a.img", 3 * kChunk + 100, Random(200000, 1));
  WriteAt("a.img", size - 5000, Random(5000, 2));
  auto r = Backup("a.img");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->snapshot.size, size);
  EXPECT_GT(r->snapshot.stats.zero_chunks, 50u);
  EXPECT_EQ(Restore(r->snapshot_id), Contents("a.img"));
  EXPECT_EQ(Restore(r->snapshot_id, false), Contents("a.img"));
  // Holes stay holes: far fewer blocks allocated than the apparent size.
  struct stat st;
  ASSERT_EQ(stat(Path("restored-" + r->snapshot_id.substr(0, 8)).c_str(), &st), 0);
  EXPECT_LT(uint64_t(st.st_blocks) * 512, size / 4);
}

TEST_F(ImageTest, EmptyAndAllZero) {
  SetSize("empty.img", 0);
  auto e = Backup("empty.img");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->snapshot.tree.count, 0u);
  EXPECT_TRUE(Restore(e->snapshot_id).empty());

  WriteAt("zero.img", 0, Bytes(5 * kChunk + 7, 0));  // zeros written, not holes
  auto z = Backup("zero.img");
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->snapshot.stats.zero_chunks, 6u);
  EXPECT_EQ(z->snapshot.stats.new_chunks, 1u);  // only the tree node: zeros cost nothing
  EXPECT_EQ(Restore(z->snapshot_id), Contents("zero.img"));
}

TEST_F(ImageTest, RandomDataAcrossManyTreeLeaves) {
  // 1500 chunks: two leaves and a level-1 root. Small chunks keep it fast.
  const uint64_t size = 1500 * kChunk;
  SetSize("big.img", size);
  for (int i = 0; i < 1500; i += 7) WriteAt("big.img", i * kChunk, Random(kChunk, i));
  auto r = Backup("big.img");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->snapshot.tree.height, 2u);
  EXPECT_EQ(Restore(r->snapshot_id), Contents("big.img"));
}

TEST_F(ImageTest, IncrementalWithAndWithoutBitmap) {
  const uint64_t blocks = 300;
  SetSize("d1.img", blocks * kChunk);
  for (uint64_t i = 0; i < blocks; i += 2) WriteAt("d1.img", i * kChunk, Random(kChunk, 100 + i));
  auto full = Backup("d1.img");
  ASSERT_TRUE(full.ok());
  fs::copy_file(Path("d1.img"), Path("d2.img"));
  Bytes bitmap((blocks + 7) / 8, 0);
  for (uint64_t i : {3, 10, 11, 150, 299}) {
    WriteAt("d2.img", i * kChunk, Random(kChunk, 9000 + i));
    bitmap[i / 8] |= uint8_t(0x80 >> (i % 8));
  }
  ImageBackupOptions o;
  o.parent = full->snapshot_id;
  o.changed_blocks = bitmap;
  auto inc = Backup("d2.img", o);
  ASSERT_TRUE(inc.ok()) << inc.status().ToString();
  EXPECT_EQ(inc->snapshot.stats.read_bytes, 5 * kChunk);  // only the changed blocks
  EXPECT_EQ(inc->snapshot.stats.reused_chunks, blocks - 5);
  EXPECT_EQ(Restore(inc->snapshot_id), Contents("d2.img"));
  EXPECT_EQ(Restore(full->snapshot_id), Contents("d1.img"));

  // Without the bitmap: every block is read, only the 5 changed ones are new.
  ImageBackupOptions o2;
  o2.parent = full->snapshot_id;
  auto inc2 = Backup("d2.img", o2);
  ASSERT_TRUE(inc2.ok());
  EXPECT_EQ(inc2->snapshot.stats.new_bytes, 0u) << "all data was stored by the first incremental";
  EXPECT_EQ(inc2->snapshot.tree.root, inc->snapshot.tree.root);
}

TEST_F(ImageTest, BitmapMarkingUnchangedBlocksIsHarmless) {
  SetSize("d1.img", 64 * kChunk);
  WriteAt("d1.img", 0, Random(64 * kChunk, 5));
  auto full = Backup("d1.img");
  ASSERT_TRUE(full.ok());
  ImageBackupOptions o;
  o.parent = full->snapshot_id;
  o.changed_blocks = Bytes(8, 0xff);  // everything "changed", nothing did
  auto inc = Backup("d1.img", o);
  ASSERT_TRUE(inc.ok());
  EXPECT_EQ(inc->snapshot.stats.new_chunks, 0u);
  EXPECT_EQ(inc->snapshot.tree.root, full->snapshot.tree.root);
}

TEST_F(ImageTest, ResizedDiskWithBitmapReadsTheNewTail) {
  SetSize("d1.img", 10 * kChunk + 100);
  WriteAt("d1.img", 0, Random(10 * kChunk + 100, 6));
  auto full = Backup("d1.img");
  ASSERT_TRUE(full.ok());
  fs::copy_file(Path("d1.img"), Path("d2.img"));
  WriteAt("d2.img", 10 * kChunk + 100, Random(3 * kChunk, 7));  // grown, bitmap silent
  ImageBackupOptions o;
  o.parent = full->snapshot_id;
  o.changed_blocks = Bytes(2, 0);
  auto inc = Backup("d2.img", o);
  ASSERT_TRUE(inc.ok()) << inc.status().ToString();
  EXPECT_EQ(Restore(inc->snapshot_id), Contents("d2.img"));
}

TEST_F(ImageTest, DedupAcrossImagesAndReopen) {
  SetSize("a.img", 40 * kChunk);
  Bytes shared = Random(30 * kChunk, 11);
  WriteAt("a.img", 0, shared);
  ASSERT_TRUE(Backup("a.img").ok());
  Reopen();  // the second backup finds the first's chunks through the index cache
  SetSize("b.img", 40 * kChunk);
  WriteAt("b.img", 0, shared);
  WriteAt("b.img", 35 * kChunk, Random(kChunk, 12));
  auto b = Backup("b.img");
  ASSERT_TRUE(b.ok());
  // One new data chunk plus one tree node (40 ids, 1288 bytes).
  EXPECT_EQ(b->snapshot.stats.new_chunks, 2u);
  EXPECT_EQ(b->snapshot.stats.new_bytes, kChunk + 8 + 40 * 32);
}

TEST_F(ImageTest, ChangedBlockBitmapParsing) {
  const uint64_t size = 20 * kChunk;  // 3 bytes of bitmap
  Bytes raw = {0x80, 0x00, 0x10};
  auto r = ParseChangedBlocks(raw, "auto", size);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, raw);
  std::string b64 = "gAAQ";  // base64 of 80 00 10, as list_changed_blocks returns it
  auto d = ParseChangedBlocks(AsBytes(b64), "auto", size);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, raw);
  EXPECT_EQ(ParseChangedBlocks(Bytes{0x80}, "raw", size).status().code(), Code::kInvalidArgument);
  // A bit beyond the last block is an error, not silently ignored.
  EXPECT_EQ(ParseChangedBlocks(Bytes{0, 0, 0x08}, "raw", size).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ParseChangedBlocks(AsBytes("!!!!"), "base64", size).status().code(),
            Code::kInvalidArgument);
}

TEST_F(ImageTest, BitmapWithoutParentIsRefused) {
  SetSize("a.img", kChunk);
  ImageBackupOptions o;
  o.changed_blocks = Bytes{0x80};
  auto r = Backup("a.img", o);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace casulo::engine

#include "repo/prune.h"

#include <gmock/gmock.h>

#include "check_test_util.h"
#include "core/blake3.h"
#include "repo/check.h"
#include "repo/index_file.h"

namespace casulo::repo {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

class PruneTest : public testing::RepoTest {
 protected:
  std::vector<CheckFinding> Check() {
    CheckOptions o;
    o.read_data = true;
    auto r = CheckRepository(*repo_, o, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<CheckFinding>{};
  }
  PrunePlan Plan(double repack_below = 0.8) {
    auto p = PlanPrune(*repo_, repack_below);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : PrunePlan{};
  }
  void Prune(double repack_below = 0.8) {
    PrunePlan plan = Plan(repack_below);
    Status s = ExecutePrune(*repo_, plan);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  void Forget(const std::string& snap) {
    ASSERT_TRUE(repo_->backend().Remove(FileType::kSnapshot, snap).ok());
  }
  // Every chunk reachable from the snapshot loads and matches `chunks`.
  void ExpectRestorable(const std::string& snap, const std::vector<Bytes>& chunks) {
    Result<Snapshot> s = repo_->LoadSnapshot(snap);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    TreeReader reader(s->tree, [this](const Hash256& id) { return repo_->LoadBlob(id); });
    ASSERT_EQ(reader.count(), chunks.size());
    for (uint64_t i = 0; i < chunks.size(); ++i) {
      Result<Hash256> id = reader.At(i);
      ASSERT_TRUE(id.ok()) << id.status().ToString();
      if (chunks[i].empty()) {
        EXPECT_TRUE(id->IsZero());
        continue;
      }
      Result<Bytes> data = repo_->LoadBlob(*id);
      ASSERT_TRUE(data.ok()) << "chunk " << i << ": " << data.status().ToString();
      EXPECT_EQ(*data, chunks[i]) << "chunk " << i;
    }
  }
  // An unindexed pack, as a backup that died before writing its index leaves.
  std::string SaveLeftoverPack(uint32_t seed) {
    const Bytes pack = BuildPack({Chunk(seed)});
    const std::string name = Blake3(pack).Hex();
    EXPECT_TRUE(repo_->backend().Save(FileType::kPack, name, pack).ok());
    return name;
  }
};

std::vector<Bytes> Chunks(uint32_t first, uint32_t n) {
  std::vector<Bytes> out;
  for (uint32_t i = 0; i < n; ++i) out.push_back(testing::RandomChunk(first + i));
  return out;
}

TEST_F(PruneTest, ForgetOneOfTwoFreesItsData) {
  // A and B share two chunks; B's pack holds only what A lacked.
  std::vector<Bytes> a = Chunks(0, 6), b = Chunks(100, 4);
  b.push_back(a[0]);
  b.push_back(a[1]);
  b.push_back(Bytes());
  const std::string snap_a = MakeSnapshot("disk", a, 1000);
  const std::string snap_b = MakeSnapshot("disk", b, 2000);
  ASSERT_THAT(List(FileType::kPack), SizeIs(2));
  const uint64_t before = Files().size();
  Forget(snap_a);
  const Hash256 gone = repo_->sealer().ChunkId(a[5]);

  PrunePlan plan = Plan();
  EXPECT_EQ(plan.stats.snapshots, 1u);
  EXPECT_THAT(plan.delete_packs, IsEmpty());
  ASSERT_THAT(plan.repack, SizeIs(1));  // A's pack: 2 live chunks of 7 blobs
  EXPECT_THAT(plan.repack[0].live, SizeIs(2));
  EXPECT_THAT(plan.keep, SizeIs(1));  // B's pack is all live
  EXPECT_TRUE(plan.rewrite_index);
  EXPECT_EQ(plan.stats.dead_blobs, 5u);  // 4 chunks and A's tree node
  EXPECT_GT(plan.bytes_freed(), 4u * 4096);
  Status s = ExecutePrune(*repo_, plan);
  ASSERT_TRUE(s.ok()) << s.ToString();

  EXPECT_THAT(List(FileType::kIndex), SizeIs(1));
  EXPECT_THAT(List(FileType::kPack), SizeIs(2));  // B's, and the repacked one
  EXPECT_LT(Files().size(), before);
  EXPECT_THAT(Check(), IsEmpty());
  ExpectRestorable(snap_b, b);
  Result<Bytes> r = repo_->LoadBlob(gone);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  // A fresh process (cache rebuilt from the new index) sees the same.
  Reopen();
  ExpectRestorable(snap_b, b);
  EXPECT_TRUE(Plan().empty()) << "a second prune has nothing to do";
}

TEST_F(PruneTest, PackWithoutLiveBlobsIsDeleted) {
  const std::string snap_a = MakeSnapshot("a", Chunks(0, 3));
  const std::vector<Bytes> b = Chunks(10, 3);
  const std::string snap_b = MakeSnapshot("b", b);
  Forget(snap_a);
  PrunePlan plan = Plan();
  EXPECT_THAT(plan.delete_packs, SizeIs(1));
  EXPECT_THAT(plan.repack, IsEmpty());
  ASSERT_TRUE(ExecutePrune(*repo_, plan).ok());
  EXPECT_THAT(List(FileType::kPack), SizeIs(1));
  EXPECT_THAT(Check(), IsEmpty());
  ExpectRestorable(snap_b, b);
}

TEST_F(PruneTest, ForgettingEverythingEmptiesTheRepository) {
  Forget(MakeSnapshot("a", Chunks(0, 3)));
  Prune();
  EXPECT_THAT(List(FileType::kPack), IsEmpty());
  EXPECT_THAT(List(FileType::kIndex), IsEmpty());
  EXPECT_THAT(Check(), IsEmpty());
}

TEST_F(PruneTest, RemovesUnindexedLeftoverPack) {
  const std::vector<Bytes> a = Chunks(0, 3);
  const std::string snap = MakeSnapshot("a", a);
  const std::string leftover = SaveLeftoverPack(77);
  const auto indexes = List(FileType::kIndex);
  PrunePlan plan = Plan();
  ASSERT_THAT(plan.unreferenced_packs, SizeIs(1));
  EXPECT_EQ(plan.unreferenced_packs[0].Hex(), leftover);
  EXPECT_FALSE(plan.rewrite_index) << "nothing indexed changes";
  ASSERT_TRUE(ExecutePrune(*repo_, plan).ok());
  EXPECT_THAT(List(FileType::kPack), Not(Contains(leftover)));
  EXPECT_EQ(List(FileType::kIndex), indexes);
  EXPECT_THAT(Check(), IsEmpty());
  ExpectRestorable(snap, a);
}

TEST_F(PruneTest, DryRunChangesNothing) {
  const std::string snap_a = MakeSnapshot("a", Chunks(0, 4));
  MakeSnapshot("b", Chunks(10, 4));
  SaveLeftoverPack(5);
  Forget(snap_a);
  const auto before = Files();
  PrunePlan plan = Plan();
  EXPECT_FALSE(plan.empty());
  EXPECT_EQ(Files(), before);
}

TEST_F(PruneTest, MergesIndexFilesAndKeepsOneCopyOfDuplicates) {
  const std::vector<Bytes> a = Chunks(0, 4);
  const std::string snap = MakeSnapshot("a", a);
  MakeSnapshot("b", Chunks(10, 4));
  // A second, indexed copy of chunk 0 in a pack of its own.
  IndexFile idx;
  idx.packs.emplace_back();
  const Bytes pack = BuildPack({a[0]}, &idx.packs[0].blobs);
  idx.packs[0].pack = Blake3(pack);
  ASSERT_TRUE(repo_->backend().Save(FileType::kPack, idx.packs[0].pack.Hex(), pack).ok());
  ASSERT_TRUE(repo_->SaveFile(FileType::kIndex, ObjectType::kIndex, EncodeIndex(idx)).ok());
  ASSERT_THAT(List(FileType::kIndex), SizeIs(3));

  PrunePlan plan = Plan();
  EXPECT_EQ(plan.stats.duplicate_blobs, 1u);
  ASSERT_THAT(plan.delete_packs, ElementsAre(idx.packs[0].pack))
      << "the copy in the fuller pack stays";
  ASSERT_TRUE(ExecutePrune(*repo_, plan).ok());
  EXPECT_THAT(List(FileType::kIndex), SizeIs(1));
  EXPECT_THAT(Check(), IsEmpty());
  ExpectRestorable(snap, a);
}

TEST_F(PruneTest, InterruptedPruneIsFinishedByTheNext) {
  // The state after a crash between writing the new index and removing the
  // old ones: both present, the new one superseding the old.
  const std::vector<Bytes> a = Chunks(0, 3);
  const std::string snap = MakeSnapshot("a", a);
  const auto old = List(FileType::kIndex);
  ASSERT_THAT(old, SizeIs(1));
  Result<IndexFile> idx = repo_->LoadIndex(old[0]);
  ASSERT_TRUE(idx.ok());
  idx->supersedes.push_back(*Hash256::FromHexString(old[0]));
  ASSERT_TRUE(repo_->SaveFile(FileType::kIndex, ObjectType::kIndex, EncodeIndex(*idx)).ok());
  auto findings = Check();
  EXPECT_THAT(findings, Contains(Field(&CheckFinding::object, "index " + old[0])));
  EXPECT_THAT(findings, Not(Contains(Field(&CheckFinding::severity, CheckFinding::kError))));
  Prune();
  EXPECT_THAT(List(FileType::kIndex), SizeIs(1));
  EXPECT_THAT(List(FileType::kIndex), Not(Contains(old[0])));
  EXPECT_THAT(Check(), IsEmpty());
  ExpectRestorable(snap, a);
}

TEST_F(PruneTest, RefusesDamagedRepository) {
  const std::string snap = MakeSnapshot("a", Chunks(0, 3));
  const std::string index = List(FileType::kIndex)[0];
  FlipByte(PathOf(FileType::kIndex, index), 20);
  auto plan = PlanPrune(*repo_);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), Code::kCorruption);
  EXPECT_THAT(plan.status().ToString(), ::testing::HasSubstr("casulo check"));
}

TEST_F(PruneTest, ThresholdBounds) {
  MakeSnapshot("a", Chunks(0, 7));
  const std::string b = MakeSnapshot("b", Chunks(20, 7));
  EXPECT_THAT(Plan(1.0).repack, IsEmpty()) << "fully live packs are never repacked";
  Forget(b);
  MakeSnapshot("c", Chunks(20, 2));  // keeps 2 of b's 7 chunks alive
  PrunePlan never = Plan(0.0);
  EXPECT_THAT(never.repack, IsEmpty());
  EXPECT_THAT(Plan(0.8).repack, SizeIs(1));
}

TEST_F(PruneTest, RejectsBadThreshold) {
  EXPECT_EQ(PlanPrune(*repo_, 1.5).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(PlanPrune(*repo_, -0.1).status().code(), Code::kInvalidArgument);
}

TEST_F(PruneTest, LargeTreeSurvivesRepack) {
  // 2100 chunks: a tree of height 2 (three leaves under one root); half of
  // them shared with a snapshot that is then forgotten.
  std::vector<Bytes> a, b;
  for (uint32_t i = 0; i < 2100; ++i) a.push_back(i % 7 == 0 ? Bytes() : Chunk(1000 + i % 300));
  for (uint32_t i = 0; i < 2100; ++i) b.push_back(i < 1050 ? a[i] : Chunk(5000 + i));
  const std::string snap_a = MakeSnapshot("a", a);
  const std::string snap_b = MakeSnapshot("b", b);
  Forget(snap_b);
  Prune();
  EXPECT_THAT(Check(), IsEmpty());
  ExpectRestorable(snap_a, a);
}

}  // namespace
}  // namespace casulo::repo

namespace casulo::repo {
namespace {

// A version-2 snapshot keeps the data of every disk tree alive, and check
// walks them all.
TEST_F(PruneTest, DiskTreesOfVersion2SnapshotsStayAlive) {
  std::vector<Bytes> disk = Chunks(300, 5), meta = Chunks(400, 1);
  const std::string snap_disk = MakeSnapshot("disk", disk, 1000);
  const std::string snap_meta = MakeSnapshot("meta", meta, 1001);
  Result<Snapshot> d = repo_->LoadSnapshot(snap_disk);
  Result<Snapshot> m = repo_->LoadSnapshot(snap_meta);
  ASSERT_TRUE(d.ok() && m.ok());
  Snapshot vm = *m;
  vm.kind = "vm";
  vm.source = "vm-uuid";
  vm.time = 2000;
  vm.disks.push_back({"vdi-uuid", "xvda", d->size, d->chunk_size, d->tree, {}, {{"userdevice", "0"}}});
  Result<std::string> vm_id = repo_->SaveSnapshot(vm);
  ASSERT_TRUE(vm_id.ok()) << vm_id.status().ToString();
  Forget(snap_disk);
  Forget(snap_meta);
  Prune();
  EXPECT_THAT(Check(), IsEmpty());
  Result<Snapshot> back = repo_->LoadSnapshot(*vm_id);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->version, 2u);
  ASSERT_EQ(back->disks.size(), 1u);
  TreeReader reader(back->disks[0].tree, [this](const Hash256& id) { return repo_->LoadBlob(id); });
  ASSERT_EQ(reader.count(), disk.size());
  for (uint64_t i = 0; i < disk.size(); ++i) {
    Result<Hash256> id = reader.At(i);
    ASSERT_TRUE(id.ok());
    Result<Bytes> data = repo_->LoadBlob(*id);
    ASSERT_TRUE(data.ok()) << "disk chunk " << i << ": " << data.status().ToString();
    EXPECT_EQ(*data, disk[i]);
  }
  ExpectRestorable(*vm_id, meta);
}

}  // namespace
}  // namespace casulo::repo

#include "repo/check.h"

#include <gmock/gmock.h>

#include "check_test_util.h"
#include "core/blake3.h"
#include "repo/index_file.h"

namespace casulo::repo {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

auto IsError(const std::string& object, const std::string& text = "") {
  return AllOf(Field(&CheckFinding::severity, CheckFinding::kError),
               Field(&CheckFinding::object, object),
               Field(&CheckFinding::message, HasSubstr(text)));
}
auto IsInfo(const std::string& object, const std::string& text = "") {
  return AllOf(Field(&CheckFinding::severity, CheckFinding::kInfo),
               Field(&CheckFinding::object, object),
               Field(&CheckFinding::message, HasSubstr(text)));
}
auto AnyError() { return Field(&CheckFinding::severity, CheckFinding::kError); }

class CheckTest : public testing::RepoTest {
 protected:
  void SetUp() override {
    RepoTest::SetUp();
    std::vector<Bytes> chunks;
    for (uint32_t i = 0; i < 6; ++i) chunks.push_back(Chunk(i));
    chunks.push_back(Bytes());  // a zero chunk
    snap_ = MakeSnapshot("disk-a", chunks);
    ASSERT_EQ(List(FileType::kIndex).size(), 1u);
    index_ = List(FileType::kIndex)[0];
    Result<IndexFile> idx = repo_->LoadIndex(index_);
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    ASSERT_EQ(idx->packs.size(), 1u);
    pack_ = idx->packs[0];
    pack_path_ = PackPath(pack_.pack.Hex());
  }

  std::vector<CheckFinding> Check(bool read_data = false, std::string subset = "") {
    CheckOptions o;
    o.read_data = read_data;
    o.read_data_subset = std::move(subset);
    size_t streamed = 0;
    auto r = CheckRepository(*repo_, o, [&](const CheckFinding&) { ++streamed; });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    EXPECT_EQ(streamed, r->size());
    return *r;
  }

  const BlobEntry& FirstOfType(ObjectType t) {
    for (const auto& e : pack_.blobs)
      if (e.type == t) return e;
    ADD_FAILURE() << "no blob of that type";
    return pack_.blobs[0];
  }
  std::string PackObject() const { return "pack " + pack_.pack.Hex(); }

  std::string snap_, index_;
  PackIndex pack_;
  std::string pack_path_;
};

TEST_F(CheckTest, CleanRepositoryHasNoFindings) {
  EXPECT_THAT(Check(), IsEmpty());
  EXPECT_THAT(Check(/*read_data=*/true), IsEmpty());
}

TEST_F(CheckTest, DamagedBlobBytesFoundByReadDataOnly) {
  const BlobEntry& e = FirstOfType(ObjectType::kData);
  FlipByte(pack_path_, e.offset + e.length / 2);
  EXPECT_THAT(Check(), IsEmpty()) << "the fast check reads no blob data";
  auto findings = Check(/*read_data=*/true);
  EXPECT_THAT(findings, Contains(IsError(PackObject(), "does not match its name")));
  EXPECT_THAT(findings, Contains(IsError(PackObject(), e.id.Hex())));  // first of its frame
}

TEST_F(CheckTest, DamagedPackHeader) {
  const uint64_t size = FileSize(pack_path_);
  FlipByte(pack_path_, size - kPackTrailerSize - 5);  // inside the sealed header
  EXPECT_THAT(Check(), Contains(IsError(PackObject(), "header")));
}

TEST_F(CheckTest, DamagedPackTrailer) {
  FlipByte(pack_path_, FileSize(pack_path_) - 2);  // the magic
  EXPECT_THAT(Check(), Contains(IsError(PackObject(), "trailer")));
}

TEST_F(CheckTest, DamagedPackTrailerLength) {
  FlipByte(pack_path_, FileSize(pack_path_) - kPackTrailerSize);  // header length, low byte
  EXPECT_THAT(Check(), Contains(IsError(PackObject())));
}

TEST_F(CheckTest, DamagedIndexFile) {
  FlipByte(PathOf(FileType::kIndex, index_), 20);
  auto findings = Check();
  EXPECT_THAT(findings, Contains(IsError("index " + index_, "does not match its name")));
  // Its pack is then named by no index, and the snapshot's data is unindexed.
  EXPECT_THAT(findings, Contains(IsInfo(PackObject(), "unreferenced")));
  EXPECT_THAT(findings, Contains(Field(&CheckFinding::object, HasSubstr("tree node "))));
}

TEST_F(CheckTest, DamagedSnapshotFile) {
  FlipByte(PathOf(FileType::kSnapshot, snap_), 30);
  EXPECT_THAT(Check(), Contains(IsError("snapshot " + snap_, "does not match its name")));
}

TEST_F(CheckTest, DamagedTreeNodeFoundWithoutReadData) {
  const BlobEntry& e = FirstOfType(ObjectType::kTree);
  FlipByte(pack_path_, e.offset + e.length / 2);
  auto findings = Check();
  EXPECT_THAT(findings,
              Contains(IsError("tree node " + e.id.Hex(), "snapshot " + snap_.substr(0, 12))));
}

TEST_F(CheckTest, MissingPack) {
  ASSERT_TRUE(RemoveFile(pack_path_).ok());
  auto findings = Check();
  EXPECT_THAT(findings, Contains(IsError(PackObject(), "missing")));
  EXPECT_THAT(findings, Contains(IsError("tree node " + FirstOfType(ObjectType::kTree).id.Hex())));
}

TEST_F(CheckTest, UnreferencedPackIsInfoOnly) {
  const Bytes pack = BuildPack({Chunk(99)});
  const std::string name = Blake3(pack).Hex();
  ASSERT_TRUE(repo_->backend().Save(FileType::kPack, name, pack).ok());
  auto findings = Check(true);
  EXPECT_THAT(findings, Contains(IsInfo("pack " + name, "unreferenced")));
  EXPECT_THAT(findings, Not(Contains(AnyError())));
}

TEST_F(CheckTest, KeepsGoingAfterProblems) {
  // A second snapshot in its own pack; then break both packs differently.
  std::string other = MakeSnapshot("disk-b", {Chunk(50), Chunk(51)});
  std::string other_pack;
  for (const auto& p : List(FileType::kPack))
    if (p != pack_.pack.Hex()) other_pack = p;
  ASSERT_FALSE(other_pack.empty());
  FlipByte(pack_path_, FileSize(pack_path_) - 2);
  ASSERT_TRUE(RemoveFile(PackPath(other_pack)).ok());
  FlipByte(PathOf(FileType::kSnapshot, snap_), 10);
  auto findings = Check(true);
  EXPECT_THAT(findings, Contains(IsError(PackObject(), "trailer")));
  EXPECT_THAT(findings, Contains(IsError("pack " + other_pack, "missing")));
  EXPECT_THAT(findings, Contains(IsError("snapshot " + snap_)));
  EXPECT_THAT(findings, Contains(Field(&CheckFinding::message, HasSubstr(other.substr(0, 12)))));
}

TEST_F(CheckTest, DamagedSecondKeyFileReported) {
  Result<std::string> second = repo_->AddKey("another password", KdfParams{8 * 1024, 1});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  const std::string first = repo_->key_name();
  FlipByte(PathOf(FileType::kKey, first), 100);  // inside the wrapped key
  auto reopened = OpenRepo("another password");
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  repo_ = std::move(reopened).value();
  EXPECT_THAT(Check(), Contains(IsError("key " + first, "does not match its name")));
}

TEST_F(CheckTest, DamagedOnlyKeyFileFailsOpen) {
  const std::string key = repo_->key_name();
  // Key files are named by their BLAKE3, so damage anywhere, even inside the
  // wrapped key where it would look like a wrong password, is named as such.
  FlipByte(PathOf(FileType::kKey, key), 100);
  auto r = OpenRepo();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_THAT(r.status().ToString(), HasSubstr("key " + key));
  FlipByte(PathOf(FileType::kKey, key), 0);  // the magic too
  r = OpenRepo();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_THAT(r.status().ToString(), HasSubstr("key " + key));
}

TEST_F(CheckTest, DamagedConfigFailsOpen) {
  FlipByte(PathOf(FileType::kConfig, "config"), 40);
  auto r = OpenRepo();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_THAT(r.status().ToString(), HasSubstr("config"));
}

TEST_F(CheckTest, DuplicatedBlobIsInfo) {
  // A second pack holding a copy of a chunk the first already has.
  IndexFile idx;
  idx.packs.emplace_back();
  const Bytes pack = BuildPack({Chunk(2), Chunk(1000)}, &idx.packs[0].blobs);
  idx.packs[0].pack = Blake3(pack);
  ASSERT_TRUE(repo_->backend().Save(FileType::kPack, idx.packs[0].pack.Hex(), pack).ok());
  ASSERT_TRUE(repo_->SaveFile(FileType::kIndex, ObjectType::kIndex, EncodeIndex(idx)).ok());
  auto findings = Check(true);
  EXPECT_THAT(findings, Contains(IsInfo("pack " + idx.packs[0].pack.Hex(), "1 of its blobs")));
  EXPECT_THAT(findings, Contains(IsInfo(PackObject(), "also stored")));
  EXPECT_THAT(findings, Not(Contains(AnyError())));
}

TEST(CheckSubsetTest, ParsesAndPartitions) {
  for (const char* bad :
       {"0/2", "3/2", "1/0", "1/257", "x/2", "1/", "abc", "0%", "101%", "%", "-5%", "1/2/3"}) {
    auto r = ParseReadDataSubset(bad);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
  }
  auto a = ParseReadDataSubset("1/3"), b = ParseReadDataSubset("2/3"),
       c = ParseReadDataSubset("3/3");
  auto half = ParseReadDataSubset("50%"), all = ParseReadDataSubset("100%");
  auto none = ParseReadDataSubset("");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && half.ok() && all.ok() && none.ok());
  int in_half = 0;
  for (int i = 0; i < 256; ++i) {
    Hash256 h;
    h.b[0] = uint8_t(i);
    h.b[3] = uint8_t(i);  // LoadU32 is little-endian: byte 3 is the most significant
    EXPECT_EQ(int((*a)(h)) + int((*b)(h)) + int((*c)(h)), 1) << i;
    EXPECT_TRUE((*all)(h));
    EXPECT_TRUE((*none)(h));
    in_half += (*half)(h);
  }
  EXPECT_EQ(in_half, 128);
}

TEST_F(CheckTest, ReadDataSubsetReadsOnlyItsPacks) {
  const BlobEntry& e = FirstOfType(ObjectType::kData);
  FlipByte(pack_path_, e.offset + 1);
  const unsigned first = pack_.pack.b[0];
  const std::string mine = fmt::format("{}/256", first + 1);
  const std::string other = fmt::format("{}/256", (first + 1) % 256 + 1);
  EXPECT_THAT(Check(false, mine), Contains(IsError(PackObject(), "frame")));
  EXPECT_THAT(Check(false, other), IsEmpty());
  CheckOptions o;
  o.read_data_subset = "7/3";
  EXPECT_EQ(CheckRepository(*repo_, o, nullptr).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace casulo::repo

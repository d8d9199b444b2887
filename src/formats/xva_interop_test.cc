// XVA streams against xva-img 1.4.2, the independent implementation on
// Debian: it reads what we write (SHA-1 mode; it predates .xxhash) and we
// read what it writes. xva-img works on an extracted directory.
#include <gtest/gtest.h>

#include "formats/xva_reader.h"
#include "formats/xva_writer.h"
#include "xva_test_util.h"

namespace casulo::formats {
namespace {

using xva_testing::RandomBytes;
using xva_testing::Shell;
using xva_testing::TempDir;

constexpr uint64_t kMiB = 1 << 20;

// A disk with data in some chunks, all-zero others and a partial tail.
Bytes SampleDisk(uint64_t size, uint32_t seed) {
  Bytes d(size, 0);
  const Bytes r = RandomBytes(size, seed);
  for (uint64_t c = 0; c * kMiB < size; ++c) {
    if (c % 3 == 1) continue;  // leave every third chunk zero
    const uint64_t from = c * kMiB + (c % 2) * 4096, to = std::min(size, c * kMiB + kMiB - 512);
    if (from < to) std::memcpy(d.data() + from, r.data() + from, to - from);
  }
  return d;
}

TEST(XvaInteropTest, XvaImgExportsWhatWeWrite) {
  REQUIRE_TOOL("xva-img");
  REQUIRE_TOOL("tar");
  REQUIRE_TOOL("cmp");
  TempDir dir;
  const uint64_t size = 10 * kMiB + 4096;  // a short last chunk
  const Bytes disk = SampleDisk(size, 1);
  xva_testing::WriteAll(dir / "disk.raw", disk);

  Bytes xva;
  BytesSink sink(&xva);
  XvaWriter w(sink, {.checksum = ChunkChecksum::kSha1, .ova_xml_mtime = 1700000000});
  ASSERT_TRUE(w.WriteOvaXml(xva_testing::Ova({{"Ref:3", size}})).ok());
  auto d = w.BeginDisk("Ref:3", size);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE((*d)->Write(Extent{0, disk}).ok());
  ASSERT_TRUE((*d)->Finish().ok());
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_GT(w.stats().zero_chunks_skipped, 0u);
  xva_testing::WriteAll(dir / "ours.xva", xva);

  ASSERT_EQ(Shell("mkdir " + dir / "x" + " && tar xf " + dir / "ours.xva" + " -C " + dir / "x" +
                  " && chmod -R u+rwX " + dir / "x"),
            0);
  ASSERT_EQ(
      Shell("xva-img disk-export " + dir / "x/Ref:3/" + " " + dir / "out.raw" + " > /dev/null"), 0);
  EXPECT_EQ(Shell("cmp " + dir / "out.raw" + " " + dir / "disk.raw"), 0);
}

TEST(XvaInteropTest, WeReadWhatXvaImgPackages) {
  REQUIRE_TOOL("xva-img");
  TempDir dir;
  const uint64_t size = 8 * kMiB;  // whole MiB: xva-img drops a partial tail
  const Bytes disk = SampleDisk(size, 2);
  xva_testing::WriteAll(dir / "disk.raw", disk);
  const std::string ova = xva_testing::Ova({{"Ref:3", size}});
  ASSERT_EQ(Shell("mkdir -p " + dir / "vm/Ref:3"), 0);
  xva_testing::WriteAll(dir / "vm/ova.xml", AsBytes(ova));
  ASSERT_EQ(
      Shell("xva-img disk-import " + dir / "vm/Ref:3/" + " " + dir / "disk.raw" + " > /dev/null"),
      0);
  ASSERT_EQ(Shell("cd " + dir.path() + " && xva-img package out.xva vm/ova.xml vm/Ref:3/" +
                  " > /dev/null"),
            0);
  const Bytes xva = xva_testing::ReadAll(dir / "out.xva");
  auto r = xva_testing::ReadXva(xva, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ova_xml, ova);
  EXPECT_EQ(r->order, (std::vector<std::string>{"Ref:3"}));
  EXPECT_TRUE(r->disks["Ref:3"] == disk);
  const XvaDiskStats& s = r->stats["Ref:3"];
  EXPECT_EQ(s.checksum, ChunkChecksum::kSha1);
  EXPECT_EQ(s.verified, s.chunks);
  EXPECT_LT(s.chunks, 8u);  // it skipped zero chunks too
}

}  // namespace
}  // namespace casulo::formats

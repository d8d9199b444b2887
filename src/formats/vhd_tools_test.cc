// Interoperability with the tools of docs/format/vhd.md: VHDs we write must
// read back identically in qemu-img (vpc driver) and libvhdi's vhdiinfo, and
// VHDs qemu-img writes must read back identically in our readers. The tools
// are required: a missing tool fails the test (exit code 127).
#include <gtest/gtest.h>

#include "formats/vhd_reader.h"
#include "formats/vhd_writer.h"
#include "vhd_test_util.h"

namespace casulo::formats {
namespace {

using vhd_testing::CommandResult;
using vhd_testing::Fill;
using vhd_testing::Flatten;
using vhd_testing::ReadBytes;
using vhd_testing::RunCommand;
using vhd_testing::TempDir;
using vhd_testing::WriteBytes;

constexpr uint64_t kMiB = 1 << 20;
using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

// A raw disk of `size` bytes with data at odd places: the first 4 KiB, a run
// across the first block boundary, an unaligned run, and the last 1000 bytes.
Bytes OddDisk(uint64_t size, Ranges* ranges) {
  Bytes disk(size);
  *ranges = {{0, 4096}};
  if (size > 2 * kMiB + 1024) ranges->push_back({2 * kMiB - 512, 1024});
  if (size > 1234567 + 3000 + 2 * kMiB) ranges->push_back({2 * kMiB + 1234567, 3000});
  ranges->push_back({size - 1000, 1000});
  for (size_t i = 0; i < ranges->size(); ++i)
    Fill(MutableByteSpan(disk).subspan((*ranges)[i].first, (*ranges)[i].second), i + 1);
  return disk;
}

Result<Bytes> WriteOurs(VhdWriteOptions opts, const Bytes& disk, const Ranges& ranges) {
  opts.virtual_size = disk.size();
  Bytes out;
  BytesSink sink(&out);
  ASSIGN_OR_RETURN(auto w, VhdWriter::Create(sink, opts, VhdBlocksOfRanges(ranges)));
  for (auto [off, len] : ranges) RETURN_IF_ERROR(w->Write({off, ByteSpan(disk).subspan(off, len)}));
  RETURN_IF_ERROR(w->Finish());
  return out;
}

void ExpectRunOk(const CommandResult& r, const std::string& what) {
  EXPECT_EQ(r.exit_code, 0) << what << ":\n" << r.output;
}

std::string ImageOpts(const std::string& raw, const std::string& vhd) {
  return "qemu-img compare --image-opts driver=raw,file.filename=" + raw +
         " driver=vpc,force_size_calc=current_size,file.filename=" + vhd;
}

TEST(VhdTools, OurDynamicVhdIsIdenticalInQemuAndLibvhdi) {
  TempDir dir;
  for (uint64_t size : {10 * kMiB + 4096, 3 * kMiB, 2 * kMiB, uint64_t(10514432)}) {
    SCOPED_TRACE(size);
    Ranges ranges;
    const Bytes disk = OddDisk(size, &ranges);
    VhdWriteOptions opts;
    opts.unique_id = VhdUuid::Random();
    Result<Bytes> vhd = WriteOurs(opts, disk, ranges);
    ASSERT_TRUE(vhd.ok()) << vhd.status().ToString();
    const std::string raw = dir / "disk.raw", ours = dir / "ours.vhd";
    WriteBytes(raw, disk);
    WriteBytes(ours, *vhd);

    CommandResult r = RunCommand(ImageOpts(raw, ours));
    ExpectRunOk(r, "qemu-img compare");
    EXPECT_NE(r.output.find("Images are identical"), std::string::npos) << r.output;
    // Our geometry rule makes qemu size the disk right without options too
    // (a CHS-sized reading would warn "Image size mismatch").
    r = RunCommand("qemu-img compare -f raw -F vpc " + raw + " " + ours);
    ExpectRunOk(r, "qemu-img compare (no force_size_calc)");
    EXPECT_EQ(r.output.find("mismatch"), std::string::npos) << r.output;

    r = RunCommand("qemu-img info --output=json -f vpc " + ours);
    ExpectRunOk(r, "qemu-img info");
    EXPECT_NE(r.output.find("\"virtual-size\": " + std::to_string(size) + ","), std::string::npos)
        << r.output;

    r = RunCommand("vhdiinfo " + ours);
    ExpectRunOk(r, "vhdiinfo");
    EXPECT_NE(r.output.find("Disk type\t\t: Dynamic"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("(" + std::to_string(size) + " bytes)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Identifier\t\t: " + opts.unique_id.ToString()), std::string::npos)
        << r.output;
  }
}

TEST(VhdTools, OurDifferencingVhdInLibvhdiAndQemu) {
  TempDir dir;
  Ranges ranges;
  const Bytes disk = OddDisk(10 * kMiB + 4096, &ranges);
  // Deltas must be sector-aligned: widen the ranges to whole blocks, as XAPI.
  Ranges blocks;
  for (uint32_t b : VhdBlocksOfRanges(ranges))
    blocks.push_back(
        {uint64_t(b) * 2 * kMiB, std::min<uint64_t>(2 * kMiB, disk.size() - b * 2 * kMiB)});
  VhdWriteOptions opts;
  opts.type = VhdDiskType::kDifferencing;
  opts.parent_id = VhdUuid::Random();
  opts.parent_name = "/var/run/sr-mount/sr/base.vhd";
  Result<Bytes> vhd = WriteOurs(opts, disk, blocks);
  ASSERT_TRUE(vhd.ok()) << vhd.status().ToString();
  const std::string raw = dir / "disk.raw", ours = dir / "delta.vhd";
  WriteBytes(raw, disk);
  WriteBytes(ours, *vhd);
  CommandResult r = RunCommand("vhdiinfo " + ours);
  ExpectRunOk(r, "vhdiinfo");
  EXPECT_NE(r.output.find("Disk type\t\t: Differential"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Parent identifier\t: " + opts.parent_id.ToString()), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(opts.parent_name), std::string::npos) << r.output;
  // qemu ignores parents: the file alone holds exactly the delta's blocks.
  r = RunCommand(ImageOpts(raw, ours));
  ExpectRunOk(r, "qemu-img compare of the delta");
}

// Reads `path` with both readers; `want` is the raw content, which the
// virtual disk must equal up to want.size() and be zero beyond.
void ExpectReadsAs(const std::string& path, const Bytes& want, bool stream_needs_length) {
  const Bytes file = ReadBytes(path);
  MemoryRandomSource rs(file);
  auto img = OpenVhdImage(rs);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  ASSERT_GE((*img)->virtual_size(), want.size());
  Result<Bytes> got = Flatten(*(*img)->Extents());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(std::equal(want.begin(), want.end(), got->begin())) << path;
  EXPECT_TRUE(std::all_of(got->begin() + ptrdiff_t(want.size()), got->end(),
                          [](uint8_t b) { return b == 0; }));
  Bytes direct(want.size());
  ASSERT_TRUE((*img)->ReadAt(0, direct).ok());
  EXPECT_EQ(direct, want);

  MemorySource ss(file);
  auto sr = OpenVhdStream(ss, {.total_length = stream_needs_length ? file.size() : 0});
  ASSERT_TRUE(sr.ok()) << sr.status().ToString();
  Result<Bytes> streamed = Flatten(**sr);
  ASSERT_TRUE(streamed.ok()) << streamed.status().ToString();
  EXPECT_EQ(*streamed, *got);
}

TEST(VhdTools, QemuMadeVhdsReadBackIdentical) {
  TempDir dir;
  for (uint64_t size : {10 * kMiB + 4096, 3 * kMiB + 1536}) {
    SCOPED_TRACE(size);
    Ranges ranges;
    const Bytes disk = OddDisk(size, &ranges);
    const std::string raw = dir / "disk.raw";
    WriteBytes(raw, disk);
    struct Case {
      const char* opts;
      bool fixed;
      bool exact;  // current_size == raw size
    };
    for (const Case& c : {Case{"subformat=dynamic,force_size=on", false, true},
                          Case{"subformat=dynamic,force_size=off", false, false},
                          Case{"subformat=fixed,force_size=on", true, true},
                          Case{"subformat=fixed,force_size=off", true, false}}) {
      SCOPED_TRACE(c.opts);
      const std::string vhd = dir / "q.vhd";
      CommandResult r = RunCommand("qemu-img convert -f raw -O vpc -o " + std::string(c.opts) +
                                   " " + raw + " " + vhd);
      ExpectRunOk(r, "qemu-img convert");
      ExpectReadsAs(vhd, disk, c.fixed);
      const Bytes file = ReadBytes(vhd);
      MemoryRandomSource rs(file);
      auto img = OpenVhdImage(rs);
      ASSERT_TRUE(img.ok());
      EXPECT_EQ((*img)->type(), c.fixed ? VhdDiskType::kFixed : VhdDiskType::kDynamic);
      if (c.exact) {
        EXPECT_EQ((*img)->virtual_size(), size);
      } else {  // qemu rounds up to its CHS
        EXPECT_EQ((*img)->virtual_size(), (*img)->footer().geometry.bytes());
      }
    }
  }
}

}  // namespace
}  // namespace casulo::formats

// --demo disk content: the ext4 images pass e2fsck and hold the generated
// files, the content repeats for the same seed, the Windows disk is a large
// sparse NTFS-like disk, and SR/VDI utilisation follows the allocated bytes.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/file.h"
#include "core/testing/sim_process.h"
#include "sim/demo.h"
#include "sim/disks.h"

namespace casulo::sim {
namespace {

std::string Shell(const std::string& cmd, int* rc = nullptr) {
  FILE* p = popen(("PATH=$PATH:/usr/sbin:/sbin " + cmd).c_str(), "r");
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (rc != nullptr) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string Read(const std::string& path, uint64_t off, size_t len) {
  auto f = File::OpenRead(path);
  std::string s(len, '\0');
  if (f.ok()) (void)f->PReadFull(off, MutableByteSpan(reinterpret_cast<uint8_t*>(s.data()), len));
  return s;
}

TEST(DemoDisks, Ext4ImagesAreValidAndRepeatable) {
  testing::ScratchDir dir("casulo-demo-ext4");
  std::string whole = dir.path() + "/data.img", part = dir.path() + "/root.img";
  ASSERT_TRUE(FillExt4Disk(whole, 64 << 20, 7, false, "data").ok());
  ASSERT_TRUE(FillExt4Disk(part, 96 << 20, 7, true, "root").ok());
  int rc = -1;
  std::string out = Shell("e2fsck -fn " + whole + " 2>&1", &rc);
  EXPECT_EQ(rc, 0) << out;
  std::string part_dev = "'" + part + "?offset=1048576'";
  out = Shell("e2fsck -fn " + part_dev + " 2>&1", &rc);
  EXPECT_EQ(rc, 0) << out;
  // The partition table: one Linux partition at LBA 2048.
  std::string mbr = Read(part, 0, 512);
  EXPECT_EQ(uint8_t(mbr[450]), 0x83);
  EXPECT_EQ(mbr.substr(510), "\x55\xAA");

  std::string ls = Shell("debugfs -R 'ls -l /home/user/docs' " + whole + " 2>/dev/null");
  EXPECT_NE(ls.find("report-00.txt"), std::string::npos) << ls;
  EXPECT_EQ(Shell("debugfs -R 'cat /etc/motd' " + part_dev + " 2>/dev/null"),
            "casulo-sim demo disk 7 (root)\n");
  std::string docs = Shell("debugfs -R 'ls /usr/share/doc/pkg-059' " + whole + " 2>/dev/null");
  EXPECT_NE(docs.find("copyright"), std::string::npos);
  std::string blob = Shell("debugfs -R 'cat /var/lib/app/blob-0.bin' " + whole + " 2>/dev/null");
  EXPECT_EQ(blob.size(), (6u << 20) / 4);  // min(64 MiB / 8, 6 MiB) in four files

  // Same seed, same files (the image bytes themselves may differ in layout).
  std::string again = dir.path() + "/again.img";
  ASSERT_TRUE(FillExt4Disk(again, 64 << 20, 7, false, "data").ok());
  EXPECT_EQ(Shell("debugfs -R 'cat /var/lib/app/blob-0.bin' " + again + " 2>/dev/null"), blob);
}

TEST(DemoDisks, DemoPoolDisksAndUtilisation) {
  testing::ScratchDir dir("casulo-demo-disks");
  Store st;
  BuildDemoPool(st, "citrix-8.2");
  ASSERT_TRUE(CreateDemoDisks(st, dir.path()).ok());
  std::map<std::string, std::pair<int64_t, int64_t>> sums;
  std::string windows;
  for (const auto& [ref, obj] : st.Objects("VDI")) {
    const XmlRpcValue& r = obj.record;
    std::string path = DiskPath(dir.path(), UuidOf(r));
    auto allocated = AllocatedBytes(path);
    ASSERT_TRUE(allocated.ok());
    EXPECT_EQ(r.Find("physical_utilisation")->i(), int64_t(*allocated));
    sums[r.Find("SR")->str()].first += int64_t(*allocated);
    sums[r.Find("SR")->str()].second += r.Find("virtual_size")->i();
    if (r.Find("name_label")->str().rfind("win2019", 0) == 0) windows = path;
  }
  for (const auto& [sr, s] : sums) {
    EXPECT_EQ(st.Find("SR", sr)->Find("physical_utilisation")->i(), s.first);
    EXPECT_EQ(st.Find("SR", sr)->Find("virtual_allocation")->i(), s.second);
  }
  ASSERT_FALSE(windows.empty());
  auto size = File::OpenRead(windows)->Size();
  EXPECT_EQ(*size, 40ull << 30);
  EXPECT_LT(*AllocatedBytes(windows), 16u << 20);
  EXPECT_GT(*AllocatedBytes(windows), 1u << 20);
  EXPECT_EQ(Read(windows, (1 << 20) + 3, 8), "NTFS    ");
  EXPECT_EQ(uint8_t(Read(windows, 450, 1)[0]), 0x07);
  EXPECT_EQ(Read(windows, (1 << 20) + (3ull << 30), 5), "FILE0");
}

}  // namespace
}  // namespace casulo::sim

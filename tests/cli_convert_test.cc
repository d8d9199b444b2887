// casulo inspect / convert end to end, checked by tools nobody here wrote:
// qemu-img, vhdiinfo, xva-img, GNU tar.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_harness.h"
#include "core/stream.h"
#include "formats/ova.h"
#include "formats/vhd_writer.h"
#include "formats/xva_writer.h"

namespace casulo::testing {
namespace {

struct ShResult {
  int rc = -1;
  std::string out;
};

// Runs a shell command in `dir`, stdout and stderr together.
ShResult Sh(const std::string& dir, const std::string& cmd) {
  std::string full = "cd '" + dir + "' && (" + cmd + ") 2>&1";
  FILE* p = popen(full.c_str(), "r");
  ShResult r;
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return r;
}

class ConvertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Data in the first block, in the middle, and in the last sectors: the
    // places where size arithmetic goes wrong. Not a whole number of MiB.
    h_.MakeImage("disk.raw", 10 * 1024 * 1024 + 4096, 3 * 1024 * 1024 + 512, 7);
    ASSERT_EQ(Sh(dir(), "printf tail | dd of=disk.raw bs=1 seek=10489000 conv=notrunc").rc, 0);
  }
  std::string dir() const { return h_.dir().string(); }
  CliHarness h_;
};

TEST_F(ConvertTest, RawToVhdMatchesQemuAndVhdiinfo) {
  auto r = h_.Run({"convert", "disk.raw", "d.vhd", "--to", "vhd"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto cmp = Sh(dir(), "qemu-img compare --image-opts driver=raw,file.filename=disk.raw "
                       "driver=vpc,force_size_calc=current_size,file.filename=d.vhd");
  EXPECT_EQ(cmp.rc, 0) << cmp.out;
  EXPECT_NE(cmp.out.find("Images are identical"), std::string::npos);
  auto info = Sh(dir(), "vhdiinfo d.vhd");
  EXPECT_EQ(info.rc, 0) << info.out;
  EXPECT_NE(info.out.find("Dynamic"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("10489856 bytes"), std::string::npos) << info.out;

  auto j = h_.Run({"--json", "inspect", "d.vhd"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["format"], "vhd");
  EXPECT_EQ(doc["virtual_size"], 10489856u);
  EXPECT_EQ(doc["verified"], true);
  // qemu's own uuid-free view agrees with ours on what is allocated.
  EXPECT_NE(info.out.find(doc["vhd"]["uuid"].get<std::string>()), std::string::npos) << info.out;
}

TEST_F(ConvertTest, QemuMadeVhdsReadBackIdentical) {
  for (std::string opts : {"subformat=dynamic,force_size=on", "subformat=fixed,force_size=on"}) {
    SCOPED_TRACE(opts);
    ASSERT_EQ(Sh(dir(), "rm -f q.vhd back.raw && qemu-img convert -f raw -O vpc -o " + opts +
                            " disk.raw q.vhd").rc, 0);
    auto r = h_.Run({"convert", "q.vhd", "back.raw", "--to", "raw"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(h_.Read("back.raw"), h_.Read("disk.raw"));
  }
}

TEST_F(ConvertTest, XvaInSha1ModeIsReadByXvaImg) {
  auto r = h_.Run({"convert", "disk.raw", "vm.xva", "--to", "xva", "--checksum", "sha1",
                   "--vm-name", "web01"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto x = Sh(dir(), "mkdir -p x && tar xf vm.xva -C x && chmod -R u+rwX x && "
                     "xva-img disk-export x/Ref:*/ out.raw && cmp out.raw disk.raw");
  EXPECT_EQ(x.rc, 0) << x.out;
  auto j = h_.Run({"--json", "inspect", "vm.xva"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  ASSERT_EQ(doc["vms"].size(), 1u);
  EXPECT_EQ(doc["vms"][0]["name"], "web01");
  ASSERT_EQ(doc["disks"].size(), 1u);
  EXPECT_EQ(doc["disks"][0]["stream"]["checksum"], ".checksum");
  EXPECT_GT(doc["disks"][0]["stream"]["verified"].get<int>(), 1);
}

TEST_F(ConvertTest, XvaChunksAreWhatXvaImgDiskImportWrites) {
  // xva-img 1.4.2 drops a partial last chunk, so compare on a whole-MiB disk:
  // the same chunk members, the same bytes, the same .checksum texts.
  h_.MakeImage("even.raw", 12 << 20, 5 * 1024 * 1024 + 4096, 3);
  auto r = h_.Run({"convert", "even.raw", "even.xva", "--to", "xva", "--checksum", "sha1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto x = Sh(dir(), "mkdir -p ours theirs && tar xf even.xva -C ours && chmod -R u+rwX ours && "
                     "xva-img disk-import theirs/ even.raw && "
                     "diff -r ours/Ref:*/ theirs/ && ls ours/Ref:*/ | wc -l");
  EXPECT_EQ(x.rc, 0) << x.out;
  // Data at 0, 5 MiB and 10 MiB: chunks 0, 5, 10 and the last (11), each with
  // its checksum; the 8 all-zero chunks are left out by both writers.
  EXPECT_EQ(x.out, "8\n");
}

TEST_F(ConvertTest, PipesBothWaysAndRecompression) {
  // raw on stdin -> VHD (spooled: the block list is unknown up front) -> raw on stdout.
  auto a = Sh(dir(), std::string(CASULO_BIN) + " convert - s.vhd --to vhd < disk.raw && " +
                         CASULO_BIN + " convert s.vhd - --to raw | cmp - disk.raw");
  EXPECT_EQ(a.rc, 0) << a.out;
  // XVA re-packed with zstd and .xxhash through a pipe, then unpacked.
  auto b = Sh(dir(), std::string(CASULO_BIN) + " convert disk.raw - --to xva --size 10489856 | " +
                         CASULO_BIN + " convert - z.xva --to xva --compress zstd && " +
                         CASULO_BIN + " convert z.xva - --to raw | cmp - disk.raw");
  EXPECT_EQ(b.rc, 0) << b.out;
  auto j = h_.Run({"--json", "inspect", "z.xva"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["compression"], "zstd");
  EXPECT_EQ(doc["disks"][0]["stream"]["checksum"], ".xxhash");
  EXPECT_EQ(Sh(dir(), "zstd -t z.xva").rc, 0);
}

TEST_F(ConvertTest, DifferencingVhdFlattenedWithItsParent) {
  // base.vhd from the image; the child changes one 2 MiB block.
  ASSERT_EQ(h_.Run({"convert", "disk.raw", "base.vhd", "--to", "vhd"}).exit_code, 0);
  auto base = h_.Run({"--json", "inspect", "base.vhd"});
  auto base_uuid = nlohmann::json::parse(base.out)["vhd"]["uuid"].get<std::string>();
  Bytes changed = h_.Read("disk.raw");
  Bytes block(2 << 20, 0xC3);
  std::copy(block.begin(), block.end(), changed.begin() + (4 << 20));
  {
    std::ofstream(h_.Path("changed.raw"), std::ios::binary)
        .write(reinterpret_cast<const char*>(changed.data()), std::streamsize(changed.size()));
    Bytes vhd;
    BytesSink sink(&vhd);
    formats::VhdWriteOptions o;
    o.virtual_size = changed.size();
    o.type = formats::VhdDiskType::kDifferencing;
    o.parent_id = *formats::VhdUuid::FromString(base_uuid);
    o.parent_name = "base.vhd";
    auto w = formats::VhdWriter::Create(sink, o, {2});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Write({4 << 20, block}).ok());
    ASSERT_TRUE((*w)->Finish().ok());
    std::ofstream(h_.Path("child.vhd"), std::ios::binary)
        .write(reinterpret_cast<const char*>(vhd.data()), std::streamsize(vhd.size()));
  }
  auto bad = h_.Run({"convert", "child.vhd", "flat.raw", "--to", "raw"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--parent"), std::string::npos) << bad.err;

  auto ok = h_.Run({"convert", "child.vhd", "flat.raw", "--to", "raw", "--parent", "base.vhd"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(h_.Read("flat.raw"), changed);
  auto info = h_.Run({"inspect", "child.vhd"});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find(base_uuid), std::string::npos) << info.out;
  auto vi = Sh(dir(), "vhdiinfo child.vhd");
  EXPECT_NE(vi.out.find("Differential"), std::string::npos) << vi.out;

  // A wrong parent is named, not silently merged.
  ASSERT_EQ(h_.Run({"convert", "changed.raw", "other.vhd", "--to", "vhd"}).exit_code, 0);
  auto wrong = h_.Run({"convert", "child.vhd", "x.raw", "--to", "raw", "--parent", "other.vhd"});
  EXPECT_EQ(wrong.exit_code, 2) << wrong.err;
  EXPECT_NE(wrong.err.find(base_uuid), std::string::npos) << wrong.err;
}

TEST_F(ConvertTest, BadInputsGetClearErrorsAndNoOutput) {
  ASSERT_EQ(h_.Run({"convert", "disk.raw", "d.vhd", "--to", "vhd"}).exit_code, 0);
  auto exists = h_.Run({"convert", "disk.raw", "d.vhd", "--to", "vhd"});
  EXPECT_EQ(exists.exit_code, 4) << exists.err;
  EXPECT_NE(exists.err.find("--overwrite"), std::string::npos);

  // A VHD with one flipped byte in its footer copy and trailing footer.
  ASSERT_EQ(Sh(dir(), "cp d.vhd bad.vhd && printf 'X' | dd of=bad.vhd bs=1 seek=40 conv=notrunc && "
                      "sz=$(stat -c %s bad.vhd) && printf 'X' | dd of=bad.vhd bs=1 "
                      "seek=$((sz-512+40)) conv=notrunc").rc, 0);
  auto bad = h_.Run({"inspect", "bad.vhd"});
  EXPECT_EQ(bad.exit_code, 5) << bad.err;
  EXPECT_NE(bad.err.find("checksum"), std::string::npos) << bad.err;
  auto conv = h_.Run({"convert", "bad.vhd", "out.raw", "--to", "raw"});
  EXPECT_EQ(conv.exit_code, 5);
  EXPECT_FALSE(std::filesystem::exists(h_.Path("out.raw")));
  for (const auto& e : std::filesystem::directory_iterator(h_.dir()))
    EXPECT_EQ(e.path().string().find("casulo-tmp"), std::string::npos) << e.path();

  // A gzip stream that is not an XVA inside.
  ASSERT_EQ(Sh(dir(), "head -c 5000 /dev/urandom | gzip > junk.xva.gz").rc, 0);
  auto junk = h_.Run({"inspect", "junk.xva.gz"});
  EXPECT_EQ(junk.exit_code, 5) << junk.err;

  auto fmt = h_.Run({"convert", "disk.raw", "x", "--to", "qcow2"});
  EXPECT_EQ(fmt.exit_code, 2);
  EXPECT_NE(fmt.err.find("qcow2"), std::string::npos);
  auto size = h_.Run({"convert", "-", "x.xva", "--to", "xva"});
  EXPECT_EQ(size.exit_code, 2);
  EXPECT_NE(size.err.find("--size"), std::string::npos) << size.err;
}

TEST_F(ConvertTest, SpecialFilesAreNeverReplaced) {
  ASSERT_EQ(Sh(dir(), "mkfifo fifo && echo keep > target && ln -s target link").rc, 0);
  for (const char* out : {"fifo", "link"}) {
    auto r = h_.Run({"convert", "disk.raw", out, "--to", "raw", "--overwrite"});
    EXPECT_EQ(r.exit_code, 2) << out << ": " << r.err;
    EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  }
  EXPECT_EQ(Sh(dir(), "test -p fifo && test -L link && cat target").out, "keep\n");
}

TEST_F(ConvertTest, FixedVhdBecomesASparseDynamicOne) {
  ASSERT_EQ(Sh(dir(), "qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "
                      "disk.raw fixed.vhd").rc, 0);
  auto r = h_.Run({"convert", "fixed.vhd", "dyn.vhd", "--to", "vhd"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(h_.Run({"--json", "inspect", "dyn.vhd"}).out);
  // Data lies in blocks 0, 1, 3 and 4 (MakeImage's stride) of 6: not all of them.
  EXPECT_LT(j["vhd"]["allocated_blocks"].get<int>(), 6) << j.dump();
  EXPECT_EQ(Sh(dir(), "qemu-img compare --image-opts driver=raw,file.filename=disk.raw "
                      "driver=vpc,file.filename=dyn.vhd").rc, 0);
}

// An XVA whose ova.xml says odd things in fields inspect prints.
void WriteOddXva(const std::string& path, bool drop_vdi) {
  formats::OvaSpec spec;
  spec.vm.name_label = "odd";
  spec.vm.memory = 1 << 30;
  formats::DiskSpec d;
  d.virtual_size = 1 << 20;
  d.userdevice = "0";
  spec.disks.push_back(d);
  auto built = formats::BuildOvaXml(spec);
  ASSERT_TRUE(built.ok());
  formats::OvaXml& ova = built->ova;
  for (auto& o : ova.objects)
    if (o.cls == "VM") o.snapshot.Set("memory_static_max", "lots");
  if (drop_vdi)
    std::erase_if(ova.objects, [](const formats::OvaObject& o) { return o.cls == "VDI"; });
  Bytes out;
  BytesSink sink(&out);
  formats::XvaWriter w(sink);
  ASSERT_TRUE(w.WriteOvaXml(formats::PrintOvaXml(ova)).ok());
  if (!drop_vdi) {
    auto disk = w.BeginDisk(built->disk_vdi_ids[0], 1 << 20);
    ASSERT_TRUE(disk.ok());
    ASSERT_TRUE((*disk)->Finish().ok());
  }
  ASSERT_TRUE(w.Finish().ok());
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(out.data()), std::streamsize(out.size()));
}

TEST_F(ConvertTest, InspectSurvivesOddMetadata) {
  WriteOddXva(h_.Path("odd.xva"), false);
  auto r = h_.Run({"inspect", "odd.xva"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("lots memory"), std::string::npos) << r.out;
  WriteOddXva(h_.Path("broken.xva"), true);
  for (bool json : {false, true}) {
    std::vector<std::string> args = {"inspect", "broken.xva"};
    if (json) args.insert(args.begin(), "--json");
    auto b = h_.Run(args);
    EXPECT_EQ(b.exit_code, 5) << b.err;  // a clear corruption error, not an abort
    EXPECT_NE(b.err.find("casulo: error:"), std::string::npos) << b.err;
  }
}

}  // namespace
}  // namespace casulo::testing

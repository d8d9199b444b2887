// XvaReader with a real ova.xml: disk sizes from VDI records, missing disks.
#include <gtest/gtest.h>

#include "formats/ova.h"
#include "formats/xva_reader.h"
#include "formats/xva_writer.h"
#include "xva_test_util.h"

namespace casulo::formats {
namespace {

using xva_testing::RandomBytes;
using xva_testing::ReadXva;

constexpr uint64_t kMiB = 1 << 20;

// An ova.xml for one VM with disks of these sizes, and its VDI ids.
BuiltOva TwoDiskVm(uint64_t a, uint64_t b) {
  OvaSpec spec;
  spec.vm.name_label = "test vm";
  spec.vm.memory = 256 * kMiB;
  DiskSpec system, data;
  system.name_label = "system";
  system.virtual_size = int64_t(a);
  system.userdevice = "0";
  system.bootable = true;
  data.name_label = "data";
  data.virtual_size = int64_t(b);
  data.userdevice = "1";
  spec.disks = {system, data};
  auto built = BuildOvaXml(spec);
  EXPECT_TRUE(built.ok()) << built.status().ToString();
  return *built;
}

// Writes the given disks (id -> contents) after `ova`.
Bytes WriteXva(const std::string& ova, const std::vector<std::pair<std::string, Bytes>>& disks) {
  Bytes out;
  BytesSink sink(&out);
  XvaWriter w(sink);
  EXPECT_TRUE(w.WriteOvaXml(ova).ok());
  for (const auto& [id, data] : disks) {
    auto d = w.BeginDisk(id, data.size());
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_TRUE((*d)->Write(Extent{0, data}).ok());
    EXPECT_TRUE((*d)->Finish().ok());
  }
  EXPECT_TRUE(w.Finish().ok());
  return out;
}

TEST(XvaReaderOvaTest, SizesAndRecordsComeFromOvaXml) {
  BuiltOva built = TwoDiskVm(2 * kMiB + 4096, kMiB);
  const std::string ova = PrintOvaXml(built.ova);
  const Bytes a = RandomBytes(2 * kMiB + 4096, 1), b = RandomBytes(kMiB, 2);
  const std::string& ida = built.disk_vdi_ids[0];
  const std::string& idb = built.disk_vdi_ids[1];
  ASSERT_LT(ida, idb);
  const Bytes xva = WriteXva(ova, {{ida, a}, {idb, b}});

  MemorySource src(xva);
  auto r = XvaReader::Open(src);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_NE((*r)->ova(), nullptr);
  EXPECT_EQ((*r)->ova()->objects.size(), built.ova.objects.size());
  auto d = (*r)->NextDisk();
  ASSERT_TRUE(d.ok() && *d) << d.status().ToString();
  EXPECT_EQ((*d)->id(), ida);
  EXPECT_EQ((*d)->info().virtual_size, a.size());
  ASSERT_NE((*d)->vdi(), nullptr);
  auto vdi = DecodeOvaVdi(*(*d)->vdi());
  ASSERT_TRUE(vdi.ok());
  EXPECT_EQ(vdi->name_label, "system");

  auto back = ReadXva(xva, {});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->disks[ida] == a);
  EXPECT_TRUE(back->disks[idb] == b);
}

TEST(XvaReaderOvaTest, StreamMissingADiskFails) {
  BuiltOva built = TwoDiskVm(kMiB, kMiB);
  const Bytes xva =
      WriteXva(PrintOvaXml(built.ova), {{built.disk_vdi_ids[0], RandomBytes(kMiB, 1)}});
  auto r = ReadXva(xva, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("ends without disk " + built.disk_vdi_ids[1]),
            std::string::npos)
      << r.status().ToString();
  XvaReaderOptions lax;
  lax.require_all_disks = false;
  EXPECT_TRUE(ReadXva(xva, lax).ok());
}

TEST(XvaReaderOvaTest, MalformedOvaXmlFailsUnlessNotParsed) {
  const Bytes data = RandomBytes(4096, 3);
  const Bytes xva = WriteXva("<value><struct>", {{"Ref:1", data}});
  auto r = ReadXva(xva, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().ToString().find("ova.xml"), std::string::npos) << r.status().ToString();
  XvaReaderOptions opaque;
  opaque.parse_ova_xml = false;
  opaque.disk_sizes = {{"Ref:1", 4096}};
  auto ok = ReadXva(xva, opaque);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->disks["Ref:1"] == data);
  EXPECT_EQ(ok->ova_xml, "<value><struct>");
}

TEST(XvaReaderOvaTest, DiskIdMustNameAVdiWithASize) {
  OvaXml ova;
  ova.objects.push_back(OvaObject{"VM", "Ref:1", XmlRpcValue(XmlRpcStruct{})});
  ova.objects.push_back(OvaObject{"VDI", "Ref:2", XmlRpcValue(XmlRpcStruct{{"type", "user"}})});
  const std::string text = PrintOvaXml(ova);
  auto vm = ReadXva(WriteXva(text, {{"Ref:1", RandomBytes(512, 1)}}), {});
  ASSERT_FALSE(vm.ok());
  EXPECT_NE(vm.status().message().find("names a VM object"), std::string::npos)
      << vm.status().ToString();
  auto nosize = ReadXva(WriteXva(text, {{"Ref:2", RandomBytes(512, 1)}}), {});
  ASSERT_FALSE(nosize.ok());
  EXPECT_NE(nosize.status().message().find("VDI Ref:2 has no virtual_size"), std::string::npos)
      << nosize.status().ToString();
  auto unknown = ReadXva(WriteXva(text, {{"Ref:3", RandomBytes(512, 1)}}), {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("no VDI record"), std::string::npos);
  // A size from the caller stands in for the missing one.
  XvaReaderOptions o;
  o.disk_sizes = {{"Ref:2", 512}};
  EXPECT_TRUE(ReadXva(WriteXva(text, {{"Ref:2", RandomBytes(512, 1)}}), o).ok());
}

}  // namespace
}  // namespace casulo::formats

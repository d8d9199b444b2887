// ova.xml parsing, printing and queries against hand-written documents
// modelled on what XAPI writes (one line, bare values) and on older,
// pretty-printed exports (typed values, whitespace, <value/>).
#include "formats/ova.h"

#include <gtest/gtest.h>

namespace casulo::formats {
namespace {

// An XAPI-style export of a halted HVM VM: two disks on local storage, a CD
// drive holding an ISO from an ISO library, one VIF, guest metrics (a class
// we do not model). Ids are not dense (XAPI's counter is process-global);
// the disk VDIs are Ref:9 and Ref:10, so the stream order is Ref:10, Ref:9.
// Adjacent literals: the document itself is one line, as XAPI writes it.
constexpr char kXapiOva[] =
    "<value><struct><member><name>version</name><value><struct>"
    "<member><name>hostname</name><value>localhost</value></member>"
    "<member><name>date</name><value>2024-05-02</value></member>"
    "<member><name>product_version</name><value>8.2.1</value></member>"
    "<member><name>product_brand</name><value>XCP-ng</value></member>"
    "<member><name>build_number</name><value>release/yangtze/master/58</value></member>"
    "<member><name>xapi_major</name><value>1</value></member>"
    "<member><name>xapi_minor</name><value>20</value></member>"
    "<member><name>export_vsn</name><value>2</value></member>"
    "</struct></value></member><member><name>objects</name><value><array><data>"
    // VM
    "<value><struct><member><name>class</name><value>VM</value></member>"
    "<member><name>id</name><value>Ref:3</value></member>"
    "<member><name>snapshot</name><value><struct>"
    "<member><name>uuid</name><value>7a6b1c4e-2f51-4a0e-9d43-7b7f3a1d2c10</value></member>"
    "<member><name>allowed_operations</name><value><array><data></data></array></value></member>"
    "<member><name>current_operations</name><value><struct></struct></value></member>"
    "<member><name>power_state</name><value>Halted</value></member>"
    "<member><name>name_label</name><value>web &amp; db</value></member>"
    "<member><name>name_description</name><value></value></member>"
    "<member><name>user_version</name><value>1</value></member>"
    "<member><name>is_a_template</name><value><boolean>0</boolean></value></member>"
    "<member><name>suspend_VDI</name><value>OpaqueRef:NULL</value></member>"
    "<member><name>resident_on</name><value>OpaqueRef:NULL</value></member>"
    "<member><name>affinity</name><value>OpaqueRef:NULL</value></member>"
    "<member><name>memory_static_max</name><value>2147483648</value></member>"
    "<member><name>memory_dynamic_max</name><value>2147483648</value></member>"
    "<member><name>memory_dynamic_min</name><value>2147483648</value></member>"
    "<member><name>memory_static_min</name><value>1073741824</value></member>"
    "<member><name>VCPUs_params</name><value><struct></struct></value></member>"
    "<member><name>VCPUs_max</name><value>2</value></member>"
    "<member><name>VCPUs_at_startup</name><value>2</value></member>"
    "<member><name>actions_after_shutdown</name><value>destroy</value></member>"
    "<member><name>actions_after_reboot</name><value>restart</value></member>"
    "<member><name>actions_after_crash</name><value>restart</value></member>"
    "<member><name>VIFs</name><value><array><data><value>Ref:4</value></data></array></value>"
    "</member><member><name>VBDs</name><value><array><data><value>Ref:6</value>"
    "<value>Ref:7</value><value>Ref:8</value></data></array></value></member>"
    "<member><name>PV_bootloader</name><value></value></member>"
    "<member><name>PV_kernel</name><value></value></member>"
    "<member><name>PV_ramdisk</name><value></value></member>"
    "<member><name>PV_args</name><value></value></member>"
    "<member><name>PV_bootloader_args</name><value></value></member>"
    "<member><name>PV_legacy_args</name><value></value></member>"
    "<member><name>HVM_boot_policy</name><value>BIOS order</value></member>"
    "<member><name>HVM_boot_params</name><value><struct><member><name>order</name>"
    "<value>cdn</value></member></struct></value></member>"
    "<member><name>HVM_shadow_multiplier</name><value><double>1</double></value></member>"
    "<member><name>platform</name><value><struct><member><name>viridian</name>"
    "<value>true</value></member></struct></value></member>"
    "<member><name>PCI_bus</name><value></value></member>"
    "<member><name>other_config</name><value><struct><member><name>mac_seed</name>"
    "<value>0d6f3b1e-8f1c-4a44-a3b2-5c1f7b0e9a21</value></member></struct></value></member>"
    "<member><name>domid</name><value>-1</value></member>"
    "<member><name>domarch</name><value></value></member>"
    "<member><name>last_boot_CPU_flags</name><value><struct></struct></value></member>"
    "<member><name>is_control_domain</name><value><boolean>0</boolean></value></member>"
    "<member><name>metrics</name><value>OpaqueRef:NULL</value></member>"
    "<member><name>guest_metrics</name><value>Ref:14</value></member>"
    "<member><name>recommendations</name><value>&lt;restrictions/&gt;</value></member>"
    "<member><name>is_a_snapshot</name><value><boolean>0</boolean></value></member>"
    "<member><name>snapshot_time</name><value><dateTime.iso8601>19700101T00:00:00Z"
    "</dateTime.iso8601></value></member>"
    "<member><name>parent</name><value>OpaqueRef:NULL</value></member>"
    "<member><name>domain_type</name><value>hvm</value></member>"
    "<member><name>pending_guidances_future</name><value><array><data><value>restart_vm"
    "</value></data></array></value></member>"
    "</struct></value></member></struct></value>"
    // VM_guest_metrics: kept, not interpreted
    "<value><struct><member><name>class</name><value>VM_guest_metrics</value></member>"
    "<member><name>id</name><value>Ref:14</value></member><member><name>snapshot</name>"
    "<value><struct><member><name>uuid</name><value>5b1a7f0c-1111-4e2b-8c3d-0a9e8f7d6c5b"
    "</value></member><member><name>os_version</name><value><struct><member><name>name"
    "</name><value>Debian GNU/Linux 12</value></member></struct></value></member>"
    "</struct></value></member></struct></value>"
    // VBDs: xvda and xvdb disks, a CD
    "<value><struct><member><name>class</name><value>VBD</value></member>"
    "<member><name>id</name><value>Ref:6</value></member><member><name>snapshot</name><value>"
    "<struct><member><name>uuid</name><value>1c2d3e4f-0000-4000-8000-000000000006</value>"
    "</member><member><name>VM</name><value>Ref:3</value></member>"
    "<member><name>VDI</name><value>Ref:9</value></member>"
    "<member><name>userdevice</name><value>0</value></member>"
    "<member><name>bootable</name><value><boolean>1</boolean></value></member>"
    "<member><name>mode</name><value>RW</value></member>"
    "<member><name>type</name><value>Disk</value></member>"
    "<member><name>empty</name><value><boolean>0</boolean></value></member>"
    "</struct></value></member></struct></value>"
    "<value><struct><member><name>class</name><value>VBD</value></member>"
    "<member><name>id</name><value>Ref:7</value></member><member><name>snapshot</name><value>"
    "<struct><member><name>uuid</name><value>1c2d3e4f-0000-4000-8000-000000000007</value>"
    "</member><member><name>VM</name><value>Ref:3</value></member>"
    "<member><name>VDI</name><value>Ref:10</value></member>"
    "<member><name>userdevice</name><value>1</value></member>"
    "<member><name>bootable</name><value><boolean>0</boolean></value></member>"
    "<member><name>mode</name><value>RW</value></member>"
    "<member><name>type</name><value>Disk</value></member>"
    "<member><name>empty</name><value><boolean>0</boolean></value></member>"
    "</struct></value></member></struct></value>"
    "<value><struct><member><name>class</name><value>VBD</value></member>"
    "<member><name>id</name><value>Ref:8</value></member><member><name>snapshot</name><value>"
    "<struct><member><name>uuid</name><value>1c2d3e4f-0000-4000-8000-000000000008</value>"
    "</member><member><name>VM</name><value>Ref:3</value></member>"
    "<member><name>VDI</name><value>Ref:12</value></member>"
    "<member><name>userdevice</name><value>3</value></member>"
    "<member><name>bootable</name><value><boolean>0</boolean></value></member>"
    "<member><name>mode</name><value>RO</value></member>"
    "<member><name>type</name><value>CD</value></member>"
    "<member><name>empty</name><value><boolean>0</boolean></value></member>"
    "</struct></value></member></struct></value>"
    // VIF and its network
    "<value><struct><member><name>class</name><value>VIF</value></member>"
    "<member><name>id</name><value>Ref:4</value></member><member><name>snapshot</name><value>"
    "<struct><member><name>device</name><value>0</value></member>"
    "<member><name>network</name><value>Ref:5</value></member>"
    "<member><name>VM</name><value>Ref:3</value></member>"
    "<member><name>MAC</name><value>ae:1f:22:33:44:55</value></member>"
    "<member><name>MTU</name><value>1500</value></member>"
    "</struct></value></member></struct></value>"
    "<value><struct><member><name>class</name><value>network</value></member>"
    "<member><name>id</name><value>Ref:5</value></member><member><name>snapshot</name><value>"
    "<struct><member><name>name_label</name><value>Pool-wide network associated with eth0"
    "</value></member><member><name>bridge</name><value>xenbr0</value></member>"
    "</struct></value></member></struct></value>"
    // VDIs: two disks (virtual_size once as a typed int), the ISO
    "<value><struct><member><name>class</name><value>VDI</value></member>"
    "<member><name>id</name><value>Ref:9</value></member><member><name>snapshot</name><value>"
    "<struct><member><name>uuid</name><value>9a000000-0000-4000-8000-000000000009</value>"
    "</member><member><name>name_label</name><value>root</value></member>"
    "<member><name>SR</name><value>Ref:11</value></member>"
    "<member><name>virtual_size</name><value>10737418240</value></member>"
    "<member><name>type</name><value>system</value></member>"
    "</struct></value></member></struct></value>"
    "<value><struct><member><name>class</name><value>VDI</value></member>"
    "<member><name>id</name><value>Ref:10</value></member><member><name>snapshot</name><value>"
    "<struct><member><name>uuid</name><value>9a000000-0000-4000-8000-000000000010</value>"
    "</member><member><name>name_label</name><value>data</value></member>"
    "<member><name>SR</name><value>Ref:11</value></member>"
    "<member><name>virtual_size</name><value><i8>4294967296</i8></value></member>"
    "<member><name>type</name><value>user</value></member>"
    "</struct></value></member></struct></value>"
    "<value><struct><member><name>class</name><value>VDI</value></member>"
    "<member><name>id</name><value>Ref:12</value></member><member><name>snapshot</name><value>"
    "<struct><member><name>uuid</name><value>9a000000-0000-4000-8000-000000000012</value>"
    "</member><member><name>name_label</name><value>debian-12.iso</value></member>"
    "<member><name>SR</name><value>Ref:13</value></member>"
    "<member><name>virtual_size</name><value>658505728</value></member>"
    "<member><name>type</name><value>user</value></member>"
    "<member><name>location</name><value>debian-12.iso</value></member>"
    "</struct></value></member></struct></value>"
    // SRs: local storage, an ISO library
    "<value><struct><member><name>class</name><value>SR</value></member>"
    "<member><name>id</name><value>Ref:11</value></member><member><name>snapshot</name><value>"
    "<struct><member><name>name_label</name><value>Local storage</value></member>"
    "<member><name>type</name><value>lvm</value></member>"
    "<member><name>content_type</name><value>user</value></member>"
    "</struct></value></member></struct></value>"
    "<value><struct><member><name>class</name><value>SR</value></member>"
    "<member><name>id</name><value>Ref:13</value></member><member><name>snapshot</name><value>"
    "<struct><member><name>name_label</name><value>ISO library</value></member>"
    "<member><name>type</name><value>iso</value></member>"
    "<member><name>content_type</name><value>iso</value></member>"
    "</struct></value></member></struct></value>"
    "</data></array></value></member></struct></value>";

TEST(OvaXmlTest, ParsesXapiStyleExport) {
  auto ova = ParseOvaXml(kXapiOva);
  ASSERT_TRUE(ova.ok()) << ova.status().ToString();
  EXPECT_EQ(ova->version.product_brand, "XCP-ng");
  EXPECT_EQ(ova->version.xapi_major, 1);
  EXPECT_EQ(ova->version.xapi_minor, 20);
  EXPECT_EQ(ova->version.export_vsn, 2);
  ASSERT_EQ(ova->objects.size(), 12u);
  EXPECT_EQ(ova->objects[1].cls, "VM_guest_metrics");  // unknown classes are kept

  auto vm = PrimaryVm(*ova);
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  EXPECT_EQ((*vm)->id, "Ref:3");
  EXPECT_EQ((*vm)->snapshot.Find("name_label")->str(), "web & db");
  EXPECT_EQ(*(*vm)->snapshot.Find("memory_static_max")->AsInt("m"), 2147483648);
  EXPECT_EQ(Vms(*ova).size(), 1u);
  EXPECT_EQ(FindOvaObject(*ova, "Ref:13")->cls, "SR");
  EXPECT_EQ(FindOvaObject(*ova, "Ref:99"), nullptr);

  auto vbds = VmVbds(*ova, **vm);
  ASSERT_TRUE(vbds.ok()) << vbds.status().ToString();
  ASSERT_EQ(vbds->size(), 3u);
  EXPECT_EQ((*vbds)[0].vdi_id, "Ref:9");
  EXPECT_TRUE((*vbds)[0].bootable);
  EXPECT_EQ((*vbds)[2].type, "CD");
  EXPECT_EQ((*vbds)[2].userdevice, "3");
}

TEST(OvaXmlTest, StreamedVdisSkipCdAndIsoAndSortByteWise) {
  auto ova = ParseOvaXml(kXapiOva);
  ASSERT_TRUE(ova.ok()) << ova.status().ToString();
  auto vdis = StreamedVdis(*ova);
  ASSERT_TRUE(vdis.ok()) << vdis.status().ToString();
  ASSERT_EQ(vdis->size(), 2u);
  EXPECT_EQ((*vdis)[0].id, "Ref:10");  // byte order, as XAPI streams them
  EXPECT_EQ((*vdis)[0].virtual_size, 4294967296);  // typed <i8>
  EXPECT_EQ((*vdis)[0].name_label, "data");
  EXPECT_EQ((*vdis)[0].sr_id, "Ref:11");
  EXPECT_EQ((*vdis)[1].id, "Ref:9");
  EXPECT_EQ((*vdis)[1].virtual_size, 10737418240);  // bare text
  EXPECT_EQ((*vdis)[1].uuid, "9a000000-0000-4000-8000-000000000009");
}

TEST(OvaXmlTest, IsoVdiOnADiskVbdIsStillSkipped) {
  // XAPI filters by the SR's content_type even when the VBD says Disk.
  auto ova = ParseOvaXml(kXapiOva);
  ASSERT_TRUE(ova.ok());
  for (OvaObject& o : ova->objects)
    if (o.id == "Ref:8") o.snapshot.Set("type", "Disk");
  auto vdis = StreamedVdis(*ova);
  ASSERT_TRUE(vdis.ok()) << vdis.status().ToString();
  EXPECT_EQ(vdis->size(), 2u);
}

TEST(OvaXmlTest, CdVdiOutsideAnIsoSrIsStillSkipped) {
  // XAPI never streams what a CD VBD points to, whatever its SR.
  auto ova = ParseOvaXml(kXapiOva);
  ASSERT_TRUE(ova.ok());
  for (OvaObject& o : ova->objects)
    if (o.id == "Ref:13") o.snapshot.Set("content_type", "user");
  auto vdis = StreamedVdis(*ova);
  ASSERT_TRUE(vdis.ok()) << vdis.status().ToString();
  EXPECT_EQ(vdis->size(), 2u);
}

TEST(OvaXmlTest, SuspendVdiIsStreamedWithoutAVbd) {
  auto ova = ParseOvaXml(kXapiOva);
  ASSERT_TRUE(ova.ok());
  ova->objects.push_back(
      {"VDI", "Ref:2",
       XmlRpcStruct{{"uuid", "9a000000-0000-4000-8000-000000000002"}, {"SR", "Ref:11"},
                    {"virtual_size", "1024"}, {"type", "Suspend"}}});
  auto vdis = StreamedVdis(*ova);
  ASSERT_TRUE(vdis.ok()) << vdis.status().ToString();
  ASSERT_EQ(vdis->size(), 3u);
  EXPECT_EQ((*vdis)[2].id, "Ref:9");
  EXPECT_EQ((*vdis)[1].id, "Ref:2");
  EXPECT_EQ((*vdis)[1].virtual_size, 1024);
}

TEST(OvaXmlTest, PrintsXapiStyleBackByteForByte) {
  auto ova = ParseOvaXml(kXapiOva);
  ASSERT_TRUE(ova.ok());
  // Unknown fields and classes, member order, escapes, typed values kept.
  std::string printed = PrintOvaXml(*ova);
  // The one typed int we wrote prints bare, as XAPI would have.
  std::string expected = kXapiOva;
  const std::string typed = "<i8>4294967296</i8>";
  expected.replace(expected.find(typed), typed.size(), "4294967296");
  EXPECT_EQ(printed, expected);
  EXPECT_EQ(printed.find('\n'), std::string::npos);
  EXPECT_NE(printed.find("pending_guidances_future"), std::string::npos);
}

TEST(OvaXmlTest, ReemitReplacesOnlyTheVersion) {
  auto ova = ParseOvaXml(kXapiOva);
  ASSERT_TRUE(ova.ok());
  auto again = ParseOvaXml(ReemitOvaXml(*ova));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->version, OvaVersion());
  EXPECT_EQ(again->version.xapi_minor, kOvaXapiMinor);
  ASSERT_EQ(again->objects.size(), ova->objects.size());
  for (size_t i = 0; i < ova->objects.size(); ++i) {
    EXPECT_EQ(again->objects[i].id, ova->objects[i].id);
    EXPECT_EQ(PrintXmlRpcValue(again->objects[i].snapshot),
              PrintXmlRpcValue(ova->objects[i].snapshot));
  }
}

}  // namespace
}  // namespace casulo::formats

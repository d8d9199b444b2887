// BuildOvaXml and ValidateOvaXml: the documents we write carry every field
// XAPI 6.5 .. 8.4 cannot default, reference only objects that exist, and
// stream their disks in the order the caller gave them.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "formats/ova.h"

namespace casulo::formats {
namespace {

// The test's own copy of the required-field table (docs/format/ova-xml.md):
// the builder must write them and the validator must demand them.
const std::vector<std::pair<std::string, std::vector<std::string>>> kRequired = {
    {"VM",
     {"uuid", "allowed_operations", "current_operations", "power_state", "user_version",
      "is_a_template", "suspend_VDI", "resident_on", "affinity", "memory_static_max",
      "memory_dynamic_max", "memory_dynamic_min", "memory_static_min", "VCPUs_params",
      "VCPUs_max", "VCPUs_at_startup", "actions_after_shutdown", "actions_after_reboot",
      "actions_after_crash", "PV_bootloader", "PV_kernel", "PV_ramdisk", "PV_args",
      "PV_bootloader_args", "PV_legacy_args", "HVM_boot_policy", "HVM_boot_params",
      "platform", "PCI_bus", "other_config", "domid", "domarch", "last_boot_CPU_flags",
      "is_control_domain", "metrics", "guest_metrics", "recommendations", "parent"}},
    {"VBD",
     {"uuid", "allowed_operations", "current_operations", "VM", "VDI", "device", "userdevice",
      "bootable", "mode", "type", "storage_lock", "empty", "other_config",
      "currently_attached", "status_code", "status_detail", "runtime_properties",
      "qos_algorithm_type", "qos_algorithm_params", "qos_supported_algorithms", "metrics"}},
    {"VIF",
     {"uuid", "allowed_operations", "current_operations", "device", "network", "VM", "MAC",
      "MTU", "other_config", "currently_attached", "status_code", "status_detail",
      "runtime_properties", "qos_algorithm_type", "qos_algorithm_params",
      "qos_supported_algorithms", "metrics"}},
    {"VDI",
     {"uuid", "allowed_operations", "current_operations", "SR", "virtual_size",
      "physical_utilisation", "type", "sharable", "read_only", "other_config", "storage_lock",
      "managed", "missing", "parent"}},
    {"SR",
     {"uuid", "allowed_operations", "current_operations", "virtual_allocation",
      "physical_utilisation", "physical_size", "type", "content_type", "shared",
      "other_config"}},
    {"network", {"uuid", "allowed_operations", "current_operations", "other_config", "bridge"}},
};

OvaSpec TwoDisksSpec() {
  OvaSpec s;
  s.vm.name_label = "restored <web>";
  s.vm.memory = int64_t{2} << 30;
  s.vm.vcpus = 2;
  s.vm.platform = {{"viridian", "true"}, {"device-model", "qemu-upstream-compat"}};
  s.vm.tags = {"casulo"};
  DiskSpec root;
  root.name_label = "root";
  root.virtual_size = int64_t{10} << 30;
  root.userdevice = "0";
  root.bootable = true;
  DiskSpec cd;
  cd.type = "CD";
  cd.userdevice = "3";
  DiskSpec data;
  data.name_label = "data";
  data.virtual_size = 12345 * 512;
  data.userdevice = "1";
  s.disks = {root, cd, data};
  VifSpec a, b, c;
  a.device = "0";
  a.mac = "ae:1f:22:33:44:55";
  a.network_name_label = "LAN";
  b.device = "1";
  b.network_name_label = "LAN";
  c.device = "2";
  c.network_name_label = "DMZ";
  c.bridge = "xenbr1";
  s.vifs = {a, b, c};
  return s;
}

// Builds, prints and parses back: what an importer would read.
OvaXml BuildAndReparse(const OvaSpec& spec, BuiltOva* built_out = nullptr) {
  auto built = BuildOvaXml(spec);
  EXPECT_TRUE(built.ok()) << built.status().ToString();
  if (!built.ok()) return {};
  auto parsed = ParseOvaXml(PrintOvaXml(built->ova));
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  if (built_out) *built_out = *built;
  return parsed.ok() ? *parsed : OvaXml{};
}

TEST(OvaBuildTest, EveryRequiredFieldIsWrittenAndDemanded) {
  OvaXml ova = BuildAndReparse(TwoDisksSpec());
  for (const auto& [cls, fields] : kRequired) {
    auto objects = OvaObjectsOfClass(ova, cls);
    ASSERT_FALSE(objects.empty()) << cls;
    const auto& demanded = OvaRequiredFields(cls);
    for (const std::string& f : fields) {
      EXPECT_NE(std::find(demanded.begin(), demanded.end(), f), demanded.end())
          << cls << "." << f << " not demanded by the validator";
      for (const OvaObject* o : objects)
        EXPECT_NE(o->snapshot.Find(f), nullptr) << cls << " " << o->id << " lacks " << f;
    }
  }
  EXPECT_TRUE(ValidateOvaXml(ova).ok()) << ValidateOvaXml(ova).ToString();
}

TEST(OvaBuildTest, DocumentShapeAndValues) {
  BuiltOva built;
  OvaXml ova = BuildAndReparse(TwoDisksSpec(), &built);
  std::string text = PrintOvaXml(built.ova);
  EXPECT_EQ(text.rfind("<value><struct>", 0), 0u);  // no XML declaration
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_NE(text.find("<member><name>xapi_minor</name><value>3</value></member>"),
            std::string::npos);  // bare integers, the old-host version
  EXPECT_EQ(ova.version, OvaVersion());

  // VM, 3 VBDs, 3 VIFs, 2 networks (two VIFs share LAN), 2 VDIs, 1 SR.
  EXPECT_EQ(ova.objects.size(), 12u);
  EXPECT_EQ(OvaObjectsOfClass(ova, "network").size(), 2u);
  auto vm = PrimaryVm(ova);
  ASSERT_TRUE(vm.ok());
  const XmlRpcValue& rec = (*vm)->snapshot;
  EXPECT_EQ(rec.Find("power_state")->str(), "Halted");
  EXPECT_EQ(rec.Find("name_label")->str(), "restored <web>");
  EXPECT_EQ(*rec.Find("memory_static_min")->AsInt("m"), int64_t{2} << 30);
  EXPECT_EQ(*rec.Find("VCPUs_max")->AsInt("v"), 2);
  EXPECT_EQ(rec.Find("HVM_boot_policy")->str(), "BIOS order");
  EXPECT_EQ(rec.Find("platform")->Find("viridian")->str(), "true");
  const XmlRpcValue* seed = rec.Find("other_config")->Find("mac_seed");
  ASSERT_NE(seed, nullptr);
  EXPECT_EQ(seed->str().size(), 36u);
  EXPECT_EQ(rec.Find("VBDs")->array().size(), 3u);

  auto vbds = VmVbds(ova, **vm);
  ASSERT_TRUE(vbds.ok());
  ASSERT_EQ(vbds->size(), 3u);
  EXPECT_TRUE((*vbds)[1].empty);  // the CD drive
  EXPECT_EQ((*vbds)[1].vdi_id, "");
  EXPECT_EQ((*vbds)[1].mode, "RO");

  // Every reference is an id of the document or OpaqueRef:NULL.
  std::set<std::string> ids;
  for (const OvaObject& o : ova.objects) ids.insert(o.id);
  for (const OvaObject& o : ova.objects) {
    for (const auto& [name, v] : o.snapshot.members()) {
      if (v.is_string() && (v.str().rfind("Ref:", 0) == 0 || v.str().rfind("OpaqueRef", 0) == 0)) {
        EXPECT_TRUE(v.str() == kOvaNullRef || ids.count(v.str())) << o.id << "." << name;
      }
    }
  }
}

TEST(OvaBuildTest, DisksStreamInSpecOrderWithPaddedIds) {
  BuiltOva built;
  OvaXml ova = BuildAndReparse(TwoDisksSpec(), &built);
  ASSERT_EQ(built.disk_vdi_ids.size(), 3u);
  EXPECT_EQ(built.disk_vdi_ids[1], "");  // the CD has no VDI
  auto vdis = StreamedVdis(ova);
  ASSERT_TRUE(vdis.ok()) << vdis.status().ToString();
  ASSERT_EQ(vdis->size(), 2u);
  EXPECT_EQ((*vdis)[0].id, built.disk_vdi_ids[0]);
  EXPECT_EQ((*vdis)[0].name_label, "root");
  EXPECT_EQ((*vdis)[1].id, built.disk_vdi_ids[2]);
  EXPECT_EQ((*vdis)[1].virtual_size, 12345 * 512);
  for (const OvaObject& o : ova.objects) EXPECT_EQ(o.id.size(), 7u) << o.id;  // Ref:NNN

  // Over 1000 objects the width grows, and byte order still is disk order.
  OvaSpec many;
  many.vm.memory = 1 << 30;
  for (int i = 0; i < 600; ++i) {
    DiskSpec d;
    d.virtual_size = 1 << 20;
    d.userdevice = std::to_string(i);
    many.disks.push_back(d);
  }
  BuiltOva big;
  OvaXml big_ova = BuildAndReparse(many, &big);
  EXPECT_EQ(big_ova.objects.front().id, "Ref:0000");
  auto streamed = StreamedVdis(big_ova);
  ASSERT_TRUE(streamed.ok());
  ASSERT_EQ(streamed->size(), 600u);
  for (size_t i = 0; i < 600; ++i) EXPECT_EQ((*streamed)[i].id, big.disk_vdi_ids[i]);
}

TEST(OvaBuildTest, UuidsAndMacSeedFreshUnlessGiven) {
  OvaSpec spec = TwoDisksSpec();
  OvaXml a = BuildAndReparse(spec);
  OvaXml b = BuildAndReparse(spec);
  auto seed = [](const OvaXml& o) {
    return (*PrimaryVm(o))->snapshot.Find("other_config")->Find("mac_seed")->str();
  };
  EXPECT_NE(seed(a), seed(b));
  EXPECT_NE((*PrimaryVm(a))->snapshot.Find("uuid")->str(),
            (*PrimaryVm(b))->snapshot.Find("uuid")->str());
  spec.vm.uuid = "7a6b1c4e-2f51-4a0e-9d43-7b7f3a1d2c10";
  spec.vm.mac_seed = "0d6f3b1e-8f1c-4a44-a3b2-5c1f7b0e9a21";
  OvaXml c = BuildAndReparse(spec);
  EXPECT_EQ((*PrimaryVm(c))->snapshot.Find("uuid")->str(), spec.vm.uuid);
  EXPECT_EQ(seed(c), spec.vm.mac_seed);
}

TEST(OvaBuildTest, PvGuest) {
  OvaSpec spec = TwoDisksSpec();
  spec.vm.hvm = false;
  spec.vm.pv_bootloader = "pygrub";
  OvaXml ova = BuildAndReparse(spec);
  const XmlRpcValue& rec = (*PrimaryVm(ova))->snapshot;
  EXPECT_EQ(rec.Find("HVM_boot_policy")->str(), "");
  EXPECT_EQ(rec.Find("PV_bootloader")->str(), "pygrub");
  EXPECT_EQ(rec.Find("domain_type")->str(), "pv");
}

TEST(OvaBuildTest, RejectsSpecsXapiWouldRefuse) {
  std::vector<std::pair<const char*, void (*)(OvaSpec&)>> cases = {
      {"no memory", [](OvaSpec& s) { s.vm.memory = 0; }},
      {"no vcpus", [](OvaSpec& s) { s.vm.vcpus = 0; }},
      {"vcpus_max < vcpus", [](OvaSpec& s) { s.vm.vcpus_max = 1; }},
      {"static_min > memory", [](OvaSpec& s) { s.vm.memory_static_min = s.vm.memory + 1; }},
      {"bad vm uuid", [](OvaSpec& s) { s.vm.uuid = "not-a-uuid"; }},
      {"duplicate userdevice", [](OvaSpec& s) { s.disks[2].userdevice = "0"; }},
      {"bad mode", [](OvaSpec& s) { s.disks[0].mode = "rw"; }},
      {"bad type", [](OvaSpec& s) { s.disks[0].type = "Floppy"; }},
      {"bad vdi type", [](OvaSpec& s) { s.disks[0].vdi_type = "suspend"; }},
      {"sizeless disk", [](OvaSpec& s) { s.disks[0].virtual_size = 0; }},
      {"duplicate vif device", [](OvaSpec& s) { s.vifs[1].device = "0"; }},
      {"bad mac", [](OvaSpec& s) { s.vifs[0].mac = "ae-1f-22-33-44-55"; }},
      {"nameless network", [](OvaSpec& s) { s.vifs[2].network_name_label = ""; }},
      {"iso sr", [](OvaSpec& s) { s.sr.content_type = "iso"; }},
  };
  for (const auto& [name, mutate] : cases) {
    OvaSpec spec = TwoDisksSpec();
    mutate(spec);
    auto r = BuildOvaXml(spec);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << name << ": " << r.status().ToString();
  }
}

TEST(OvaBuildTest, ValidatorNamesWhatAnImporterWouldTripOn) {
  const OvaXml good = BuildAndReparse(TwoDisksSpec());
  auto broken = [&](auto mutate, const char* message) {
    OvaXml ova = good;
    mutate(ova);
    Status s = ValidateOvaXml(ova);
    EXPECT_EQ(s.code(), Code::kCorruption) << message;
    EXPECT_NE(s.ToString().find(message), std::string::npos) << s.ToString();
  };
  broken([](OvaXml& o) { o.objects[1].id = o.objects[0].id; }, "used twice");
  broken([](OvaXml& o) {
           auto& m = o.objects[0].snapshot.members();
           m.erase(std::find_if(m.begin(), m.end(), [](auto& p) { return p.first == "PCI_bus"; }));
         },
         "PCI_bus is missing");
  broken([](OvaXml& o) { o.objects[1].snapshot.Set("VDI", "Ref:999"); }, "VDI names Ref:999");
  broken([](OvaXml& o) { o.objects[1].snapshot.Set("VDI", std::string(kOvaNullRef)); },
         "VDI is OpaqueRef:NULL");
  broken([](OvaXml& o) { o.objects[0].snapshot.Set("VIFs", XmlRpcArray{"x"}); },
         "VIFs lists x");
  broken([](OvaXml& o) { o.objects.back().snapshot = XmlRpcValue("SR"); }, "not a struct");
}

TEST(OvaBuildTest, RoundTripKeepsUnknownFields) {
  auto built = BuildOvaXml(TwoDisksSpec());
  ASSERT_TRUE(built.ok());
  built->ova.objects[0].snapshot.Set("field_from_2030", XmlRpcStruct{{"k", "v"}});
  built->ova.objects.push_back({"VTPM", "Ref:999", XmlRpcStruct{{"uuid", "u"}}});
  auto parsed = ParseOvaXml(PrintOvaXml(built->ova));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->objects[0].snapshot.Find("field_from_2030")->Find("k")->str(), "v");
  EXPECT_EQ(parsed->objects.back().cls, "VTPM");
  EXPECT_EQ(PrintOvaXml(*parsed), PrintOvaXml(built->ova));
  EXPECT_TRUE(ValidateOvaXml(*parsed).ok());  // unknown classes are not judged
}

}  // namespace
}  // namespace casulo::formats

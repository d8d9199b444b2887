// Typed records and capability probing on canned records, shaped as real
// servers send them (XML-RPC ints as bare strings, JSON ints as numbers).
#include <gtest/gtest.h>

#include "xapi/probe.h"
#include "xapi/records.h"

namespace casulo::xapi {
namespace {

XmlRpcValue HostRecordValue(int64_t major, int64_t minor, const char* brand, const char* version,
                            const char* xapi) {
  return XmlRpcStruct{
      {"uuid", "h-uuid"},
      {"name_label", "host1"},
      {"hostname", "host1"},
      {"address", "10.0.0.1"},
      {"API_version_major", std::to_string(major)},  // XML-RPC int64: bare string
      {"API_version_minor", XmlRpcValue(minor)},
      {"software_version",
       XmlRpcStruct{{"product_brand", brand}, {"product_version", version}, {"xapi", xapi}}},
      {"enabled", true},
      {"PIFs", XmlRpcArray{"OpaqueRef:p1"}},
      {"PBDs", XmlRpcArray{}},
      {"resident_VMs", XmlRpcArray{}}};
}

TEST(XapiDateTime, WireAndDashedFormsAreUtc) {
  EXPECT_EQ(*ParseXapiDateTime("19700101T00:00:00Z"), 0);
  EXPECT_EQ(*ParseXapiDateTime("20260102T03:04:05Z"), 1767323045);
  EXPECT_EQ(*ParseXapiDateTime("2026-01-02T03:04:05Z"), 1767323045);
  EXPECT_EQ(*ParseXapiDateTime("20260102T03:04:05"), 1767323045);
  EXPECT_EQ(*ParseXapiDateTime("20260102T03:04:05.123Z"), 1767323045);
  for (const char* bad : {"", "2026", "20261302T00:00:00Z", "20260102 03:04:05Z",
                          "20260102T03:04:05Zjunk", "2026-0102T03:04:05Z"}) {
    auto r = ParseXapiDateTime(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kCorruption);
  }
}

TEST(XapiRecords, NullRef) {
  EXPECT_TRUE(IsNullRef("OpaqueRef:NULL"));
  EXPECT_TRUE(IsNullRef(""));
  EXPECT_FALSE(IsNullRef("OpaqueRef:1234"));
}

TEST(XapiRecords, HostFieldsTypedAndOptionalOnesDefaulted) {
  auto h = ParseHost("OpaqueRef:h1", HostRecordValue(2, 15, "Citrix Hypervisor", "8.2.0", "1.249"));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->ref, "OpaqueRef:h1");
  EXPECT_EQ(h->api_version_major, 2);
  EXPECT_EQ(h->api_version_minor, 15);
  EXPECT_EQ(h->software_version.at("product_version"), "8.2.0");
  EXPECT_EQ(h->control_domain, "");  // absent before 7.1
  EXPECT_EQ(h->pifs, std::vector<std::string>{"OpaqueRef:p1"});
}

TEST(XapiRecords, ErrorsNameClassRefAndField) {
  XmlRpcValue v = HostRecordValue(2, 15, "b", "v", "x");
  v.Set("API_version_minor", "fifteen");
  auto h = ParseHost("OpaqueRef:h1", v);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), Code::kCorruption);
  EXPECT_EQ(h.status().message(),
            "host OpaqueRef:h1: field 'API_version_minor': expected an integer");

  XmlRpcStruct no_address;
  XmlRpcValue full = HostRecordValue(2, 15, "b", "v", "x");
  for (const auto& [k, f] : full.members())
    if (k != "address") no_address.emplace_back(k, f);
  auto h2 = ParseHost("OpaqueRef:h2", no_address);
  ASSERT_FALSE(h2.ok());
  EXPECT_EQ(h2.status().message(), "host OpaqueRef:h2: field 'address': missing");

  auto h3 = ParseHost("OpaqueRef:h3", "not a struct");
  ASSERT_FALSE(h3.ok());
  EXPECT_EQ(h3.status().message(), "host OpaqueRef:h3: the record is not a struct");
}

TEST(XapiRecords, VmKindsAndVbdDisks) {
  XmlRpcStruct base{{"uuid", "u"},          {"name_label", "vm"},     {"power_state", "Running"},
                    {"is_a_template", false}, {"is_a_snapshot", false}, {"is_control_domain", false},
                    {"VBDs", XmlRpcArray{"OpaqueRef:b1"}}};
  auto guest = ParseVm("OpaqueRef:v1", base);
  ASSERT_TRUE(guest.ok()) << guest.status().ToString();
  EXPECT_TRUE(guest->IsGuest());
  EXPECT_EQ(guest->snapshot_of, kNullRef);
  XmlRpcValue snap = base;
  snap.Set("is_a_snapshot", "true");  // booleans as text are accepted
  snap.Set("is_a_template", true);
  auto s = ParseVm("OpaqueRef:v2", snap);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->IsGuest());

  XmlRpcStruct vbd{{"uuid", "u"}, {"VM", "OpaqueRef:v1"}, {"VDI", "OpaqueRef:NULL"}, {"type", "CD"}};
  EXPECT_FALSE(ParseVbd("OpaqueRef:b1", vbd)->IsDisk());
  XmlRpcValue disk = vbd;
  disk.Set("VDI", "OpaqueRef:d1");
  disk.Set("type", "Disk");
  EXPECT_TRUE(ParseVbd("OpaqueRef:b2", disk)->IsDisk());
}

TEST(XapiRecords, SrNetworkPifVlanBond) {
  auto sr = ParseSr("OpaqueRef:s", XmlRpcStruct{{"uuid", "u"}, {"name_label", "NFS"}, {"type", "nfs"},
                                                {"shared", true}, {"physical_size", "1073741824"},
                                                {"physical_utilisation", XmlRpcValue(int64_t(5))}});
  ASSERT_TRUE(sr.ok()) << sr.status().ToString();
  EXPECT_EQ(sr->physical_size, 1073741824);
  EXPECT_EQ(sr->virtual_allocation, 0);

  auto net = ParseNetwork("OpaqueRef:n", XmlRpcStruct{{"uuid", "u"}, {"name_label", "n"},
                                                      {"bridge", "xenbr0"}, {"MTU", "9000"}});
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->purpose.empty());  // before 7.3
  EXPECT_EQ(net->mtu, 9000);

  auto pif = ParsePif("OpaqueRef:p", XmlRpcStruct{{"uuid", "u"}, {"device", "eth0"},
                                                  {"network", "OpaqueRef:n"}, {"host", "OpaqueRef:h"},
                                                  {"VLAN", "-1"}});
  ASSERT_TRUE(pif.ok()) << pif.status().ToString();
  EXPECT_EQ(pif->vlan, -1);

  auto vlan = ParseVlan("OpaqueRef:v", XmlRpcStruct{{"uuid", "u"}, {"tagged_PIF", "OpaqueRef:p"},
                                                    {"untagged_PIF", "OpaqueRef:q"}, {"tag", "100"}});
  ASSERT_TRUE(vlan.ok());
  EXPECT_EQ(vlan->tag, 100);

  auto bond = ParseBond("OpaqueRef:b", XmlRpcStruct{{"uuid", "u"}, {"master", "OpaqueRef:p"},
                                                    {"slaves", XmlRpcArray{"OpaqueRef:a", 7}}});
  ASSERT_FALSE(bond.ok());
  EXPECT_EQ(bond.status().message(), "Bond OpaqueRef:b: field 'slaves': expected an array of strings");
}

TEST(XapiRecords, AllRecordsInServerOrder) {
  XmlRpcValue all = XmlRpcStruct{
      {"OpaqueRef:b", XmlRpcStruct{{"uuid", "2"}, {"tagged_PIF", "x"}, {"untagged_PIF", "y"}, {"tag", 2}}},
      {"OpaqueRef:a", XmlRpcStruct{{"uuid", "1"}, {"tagged_PIF", "x"}, {"untagged_PIF", "y"}, {"tag", 1}}}};
  auto v = ParseAllRecords<VlanRecord>(all, ParseVlan);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 2u);
  EXPECT_EQ((*v)[0].ref, "OpaqueRef:b");
  EXPECT_FALSE(ParseAllRecords<VlanRecord>(XmlRpcArray{}, ParseVlan).ok());
}

Capabilities ProbeOf(int64_t major, int64_t minor, const char* brand, const char* version,
                     const char* xapi, const std::vector<NetworkRecord>* nets = nullptr,
                     const PoolRecord* pool = nullptr, const XmlRpcValue* vdi = nullptr) {
  HostRecord h = *ParseHost("OpaqueRef:m", HostRecordValue(major, minor, brand, version, xapi));
  return ProbeCapabilities({pool, &h, nets, vdi});
}

TEST(XapiProbe, XenServer65HasNoCbtNbdXxhashOrIgnoreVdis) {
  Capabilities c = ProbeOf(2, 3, "XenServer", "6.5.0", "1.9");
  EXPECT_EQ(c.api.ToString(), "2.3");
  EXPECT_TRUE(c.login_originator);
  EXPECT_TRUE(c.snapshot_with_quiesce);
  EXPECT_FALSE(c.cbt);
  EXPECT_FALSE(c.nbd());
  EXPECT_FALSE(c.xva_xxhash);
  EXPECT_FALSE(c.ignore_vdis);
  EXPECT_FALSE(c.json_rpc_v2);
  EXPECT_EQ(c.ProductText(), "XenServer 6.5.0 (API 2.3, xapi 1.9)");
}

TEST(XapiProbe, CitrixHypervisor82) {
  std::vector<NetworkRecord> nets(3);
  nets[0].ref = "OpaqueRef:n0";
  nets[1].ref = "OpaqueRef:n1";
  nets[1].name_label = "backup";
  nets[1].purpose = {"nbd"};
  nets[2].ref = "OpaqueRef:n2";
  nets[2].name_label = "lab";
  nets[2].purpose = {"insecure_nbd"};
  PoolRecord pool;
  pool.restrictions = {{"restrict_cbt", "true"}};
  Capabilities c = ProbeOf(2, 15, "Citrix Hypervisor", "8.2.0", "1.249", &nets, &pool);
  EXPECT_TRUE(c.cbt);
  EXPECT_FALSE(c.cbt_licensed);
  EXPECT_TRUE(c.xva_xxhash);
  EXPECT_FALSE(c.snapshot_with_quiesce);
  EXPECT_FALSE(c.ignore_vdis);  // xapi 1.249 predates 21.4.0
  ASSERT_TRUE(c.nbd());
  ASSERT_EQ(c.nbd_networks.size(), 2u);
  EXPECT_TRUE(c.nbd_networks[0].tls);
  EXPECT_FALSE(c.nbd_networks[1].tls);
}

TEST(XapiProbe, IgnoreVdisFromNumberedXapiOrApi221) {
  EXPECT_TRUE(ProbeOf(2, 20, "XCP-ng", "8.3.0", "24.19.2").ignore_vdis);
  EXPECT_TRUE(ProbeOf(2, 15, "x", "y", "21.4.0").ignore_vdis);
  EXPECT_FALSE(ProbeOf(2, 15, "x", "y", "21.3.0").ignore_vdis);
  EXPECT_TRUE(ProbeOf(2, 21, "XenServer", "8", "").ignore_vdis);
}

TEST(XapiProbe, CbtFieldPresenceCountsOnOddVersions) {
  XmlRpcValue vdi = XmlRpcStruct{{"uuid", "u"}, {"cbt_enabled", false}};
  EXPECT_TRUE(ProbeOf(1, 1, "odd", "0", "", nullptr, nullptr, &vdi).cbt);
  EXPECT_FALSE(ProbeOf(1, 1, "odd", "0", "").cbt);
  // NBD purposes on a server below 7.3 are not trusted.
  std::vector<NetworkRecord> nets(1);
  nets[0].purpose = {"nbd"};
  EXPECT_FALSE(ProbeOf(2, 7, "XenServer", "7.2", "1.1", &nets).nbd());
}

TEST(XapiProbe, XapiVersionParse) {
  int64_t a, b;
  ASSERT_TRUE(ParseXapiVersion("24.19.2", &a, &b));
  EXPECT_EQ(a, 24);
  EXPECT_EQ(b, 19);
  ASSERT_TRUE(ParseXapiVersion("1.249", &a, &b));
  EXPECT_EQ(b, 249);
  EXPECT_FALSE(ParseXapiVersion("", &a, &b));
  EXPECT_FALSE(ParseXapiVersion("v1", &a, &b));
}

}  // namespace
}  // namespace casulo::xapi

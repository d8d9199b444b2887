#include "sim/demo.h"

#include <fmt/format.h>

namespace casulo::sim {
namespace {

constexpr int64_t kMiB = 1 << 20;

struct Product {
  std::string_view name;
  int64_t api_major, api_minor;
  const char *version, *brand, *platform, *xapi, *build;
};

const Product kProducts[] = {
    {"xenserver-6.5", 2, 3, "6.5.0", "XenServer", "1.9.0", "1.3", "90233c"},
    {"xenserver-7.1", 2, 6, "7.1.0", "XenServer", "2.2.0", "1.9", "137272c"},
    {"citrix-8.2", 2, 15, "8.2.0", "Citrix Hypervisor", "3.2.0", "1.249", "release/stockholm/master/7"},
    {"xcp-ng-8.3", 2, 21, "8.3.0", "XCP-ng", "3.4.0", "24.19.2", "release/yangtze/master/8"},
};

const Product* FindProduct(std::string_view name) {
  for (const auto& p : kProducts)
    if (p.name == name) return &p;
  return nullptr;
}

XmlRpcValue Str(std::string s) { return XmlRpcValue(std::move(s)); }
XmlRpcValue Refs(std::initializer_list<std::string> refs) {
  XmlRpcArray a;
  for (const auto& r : refs) a.emplace_back(r);
  return XmlRpcValue(std::move(a));
}

struct Builder {
  Store& st;
  // Creates cls with fields and links it into parent's set field.
  std::string Child(std::string_view cls, XmlRpcStruct fields, std::string_view parent_cls,
                    const std::string& parent, std::string_view parent_field) {
    std::string ref = st.Create(cls, std::move(fields));
    st.AddToSet(parent_cls, parent, parent_field, ref);
    return ref;
  }

  std::string Vdi(const std::string& sr, std::string name, int64_t mib) {
    return Child("VDI", {{"name_label", Str(std::move(name))}, {"SR", Str(sr)},
                         {"virtual_size", XmlRpcValue(mib * kMiB)},
                         {"physical_utilisation", XmlRpcValue(mib * kMiB / 4)}},
                 "SR", sr, "VDIs");
  }

  void Vbd(const std::string& vm, const std::string& vdi, int userdevice, bool attached) {
    bool cd = vdi.empty();
    std::string ref = Child(
        "VBD", {{"VM", Str(vm)}, {"VDI", cd ? NullRef() : Str(vdi)},
                {"device", Str(cd ? "xvdd" : fmt::format("xvd{}", char('a' + userdevice)))},
                {"userdevice", Str(std::to_string(userdevice))}, {"bootable", XmlRpcValue(userdevice == 0)},
                {"mode", Str(cd ? "RO" : "RW")}, {"type", Str(cd ? "CD" : "Disk")},
                {"empty", XmlRpcValue(cd)}, {"currently_attached", XmlRpcValue(attached && !cd)}},
        "VM", vm, "VBDs");
    if (!cd) st.AddToSet("VDI", vdi, "VBDs", ref);
  }

  std::string Vm(std::string name, std::string_view power, const std::string& host,
                 bool is_template) {
    bool running = power == "Running";
    std::string ref = st.Create(
        "VM", {{"name_label", Str(std::move(name))}, {"power_state", Str(std::string(power))},
               {"is_a_template", XmlRpcValue(is_template)},
               {"resident_on", running ? Str(host) : NullRef()},
               {"memory_static_max", XmlRpcValue(2048 * kMiB)},
               {"memory_dynamic_max", XmlRpcValue(2048 * kMiB)},
               {"memory_dynamic_min", XmlRpcValue(1024 * kMiB)},
               {"memory_static_min", XmlRpcValue(512 * kMiB)},
               {"VCPUs_max", XmlRpcValue(2)}, {"VCPUs_at_startup", XmlRpcValue(2)},
               {"HVM_boot_policy", Str("BIOS order")},
               {"domid", XmlRpcValue(running ? int64_t(st.Objects("VM").size()) : -1)}});
    if (running) st.AddToSet("host", host, "resident_VMs", ref);
    return ref;
  }

  void Vif(const std::string& vm, const std::string& net, int device, bool attached) {
    std::string ref = Child("VIF", {{"VM", Str(vm)}, {"network", Str(net)},
                                    {"device", Str(std::to_string(device))},
                                    {"MAC", Str(fmt::format("aa:bb:cc:{:02x}:00:{:02x}",
                                                            st.Objects("VIF").size(), device))},
                                    {"currently_attached", XmlRpcValue(attached)}},
                            "VM", vm, "VIFs");
    st.AddToSet("network", net, "VIFs", ref);
  }
};

// A secret as XAPI keeps SR credentials: the PBD's device_config names the
// secret's uuid (so /pool/xmldbdump really carries one).
std::string DemoSecret(Store& st) {
  std::string ref = st.Create("secret", {{"value", Str("demo-sr-password")}});
  return st.Find("secret", ref)->Find("uuid")->str();
}

}  // namespace

bool IsKnownProduct(std::string_view product) { return FindProduct(product) != nullptr; }

void BuildDemoPool(Store& st, std::string_view product_name, const std::vector<std::string>& addresses) {
  const Product& p = *FindProduct(product_name);
  Builder b{st};
  XmlRpcStruct sw{{"product_version", Str(p.version)},
                  {"product_version_text", Str(std::string(p.version).substr(0, 3))},
                  {"product_brand", Str(p.brand)}, {"platform_version", Str(p.platform)},
                  {"xapi", Str(p.xapi)}, {"build_number", Str(p.build)},
                  {"hostname", Str("casulo-sim")}};
  auto net = [&](std::string name, std::string bridge) {
    return st.Create("network", {{"name_label", Str(std::move(name))}, {"bridge", Str(std::move(bridge))}});
  };
  std::string net0 = net("Pool-wide network associated with eth0", "xenbr0");
  std::string net1 = net("Pool-wide network associated with eth1", "xenbr1");
  std::string bond_net = net("Bond 0+1", "xapi1");
  std::string vlan_net = net("VLAN 100 (backup)", "xapi2");
  st.Mutate("network", bond_net)->Set("purpose", Refs({"nbd"}));

  std::string nfs = st.Create("SR", {{"name_label", Str("NFS storage")}, {"type", Str("nfs")},
                                     {"content_type", Str("user")}, {"shared", XmlRpcValue(true)},
                                     {"physical_size", XmlRpcValue(int64_t(200) << 30)}});
  std::string local = st.Create("SR", {{"name_label", Str("Local storage")}, {"type", Str("lvm")},
                                       {"content_type", Str("user")},
                                       {"physical_size", XmlRpcValue(int64_t(50) << 30)}});
  std::vector<std::string> hosts;
  for (int i = 0; i < kDemoHosts; ++i) {
    std::string addr = addresses.empty() ? fmt::format("10.0.0.{}", i + 1) : addresses[size_t(i)];
    std::string name = fmt::format("sim-host-{}", i + 1);
    std::string h = st.Create(
        "host", {{"name_label", Str(name)}, {"hostname", Str(name)}, {"address", Str(addr)},
                 {"API_version_major", XmlRpcValue(p.api_major)},
                 {"API_version_minor", XmlRpcValue(p.api_minor)},
                 {"software_version", XmlRpcValue(sw)},
                 {"cpu_info", XmlRpcValue(XmlRpcStruct{{"cpu_count", Str("8")}})}});
    hosts.push_back(h);
    auto pif = [&](XmlRpcStruct f, const std::string& network) {
      f.emplace_back("host", Str(h));
      f.emplace_back("network", Str(network));
      f.emplace_back("currently_attached", XmlRpcValue(true));
      std::string ref = b.Child("PIF", std::move(f), "host", h, "PIFs");
      st.AddToSet("network", network, "PIFs", ref);
      return ref;
    };
    std::string eth0 = pif({{"device", Str("eth0")}, {"physical", XmlRpcValue(true)},
                            {"MAC", Str(fmt::format("00:16:3e:00:{:02x}:00", i))}}, net0);
    std::string eth1 = pif({{"device", Str("eth1")}, {"physical", XmlRpcValue(true)},
                            {"MAC", Str(fmt::format("00:16:3e:00:{:02x}:01", i))}}, net1);
    std::string bond_pif = pif({{"device", Str("bond0")}, {"management", XmlRpcValue(true)},
                                {"MAC", Str(fmt::format("00:16:3e:00:{:02x}:00", i))},
                                {"ip_configuration_mode", Str("Static")}, {"IP", Str(addr)},
                                {"netmask", Str("255.255.255.0")}, {"gateway", Str("10.0.0.254")},
                                {"DNS", Str("10.0.0.254")}}, bond_net);
    std::string bond = st.Create("Bond", {{"master", Str(bond_pif)}, {"slaves", Refs({eth0, eth1})},
                                          {"primary_slave", Str(eth0)}, {"mode", Str("active-backup")},
                                          {"links_up", XmlRpcValue(2)}});
    st.AddToSet("PIF", bond_pif, "bond_master_of", bond);
    for (const auto& s : {eth0, eth1}) st.Mutate("PIF", s)->Set("bond_slave_of", Str(bond));
    std::string vlan_pif = pif({{"device", Str("bond0")}, {"VLAN", XmlRpcValue(100)},
                                {"MAC", Str(fmt::format("00:16:3e:00:{:02x}:00", i))},
                                {"ip_configuration_mode", Str("Static")},
                                {"IP", Str(fmt::format("192.168.100.{}", i + 1))},
                                {"netmask", Str("255.255.255.0")}}, vlan_net);
    std::string vlan = st.Create("VLAN", {{"tagged_PIF", Str(bond_pif)},
                                          {"untagged_PIF", Str(vlan_pif)}, {"tag", XmlRpcValue(100)}});
    st.Mutate("PIF", vlan_pif)->Set("VLAN_master_of", Str(vlan));
    st.AddToSet("PIF", bond_pif, "VLAN_slave_of", vlan);

    auto pbd = [&](const std::string& sr, XmlRpcStruct config) {
      std::string ref = b.Child("PBD", {{"host", Str(h)}, {"SR", Str(sr)},
                                        {"device_config", XmlRpcValue(std::move(config))},
                                        {"currently_attached", XmlRpcValue(true)}},
                                "host", h, "PBDs");
      st.AddToSet("SR", sr, "PBDs", ref);
    };
    pbd(nfs, {{"server", Str("10.0.0.200")}, {"serverpath", Str("/export/sr")},
              {"password_secret", Str(DemoSecret(st))}});
    if (i == 0) pbd(local, {{"device", Str("/dev/sda3")}});
    if (i == 1) {  // a local SR the master cannot see: its VDI's transfers are redirected
      std::string own = st.Create("SR", {{"name_label", Str("Local storage")}, {"type", Str("lvm")},
                                         {"content_type", Str("user")},
                                         {"physical_size", XmlRpcValue(int64_t(50) << 30)}});
      pbd(own, {{"device", Str("/dev/sda3")}});
      b.Vdi(own, name + " scratch", 16);
    }

    std::string dom0 = st.Create(
        "VM", {{"name_label", Str("Control domain on host: " + name)},
               {"is_control_domain", XmlRpcValue(true)}, {"power_state", Str("Running")},
               {"resident_on", Str(h)}, {"domid", XmlRpcValue(0)}});
    st.AddToSet("host", h, "resident_VMs", dom0);
    st.Mutate("host", h)->Set("control_domain", Str(dom0));
  }
  std::string pool = st.Create("pool", {{"name_label", Str("casulo-sim pool")},
                                        {"master", Str(hosts[0])}, {"default_SR", Str(nfs)}});
  (void)pool;
  st.this_host = hosts[0];

  struct Guest {
    const char* name;
    const char* power;
    int host;
    bool is_template;
    bool local;
    std::vector<int64_t> disks_mib;
  };
  const Guest guests[] = {
      {"debian-web", "Running", 0, false, false, {200, 64}},
      {"debian-db", "Running", 1, false, false, {256}},
      // Windows: a 40 GiB "NTFS" disk of which a few MiB are allocated.
      {"win2019", "Running", 0, false, true, {40 * 1024}},
      {"alpine-halted", "Halted", 0, false, true, {32}},
      {"debian-12-template", "Halted", 0, true, false, {100}},
  };
  for (const auto& g : guests) {
    std::string vm = b.Vm(g.name, g.power, hosts[g.host], g.is_template);
    bool running = std::string_view(g.power) == "Running";
    for (size_t d = 0; d < g.disks_mib.size(); ++d) {
      std::string vdi = b.Vdi(g.local ? local : nfs, fmt::format("{} disk {}", g.name, d),
                              g.disks_mib[d]);
      b.Vbd(vm, vdi, int(d), running);
    }
    b.Vbd(vm, "", 3, running);  // empty CD drive
    b.Vif(vm, bond_net, 0, running);
    // Windows guests run with the Hyper-V enlightenments on (CreateDemoDisks
    // keys the disk content on it).
    if (std::string_view(g.name).rfind("win", 0) == 0)
      st.Mutate("VM", vm)->Set("platform", XmlRpcValue(XmlRpcStruct{{"viridian", Str("true")}}));
  }
  // dom0s have memory and vCPUs like any domain (exports of all VMs need them).
  for (const auto& [ref, obj] : st.Objects("VM")) {
    if (!obj.record.Find("is_control_domain")->b()) continue;
    XmlRpcValue* dom0 = st.Mutate("VM", ref);
    for (const char* f : {"memory_static_min", "memory_static_max", "memory_dynamic_min",
                          "memory_dynamic_max"})
      dom0->Set(f, XmlRpcValue(4096 * kMiB));
    dom0->Set("VCPUs_max", XmlRpcValue(8));
    dom0->Set("VCPUs_at_startup", XmlRpcValue(8));
  }
}

}  // namespace casulo::sim

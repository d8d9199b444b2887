// Field tables from the reference (xapi-protocol.md §1.5, §2), types as
// xenapi.json declares them: ints are int64, refs strings, sets arrays, maps
// structs, datetimes dateTime.iso8601.
#include "sim/schema.h"

namespace casulo::sim {

XmlRpcValue NullRef() { return XmlRpcValue(std::string(kNullRef)); }
XmlRpcValue NullDate() { return XmlRpcValue(XmlRpcValue::DateTime{std::string(kNullDate)}); }

const XmlRpcValue* ClassSchema::Default(std::string_view field) const {
  for (const auto& [k, v] : defaults)
    if (k == field) return &v;
  return nullptr;
}

bool ClassSchema::IsWritable(std::string_view field) const {
  for (const auto& w : writable)
    if (w == field) return true;
  return false;
}

namespace {

XmlRpcValue S(const char* s = "") { return XmlRpcValue(std::string(s)); }
XmlRpcValue I(int64_t i = 0) { return XmlRpcValue(i); }
XmlRpcValue B(bool b = false) { return XmlRpcValue(b); }
XmlRpcValue F(double d = 0.0) { return XmlRpcValue(d); }
XmlRpcValue M() { return XmlRpcValue(XmlRpcStruct{}); }
XmlRpcValue A() { return XmlRpcValue(XmlRpcArray{}); }

// Fields every named object has.
XmlRpcStruct Named(XmlRpcStruct rest) {
  XmlRpcStruct out{{"uuid", S()}, {"name_label", S()}, {"name_description", S()}};
  for (auto& m : rest) out.push_back(std::move(m));
  return out;
}

const std::vector<std::string> kNamedRw = {"name_label", "name_description", "other_config",
                                           "tags"};

std::vector<std::string> Plus(std::vector<std::string> a, std::vector<std::string> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<ClassSchema> Build() {
  std::vector<ClassSchema> c;
  c.push_back({"pool",
               Named({{"master", NullRef()}, {"default_SR", NullRef()}, {"suspend_image_SR", NullRef()},
                      {"crash_dump_SR", NullRef()}, {"other_config", M()}, {"tags", A()},
                      {"restrictions", M()}, {"ha_enabled", B()}, {"allowed_operations", A()},
                      {"current_operations", M()}}),
               Plus(kNamedRw, {"default_SR"})});
  c.push_back({"host",
               Named({{"hostname", S()}, {"address", S()}, {"API_version_major", I()},
                      {"API_version_minor", I()}, {"API_version_vendor", S("XenSource")},
                      {"software_version", M()}, {"enabled", B(true)}, {"PIFs", A()}, {"PBDs", A()},
                      {"resident_VMs", A()}, {"control_domain", NullRef()}, {"metrics", NullRef()},
                      {"cpu_info", M()}, {"memory_overhead", I()}, {"other_config", M()},
                      {"tags", A()}, {"allowed_operations", A()}, {"current_operations", M()}}),
               kNamedRw});
  c.push_back({"VM",
               Named({{"power_state", S("Halted")}, {"is_a_template", B()},
                      {"is_default_template", B()}, {"is_a_snapshot", B()},
                      {"is_control_domain", B()}, {"snapshot_of", NullRef()}, {"snapshots", A()},
                      {"snapshot_time", NullDate()}, {"snapshot_info", M()}, {"parent", NullRef()},
                      {"children", A()}, {"VBDs", A()}, {"VIFs", A()}, {"VTPMs", A()},
                      {"resident_on", NullRef()}, {"affinity", NullRef()},
                      {"suspend_VDI", NullRef()}, {"user_version", I(1)},
                      {"memory_static_min", I()}, {"memory_static_max", I()},
                      {"memory_dynamic_min", I()}, {"memory_dynamic_max", I()},
                      {"VCPUs_max", I(1)}, {"VCPUs_at_startup", I(1)}, {"domain_type", S("hvm")},
                      {"platform", M()}, {"HVM_boot_policy", S()}, {"HVM_boot_params", M()},
                      {"PV_bootloader", S()}, {"PV_kernel", S()}, {"PV_args", S()},
                      {"NVRAM", M()}, {"xenstore_data", M()}, {"bios_strings", M()},
                      {"blocked_operations", M()}, {"allowed_operations", A()},
                      {"current_operations", M()}, {"other_config", M()}, {"tags", A()},
                      {"domid", I(-1)}, {"metrics", NullRef()}, {"guest_metrics", NullRef()},
                      {"ha_restart_priority", S()}, {"has_vendor_device", B()}}),
               Plus(kNamedRw, {"is_a_template", "blocked_operations", "xenstore_data", "platform",
                               "HVM_boot_params", "affinity", "NVRAM"})});
  c.push_back({"VBD",
               {{"uuid", S()}, {"VM", NullRef()}, {"VDI", NullRef()}, {"device", S()},
                {"userdevice", S()}, {"bootable", B()}, {"mode", S("RW")}, {"type", S("Disk")},
                {"unpluggable", B(true)}, {"empty", B()}, {"currently_attached", B()},
                {"storage_lock", B()}, {"status_code", I()}, {"status_detail", S()},
                {"qos_algorithm_type", S()}, {"qos_algorithm_params", M()},
                {"allowed_operations", A()}, {"current_operations", M()}, {"other_config", M()},
                {"metrics", NullRef()}},
               {"other_config", "userdevice", "bootable", "mode", "type", "unpluggable",
                "qos_algorithm_type", "qos_algorithm_params"}});
  c.push_back({"VDI",
               Named({{"SR", NullRef()}, {"VBDs", A()}, {"crash_dumps", A()},
                      {"virtual_size", I()}, {"physical_utilisation", I()}, {"type", S("user")},
                      {"sharable", B()}, {"read_only", B()}, {"managed", B(true)},
                      {"missing", B()}, {"parent", NullRef()}, {"location", S()},
                      {"sm_config", M()}, {"other_config", M()}, {"xenstore_data", M()},
                      {"storage_lock", B()}, {"is_a_snapshot", B()}, {"snapshot_of", NullRef()},
                      {"snapshots", A()}, {"snapshot_time", NullDate()}, {"on_boot", S("persist")},
                      {"allow_caching", B()}, {"is_tools_iso", B()}, {"cbt_enabled", B()},
                      {"metadata_of_pool", NullRef()}, {"metadata_latest", B()},
                      {"allowed_operations", A()}, {"current_operations", M()}, {"tags", A()}}),
               Plus(kNamedRw, {"sm_config", "xenstore_data"})});
  c.push_back({"SR",
               Named({{"type", S()}, {"content_type", S()}, {"shared", B()},
                      {"physical_size", I()}, {"physical_utilisation", I()},
                      {"virtual_allocation", I()}, {"VDIs", A()}, {"PBDs", A()},
                      {"sm_config", M()}, {"other_config", M()}, {"tags", A()},
                      {"allowed_operations", A()}, {"current_operations", M()},
                      {"local_cache_enabled", B()}, {"clustered", B()}, {"is_tools_sr", B()}}),
               Plus(kNamedRw, {"sm_config"})});
  c.push_back({"PBD",
               {{"uuid", S()}, {"host", NullRef()}, {"SR", NullRef()}, {"device_config", M()},
                {"currently_attached", B()}, {"other_config", M()}},
               {"other_config"}});
  c.push_back({"network",
               Named({{"bridge", S()}, {"MTU", I(1500)}, {"PIFs", A()}, {"VIFs", A()},
                      {"managed", B(true)}, {"purpose", A()}, {"default_locking_mode", S("unlocked")},
                      {"other_config", M()}, {"tags", A()}, {"allowed_operations", A()},
                      {"current_operations", M()}}),
               Plus(kNamedRw, {"MTU", "purpose"})});
  c.push_back({"PIF",
               {{"uuid", S()}, {"device", S()}, {"network", NullRef()}, {"host", NullRef()},
                {"MAC", S()}, {"MTU", I(1500)}, {"VLAN", I(-1)}, {"physical", B()},
                {"currently_attached", B()}, {"management", B()},
                {"ip_configuration_mode", S("None")}, {"IP", S()}, {"netmask", S()},
                {"gateway", S()}, {"DNS", S()}, {"IPv6", A()}, {"primary_address_type", S("IPv4")},
                {"bond_master_of", A()}, {"bond_slave_of", NullRef()},
                {"VLAN_master_of", NullRef()}, {"VLAN_slave_of", A()}, {"managed", B(true)},
                {"metrics", NullRef()}, {"other_config", M()}},
               {"other_config"}});
  c.push_back({"VLAN",
               {{"uuid", S()}, {"tagged_PIF", NullRef()}, {"untagged_PIF", NullRef()},
                {"tag", I(-1)}, {"other_config", M()}},
               {"other_config"}});
  c.push_back({"Bond",
               {{"uuid", S()}, {"master", NullRef()}, {"slaves", A()}, {"primary_slave", NullRef()},
                {"mode", S("balance-slb")}, {"properties", M()}, {"links_up", I()},
                {"other_config", M()}},
               {"other_config"}});
  c.push_back({"VIF",
               {{"uuid", S()}, {"device", S()}, {"network", NullRef()}, {"VM", NullRef()},
                {"MAC", S()}, {"MTU", I(1500)}, {"MAC_autogenerated", B()},
                {"currently_attached", B()}, {"locking_mode", S("network_default")},
                {"ipv4_allowed", A()}, {"ipv6_allowed", A()}, {"qos_algorithm_type", S()},
                {"qos_algorithm_params", M()}, {"allowed_operations", A()},
                {"current_operations", M()}, {"other_config", M()}, {"metrics", NullRef()}},
               {"other_config", "locking_mode", "qos_algorithm_type", "qos_algorithm_params"}});
  // secret: credentials referenced from e.g. PBD device_config *_secret keys
  // (xmldbdump carries them, xapi-protocol.md §4.1).
  c.push_back({"secret", {{"uuid", S()}, {"value", S()}, {"other_config", M()}},
               {"value", "other_config"}});
  c.push_back({"task",
               Named({{"created", NullDate()}, {"finished", NullDate()}, {"status", S("pending")},
                      {"resident_on", NullRef()}, {"progress", F()}, {"type", S()},
                      {"result", S()}, {"error_info", A()}, {"other_config", M()},
                      {"subtask_of", NullRef()}, {"subtasks", A()}, {"backtrace", S("()")},
                      {"allowed_operations", A()}, {"current_operations", M()}}),
               {"other_config"}});
  c.push_back({"session",
               {{"uuid", S()}, {"this_host", NullRef()}, {"this_user", NullRef()},
                {"last_active", NullDate()}, {"pool", B()}, {"other_config", M()},
                {"is_local_superuser", B(true)}, {"subject", NullRef()},
                {"validation_time", NullDate()}, {"auth_user_sid", S()},
                {"auth_user_name", S()}, {"rbac_permissions", A()}, {"tasks", A()},
                {"parent", NullRef()}, {"originator", S()}},
               {"other_config"},
               /*has_get_all=*/false});
  return c;
}

}  // namespace

const std::vector<ClassSchema>& AllClasses() {
  static const std::vector<ClassSchema> kClasses = Build();
  return kClasses;
}

const ClassSchema* FindClass(std::string_view name) {
  for (const auto& c : AllClasses())
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace casulo::sim

// Building ova.xml for one halted VM. Each record carries the fields XAPI
// cannot default (ova_check.cc) plus the rest of Xen Orchestra's working set
// (@xen-orchestra/xva templates), with the values XAPI's own export writes
// for a halted VM that never ran (export.ml make_*): runtime state cleared,
// references as ids or OpaqueRef:NULL. docs/format/ova-xml.md lists them.
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "formats/ova.h"

namespace casulo::formats {
namespace {

constexpr std::string_view kNull = kOvaNullRef;
const XmlRpcValue::DateTime kEpoch{"19700101T00:00:00Z"};  // XAPI's Date.never

XmlRpcValue Map(const OvaMap& m) {
  XmlRpcStruct s;
  for (const auto& [k, v] : m) s.emplace_back(k, v);
  return s;
}
XmlRpcValue List(const std::vector<std::string>& l) {
  XmlRpcArray a(l.begin(), l.end());
  return a;
}
XmlRpcValue NoMap() { return XmlRpcStruct{}; }
XmlRpcValue NoList() { return XmlRpcArray{}; }
XmlRpcValue Null() { return std::string(kNull); }

Result<std::string> RandomUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) return Error(Code::kInternal, "RAND_bytes failed");
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += fmt::format("{:02x}", b[i]);
  }
  return s;
}

// `given` if set (then it must be a canonical UUID), else a fresh one.
Result<std::string> UuidOr(const std::string& given, std::string_view what) {
  if (given.empty()) return RandomUuid();
  bool ok = given.size() == 36;
  for (size_t i = 0; ok && i < given.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    ok = dash ? given[i] == '-' : std::isxdigit(static_cast<unsigned char>(given[i])) != 0;
  }
  if (!ok) return Error(Code::kInvalidArgument, "{}: '{}' is not a UUID", what, given);
  return given;
}

bool IsNumber(const std::string& s) {
  if (s.empty() || s.size() > 3) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

bool IsMac(const std::string& s) {
  if (s.size() != 17) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i % 3 == 2 ? s[i] != ':' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

Status CheckSpec(const OvaSpec& spec) {
  const VmSpec& vm = spec.vm;
  if (vm.memory <= 0) return Error(Code::kInvalidArgument, "VM memory must be positive");
  if (vm.memory_static_min < 0 || vm.memory_static_min > vm.memory)
    return Error(Code::kInvalidArgument, "VM memory_static_min must lie in [0, memory]");
  if (vm.vcpus < 1) return Error(Code::kInvalidArgument, "VM needs at least one vCPU");
  if (vm.vcpus_max != 0 && vm.vcpus_max < vm.vcpus)
    return Error(Code::kInvalidArgument, "VM vcpus_max is below vcpus");
  std::set<std::string> userdevices, devices;
  for (const DiskSpec& d : spec.disks) {
    if (d.type != "Disk" && d.type != "CD")
      return Error(Code::kInvalidArgument, "disk type '{}': expected Disk or CD", d.type);
    if (d.mode != "RW" && d.mode != "RO")
      return Error(Code::kInvalidArgument, "disk mode '{}': expected RW or RO", d.mode);
    if (d.vdi_type != "user" && d.vdi_type != "system")
      return Error(Code::kInvalidArgument, "VDI type '{}': expected user or system", d.vdi_type);
    if (d.type == "Disk" && d.virtual_size <= 0)
      return Error(Code::kInvalidArgument, "disk {}: virtual_size must be positive", d.userdevice);
    if (!IsNumber(d.userdevice) || !userdevices.insert(d.userdevice).second)
      return Error(Code::kInvalidArgument, "userdevice '{}' is not a free number", d.userdevice);
  }
  for (const VifSpec& v : spec.vifs) {
    if (!IsNumber(v.device) || !devices.insert(v.device).second)
      return Error(Code::kInvalidArgument, "VIF device '{}' is not a free number", v.device);
    if (!v.mac.empty() && !IsMac(v.mac))
      return Error(Code::kInvalidArgument, "VIF {}: '{}' is not a MAC", v.device, v.mac);
    if (v.mtu <= 0 || v.network_mtu <= 0)
      return Error(Code::kInvalidArgument, "VIF {}: MTU must be positive", v.device);
    if (v.network_name_label.empty())
      return Error(Code::kInvalidArgument, "VIF {}: the network needs a name_label", v.device);
  }
  return OkStatus();
}

XmlRpcValue VmRecord(const VmSpec& s, const std::string& uuid, const std::string& mac_seed,
                     const std::vector<std::string>& vbds, const std::vector<std::string>& vifs) {
  OvaMap other_config = s.other_config;
  other_config["mac_seed"] = mac_seed;
  const int64_t static_min = s.memory_static_min != 0 ? s.memory_static_min : s.memory;
  const int64_t vcpus_max = s.vcpus_max != 0 ? s.vcpus_max : s.vcpus;
  return XmlRpcStruct{
      {"uuid", uuid}, {"allowed_operations", NoList()}, {"current_operations", NoMap()},
      {"power_state", "Halted"}, {"name_label", s.name_label},
      {"name_description", s.name_description}, {"user_version", s.user_version},
      {"is_a_template", s.is_a_template}, {"is_default_template", false},
      {"suspend_VDI", Null()}, {"resident_on", Null()}, {"affinity", Null()},
      {"memory_overhead", int64_t{0}},  // recomputed by VM.create
      {"memory_target", int64_t{0}}, {"memory_static_max", s.memory},
      {"memory_dynamic_max", s.memory}, {"memory_dynamic_min", s.memory},
      {"memory_static_min", static_min}, {"VCPUs_params", NoMap()},
      {"VCPUs_max", vcpus_max}, {"VCPUs_at_startup", s.vcpus},
      {"actions_after_shutdown", "destroy"}, {"actions_after_reboot", "restart"},
      {"actions_after_crash", "restart"}, {"consoles", NoList()}, {"VIFs", List(vifs)},
      {"VBDs", List(vbds)}, {"crash_dumps", NoList()}, {"VTPMs", NoList()},
      {"PV_bootloader", s.pv_bootloader}, {"PV_kernel", s.pv_kernel},
      {"PV_ramdisk", s.pv_ramdisk}, {"PV_args", s.pv_args},
      {"PV_bootloader_args", s.pv_bootloader_args}, {"PV_legacy_args", s.pv_legacy_args},
      {"HVM_boot_policy", s.hvm ? s.hvm_boot_policy : std::string()},
      {"HVM_boot_params", s.hvm ? Map(s.hvm_boot_params) : NoMap()},
      {"HVM_shadow_multiplier", 1.0}, {"platform", Map(s.platform)}, {"PCI_bus", ""},
      {"other_config", Map(other_config)}, {"domid", int64_t{-1}}, {"domarch", ""},
      {"last_boot_CPU_flags", NoMap()}, {"is_control_domain", false}, {"metrics", Null()},
      {"guest_metrics", Null()}, {"last_booted_record", ""}, {"recommendations", ""},
      {"xenstore_data", Map(s.xenstore_data)}, {"ha_always_run", false},
      {"ha_restart_priority", ""}, {"is_a_snapshot", false}, {"snapshot_of", Null()},
      {"snapshots", NoList()}, {"snapshot_time", kEpoch}, {"transportable_snapshot_id", ""},
      {"blobs", NoMap()}, {"tags", List(s.tags)}, {"blocked_operations", NoMap()},
      {"snapshot_info", NoMap()}, {"snapshot_metadata", ""}, {"parent", Null()},
      {"children", NoList()}, {"bios_strings", NoMap()}, {"protection_policy", Null()},
      {"is_snapshot_from_vmpp", false}, {"is_vmss_snapshot", false}, {"appliance", Null()},
      {"start_delay", int64_t{0}}, {"shutdown_delay", int64_t{0}}, {"order", int64_t{0}},
      {"VGPUs", NoList()}, {"attached_PCIs", NoList()}, {"suspend_SR", Null()},
      {"version", int64_t{0}}, {"generation_id", ""}, {"hardware_platform_version", int64_t{0}},
      {"has_vendor_device", false}, {"requires_reboot", false}, {"reference_label", ""},
      {"domain_type", s.hvm ? "hvm" : "pv"}, {"NVRAM", NoMap()}, {"VUSBs", NoList()}};
}

XmlRpcValue VbdRecord(const DiskSpec& d, const std::string& uuid, const std::string& vm,
                      const std::string& vdi) {
  const bool cd = d.type == "CD";
  return XmlRpcStruct{
      {"uuid", uuid}, {"allowed_operations", NoList()}, {"current_operations", NoMap()},
      {"VM", vm}, {"VDI", cd ? Null() : XmlRpcValue(vdi)}, {"device", ""},
      {"userdevice", d.userdevice}, {"bootable", d.bootable}, {"mode", cd ? "RO" : d.mode},
      {"type", d.type}, {"unpluggable", true}, {"storage_lock", false}, {"empty", cd},
      {"other_config", NoMap()}, {"currently_attached", false}, {"status_code", int64_t{0}},
      {"status_detail", ""}, {"runtime_properties", NoMap()}, {"qos_algorithm_type", ""},
      {"qos_algorithm_params", NoMap()}, {"qos_supported_algorithms", NoList()},
      {"metrics", Null()}};
}

XmlRpcValue VdiRecord(const DiskSpec& d, const std::string& uuid, const std::string& vbd,
                      const std::string& sr) {
  return XmlRpcStruct{
      {"uuid", uuid}, {"name_label", d.name_label}, {"name_description", d.name_description},
      {"allowed_operations", NoList()}, {"current_operations", NoMap()}, {"SR", sr},
      {"VBDs", List({vbd})}, {"crash_dumps", NoList()}, {"virtual_size", d.virtual_size},
      {"physical_utilisation", int64_t{0}}, {"type", d.vdi_type}, {"sharable", false},
      {"read_only", false}, {"other_config", Map(d.vdi_other_config)},
      {"storage_lock", false}, {"location", ""}, {"managed", true}, {"missing", false},
      {"parent", Null()}, {"xenstore_data", NoMap()}, {"sm_config", NoMap()},
      {"is_a_snapshot", false}, {"snapshot_of", Null()}, {"snapshots", NoList()},
      {"snapshot_time", kEpoch}, {"tags", NoList()}, {"allow_caching", false},
      {"on_boot", "persist"}, {"metadata_of_pool", Null()}, {"metadata_latest", false},
      {"is_tools_iso", false}, {"cbt_enabled", false}};
}

XmlRpcValue VifRecord(const VifSpec& v, const std::string& uuid, const std::string& vm,
                      const std::string& network) {
  return XmlRpcStruct{
      {"uuid", uuid}, {"allowed_operations", NoList()}, {"current_operations", NoMap()},
      {"device", v.device}, {"network", network}, {"VM", vm}, {"MAC", v.mac},
      {"MAC_autogenerated", v.mac.empty()}, {"MTU", v.mtu}, {"other_config", NoMap()},
      {"currently_attached", false}, {"status_code", int64_t{0}}, {"status_detail", ""},
      {"runtime_properties", NoMap()}, {"qos_algorithm_type", ""},
      {"qos_algorithm_params", NoMap()}, {"qos_supported_algorithms", NoList()},
      {"metrics", Null()}, {"locking_mode", "network_default"}, {"ipv4_allowed", NoList()},
      {"ipv6_allowed", NoList()}, {"ipv4_configuration_mode", "None"},
      {"ipv4_addresses", NoList()}, {"ipv4_gateway", ""}, {"ipv6_configuration_mode", "None"},
      {"ipv6_addresses", NoList()}, {"ipv6_gateway", ""}};
}

XmlRpcValue NetworkRecord(const VifSpec& v, const std::string& uuid,
                          const std::vector<std::string>& vifs) {
  return XmlRpcStruct{
      {"uuid", uuid}, {"name_label", v.network_name_label}, {"name_description", ""},
      {"allowed_operations", NoList()}, {"current_operations", NoMap()}, {"VIFs", List(vifs)},
      {"PIFs", NoList()}, {"MTU", v.network_mtu}, {"other_config", NoMap()},
      {"bridge", v.bridge}, {"managed", true}, {"blobs", NoMap()}, {"tags", NoList()},
      {"default_locking_mode", "unlocked"}, {"assigned_ips", NoMap()}, {"purpose", NoList()}};
}

XmlRpcValue SrRecord(const SrSpec& s, const std::string& uuid,
                     const std::vector<std::string>& vdis) {
  return XmlRpcStruct{
      {"uuid", uuid}, {"name_label", s.name_label}, {"name_description", s.name_description},
      {"allowed_operations", NoList()}, {"current_operations", NoMap()}, {"VDIs", List(vdis)},
      {"PBDs", NoList()}, {"virtual_allocation", int64_t{0}},
      {"physical_utilisation", int64_t{0}}, {"physical_size", int64_t{0}}, {"type", s.type},
      {"content_type", s.content_type}, {"shared", false}, {"other_config", NoMap()},
      {"tags", NoList()}, {"sm_config", NoMap()}, {"blobs", NoMap()},
      {"local_cache_enabled", false}, {"introduced_by", Null()}, {"clustered", false},
      {"is_tools_sr", false}};
}

}  // namespace

Result<BuiltOva> BuildOvaXml(const OvaSpec& spec) {
  RETURN_IF_ERROR(CheckSpec(spec));
  if (spec.sr.content_type == "iso")
    return Error(Code::kInvalidArgument, "the SR of streamed disks cannot be an ISO library");

  // Networks: one object per network_uuid, or per name_label when no uuid.
  std::vector<size_t> vif_network(spec.vifs.size());
  std::vector<size_t> network_first_vif;  // network index -> VifSpec index
  std::map<std::string, size_t> network_by_key;
  for (size_t i = 0; i < spec.vifs.size(); ++i) {
    const VifSpec& v = spec.vifs[i];
    const std::string key =
        v.network_uuid.empty() ? "name:" + v.network_name_label : "uuid:" + v.network_uuid;
    auto [it, fresh] = network_by_key.emplace(key, network_first_vif.size());
    if (fresh) network_first_vif.push_back(i);
    vif_network[i] = it->second;
  }
  size_t n_vdis = 0;
  for (const DiskSpec& d : spec.disks) n_vdis += d.type == "Disk";

  // Ids in emission order (XAPI's: VM, VBDs, VIFs, networks, VDIs, SR),
  // zero-padded to one width so byte order is numeric order.
  const size_t total = 1 + spec.disks.size() + spec.vifs.size() + network_first_vif.size() +
                       n_vdis + 1;
  const size_t width = std::max<size_t>(3, std::to_string(total - 1).size());
  size_t next = 0;
  auto new_id = [&] { return fmt::format("Ref:{:0{}}", next++, width); };
  const std::string vm_id = new_id();
  std::vector<std::string> vbd_ids, vif_ids, net_ids, vdi_ids(spec.disks.size());
  for (size_t i = 0; i < spec.disks.size(); ++i) vbd_ids.push_back(new_id());
  for (size_t i = 0; i < spec.vifs.size(); ++i) vif_ids.push_back(new_id());
  for (size_t i = 0; i < network_first_vif.size(); ++i) net_ids.push_back(new_id());
  std::vector<std::string> sr_vdis;
  for (size_t i = 0; i < spec.disks.size(); ++i) {
    if (spec.disks[i].type != "Disk") continue;
    vdi_ids[i] = new_id();
    sr_vdis.push_back(vdi_ids[i]);
  }
  const std::string sr_id = new_id();

  BuiltOva out;
  out.ova.version = spec.version;
  auto& objects = out.ova.objects;
  ASSIGN_OR_RETURN(std::string vm_uuid, UuidOr(spec.vm.uuid, "VM uuid"));
  ASSIGN_OR_RETURN(std::string mac_seed, UuidOr(spec.vm.mac_seed, "VM mac_seed"));
  objects.push_back({"VM", vm_id, VmRecord(spec.vm, vm_uuid, mac_seed, vbd_ids, vif_ids)});
  for (size_t i = 0; i < spec.disks.size(); ++i) {
    ASSIGN_OR_RETURN(std::string uuid, UuidOr(spec.disks[i].vbd_uuid, "VBD uuid"));
    objects.push_back({"VBD", vbd_ids[i], VbdRecord(spec.disks[i], uuid, vm_id, vdi_ids[i])});
  }
  for (size_t i = 0; i < spec.vifs.size(); ++i) {
    ASSIGN_OR_RETURN(std::string uuid, UuidOr(spec.vifs[i].uuid, "VIF uuid"));
    objects.push_back(
        {"VIF", vif_ids[i], VifRecord(spec.vifs[i], uuid, vm_id, net_ids[vif_network[i]])});
  }
  for (size_t n = 0; n < network_first_vif.size(); ++n) {
    const VifSpec& first = spec.vifs[network_first_vif[n]];
    ASSIGN_OR_RETURN(std::string uuid, UuidOr(first.network_uuid, "network uuid"));
    std::vector<std::string> vifs;
    for (size_t i = 0; i < spec.vifs.size(); ++i)
      if (vif_network[i] == n) vifs.push_back(vif_ids[i]);
    objects.push_back({"network", net_ids[n], NetworkRecord(first, uuid, vifs)});
  }
  for (size_t i = 0; i < spec.disks.size(); ++i) {
    if (vdi_ids[i].empty()) continue;
    ASSIGN_OR_RETURN(std::string uuid, UuidOr(spec.disks[i].vdi_uuid, "VDI uuid"));
    objects.push_back({"VDI", vdi_ids[i], VdiRecord(spec.disks[i], uuid, vbd_ids[i], sr_id)});
  }
  ASSIGN_OR_RETURN(std::string sr_uuid, UuidOr(spec.sr.uuid, "SR uuid"));
  objects.push_back({"SR", sr_id, SrRecord(spec.sr, sr_uuid, sr_vdis)});
  out.disk_vdi_ids = std::move(vdi_ids);
  // Our own invariant: what we build passes what we check readers against.
  if (Status s = ValidateOvaXml(out.ova); !s.ok())
    return Error(Code::kInternal, "built ova.xml is invalid: {}", s.ToString());
  return out;
}

}  // namespace casulo::formats

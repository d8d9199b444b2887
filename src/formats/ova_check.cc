// The fields XAPI cannot default and the cross-references its importer
// follows. XAPI decodes each record with a generated `<class>_t_of_rpc`
// (`API.Legacy.From.<class>_t` before 2016): a member absent from the record
// takes the datamodel default_value, a Set(Ref _) field defaults to [], and
// anything else missing aborts the import ("Field X not present in rpc" /
// Dispatcher_FieldNotFound). The lists below are the union of the fields
// without a default in xen-api's datamodel at 1.9.58 (XenServer 6.5) and
// today (doc/data/xenapi.json); 2016 added defaults to allowed_operations
// and current_operations, later ones to VBD/VIF device state, which is why
// older hosts need more. docs/format/ova-xml.md has the derivation.
#include <strings.h>

#include <set>

#include "formats/ova.h"

namespace casulo::formats {
namespace {

const std::vector<std::string_view> kVm = {
    "uuid", "allowed_operations", "current_operations", "power_state", "user_version",
    "is_a_template", "suspend_VDI", "resident_on", "affinity", "memory_static_max",
    "memory_dynamic_max", "memory_dynamic_min", "memory_static_min", "VCPUs_params",
    "VCPUs_max", "VCPUs_at_startup", "actions_after_shutdown", "actions_after_reboot",
    "actions_after_crash", "PV_bootloader", "PV_kernel", "PV_ramdisk", "PV_args",
    "PV_bootloader_args", "PV_legacy_args", "HVM_boot_policy", "HVM_boot_params", "platform",
    "PCI_bus", "other_config", "domid", "domarch", "last_boot_CPU_flags", "is_control_domain",
    "metrics", "guest_metrics", "recommendations",
    // Has a default, but without it XAPI takes the record for a pre-5.6
    // export and resets the memory settings (import.ml vm_exported_pre_dmc).
    "parent"};

const std::vector<std::string_view> kVbd = {
    "uuid", "allowed_operations", "current_operations", "VM", "VDI", "device", "userdevice",
    "bootable", "mode", "type", "storage_lock", "empty", "other_config", "currently_attached",
    "status_code", "status_detail", "runtime_properties", "qos_algorithm_type",
    "qos_algorithm_params", "qos_supported_algorithms", "metrics"};

const std::vector<std::string_view> kVif = {
    "uuid", "allowed_operations", "current_operations", "device", "network", "VM", "MAC",
    "MTU", "other_config", "currently_attached", "status_code", "status_detail",
    "runtime_properties", "qos_algorithm_type", "qos_algorithm_params",
    "qos_supported_algorithms", "metrics"};

const std::vector<std::string_view> kVdi = {
    "uuid", "allowed_operations", "current_operations", "SR", "virtual_size",
    "physical_utilisation", "type", "sharable", "read_only", "other_config", "storage_lock",
    "managed", "missing", "parent"};

const std::vector<std::string_view> kSr = {
    "uuid", "allowed_operations", "current_operations", "virtual_allocation",
    "physical_utilisation", "physical_size", "type", "content_type", "shared", "other_config"};

const std::vector<std::string_view> kNetwork = {
    "uuid", "allowed_operations", "current_operations", "other_config", "bridge"};

const std::vector<std::string_view> kNone;

Status Bad(const OvaObject& o, std::string_view field, std::string_view why) {
  return Error(Code::kCorruption, "ova.xml {} {}: {} {}", o.cls, o.id, field, why);
}

// A reference field must name an object of class `cls`, or be
// OpaqueRef:NULL when `null_ok`.
Status CheckRef(const OvaXml& ova, const OvaObject& o, std::string_view field,
                std::string_view cls, bool null_ok) {
  const XmlRpcValue* v = o.snapshot.Find(field);
  if (v == nullptr || !v->is_string()) return Bad(o, field, "is not a reference");
  if (v->str() == kOvaNullRef) return null_ok ? OkStatus() : Bad(o, field, "is OpaqueRef:NULL");
  const OvaObject* target = FindOvaObject(ova, v->str());
  if (target == nullptr || target->cls != cls)
    return Bad(o, field, fmt::format("names {}, which is no {} in the document", v->str(), cls));
  return OkStatus();
}

Status CheckRefList(const OvaXml& ova, const OvaObject& o, std::string_view field,
                    std::string_view cls) {
  const XmlRpcValue* v = o.snapshot.Find(field);
  if (v == nullptr) return OkStatus();  // Set(Ref) defaults to []
  if (!v->is_array()) return Bad(o, field, "is not an array");
  for (const XmlRpcValue& e : v->array()) {
    if (!e.is_string()) return Bad(o, field, "holds a non-string");
    const OvaObject* target = FindOvaObject(ova, e.str());
    if (target == nullptr || target->cls != cls)
      return Bad(o, field, fmt::format("lists {}, which is no {} in the document", e.str(), cls));
  }
  return OkStatus();
}

Status CheckReferences(const OvaXml& ova, const OvaObject& o) {
  if (o.cls == "VM") {
    RETURN_IF_ERROR(CheckRefList(ova, o, "VBDs", "VBD"));
    RETURN_IF_ERROR(CheckRefList(ova, o, "VIFs", "VIF"));
    return CheckRef(ova, o, "suspend_VDI", "VDI", true);
  }
  if (o.cls == "VBD") {
    RETURN_IF_ERROR(CheckRef(ova, o, "VM", "VM", false));
    // A CD may be empty; a disk's VDI is looked up unconditionally by the
    // importer (non_cdrom_vdis) and must be there.
    const XmlRpcValue* type = o.snapshot.Find("type");
    const bool cd =
        type != nullptr && type->is_string() && strcasecmp(type->str().c_str(), "CD") == 0;
    return CheckRef(ova, o, "VDI", "VDI", cd);
  }
  if (o.cls == "VIF") {
    RETURN_IF_ERROR(CheckRef(ova, o, "VM", "VM", false));
    return CheckRef(ova, o, "network", "network", false);
  }
  if (o.cls == "VDI") return CheckRef(ova, o, "SR", "SR", false);
  return OkStatus();
}

}  // namespace

const std::vector<std::string_view>& OvaRequiredFields(std::string_view cls) {
  if (cls == "VM") return kVm;
  if (cls == "VBD") return kVbd;
  if (cls == "VIF") return kVif;
  if (cls == "VDI") return kVdi;
  if (cls == "SR") return kSr;
  if (cls == "network") return kNetwork;
  return kNone;
}

Status ValidateOvaXml(const OvaXml& ova) {
  std::set<std::string_view> ids;
  for (const OvaObject& o : ova.objects) {
    if (!ids.insert(o.id).second)
      return Error(Code::kCorruption, "ova.xml: id {} is used twice", o.id);
  }
  for (const OvaObject& o : ova.objects) {
    const auto& required = OvaRequiredFields(o.cls);
    if (required.empty()) continue;  // a class we do not model: XAPI's business
    if (!o.snapshot.is_struct()) return Bad(o, "snapshot", "is not a struct");
    for (std::string_view f : required)
      if (o.snapshot.Find(f) == nullptr) return Bad(o, f, "is missing (XAPI has no default)");
    RETURN_IF_ERROR(CheckReferences(ova, o));
  }
  return OkStatus();
}

}  // namespace casulo::formats

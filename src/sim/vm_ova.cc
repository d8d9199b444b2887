// Extracted from export.cc so /export and /export_metadata describe a VM
// the same way (xapi-protocol.md §3.2, formats.md §1).
#include "sim/vm_ova.h"

#include "sim/disks.h"
#include "sim/sim.h"

namespace casulo::sim {
namespace {

using formats::OvaMap;

OvaMap ToMap(const XmlRpcValue* v) {
  OvaMap out;
  if (v != nullptr && v->is_struct())
    for (const auto& [k, m] : v->members())
      if (m.is_string()) out[k] = m.str();
  return out;
}

std::string S(const XmlRpcValue& rec, std::string_view f) {
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && v->is_string() ? v->str() : "";
}
int64_t I(const XmlRpcValue& rec, std::string_view f) {
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && v->type() == XmlRpcValue::Type::kInt ? v->i() : 0;
}
bool B(const XmlRpcValue& rec, std::string_view f) {
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && v->type() == XmlRpcValue::Type::kBool && v->b();
}
const XmlRpcArray& Refs(const XmlRpcValue& rec, std::string_view f) {
  static const XmlRpcArray kNone;
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && v->is_array() ? v->array() : kNone;
}

}  // namespace

Result<std::string> ResolveVm(const Store& st, const std::string& ref, const std::string& uuid) {
  std::string vm = ref;
  if (vm.empty()) {
    auto found = st.RefOfUuid("VM", uuid);
    if (!found) return XapiError({"UUID_INVALID", "VM", uuid});
    vm = *found;
  }
  if (st.Find("VM", vm) == nullptr) return XapiError({"HANDLE_INVALID", "VM", vm});
  return vm;
}

VmOva BuildVmOva(const Store& st, const std::string& state_dir, const std::string& vm,
                 const VmOvaOptions& options) {
  const XmlRpcValue* rec = st.Find("VM", vm);
  VmOva p;
  const XmlRpcValue* host = st.Find("host", st.this_host);
  OvaMap sw = ToMap(host != nullptr ? host->Find("software_version") : nullptr);
  p.product_version = sw["product_version"];
  p.spec.version.hostname = host != nullptr ? S(*host, "hostname") : "casulo-sim";
  p.spec.version.product_version = sw["product_version"];
  p.spec.version.product_brand = sw["product_brand"];
  p.spec.version.build_number = sw["build_number"];
  formats::VmSpec& v = p.spec.vm;
  v.name_label = S(*rec, "name_label");
  v.name_description = S(*rec, "name_description");
  v.uuid = S(*rec, "uuid");
  v.memory = I(*rec, "memory_static_max");
  v.memory_static_min = I(*rec, "memory_static_min");
  v.vcpus = std::max<int64_t>(1, I(*rec, "VCPUs_at_startup"));
  v.vcpus_max = std::max(v.vcpus, I(*rec, "VCPUs_max"));
  v.hvm_boot_policy = S(*rec, "HVM_boot_policy");
  v.hvm = !v.hvm_boot_policy.empty();
  if (const XmlRpcValue* hp = rec->Find("HVM_boot_params"); hp != nullptr && !hp->members().empty())
    v.hvm_boot_params = ToMap(hp);
  v.platform = ToMap(rec->Find("platform"));
  v.other_config = ToMap(rec->Find("other_config"));
  v.mac_seed = v.other_config["mac_seed"];
  v.other_config.erase("mac_seed");
  v.is_a_template = B(*rec, "is_a_template");
  std::string sr;
  for (const auto& vbd_ref : options.vbds ? Refs(*rec, "VBDs") : XmlRpcArray{}) {
    const XmlRpcValue* vbd = st.Find("VBD", vbd_ref.str());
    if (vbd == nullptr) continue;
    formats::DiskSpec d;
    d.vbd_uuid = S(*vbd, "uuid");
    d.userdevice = S(*vbd, "userdevice");
    d.bootable = B(*vbd, "bootable");
    d.mode = S(*vbd, "mode");
    const XmlRpcValue* vdi = st.Find("VDI", S(*vbd, "VDI"));
    const XmlRpcValue* vdi_sr = vdi != nullptr ? st.Find("SR", S(*vdi, "SR")) : nullptr;
    // CD drives and ISO SRs are not streamed (export.ml).
    if (S(*vbd, "type") != "Disk" || vdi == nullptr ||
        (vdi_sr != nullptr && S(*vdi_sr, "content_type") == "iso")) {
      d.type = "CD";
      d.mode = "RO";
      p.spec.disks.push_back(std::move(d));
      p.disk_files.emplace_back();
      continue;
    }
    d.vdi_uuid = S(*vdi, "uuid");
    d.name_label = S(*vdi, "name_label");
    d.name_description = S(*vdi, "name_description");
    d.virtual_size = I(*vdi, "virtual_size");
    d.vdi_type = S(*vdi, "type") == "system" ? "system" : "user";
    d.vdi_other_config = ToMap(vdi->Find("other_config"));
    if (sr.empty()) sr = S(*vdi, "SR");
    p.spec.disks.push_back(std::move(d));
    p.disk_files.push_back(DiskPath(state_dir, S(*vdi, "uuid")));
  }
  for (const auto& vif_ref : options.vifs ? Refs(*rec, "VIFs") : XmlRpcArray{}) {
    const XmlRpcValue* vif = st.Find("VIF", vif_ref.str());
    if (vif == nullptr) continue;
    formats::VifSpec f;
    f.uuid = S(*vif, "uuid");
    f.device = S(*vif, "device");
    f.mac = S(*vif, "MAC");
    f.mtu = I(*vif, "MTU");
    if (const XmlRpcValue* net = st.Find("network", S(*vif, "network"))) {
      f.network_name_label = S(*net, "name_label");
      f.network_uuid = S(*net, "uuid");
      f.bridge = S(*net, "bridge");
      f.network_mtu = I(*net, "MTU");
    }
    p.spec.vifs.push_back(std::move(f));
  }
  if (const XmlRpcValue* r = st.Find("SR", sr)) {
    p.spec.sr.uuid = S(*r, "uuid");
    p.spec.sr.name_label = S(*r, "name_label");
    p.spec.sr.type = S(*r, "type");
    p.spec.sr.content_type = S(*r, "content_type");
  }
  return p;
}

}  // namespace casulo::sim

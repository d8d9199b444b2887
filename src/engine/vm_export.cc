// ExportVmXva: a VM recovery point as one XVA (docs/format/xva.md). The
// ova.xml is built from the stored records by formats::BuildOvaXml rather
// than copied from the stored /export_metadata, whose objects describe the
// snapshot VM and its snapshot VDIs.
#include <ctime>

#include "engine/vm_restore.h"
#include "formats/ova.h"
#include "formats/xva_writer.h"
#include "vm_internal.h"

namespace casulo::engine {

using namespace vm;

namespace {

formats::OvaMap StrMap(const XmlRpcValue& rec, std::string_view field) {
  formats::OvaMap out;
  if (const XmlRpcValue* m = rec.Find(field); m && m->is_struct())
    for (const auto& [k, v] : m->members())
      if (v.is_string() && k.rfind("casulo:", 0) != 0) out[k] = v.str();
  return out;
}

formats::VmSpec VmSpecOf(const XmlRpcValue& vm, const std::string& name) {
  formats::VmSpec s;
  s.name_label = name;
  s.name_description = Str(vm, "name_description");
  s.memory = Int(vm, "memory_static_max");
  s.memory_static_min = Int(vm, "memory_static_min");
  s.vcpus = Int(vm, "VCPUs_at_startup");
  s.vcpus_max = Int(vm, "VCPUs_max");
  s.hvm_boot_policy = Str(vm, "HVM_boot_policy");
  s.hvm = !s.hvm_boot_policy.empty();
  s.hvm_boot_params = StrMap(vm, "HVM_boot_params");
  s.pv_bootloader = Str(vm, "PV_bootloader");
  s.pv_kernel = Str(vm, "PV_kernel");
  s.pv_ramdisk = Str(vm, "PV_ramdisk");
  s.pv_args = Str(vm, "PV_args");
  s.pv_bootloader_args = Str(vm, "PV_bootloader_args");
  s.pv_legacy_args = Str(vm, "PV_legacy_args");
  s.platform = StrMap(vm, "platform");
  s.other_config = StrMap(vm, "other_config");
  s.other_config.erase("mac_seed");  // a fresh one goes with the fresh uuid
  s.xenstore_data = StrMap(vm, "xenstore_data");
  s.tags = Refs(vm, "tags");
  if (int64_t v = Int(vm, "user_version"); v > 0) s.user_version = v;
  return s;
}

}  // namespace

Result<VmExportReport> ExportVmXva(repo::Repository& repo, const repo::Snapshot& point, Sink& out,
                                   const VmExportOptions& opt) {
  ASSIGN_OR_RETURN(VmMetadata m, LoadVmMetadata(repo, point));
  VmExportReport rep;
  rep.vm_name = opt.name.empty() ? Str(m.vm, "name_label") : opt.name;
  formats::OvaSpec spec;
  char today[16];
  std::time_t when = point.time;
  std::strftime(today, sizeof today, "%Y-%m-%d", std::gmtime(&when));
  spec.version.date = today;
  spec.version.hostname = point.hostname.empty() ? "localhost" : point.hostname;
  spec.vm = VmSpecOf(m.vm, rep.vm_name);

  std::vector<const repo::SnapshotDisk*> disks;
  for (const auto& d : point.disks) disks.push_back(&d);
  auto ud = [](const repo::SnapshotDisk* d) {
    auto it = d->labels.find("userdevice");
    return it == d->labels.end() ? 1 << 20 : std::atoi(it->second.c_str());
  };
  std::stable_sort(disks.begin(), disks.end(), [&](auto* a, auto* b) { return ud(a) < ud(b); });
  for (size_t i = 0; i < disks.size(); ++i) {
    const repo::SnapshotDisk* d = disks[i];
    formats::DiskSpec ds;
    XmlRpcValue vdi, vbd;
    for (const auto& [vref, rec] : m.vdis)
      if (Str(rec, "uuid") == d->key) {
        vdi = rec;
        for (const auto& [bref, b] : m.vbds)
          if (Str(b, "VDI") == vref) vbd = b;
      }
    ds.name_label = vdi.is_nil() ? d->name : Str(vdi, "name_label");
    ds.name_description = Str(vdi, "name_description");
    ds.virtual_size = int64_t(d->size);
    auto it = d->labels.find("userdevice");
    ds.userdevice = vbd.is_nil() ? (it == d->labels.end() ? std::to_string(i) : it->second)
                                 : Str(vbd, "userdevice");
    ds.bootable = vbd.is_nil() ? ds.userdevice == "0" : Bool(vbd, "bootable");
    if (!vbd.is_nil() && !Str(vbd, "mode").empty()) ds.mode = Str(vbd, "mode");
    if (Str(vdi, "type") == "system") ds.vdi_type = "system";
    ds.vdi_other_config = StrMap(vdi, "other_config");
    spec.disks.push_back(std::move(ds));
    rep.virtual_size += d->size;
  }
  for (const auto& [ref, vif] : m.vifs) {
    formats::VifSpec vs;
    vs.device = Str(vif, "device");
    if (int64_t mtu = Int(vif, "MTU"); mtu > 0) vs.mtu = mtu;
    auto n = m.networks.find(Str(vif, "network"));
    if (n != m.networks.end()) {
      vs.network_name_label = Str(n->second.record, "name_label");
      vs.network_uuid = Str(n->second.record, "uuid");
      vs.bridge = Str(n->second.record, "bridge");
      if (int64_t mtu = Int(n->second.record, "MTU"); mtu > 0) vs.network_mtu = mtu;
    }
    spec.vifs.push_back(std::move(vs));
  }
  std::sort(spec.vifs.begin(), spec.vifs.end(),
            [](const auto& a, const auto& b) { return std::atoi(a.device.c_str()) < std::atoi(b.device.c_str()); });
  rep.vifs = spec.vifs.size();
  if (!m.srs.empty()) {
    const XmlRpcValue& sr = m.srs.begin()->second;
    spec.sr.name_label = Str(sr, "name_label");
    spec.sr.type = Str(sr, "type").empty() ? spec.sr.type : Str(sr, "type");
  }
  ASSIGN_OR_RETURN(formats::BuiltOva built, formats::BuildOvaXml(spec).With("building ova.xml"));

  ASSIGN_OR_RETURN(auto sink, formats::OpenCompressingSink(out, opt.compression));
  formats::XvaWriterOptions xo;
  xo.checksum = opt.checksum;
  xo.ova_xml_mtime = uint64_t(point.time);
  formats::XvaWriter w(*sink, xo);
  RETURN_IF_ERROR(w.WriteOvaXml(formats::PrintOvaXml(built.ova)));
  for (size_t i = 0; i < disks.size(); ++i) {
    ASSIGN_OR_RETURN(formats::ExtentWriter * dw, w.BeginDisk(built.disk_vdi_ids[i], disks[i]->size));
    RETURN_IF_ERROR(WriteDiskExtents(repo, *disks[i], *dw).With("disk " + disks[i]->key));
    RETURN_IF_ERROR(dw->Finish());
    ++rep.disks;
  }
  RETURN_IF_ERROR(w.Finish());
  rep.data_bytes = w.stats().data_bytes;
  return rep;
}

}  // namespace casulo::engine

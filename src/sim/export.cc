// GET /export: the XVA of a halted VM or a snapshot (xapi-protocol.md §3.2,
// formats.md §1). The metadata is rebuilt from the store's records with
// formats::BuildOvaXml (a complete, importable ova.xml: VM, VBDs, VDIs,
// VIFs, networks, SR); disks stream from their sparse files by SEEK_DATA
// ranges, through formats' XVA writer and optional gzip/zstd.
#include <fcntl.h>

#include "formats/compress.h"
#include "formats/ova.h"
#include "formats/raw.h"
#include "formats/xva_writer.h"
#include "sim/disks.h"
#include "sim/http.h"

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

struct ExportPlan {
  formats::OvaSpec spec;
  std::vector<std::string> disk_files;  // per spec.disks ("" for a CD)
  formats::ChunkChecksum checksum = formats::ChunkChecksum::kXxh64;
};

// Resolves ref= or uuid=, applies the power-state rule, and snapshots what
// the stream needs so the transfer runs without the store lock.
Result<ExportPlan> Plan(const Store& st, const std::string& state_dir, const httplib::Request& req) {
  std::string vm = Param(req, "ref");
  if (vm.empty()) {
    std::string uuid = Param(req, "uuid");
    auto ref = st.RefOfUuid("VM", uuid);
    if (!ref) return XapiError({"UUID_INVALID", "VM", uuid});
    vm = *ref;
  }
  const XmlRpcValue* rec = st.Find("VM", vm);
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", "VM", vm});
  std::string power = S(*rec, "power_state");
  if (power != "Halted" && power != "Suspended") {
    std::string lower = power;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    return XapiError({"VM_BAD_POWER_STATE", vm, "halted, suspended", lower});
  }
  ExportPlan p;
  const XmlRpcValue* host = st.Find("host", st.this_host);
  OvaMap sw = ToMap(host != nullptr ? host->Find("software_version") : nullptr);
  if (!sw["product_version"].empty() && sw["product_version"] < "8.1")
    p.checksum = formats::ChunkChecksum::kSha1;  // .checksum before CH 8.1
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
  for (const auto& vbd_ref : rec->Find("VBDs")->array()) {
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
  for (const auto& vif_ref : rec->Find("VIFs")->array()) {
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

Status WriteDisk(formats::XvaWriter& xva, const std::string& id, const std::string& path,
                 uint64_t size) {
  ASSIGN_OR_RETURN(formats::ExtentWriter * w, xva.BeginDisk(id, size));
  if (path.empty()) return w->Finish();  // no state dir: an all-zero disk
  ASSIGN_OR_RETURN(File f, File::OpenRead(path));
  ASSIGN_OR_RETURN(std::vector<formats::ByteRange> ranges, DataRanges(f));
  if (ranges.empty()) return w->Finish();
  FileRandomSource src(&f, size);
  ASSIGN_OR_RETURN(auto reader, formats::OpenRawImage(src, std::move(ranges), {size}));
  return formats::CopyExtents(*reader, *w);
}

Status Stream(const ExportPlan& plan, formats::Compression c, httplib::DataSink& out) {
  ASSIGN_OR_RETURN(formats::BuiltOva built, formats::BuildOvaXml(plan.spec));
  DataSinkAdapter raw(out);
  ASSIGN_OR_RETURN(std::unique_ptr<Sink> sink, formats::OpenCompressingSink(raw, c));
  formats::XvaWriter xva(*sink, {plan.checksum, uint64_t(std::time(nullptr))});
  RETURN_IF_ERROR(xva.WriteOvaXml(formats::PrintOvaXml(built.ova)));
  for (size_t i = 0; i < plan.spec.disks.size(); ++i) {
    if (built.disk_vdi_ids[i].empty()) continue;
    RETURN_IF_ERROR(WriteDisk(xva, built.disk_vdi_ids[i], plan.disk_files[i],
                              uint64_t(plan.spec.disks[i].virtual_size)));
  }
  return xva.Finish();
}

void Export(Sim& sim, const httplib::Request& req, httplib::Response& res) {
  if (RedirectToSrHost(sim, req, res)) return;
  if (!Authenticate(sim, req, res)) return;
  HttpTask task = BeginTask(sim, req, res, "Export of VM");
  Result<ExportPlan> plan = Error(Code::kInternal, "unset");
  (void)sim.Update([&](Store& st) {
    plan = Plan(st, sim.state_dir(), req);
    return OkStatus();
  });
  res.status = 200;
  if (!plan.ok()) {
    FinishTask(sim, task, plan.status());
    return;
  }
  std::string comp = Param(req, "use_compression");
  formats::Compression c = comp == "true" || comp == "gzip" ? formats::Compression::kGzip
                           : comp == "zstd"                 ? formats::Compression::kZstd
                                                            : formats::Compression::kNone;
  res.set_header("Content-Disposition", "attachment; filename=\"export.xva\"");
  auto shared = std::make_shared<ExportPlan>(std::move(*plan));
  // No length: the body runs until the connection closes, as XAPI's does.
  res.set_content_provider(
      "application/octet-stream",
      [&sim, shared, c, task](size_t, httplib::DataSink& sink) {
        Status s = Stream(*shared, c, sink);
        FinishTask(sim, task, s.ok() ? Result<XmlRpcValue>(XmlRpcValue("")) : Result<XmlRpcValue>(s));
        if (s.ok()) sink.done();
        return s.ok();
      });
}

}  // namespace

void AddExportRoutes(httplib::Server& svr, Sim& sim) {
  svr.Get(R"(/export(/.*)?)", [&sim](const httplib::Request& req, httplib::Response& res) {
    Export(sim, req, res);
  });
}

}  // namespace casulo::sim

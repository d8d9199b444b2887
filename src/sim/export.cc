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
#include "sim/vm_ova.h"

namespace casulo::sim {
namespace {

struct ExportPlan {
  formats::OvaSpec spec;
  std::vector<std::string> disk_files;  // per spec.disks ("" for a CD)
  formats::ChunkChecksum checksum = formats::ChunkChecksum::kXxh64;
};

// Resolves ref= or uuid=, applies the power-state rule, and snapshots what
// the stream needs so the transfer runs without the store lock.
Result<ExportPlan> Plan(const Store& st, const std::string& state_dir, const httplib::Request& req) {
  ASSIGN_OR_RETURN(std::string vm, ResolveVm(st, Param(req, "ref"), Param(req, "uuid")));
  const XmlRpcValue* rec = st.Find("VM", vm);
  const XmlRpcValue* ps = rec->Find("power_state");
  std::string power = ps != nullptr && ps->is_string() ? ps->str() : "";
  if (power != "Halted" && power != "Suspended") {
    std::string lower = power;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    return XapiError({"VM_BAD_POWER_STATE", vm, "halted, suspended", lower});
  }
  VmOva ova = BuildVmOva(st, state_dir, vm);
  ExportPlan p;
  p.spec = std::move(ova.spec);
  p.disk_files = std::move(ova.disk_files);
  if (!ova.product_version.empty() && ova.product_version < "8.1")
    p.checksum = formats::ChunkChecksum::kSha1;  // .checksum before CH 8.1
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
  // A failed socket write: stream_vdi.ml raises CLIENT_ERROR [exception].
  DataSinkAdapter raw(out, XapiError({"CLIENT_ERROR", "Unix.Unix_error(Unix.ECONNRESET, \"write\", \"\")"}));
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
      Metered(sim, req, [&sim, shared, c, task](size_t, httplib::DataSink& sink) {
        Status s = Stream(*shared, c, sink);
        FinishTask(sim, task, s.ok() ? Result<XmlRpcValue>(XmlRpcValue("")) : Result<XmlRpcValue>(s));
        if (s.ok()) sink.done();
        return s.ok();
      }));
}

}  // namespace

void AddExportRoutes(httplib::Server& svr, Sim& sim) {
  svr.Get(R"(/export(/.*)?)", [&sim](const httplib::Request& req, httplib::Response& res) {
    Export(sim, req, res);
  });
}

}  // namespace casulo::sim

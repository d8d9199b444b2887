// GET /export_raw_vdi (xapi-protocol.md §3.2): one VDI's bytes as raw or
// VHD, whole or as the difference from a base VDI; the routes of both raw
// VDI handlers (the import is raw_vdi_import.cc). Same auth, task and header
// rules as /export and /import (http.h). tar and qcow2 are not simulated:
// they fail the task.
#include <cstring>

#include "formats/raw.h"
#include "formats/vhd_reader.h"
#include "formats/vhd_writer.h"
#include "sim/disks.h"
#include "sim/http.h"
#include "raw_vdi.h"

namespace casulo::sim {
namespace {

using formats::ByteRange;
using formats::kVhdDefaultBlockSize;

constexpr uint64_t kBlock = kVhdDefaultBlockSize;

std::string Str(const XmlRpcValue& rec, std::string_view f) {
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && v->is_string() ? v->str() : "";
}

struct ExportPlan {
  VdiData vdi;
  std::optional<VdiData> base;
  std::string format;
};

Result<ExportPlan> PlanExport(const Store& st, const std::string& dir,
                              const httplib::Request& req) {
  ExportPlan p;
  p.format = Param(req, "format");
  if (p.format.empty()) p.format = "raw";
  ASSIGN_OR_RETURN(p.vdi, ResolveVdi(st, dir, Param(req, "vdi")));
  if (std::string b = Param(req, "base"); !b.empty()) {
    ASSIGN_OR_RETURN(p.base, ResolveVdi(st, dir, b));
  }
  if (p.format != "raw" && p.format != "vhd") return UnknownFormat(p.format);
  if (p.format == "vhd" && p.vdi.size > formats::kVhdMaxWriteSize)  // constants.ml max_vhd_size
    return XapiError({"VDI_TOO_LARGE", p.vdi.ref, std::to_string(formats::kVhdMaxWriteSize)});
  if (p.format == "vhd" && p.vdi.size % formats::kVhdSectorSize != 0)
    return XapiError({"INTERNAL_ERROR", "VDI size is not a multiple of 512"});
  return p;
}

Result<File> OpenData(const VdiData& d) {
  if (d.path.empty()) return File();
  return File::OpenRead(d.path);
}

// Reads bytes [off, off + out.size()) of a disk of `size` bytes; past its end
// (a smaller base) and without a file, zeros.
Status ReadBlock(const File& f, uint64_t size, uint64_t off, MutableByteSpan out) {
  std::memset(out.data(), 0, out.size());
  if (!f.valid() || off >= size) return OkStatus();
  return f.PReadFull(off, out.first(std::min<uint64_t>(out.size(), size - off)));
}

Result<std::vector<std::pair<uint64_t, uint64_t>>> Pairs(const File& f) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  if (!f.valid()) return out;
  ASSIGN_OR_RETURN(std::vector<ByteRange> ranges, DataRanges(f));
  for (const auto& r : ranges) out.emplace_back(r.offset, r.length);
  return out;
}

// The 2 MiB blocks of `vdi` whose bytes differ from `base`'s. Only blocks
// where either file may hold data (SEEK_DATA) are read; holes on both sides
// are equal.
Result<std::vector<uint32_t>> ChangedBlocks(const File& f, const VdiData& vdi, const File& bf,
                                            const VdiData& base) {
  ASSIGN_OR_RETURN(auto ranges, Pairs(f));
  ASSIGN_OR_RETURN(auto base_ranges, Pairs(bf));
  // Past the base's end its bytes are zeros, so there only vdi's data counts.
  ranges.insert(ranges.end(), base_ranges.begin(), base_ranges.end());
  std::sort(ranges.begin(), ranges.end());
  uint64_t nblocks = (vdi.size + kBlock - 1) / kBlock;
  Bytes a(kBlock), b(kBlock);
  std::vector<uint32_t> changed;
  for (uint32_t i : formats::VhdBlocksOfRanges(ranges)) {
    if (i >= nblocks) break;
    uint64_t off = uint64_t(i) * kBlock;
    RETURN_IF_ERROR(ReadBlock(f, vdi.size, off, a));
    RETURN_IF_ERROR(ReadBlock(bf, base.size, off, b));
    size_t len = std::min<uint64_t>(kBlock, vdi.size - off);
    if (std::memcmp(a.data(), b.data(), len) != 0) changed.push_back(i);
  }
  return changed;
}

// The non-zero extents of a VDI file (nullptr when it holds no data).
Result<std::unique_ptr<formats::ExtentReader>> DataExtents(const File& f,
                                                           const FileRandomSource& src,
                                                           uint64_t size) {
  if (!f.valid()) return std::unique_ptr<formats::ExtentReader>();
  ASSIGN_OR_RETURN(std::vector<ByteRange> ranges, DataRanges(f));
  if (ranges.empty()) return std::unique_ptr<formats::ExtentReader>();  // empty = read all
  return formats::OpenRawImage(src, std::move(ranges), {size});
}

Status StreamExport(const ExportPlan& p, Sink& out) {
  ASSIGN_OR_RETURN(File f, OpenData(p.vdi));
  File bf;
  if (p.base) {
    ASSIGN_OR_RETURN(bf, OpenData(*p.base));
  }
  FileRandomSource src(&f, p.vdi.size);
  std::vector<uint32_t> blocks;
  if (p.base) {
    ASSIGN_OR_RETURN(blocks, ChangedBlocks(f, p.vdi, bf, *p.base));
  } else if (p.format == "vhd") {
    // First pass: the BAT precedes the data, so find the blocks up front.
    ASSIGN_OR_RETURN(auto r, DataExtents(f, src, p.vdi.size));
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    while (r != nullptr) {
      ASSIGN_OR_RETURN(std::optional<formats::Extent> e, r->Next());
      if (!e) break;
      ranges.emplace_back(e->offset, e->data.size());
    }
    blocks = formats::VhdBlocksOfRanges(ranges);
  }
  std::unique_ptr<formats::ExtentWriter> w;
  if (p.format == "raw") {
    // A socket cannot seek: holes (and, with a base, unchanged blocks) are
    // sent as zeros.
    w = formats::NewRawStreamWriter(out, p.vdi.size);
  } else {
    formats::VhdWriteOptions o;
    o.virtual_size = p.vdi.size;
    if (p.base) {
      // The parent's VHD unique id: the base VDI's uuid, stable across
      // exports so a client can chain successive deltas.
      o.type = formats::VhdDiskType::kDifferencing;
      ASSIGN_OR_RETURN(o.parent_id, formats::VhdUuid::FromString(p.base->uuid));
      o.parent_name = p.base->uuid + ".vhd";
    }
    ASSIGN_OR_RETURN(auto vw, formats::VhdWriter::Create(out, o, blocks));
    w = std::move(vw);
  }
  if (p.base) {
    Bytes data(kBlock);
    for (uint32_t i : blocks) {
      uint64_t off = uint64_t(i) * kBlock;
      size_t len = std::min<uint64_t>(kBlock, p.vdi.size - off);
      RETURN_IF_ERROR(ReadBlock(f, p.vdi.size, off, MutableByteSpan(data).first(len)));
      RETURN_IF_ERROR(w->Write({off, ByteSpan(data).first(len)}));
    }
  } else {
    ASSIGN_OR_RETURN(auto r, DataExtents(f, src, p.vdi.size));
    if (r != nullptr) {
      for (;;) {
        ASSIGN_OR_RETURN(std::optional<formats::Extent> e, r->Next());
        if (!e) break;
        RETURN_IF_ERROR(w->Write(*e));
      }
    }
  }
  RETURN_IF_ERROR(w->Finish());
  return out.Finish();
}

void Export(Sim& sim, const httplib::Request& req, httplib::Response& res) {
  if (RedirectToSrHost(sim, req, res)) return;
  if (!Authenticate(sim, req, res)) return;
  HttpTask task = BeginTask(sim, req, res, "VDI export");
  Result<ExportPlan> plan = Error(Code::kInternal, "unset");
  (void)sim.Update([&](Store& st) {
    plan = PlanExport(st, sim.state_dir(), req);
    return OkStatus();
  });
  res.status = 200;  // as /export: the outcome is in the task
  if (!plan.ok()) {
    FinishTask(sim, task, plan.status());
    return;
  }
  bool vhd = plan->format == "vhd";
  res.set_header("Content-Disposition",
                 "attachment; filename=\"" + plan->vdi.uuid + "." + plan->format + "\"");
  auto shared = std::make_shared<ExportPlan>(std::move(*plan));
  res.set_content_provider(
      vhd ? "application/vhd" : "application/octet-stream",
      Metered(sim, req, [&sim, shared, task](size_t, httplib::DataSink& sink) {
        // vhd-tool failing to write the socket: vhd_tool_wrapper.ml run_vhd_tool.
        DataSinkAdapter out(sink, XapiError({"VDI_IO_ERROR", "Device I/O errors"}));
        Status s = StreamExport(*shared, out);
        FinishTask(sim, task,
                   s.ok() ? Result<XmlRpcValue>(XmlRpcValue("")) : Result<XmlRpcValue>(s));
        if (s.ok()) sink.done();
        return s.ok();
      }));
}

}  // namespace

Result<VdiData> ResolveVdi(const Store& st, const std::string& dir, const std::string& id) {
  VdiData d;
  d.ref = id;
  if (st.Find("VDI", id) == nullptr) {
    auto ref = st.RefOfUuid("VDI", id);
    if (!ref) return XapiError({"HANDLE_INVALID", "VDI", id});
    d.ref = *ref;
  }
  const XmlRpcValue* rec = st.Find("VDI", d.ref);
  d.uuid = Str(*rec, "uuid");
  d.path = DiskPath(dir, d.uuid);
  const XmlRpcValue* vs = rec->Find("virtual_size");
  d.size = vs != nullptr && vs->type() == XmlRpcValue::Type::kInt ? uint64_t(vs->i()) : 0;
  return d;
}

Status UnknownFormat(const std::string& format) {
  return XapiError({"INTERNAL_ERROR", "Unsupported format: " + format});
}

void AddRawVdiRoutes(httplib::Server& svr, Sim& sim) {
  svr.Get(R"(/export_raw_vdi(/.*)?)",
          [&sim](const httplib::Request& req, httplib::Response& res) { Export(sim, req, res); });
  svr.Put(R"(/import_raw_vdi(/.*)?)",
          [&sim](const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& reader) {
            ImportRawVdi(sim, req, res, Metered(sim, req, reader));
          });
}

}  // namespace casulo::sim

// GET /export_raw_vdi and PUT /import_raw_vdi (xapi-protocol.md §3.2): one
// VDI's bytes as raw or VHD, whole or as the difference from a base VDI, and
// the reverse (raw overwrite, or a VHD applied as a patch). Same auth, task
// and header rules as /export and /import (http.h). tar and qcow2 are not
// simulated: they fail the task.
#include <fcntl.h>

#include <cstring>
#include <thread>

#include "formats/raw.h"
#include "formats/vhd_reader.h"
#include "formats/vhd_writer.h"
#include "sim/disks.h"
#include "sim/http.h"

namespace casulo::sim {
namespace {

using formats::ByteRange;
using formats::kVhdDefaultBlockSize;

constexpr uint64_t kBlock = kVhdDefaultBlockSize;

std::string Str(const XmlRpcValue& rec, std::string_view f) {
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && v->is_string() ? v->str() : "";
}

// A VDI's identity and data file, copied out of the store so the transfer
// runs without the lock.
struct VdiData {
  std::string ref, uuid, path;  // path "" without a state dir (all zeros)
  uint64_t size = 0;
};

// `id` is a ref or a uuid, as XAPI accepts either.
Result<VdiData> Resolve(const Store& st, const std::string& dir, const std::string& id) {
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
  ASSIGN_OR_RETURN(p.vdi, Resolve(st, dir, Param(req, "vdi")));
  if (std::string b = Param(req, "base"); !b.empty()) {
    ASSIGN_OR_RETURN(p.base, Resolve(st, dir, b));
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

// Raw: the body overwrites the VDI from offset 0; it may be shorter than the
// disk but not longer.
Result<XmlRpcValue> ImportRaw(const VdiData& vdi, uint64_t length,
                              const httplib::ContentReader& reader) {
  File f;
  if (!vdi.path.empty()) {
    ASSIGN_OR_RETURN(f, OpenDiskForWrite(vdi.path, O_WRONLY));
  }
  // httplib hands the body over 4 KiB at a time: it is gathered into 1 MiB
  // pieces, and an all-zero piece becomes a hole (the VDI files are sparse,
  // as thin-provisioned SRs are) instead of allocated zeros.
  constexpr size_t kPiece = 1 << 20;
  Bytes piece;
  piece.reserve(kPiece);
  uint64_t pos = 0, piece_at = 0;
  Status st = OkStatus();
  auto flush = [&]() -> Status {
    if (piece.empty() || !f.valid()) return OkStatus();
    if (IsAllZero(piece)) {
      if (fallocate(f.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(piece_at),
                    off_t(piece.size())) == 0)
        return OkStatus();
    }
    return f.PWrite(piece_at, piece);
  };
  bool complete = reader([&](const char* data, size_t len) {
    if (pos + len > vdi.size) {
      st = XapiError({"INTERNAL_ERROR", "the body is larger than the VDI's virtual size"});
      return false;
    }
    const auto* p = reinterpret_cast<const uint8_t*>(data);
    while (len > 0) {
      size_t take = std::min(len, kPiece - piece.size());
      piece.insert(piece.end(), p, p + take);
      p += take;
      len -= take;
      pos += take;
      if (piece.size() == kPiece) {
        st = flush();
        piece.clear();
        piece_at = pos;
        if (!st.ok()) return false;
      }
    }
    return true;
  });
  if (st.ok()) st = flush();
  RETURN_IF_ERROR(st);
  if (!complete || pos < length) return XapiError({"VDI_IO_ERROR", "Device I/O errors"});
  return XmlRpcValue(vdi.ref);
}

// VHD: only the sectors the VHD holds are written (absent blocks and clear
// bitmap bits leave the VDI's bytes alone), so a differencing VHD applies as
// a patch onto a copy of its base.
Result<XmlRpcValue> ImportVhd(const VdiData& vdi, uint64_t length, Source& body) {
  ASSIGN_OR_RETURN(auto r, formats::OpenVhdStream(body, {length}));
  if (r->info().virtual_size != vdi.size)
    return XapiError({"INTERNAL_ERROR", "VHD size " + std::to_string(r->info().virtual_size) +
                                            " differs from the VDI's " + std::to_string(vdi.size)});
  File f;
  if (!vdi.path.empty()) {
    ASSIGN_OR_RETURN(f, OpenDiskForWrite(vdi.path, O_WRONLY));
  }
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<formats::Extent> e, r->Next());
    if (!e) break;
    if (f.valid()) RETURN_IF_ERROR(f.PWrite(e->offset, e->data));
  }
  return XmlRpcValue(vdi.ref);
}

void Import(Sim& sim, const httplib::Request& req, httplib::Response& res,
            const httplib::ContentReader& reader) {
  if (RedirectToSrHost(sim, req, res)) return;
  if (!Authenticate(sim, req, res)) return;
  HttpTask task = BeginTask(sim, req, res, "VDI import");
  // import_raw_vdi.ml: errors answer 400 (404 for chunked) and fail the task.
  auto fail = [&](int code, const Status& s) {
    res.status = code;
    FinishTask(sim, task, s);
  };
  if (req.has_header("Transfer-Encoding"))
    return fail(404, XapiError({"INTERNAL_ERROR", "Cannot handle encoding: chunked"}));
  if (!req.has_header("Content-Length"))
    return fail(400, XapiError({"INTERNAL_ERROR", "Content-Length required"}));
  uint64_t length = std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
  std::string format = Param(req, "format");
  if (format.empty()) format = "raw";
  Result<VdiData> vdi = XapiError({"VDI_MISSING"});
  std::string vdi_id = Param(req, "vdi");
  std::string sr = Param(req, "sr_id"), sr_uuid = Param(req, "sr_uuid");
  if (vdi_id.empty() && (!sr.empty() || !sr_uuid.empty())) {
    // import_raw_vdi.ml: with an SR instead of a VDI, a new VDI of the
    // body's size is created there; only raw can be imported that way.
    if (format != "raw" && !format.empty())
      return fail(400, XapiError({"INTERNAL_ERROR", "Importing a VHD directly into an SR not yet supported"}));
    std::string session = Param(req, "session_id");
    if (sr.empty()) {
      auto r = sim.Call("SR.get_by_uuid", {XmlRpcValue(session), XmlRpcValue(sr_uuid)});
      if (!r.ok()) return fail(400, r.status());
      sr = r->str();
    }
    XmlRpcStruct rec{{"name_label", XmlRpcValue("import_raw_vdi")},
                     {"name_description", XmlRpcValue("")},
                     {"SR", XmlRpcValue(sr)},
                     {"virtual_size", XmlRpcValue(std::to_string(length))},
                     {"type", XmlRpcValue("user")},
                     {"sharable", XmlRpcValue(false)},
                     {"read_only", XmlRpcValue(false)},
                     {"other_config", XmlRpcValue(XmlRpcStruct{})},
                     {"xenstore_data", XmlRpcValue(XmlRpcStruct{})},
                     {"sm_config", XmlRpcValue(XmlRpcStruct{})},
                     {"tags", XmlRpcValue(XmlRpcArray{})}};
    auto created = sim.Call("VDI.create", {XmlRpcValue(session), XmlRpcValue(std::move(rec))});
    if (!created.ok()) return fail(400, created.status());
    vdi_id = created->str();
  }
  (void)sim.Update([&](Store& st) {
    if (!vdi_id.empty()) vdi = Resolve(st, sim.state_dir(), vdi_id);
    return OkStatus();
  });
  if (!vdi.ok()) return fail(400, vdi.status());
  if (format != "raw" && format != "vhd") return fail(400, UnknownFormat(format));
  Result<XmlRpcValue> result = XmlRpcValue("");
  if (format == "raw") {
    result = ImportRaw(*vdi, length, reader);
  } else {
    PipeSource pipe;
    std::thread worker([&] {
      result = ImportVhd(*vdi, length, pipe);
      pipe.Abandon();
    });
    (void)reader([&](const char* data, size_t len) { return pipe.Push(data, len); });
    pipe.Close();  // a short body makes the VHD reader fail on its own
    worker.join();
  }
  res.status = result.ok() ? 200 : 400;
  FinishTask(sim, task, result);
}

}  // namespace

void AddRawVdiRoutes(httplib::Server& svr, Sim& sim) {
  svr.Get(R"(/export_raw_vdi(/.*)?)",
          [&sim](const httplib::Request& req, httplib::Response& res) { Export(sim, req, res); });
  svr.Put(R"(/import_raw_vdi(/.*)?)",
          [&sim](const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& reader) {
            Import(sim, req, res, Metered(sim, req, reader));
          });
}

}  // namespace casulo::sim

// PUT /import_raw_vdi (xapi-protocol.md §3.2, X:ocaml/xapi/import_raw_vdi.ml)
// onto an existing VDI: raw (the body overwrites the VDI from offset 0),
// chunked (xapi's own framing of pieces at given offsets, raw only) or vhd
// (only the sectors the VHD holds are written); with sr_id/sr_uuid instead
// of vdi, a raw body becomes a new VDI. Every 64 KiB block written is then
// marked in the VDI's CBT log, as tapdisk logs the writes that go through
// it, so a later list_changed_blocks sees what an import changed.
#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "formats/vhd_reader.h"
#include "raw_vdi.h"
#include "sim/cbt.h"
#include "sim/disk_writer.h"
#include "sim/disks.h"

namespace casulo::sim {
namespace {

// The 64 KiB blocks (kCbtBlockSize) an import touched, for the CBT log.
class Written {
 public:
  void Add(uint64_t offset, uint64_t length) {
    if (length == 0) return;
    for (uint64_t b = offset / kCbtBlockSize; b * kCbtBlockSize < offset + length; ++b)
      if (blocks_.empty() || blocks_.back() != b) blocks_.push_back(b);
  }
  std::vector<uint64_t> Blocks() const {
    std::vector<uint64_t> out = blocks_;
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  std::vector<uint64_t> blocks_;
};

uint64_t LittleEndian(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// Raw: the body overwrites the VDI from offset 0; it may be shorter than the
// disk but not longer.
Result<XmlRpcValue> ImportRaw(const VdiData& vdi, uint64_t length,
                              const httplib::ContentReader& reader, Written& written) {
  DiskWriter f;
  if (!vdi.path.empty()) {
    ASSIGN_OR_RETURN(f, DiskWriter::Open(vdi.path));
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
    written.Add(piece_at, piece.size());
    if (piece.empty() || !f.valid()) return OkStatus();
    if (IsAllZero(piece)) {
      if (fallocate(f.file().fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(piece_at),
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
Result<XmlRpcValue> ImportVhd(const VdiData& vdi, uint64_t length, Source& body, Written& written) {
  ASSIGN_OR_RETURN(auto r, formats::OpenVhdStream(body, {length}));
  if (r->info().virtual_size != vdi.size)
    return XapiError({"INTERNAL_ERROR", "VHD size " + std::to_string(r->info().virtual_size) +
                                            " differs from the VDI's " + std::to_string(vdi.size)});
  DiskWriter f;
  if (!vdi.path.empty()) {
    ASSIGN_OR_RETURN(f, DiskWriter::Open(vdi.path));
  }
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<formats::Extent> e, r->Next());
    if (!e) break;
    if (f.valid()) RETURN_IF_ERROR(f.PWrite(e->offset, e->data));
    written.Add(e->offset, e->data.size());
  }
  return XmlRpcValue(vdi.ref);
}

// chunked (X:ocaml/vhd-tool/src/chunked.ml): repeated {offset: u64 LE,
// length: u32 LE, data[length]}, ended by a header whose offset and length
// are both 0. A piece reaching past the VDI's end fails the import; a body
// that stops before the end header is cut (VDI_IO_ERROR, as a short raw
// body).
Result<XmlRpcValue> ImportChunked(const VdiData& vdi, uint64_t length,
                                  const httplib::ContentReader& reader, Written& written) {
  File f;
  if (!vdi.path.empty()) {
    ASSIGN_OR_RETURN(f, OpenDiskForWrite(vdi.path, O_WRONLY));
  }
  constexpr size_t kHeader = 12;
  uint8_t head[kHeader];
  size_t have = 0;          // header bytes gathered
  uint64_t at = 0, left = 0;  // where the current piece's next byte goes, bytes to come
  uint64_t pos = 0;
  bool ended = false;
  Status st = OkStatus();
  bool complete = reader([&](const char* data, size_t len) {
    const auto* p = reinterpret_cast<const uint8_t*>(data);
    pos += len;
    while (len > 0) {
      if (ended) {
        st = XapiError({"INTERNAL_ERROR", "data after the end of the chunked body"});
        return false;
      }
      if (left == 0) {
        size_t take = std::min(len, kHeader - have);
        std::memcpy(head + have, p, take);
        have += take;
        p += take;
        len -= take;
        if (have < kHeader) continue;
        have = 0;
        at = LittleEndian(head, 8);
        left = LittleEndian(head + 8, 4);
        ended = at == 0 && left == 0;
        if (at > vdi.size || left > vdi.size - at) {
          st = XapiError({"INTERNAL_ERROR", "a chunk of " + std::to_string(left) + " bytes at " +
                                                std::to_string(at) + " is past the end of the VDI"});
          return false;
        }
        continue;
      }
      size_t take = size_t(std::min<uint64_t>(len, left));
      if (f.valid()) {
        st = f.PWrite(at, ByteSpan(p, take));
        if (!st.ok()) return false;
      }
      written.Add(at, take);
      at += take;
      left -= take;
      p += take;
      len -= take;
    }
    return true;
  });
  RETURN_IF_ERROR(st);
  if (!complete || !ended || pos < length) return XapiError({"VDI_IO_ERROR", "Device I/O errors"});
  return XmlRpcValue(vdi.ref);
}

}  // namespace

void ImportRawVdi(Sim& sim, const httplib::Request& req, httplib::Response& res,
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
  // `chunked` counts by its presence, as in import_raw_vdi.ml.
  bool chunked = req.has_param("chunked");
  if (chunked && format != "raw")
    return fail(400, XapiError({"INTERNAL_ERROR", "chunked is only for format=raw"}));
  Result<VdiData> vdi = XapiError({"VDI_MISSING"});
  std::string vdi_id = Param(req, "vdi");
  std::string sr = Param(req, "sr_id"), sr_uuid = Param(req, "sr_uuid");
  if (vdi_id.empty() && chunked) return fail(400, XapiError({"VDI_MISSING"}));
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
    if (!vdi_id.empty()) vdi = ResolveVdi(st, sim.state_dir(), vdi_id);
    return OkStatus();
  });
  if (!vdi.ok()) return fail(400, vdi.status());
  if (format != "raw" && format != "vhd") return fail(400, UnknownFormat(format));
  Written written;
  Result<XmlRpcValue> result = XmlRpcValue("");
  if (chunked) {
    result = ImportChunked(*vdi, length, reader, written);
  } else if (format == "raw") {
    result = ImportRaw(*vdi, length, reader, written);
  } else {
    PipeSource pipe;
    std::thread worker([&] {
      result = ImportVhd(*vdi, length, pipe, written);
      pipe.Abandon();
    });
    (void)reader([&](const char* data, size_t len) { return pipe.Push(data, len); });
    pipe.Close();  // a short body makes the VHD reader fail on its own
    worker.join();
  }
  // Also after a failure: what was written is on the disk.
  if (std::vector<uint64_t> blocks = written.Blocks(); !blocks.empty()) {
    Status marked = sim.Update([&](Store&) {
      return CbtMarkWritten(sim.state_dir(), vdi->uuid, vdi->size, blocks);
    });
    if (!marked.ok() && result.ok()) result = XapiError({"INTERNAL_ERROR", marked.ToString()});
  }
  res.status = result.ok() ? 200 : 400;
  FinishTask(sim, task, result);
}


}  // namespace casulo::sim

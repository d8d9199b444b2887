// PUT /import: an XVA (plain, gzip or zstd, auto-detected) becomes a VM with
// its VBDs, VIFs and VDIs in the chosen SR, disks written into fresh sparse
// files (xapi-protocol.md §3.2). The body is read through a content reader
// (never buffered whole) and parsed on a worker thread by formats'
// XvaReader. Chunked uploads are refused as XAPI refuses them.
#include <fcntl.h>

#include <thread>

#include "formats/ova.h"
#include "formats/xva_reader.h"
#include "sim/disk_writer.h"
#include "sim/disks.h"
#include "sim/http.h"

namespace casulo::sim {
namespace {

using formats::OvaObject;

std::string OvaStr(const XmlRpcValue& rec, std::string_view f) {
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && v->is_string() ? v->str() : "";
}

// Copies the fields of an ova.xml record that the class schema knows and
// that need no reference rewriting, coerced to the schema's wire type
// (ova.xml writes ints as strings).
XmlRpcStruct Fields(std::string_view cls, const XmlRpcValue& snapshot,
                    std::initializer_list<std::string_view> names) {
  const ClassSchema* schema = FindClass(cls);
  XmlRpcStruct out;
  for (std::string_view n : names) {
    const XmlRpcValue* v = snapshot.Find(n);
    const XmlRpcValue* d = schema->Default(n);
    if (v == nullptr || d == nullptr) continue;
    if (d->type() == XmlRpcValue::Type::kInt) {
      auto i = v->AsInt(n);
      if (i.ok()) out.emplace_back(std::string(n), XmlRpcValue(*i));
    } else if (d->type() == XmlRpcValue::Type::kBool) {
      if (v->type() == XmlRpcValue::Type::kBool) out.emplace_back(std::string(n), *v);
      else if (v->is_string()) out.emplace_back(std::string(n), XmlRpcValue(v->str() == "true"));
    } else if (d->type() == v->type()) {
      out.emplace_back(std::string(n), *v);
    }
  }
  return out;
}

struct Created {
  std::string vm;
  std::map<std::string, std::string> vdi_file_by_id;  // ova.xml VDI id -> file
  std::vector<std::pair<std::string, std::string>> objects;  // (class, ref), for undo
};

// Creates the records (under the store lock). The VM is Halted and never a
// snapshot; VIFs join the network with the same name_label, else bridge,
// else the first network.
Result<Created> CreateRecords(Store& st, const std::string& state_dir, const formats::OvaXml& ova,
                              const std::string& sr) {
  Created c;
  ASSIGN_OR_RETURN(const OvaObject* vm, formats::PrimaryVm(ova));
  XmlRpcStruct f = Fields("VM", vm->snapshot,
                          {"name_label", "name_description", "is_a_template", "memory_static_min",
                           "memory_static_max", "memory_dynamic_min", "memory_dynamic_max",
                           "VCPUs_max", "VCPUs_at_startup", "HVM_boot_policy", "HVM_boot_params",
                           "platform", "PV_bootloader", "PV_kernel", "PV_args", "other_config",
                           "tags", "user_version"});
  f.emplace_back("power_state", XmlRpcValue("Halted"));
  c.vm = st.Create("VM", std::move(f));
  c.objects.emplace_back("VM", c.vm);
  ASSIGN_OR_RETURN(std::vector<formats::OvaVbd> vbds, formats::VmVbds(ova, *vm));
  std::map<std::string, std::string> vdi_refs;  // ova id -> new ref
  ASSIGN_OR_RETURN(std::vector<formats::OvaVdi> streamed, formats::StreamedVdis(ova));
  for (const auto& v : streamed) {
    const OvaObject* obj = formats::FindOvaObject(ova, v.id);
    XmlRpcStruct vf = Fields("VDI", obj->snapshot, {"name_label", "name_description", "type",
                                                    "virtual_size", "other_config", "sharable",
                                                    "read_only", "tags"});
    std::string uuid = st.NewUuid();
    vf.emplace_back("uuid", XmlRpcValue(uuid));
    vf.emplace_back("location", XmlRpcValue(uuid));
    vf.emplace_back("SR", XmlRpcValue(sr));
    std::string ref = st.Create("VDI", std::move(vf));
    c.objects.emplace_back("VDI", ref);
    st.AddToSet("SR", sr, "VDIs", ref);
    vdi_refs[v.id] = ref;
    std::string path = DiskPath(state_dir, uuid);
    if (!path.empty()) RETURN_IF_ERROR(CreateDisk(path, uint64_t(v.virtual_size)));
    c.vdi_file_by_id[v.id] = path;
  }
  for (const auto& b : vbds) {
    auto it = vdi_refs.find(b.vdi_id);
    bool has_vdi = it != vdi_refs.end();
    std::string ref = st.Create(
        "VBD", {{"VM", XmlRpcValue(c.vm)},
                {"VDI", has_vdi ? XmlRpcValue(it->second) : NullRef()},
                {"userdevice", XmlRpcValue(b.userdevice)}, {"device", XmlRpcValue("")},
                {"bootable", XmlRpcValue(b.bootable)}, {"mode", XmlRpcValue(b.mode)},
                {"type", XmlRpcValue(b.type)}, {"empty", XmlRpcValue(!has_vdi)}});
    c.objects.emplace_back("VBD", ref);
    st.AddToSet("VM", c.vm, "VBDs", ref);
    if (has_vdi) st.AddToSet("VDI", it->second, "VBDs", ref);
  }
  for (const OvaObject* vif : formats::OvaObjectsOfClass(ova, "VIF")) {
    if (OvaStr(vif->snapshot, "VM") != vm->id) continue;
    const OvaObject* net = formats::FindOvaObject(ova, OvaStr(vif->snapshot, "network"));
    std::string name = net != nullptr ? OvaStr(net->snapshot, "name_label") : "";
    std::string bridge = net != nullptr ? OvaStr(net->snapshot, "bridge") : "";
    std::string network;
    for (const auto& [ref, obj] : st.Objects("network"))
      if (OvaStr(obj.record, "name_label") == name) network = ref;
    for (const auto& [ref, obj] : st.Objects("network"))
      if (network.empty() && !bridge.empty() && OvaStr(obj.record, "bridge") == bridge) network = ref;
    if (network.empty() && !st.Objects("network").empty()) network = st.Objects("network").begin()->first;
    XmlRpcStruct vf = Fields("VIF", vif->snapshot, {"device", "MAC", "MTU", "other_config"});
    vf.emplace_back("VM", XmlRpcValue(c.vm));
    vf.emplace_back("network", XmlRpcValue(network));
    std::string ref = st.Create("VIF", std::move(vf));
    c.objects.emplace_back("VIF", ref);
    st.AddToSet("VM", c.vm, "VIFs", ref);
    if (!network.empty()) st.AddToSet("network", network, "VIFs", ref);
  }
  return c;
}

// Writes every disk of the stream into its file: extents at their offsets,
// holes left as holes.
Status WriteDisks(formats::XvaReader& xva, const Created& c) {
  for (;;) {
    ASSIGN_OR_RETURN(formats::XvaDiskReader * disk, xva.NextDisk());
    if (disk == nullptr) return OkStatus();
    auto it = c.vdi_file_by_id.find(disk->id());
    DiskWriter f;
    if (it != c.vdi_file_by_id.end() && !it->second.empty()) {
      ASSIGN_OR_RETURN(f, DiskWriter::Open(it->second));
    }
    for (;;) {
      ASSIGN_OR_RETURN(std::optional<formats::Extent> e, disk->Next());
      if (!e) break;
      if (f.valid() && !IsAllZero(e->data)) RETURN_IF_ERROR(f.PWrite(e->offset, e->data));
    }
  }
}

Result<XmlRpcValue> RunImport(Sim& sim, Source& body, const std::string& sr) {
  ASSIGN_OR_RETURN(auto xva, formats::XvaReader::Open(body));
  Created c;
  Status made = sim.Update([&](Store& st) -> Status {
    Result<Created> r = CreateRecords(st, sim.state_dir(), *xva->ova(), sr);
    if (!r.ok()) return XapiError({"IMPORT_ERROR", r.status().ToString()});
    c = std::move(*r);
    return OkStatus();
  });
  Status written = made.ok() ? WriteDisks(*xva, c) : made;
  if (!written.ok()) {
    // Undo, as XAPI's importer cleans up after a failed import.
    (void)sim.Update([&](Store& st) {
      for (const auto& [cls, ref] : c.objects) {
        if (cls == "VDI") {
          if (const XmlRpcValue* v = st.Find("VDI", ref))
            (void)RemoveFile(DiskPath(sim.state_dir(), UuidOf(*v)));
          st.RemoveFromSet("SR", sr, "VDIs", ref);
        }
        st.Remove(cls, ref);
      }
      return OkStatus();
    });
    if (!written.remote().empty()) return written;
    return XapiError({"IMPORT_ERROR", written.ToString()});
  }
  return XmlRpcValue(XmlRpcArray{XmlRpcValue(c.vm)});
}

void Import(Sim& sim, const httplib::Request& req, httplib::Response& res,
            const httplib::ContentReader& reader) {
  if (RedirectToSrHost(sim, req, res)) return;
  if (!Authenticate(sim, req, res)) return;
  HttpTask task = BeginTask(sim, req, res, "VM import");
  if (req.has_header("Transfer-Encoding")) {  // import.ml: 403, task failed
    res.status = 403;
    FinishTask(sim, task, XapiError({"IMPORT_ERROR_CANNOT_HANDLE_CHUNKED"}));
    return;
  }
  std::string sr = Param(req, "sr_id");
  Status found = sim.Update([&](Store& st) -> Status {
    if (sr.empty() && !Param(req, "sr_uuid").empty()) {
      auto ref = st.RefOfUuid("SR", Param(req, "sr_uuid"));
      if (!ref) return XapiError({"UUID_INVALID", "SR", Param(req, "sr_uuid")});
      sr = *ref;
    }
    if (sr.empty() && !st.Objects("pool").empty())
      sr = OvaStr(st.Objects("pool").begin()->second.record, "default_SR");
    if (st.Find("SR", sr) == nullptr) return XapiError({"DEFAULT_SR_NOT_FOUND", sr});
    return OkStatus();
  });
  res.status = 200;
  if (!found.ok()) {
    FinishTask(sim, task, found);
    return;
  }
  PipeSource pipe;
  Result<XmlRpcValue> result = XmlRpcValue("");
  std::thread worker([&] {
    result = RunImport(sim, pipe, sr);
    pipe.Abandon();
  });
  bool complete = reader([&](const char* data, size_t len) { return pipe.Push(data, len); });
  pipe.Close();
  worker.join();
  // A body cut short makes the reader fail on its own; bytes left unread
  // after a complete archive (tape padding) are no error.
  (void)complete;
  FinishTask(sim, task, result);
}

}  // namespace

void AddImportRoutes(httplib::Server& svr, Sim& sim) {
  svr.Put(R"(/import(/.*)?)", [&sim](const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader& reader) {
    Import(sim, req, res, Metered(sim, req, reader));
  });
}

}  // namespace casulo::sim

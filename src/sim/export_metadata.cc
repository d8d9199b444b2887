// GET /export_metadata (xapi-protocol.md §3.2; X:ocaml/xapi/export.ml
// metadata_handler, update_table): a tar holding only ova.xml, sent WITH a
// Content-Length, for one VM (ref= / uuid=) or all=true (every VM but the
// default templates, dom0s only with include_dom0, default true).
// export_snapshots (default true) adds each VM's snapshots with their VBDs
// and VDIs; excluded_device_types (comma list of vif, vbd, vgpu, vtpm) drops
// those records. include_vhd_parents is accepted: simulated VDIs have no
// vhd-parent chains.
//
// Each VM is described by BuildVmOva / formats::BuildOvaXml as /export does;
// the per-VM documents are merged with fresh ids, SRs and networks shared by
// uuid, and the snapshot links (VM.snapshots, snapshot_of, is_a_snapshot)
// rewritten to ids.
#include <set>
#include <sstream>

#include "formats/xva_writer.h"
#include "sim/http.h"
#include "sim/vm_ova.h"

namespace casulo::sim {
namespace {

using formats::OvaObject;
using formats::OvaXml;

bool BoolParam(const httplib::Request& req, const char* name, bool dflt) {
  std::string v = Param(req, name);
  return v.empty() ? dflt : v == "true";
}

std::string Field(const XmlRpcValue& rec, std::string_view f) {
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && v->is_string() ? v->str() : "";
}
bool Flag(const XmlRpcValue& rec, std::string_view f) {
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && v->type() == XmlRpcValue::Type::kBool && v->b();
}

void Remap(XmlRpcValue& v, const std::map<std::string, std::string>& ids) {
  if (v.is_string()) {
    if (auto it = ids.find(v.str()); it != ids.end()) v = XmlRpcValue(it->second);
  } else if (v.is_array()) {
    for (auto& e : v.array()) Remap(e, ids);
  } else if (v.is_struct()) {
    for (auto& [k, e] : v.members()) Remap(e, ids);
  }
}

class Merger {
 public:
  // Adds one VM's document; returns the new id of its VM object.
  std::string Add(OvaXml doc) {
    if (out_.objects.empty()) out_.version = doc.version;
    std::map<std::string, std::string> ids;
    std::vector<OvaObject> kept;
    for (auto& o : doc.objects) {
      std::string uuid = o.snapshot.is_struct() ? Field(o.snapshot, "uuid") : "";
      std::string key = o.cls + "/" + uuid;
      if ((o.cls == "SR" || o.cls == "network") && shared_.count(key) != 0) {
        ids[o.id] = shared_[key];
        continue;
      }
      std::string fresh = "Ref:" + std::to_string(next_++);
      ids[o.id] = fresh;
      if (o.cls == "SR" || o.cls == "network") shared_[key] = fresh;
      if (o.cls == "VDI") vdi_by_uuid_[uuid] = fresh;
      o.id = fresh;
      kept.push_back(std::move(o));
    }
    std::string vm;
    for (auto& o : kept) {
      Remap(o.snapshot, ids);
      if (o.cls == "VM") vm = o.id;
      out_.objects.push_back(std::move(o));
    }
    return vm;
  }

  OvaObject* Find(const std::string& id) {
    for (auto& o : out_.objects)
      if (o.id == id) return &o;
    return nullptr;
  }
  std::string VdiId(const std::string& uuid) const {
    auto it = vdi_by_uuid_.find(uuid);
    return it == vdi_by_uuid_.end() ? std::string(formats::kOvaNullRef) : it->second;
  }
  OvaXml& doc() { return out_; }

 private:
  OvaXml out_;
  int next_ = 0;
  std::map<std::string, std::string> shared_;
  std::map<std::string, std::string> vdi_by_uuid_;
};

Result<OvaXml> BuildOne(const Store& st, const std::string& vm, const VmOvaOptions& o) {
  ASSIGN_OR_RETURN(formats::BuiltOva built, formats::BuildOvaXml(BuildVmOva(st, "", vm, o).spec));
  return std::move(built.ova);
}

Result<std::string> Build(const Store& st, const httplib::Request& req) {
  std::set<std::string> excluded;
  std::stringstream types(Param(req, "excluded_device_types"));
  for (std::string t; std::getline(types, t, ',');) excluded.insert(t);
  VmOvaOptions opts{excluded.count("vbd") == 0, excluded.count("vif") == 0};
  bool snapshots = BoolParam(req, "export_snapshots", true);

  std::vector<std::string> vms;
  if (BoolParam(req, "all", false)) {
    bool dom0 = BoolParam(req, "include_dom0", true);
    for (const auto& [ref, obj] : st.Objects("VM")) {
      const XmlRpcValue& r = obj.record;
      const XmlRpcValue* oc = r.Find("other_config");
      const XmlRpcValue* dt = oc != nullptr ? oc->Find("default_template") : nullptr;
      bool default_template = Flag(r, "is_default_template") ||
                              (Flag(r, "is_a_template") && dt != nullptr && dt->is_string() &&
                               dt->str() == "true");
      if (!default_template && (dom0 || !Flag(r, "is_control_domain"))) vms.push_back(ref);
    }
  } else {
    ASSIGN_OR_RETURN(std::string vm, ResolveVm(st, Param(req, "ref"), Param(req, "uuid")));
    vms.push_back(vm);
  }

  Merger m;
  std::map<std::string, std::string> added;  // VM ref -> id: each VM once (update_table)
  auto add_vm = [&](const std::string& ref) -> Result<std::string> {
    if (auto it = added.find(ref); it != added.end()) return it->second;
    ASSIGN_OR_RETURN(OvaXml doc, BuildOne(st, ref, opts));
    return added[ref] = m.Add(std::move(doc));
  };
  std::set<std::string> listed(vms.begin(), vms.end());
  for (const auto& vm : vms) {
    const XmlRpcValue& rec = *st.Find("VM", vm);
    // A listed snapshot of a listed VM comes in with its VM.
    if (snapshots && Flag(rec, "is_a_snapshot") && listed.count(Field(rec, "snapshot_of")) != 0)
      continue;
    ASSIGN_OR_RETURN(std::string vm_id, add_vm(vm));
    if (!snapshots) continue;
    XmlRpcArray snap_ids;
    for (const auto& s : rec.Find("snapshots")->array()) {
      const XmlRpcValue* snap = st.Find("VM", s.str());
      if (snap == nullptr) continue;
      ASSIGN_OR_RETURN(std::string sid, add_vm(s.str()));
      snap_ids.emplace_back(sid);
      OvaObject* so = m.Find(sid);
      so->snapshot.Set("is_a_snapshot", XmlRpcValue(true));
      so->snapshot.Set("snapshot_of", XmlRpcValue(vm_id));
      if (const XmlRpcValue* t = snap->Find("snapshot_time")) so->snapshot.Set("snapshot_time", *t);
      // The snapshot's VDIs point back at the VM's VDIs they were taken of.
      for (const auto& vbd_ref : snap->Find("VBDs")->array()) {
        const XmlRpcValue* vbd = st.Find("VBD", vbd_ref.str());
        const XmlRpcValue* vdi = vbd != nullptr ? st.Find("VDI", Field(*vbd, "VDI")) : nullptr;
        if (vdi == nullptr) continue;
        OvaObject* vo = m.Find(m.VdiId(Field(*vdi, "uuid")));
        if (vo == nullptr) continue;
        vo->snapshot.Set("is_a_snapshot", XmlRpcValue(true));
        const XmlRpcValue* of = st.Find("VDI", Field(*vdi, "snapshot_of"));
        vo->snapshot.Set("snapshot_of",
                         XmlRpcValue(of != nullptr ? m.VdiId(Field(*of, "uuid"))
                                                   : std::string(formats::kOvaNullRef)));
      }
    }
    m.Find(vm_id)->snapshot.Set("snapshots", XmlRpcValue(std::move(snap_ids)));
  }
  Bytes tar;
  BytesSink sink(&tar);
  formats::XvaWriter xva(sink, {formats::ChunkChecksum::kXxh64, uint64_t(std::time(nullptr))});
  RETURN_IF_ERROR(xva.WriteOvaXml(formats::PrintOvaXml(m.doc())));
  RETURN_IF_ERROR(xva.Finish());
  return std::string(tar.begin(), tar.end());
}

void ExportMetadata(Sim& sim, const httplib::Request& req, httplib::Response& res) {
  if (!Authenticate(sim, req, res)) return;
  HttpTask task = BeginTask(sim, req, res, "VM.export_metadata");
  Result<std::string> tar = Error(Code::kInternal, "unset");
  (void)sim.Update([&](Store& st) {
    tar = Build(st, req);
    return OkStatus();
  });
  res.status = 200;
  if (!tar.ok()) {
    FinishTask(sim, task, tar.status());
    return;
  }
  res.set_header("Content-Disposition", "attachment; filename=\"export.xva\"");
  // set_content: httplib sends the Content-Length XAPI sends here.
  res.set_content(std::move(*tar), "application/octet-stream");
  FinishTask(sim, task, XmlRpcValue(""));
}

}  // namespace

void AddMetadataRoutes(httplib::Server& svr, Sim& sim) {
  svr.Get(R"(/export_metadata(/.*)?)", [&sim](const httplib::Request& req, httplib::Response& res) {
    ExportMetadata(sim, req, res);
  });
}

}  // namespace casulo::sim

// ova.xml: parsing, printing and the queries readers need. The rules mirror
// XAPI's importer (importexport.ml `header_of_rpc`, import.ml
// `non_cdrom_vdis`, stream_vdi.ml `vdi_ordering`); docs/format/ova-xml.md.
#include <algorithm>
#include <cctype>
#include <set>

#include "formats/ova.h"

namespace casulo::formats {
namespace {

// A version string: XAPI reads these with string_of_rpc; a missing one reads
// as "" here (tolerance: the importer never looks at them). An integer
// written typed is taken as its decimal text.
Result<std::string> VersionString(const XmlRpcValue& version, std::string_view name) {
  const XmlRpcValue* v = version.Find(name);
  if (v == nullptr) return std::string();
  if (v->type() == XmlRpcValue::Type::kInt) return std::to_string(v->i());
  return v->AsString(fmt::format("ova.xml version.{}", name));
}

Result<OvaVersion> DecodeVersion(const XmlRpcValue& v) {
  if (!v.is_struct()) return Error(Code::kCorruption, "ova.xml: `version` is not a struct");
  OvaVersion out;
  ASSIGN_OR_RETURN(out.hostname, VersionString(v, "hostname"));
  ASSIGN_OR_RETURN(out.date, VersionString(v, "date"));
  ASSIGN_OR_RETURN(out.product_version, VersionString(v, "product_version"));
  ASSIGN_OR_RETURN(out.product_brand, VersionString(v, "product_brand"));
  ASSIGN_OR_RETURN(out.build_number, VersionString(v, "build_number"));
  for (auto [name, field] : {std::pair{"xapi_major", &out.xapi_major},
                             std::pair{"xapi_minor", &out.xapi_minor}}) {
    const XmlRpcValue* f = v.Find(name);
    if (f == nullptr) return Error(Code::kCorruption, "ova.xml: version has no {}", name);
    ASSIGN_OR_RETURN(*field, f->AsInt(fmt::format("ova.xml version.{}", name)));
  }
  // XAPI: `try int_of_rpc export_vsn with _ -> 0`, so absent or odd is 0.
  out.export_vsn = 0;
  if (const XmlRpcValue* f = v.Find("export_vsn")) {
    if (auto n = f->AsInt("export_vsn"); n.ok()) out.export_vsn = *n;
  }
  return out;
}

Result<OvaObject> DecodeObject(const XmlRpcValue& v, size_t index) {
  const std::string where = fmt::format("ova.xml object {}", index);
  if (!v.is_struct()) return Error(Code::kCorruption, "{}: not a struct", where);
  OvaObject o;
  const XmlRpcValue* cls = v.Find("class");
  const XmlRpcValue* id = v.Find("id");
  const XmlRpcValue* snapshot = v.Find("snapshot");
  if (cls == nullptr) return Error(Code::kCorruption, "{}: no class", where);
  ASSIGN_OR_RETURN(o.cls, cls->AsString(where + " class"));
  if (o.cls.empty()) return Error(Code::kCorruption, "{}: empty class", where);
  if (id == nullptr) return Error(Code::kCorruption, "{} ({}): no id", where, o.cls);
  ASSIGN_OR_RETURN(o.id, id->AsString(where + " id"));
  if (o.id.empty()) return Error(Code::kCorruption, "{} ({}): empty id", where, o.cls);
  if (snapshot == nullptr)
    return Error(Code::kCorruption, "{} ({} {}): no snapshot", where, o.cls, o.id);
  o.snapshot = *snapshot;
  return o;
}

XmlRpcValue EncodeVersion(const OvaVersion& v) {
  return XmlRpcStruct{{"hostname", v.hostname},
                      {"date", v.date},
                      {"product_version", v.product_version},
                      {"product_brand", v.product_brand},
                      {"build_number", v.build_number},
                      {"xapi_major", v.xapi_major},
                      {"xapi_minor", v.xapi_minor},
                      {"export_vsn", v.export_vsn}};
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// A string field of a record; kCorruption naming the object when absent or
// not a string.
Result<std::string> Field(const OvaObject& o, std::string_view name) {
  const XmlRpcValue* v = o.snapshot.Find(name);
  const std::string what = fmt::format("ova.xml {} {} field {}", o.cls, o.id, name);
  if (v == nullptr) return Error(Code::kCorruption, "{}: missing", what);
  return v->AsString(what);
}

// A boolean field; absent counts as false (the datamodel default of every
// boolean we read here except VBD.bootable/empty, which XAPI requires).
Result<bool> BoolField(const OvaObject& o, std::string_view name) {
  const XmlRpcValue* v = o.snapshot.Find(name);
  if (v == nullptr) return false;
  return v->AsBool(fmt::format("ova.xml {} {} field {}", o.cls, o.id, name));
}

std::string RefOrEmpty(std::string ref) {
  return ref == kOvaNullRef ? std::string() : ref;
}

}  // namespace

Result<OvaXml> ParseOvaXml(std::string_view xml) {
  auto root = ParseXmlRpcValue(xml);
  if (!root.ok()) return std::move(root).status().With("ova.xml");
  if (!root->is_struct()) return Error(Code::kCorruption, "ova.xml: the top value is not a struct");
  const XmlRpcValue* version = root->Find("version");
  const XmlRpcValue* objects = root->Find("objects");
  if (version == nullptr) return Error(Code::kCorruption, "ova.xml: no `version` member");
  if (objects == nullptr) return Error(Code::kCorruption, "ova.xml: no `objects` member");
  if (!objects->is_array()) return Error(Code::kCorruption, "ova.xml: `objects` is not an array");
  OvaXml out;
  ASSIGN_OR_RETURN(out.version, DecodeVersion(*version));
  out.objects.reserve(objects->array().size());
  for (size_t i = 0; i < objects->array().size(); ++i) {
    ASSIGN_OR_RETURN(OvaObject o, DecodeObject(objects->array()[i], i));
    out.objects.push_back(std::move(o));
  }
  return out;
}

std::string PrintOvaXml(const OvaXml& ova) {
  XmlRpcArray objects;
  objects.reserve(ova.objects.size());
  for (const OvaObject& o : ova.objects)
    objects.push_back(XmlRpcStruct{{"class", o.cls}, {"id", o.id}, {"snapshot", o.snapshot}});
  XmlRpcValue doc(XmlRpcStruct{{"version", EncodeVersion(ova.version)},
                               {"objects", std::move(objects)}});
  return PrintXmlRpcValue(doc, XmlRpcStyle::kBare);
}

std::string ReemitOvaXml(const OvaXml& exported, const OvaVersion& version) {
  OvaXml out{version, exported.objects};  // snapshots share storage; no deep copy
  return PrintOvaXml(out);
}

const OvaObject* FindOvaObject(const OvaXml& ova, std::string_view id) {
  for (const OvaObject& o : ova.objects)
    if (o.id == id) return &o;
  return nullptr;
}

std::vector<const OvaObject*> OvaObjectsOfClass(const OvaXml& ova, std::string_view cls) {
  std::vector<const OvaObject*> out;
  for (const OvaObject& o : ova.objects)
    if (o.cls == cls) out.push_back(&o);
  return out;
}

std::vector<const OvaObject*> Vms(const OvaXml& ova) { return OvaObjectsOfClass(ova, "VM"); }

Result<const OvaObject*> PrimaryVm(const OvaXml& ova) {
  const OvaObject* found = nullptr;
  for (const OvaObject* vm : Vms(ova)) {
    ASSIGN_OR_RETURN(bool snapshot, BoolField(*vm, "is_a_snapshot"));
    if (snapshot) continue;
    if (found != nullptr)
      return Error(Code::kCorruption, "ova.xml: two VMs that are not snapshots ({}, {})",
                   found->id, vm->id);
    found = vm;
  }
  if (found == nullptr) return Error(Code::kCorruption, "ova.xml: no VM that is not a snapshot");
  return found;
}

Result<std::vector<OvaVbd>> VmVbds(const OvaXml& ova, const OvaObject& vm) {
  std::vector<OvaVbd> out;
  for (const OvaObject* o : OvaObjectsOfClass(ova, "VBD")) {
    const XmlRpcValue* owner = o->snapshot.Find("VM");
    if (owner == nullptr || !owner->is_string() || owner->str() != vm.id) continue;
    OvaVbd b;
    b.id = o->id;
    ASSIGN_OR_RETURN(std::string vdi, Field(*o, "VDI"));
    ASSIGN_OR_RETURN(b.type, Field(*o, "type"));
    ASSIGN_OR_RETURN(b.userdevice, Field(*o, "userdevice"));
    ASSIGN_OR_RETURN(b.mode, Field(*o, "mode"));
    ASSIGN_OR_RETURN(b.bootable, BoolField(*o, "bootable"));
    ASSIGN_OR_RETURN(b.empty, BoolField(*o, "empty"));
    b.vdi_id = b.empty ? std::string() : RefOrEmpty(std::move(vdi));
    out.push_back(std::move(b));
  }
  return out;
}

Result<OvaVdi> DecodeOvaVdi(const OvaObject& vdi) {
  OvaVdi d;
  d.id = vdi.id;
  ASSIGN_OR_RETURN(d.uuid, Field(vdi, "uuid"));
  if (vdi.snapshot.Find("name_label") != nullptr) {  // defaults to "" in XAPI
    ASSIGN_OR_RETURN(d.name_label, Field(vdi, "name_label"));
  }
  ASSIGN_OR_RETURN(d.type, Field(vdi, "type"));
  ASSIGN_OR_RETURN(d.sr_id, Field(vdi, "SR"));
  const XmlRpcValue* size = vdi.snapshot.Find("virtual_size");
  if (size == nullptr)
    return Error(Code::kCorruption, "ova.xml VDI {}: no virtual_size", vdi.id);
  ASSIGN_OR_RETURN(d.virtual_size, size->AsInt(fmt::format("ova.xml VDI {} virtual_size", vdi.id)));
  if (d.virtual_size < 0)
    return Error(Code::kCorruption, "ova.xml VDI {}: negative virtual_size", vdi.id);
  return d;
}

Result<std::vector<OvaVdi>> StreamedVdis(const OvaXml& ova) {
  // VDIs named by non-CD VBDs whose SR is not an ISO library.
  std::set<std::string, std::less<>> disk_vdis;
  for (const OvaObject* vbd : OvaObjectsOfClass(ova, "VBD")) {
    ASSIGN_OR_RETURN(std::string type, Field(*vbd, "type"));
    if (EqualsNoCase(type, "CD")) continue;
    ASSIGN_OR_RETURN(std::string vdi_id, Field(*vbd, "VDI"));
    const OvaObject* vdi = FindOvaObject(ova, vdi_id);
    if (vdi == nullptr || vdi->cls != "VDI")
      return Error(Code::kCorruption, "ova.xml VBD {}: its VDI {} is not in the document",
                   vbd->id, vdi_id);
    ASSIGN_OR_RETURN(std::string sr_id, Field(*vdi, "SR"));
    const OvaObject* sr = FindOvaObject(ova, sr_id);
    if (sr == nullptr || sr->cls != "SR")
      return Error(Code::kCorruption, "ova.xml VDI {}: its SR {} is not in the document",
                   vdi->id, sr_id);
    ASSIGN_OR_RETURN(std::string content_type, Field(*sr, "content_type"));
    if (content_type != "iso") disk_vdis.insert(vdi_id);  // XAPI: exact compare
  }
  std::vector<OvaVdi> out;
  for (const OvaObject* o : OvaObjectsOfClass(ova, "VDI")) {
    bool streamed = disk_vdis.count(o->id) > 0;
    if (!streamed) {
      ASSIGN_OR_RETURN(std::string type, Field(*o, "type"));
      streamed = EqualsNoCase(type, "suspend");
    }
    if (!streamed) continue;
    ASSIGN_OR_RETURN(OvaVdi d, DecodeOvaVdi(*o));
    out.push_back(std::move(d));
  }
  // XAPI sorts the folder names with OCaml's `compare` on strings: bytes.
  std::stable_sort(out.begin(), out.end(),
                   [](const OvaVdi& a, const OvaVdi& b) { return a.id < b.id; });
  return out;
}

}  // namespace casulo::formats

#include "xapi/records.h"

#include <ctime>

namespace casulo::xapi {

namespace {

// Reads `n` decimal digits at text[*pos], advancing; false if not digits.
bool Digits(std::string_view text, size_t* pos, int n, int* out) {
  if (*pos + n > text.size()) return false;
  int v = 0;
  for (int k = 0; k < n; ++k) {
    char c = text[*pos + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Skip(std::string_view text, size_t* pos, char c) {
  if (*pos < text.size() && text[*pos] == c) {
    ++*pos;
    return true;
  }
  return false;
}

}  // namespace

Result<int64_t> ParseXapiDateTime(std::string_view text) {
  auto bad = [&] {
    return Error(Code::kCorruption, "'{}' is not an XAPI datetime", text.substr(0, 40));
  };
  size_t p = 0;
  int y, mo, d, h, mi, s;
  if (!Digits(text, &p, 4, &y)) return bad();
  bool dashed = Skip(text, &p, '-');
  if (!Digits(text, &p, 2, &mo) || (dashed && !Skip(text, &p, '-')) || !Digits(text, &p, 2, &d) ||
      !Skip(text, &p, 'T') || !Digits(text, &p, 2, &h) || !Skip(text, &p, ':') ||
      !Digits(text, &p, 2, &mi) || !Skip(text, &p, ':') || !Digits(text, &p, 2, &s))
    return bad();
  if (Skip(text, &p, '.')) {
    size_t start = p;
    while (p < text.size() && text[p] >= '0' && text[p] <= '9') ++p;
    if (p == start) return bad();
  }
  Skip(text, &p, 'Z');
  if (p != text.size()) return bad();
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return bad();
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return int64_t(timegm(&tm));
}

RecordReader::RecordReader(std::string_view cls, std::string_view ref, const XmlRpcValue& record)
    : cls_(cls), ref_(ref), record_(record) {}

Status RecordReader::CheckStruct() const {
  if (record_.is_struct()) return OkStatus();
  return Error(Code::kCorruption, "{} {}: the record is not a struct", cls_, ref_);
}

Status RecordReader::FieldError(std::string_view field, std::string_view what) const {
  return Error(Code::kCorruption, "{} {}: field '{}': {}", cls_, ref_, field, what);
}

Result<const XmlRpcValue*> RecordReader::Get(std::string_view field) const {
  const XmlRpcValue* v = record_.Find(field);
  if (v == nullptr) return FieldError(field, "missing");
  return v;
}

Result<std::string> RecordReader::Str(std::string_view field) const {
  ASSIGN_OR_RETURN(const XmlRpcValue* v, Get(field));
  if (!v->is_string()) return FieldError(field, "expected a string");
  return v->str();
}

Result<int64_t> RecordReader::Int(std::string_view field) const {
  ASSIGN_OR_RETURN(const XmlRpcValue* v, Get(field));
  auto i = v->AsInt(field);
  if (!i.ok()) return FieldError(field, "expected an integer");
  return *i;
}

Result<bool> RecordReader::Bool(std::string_view field) const {
  ASSIGN_OR_RETURN(const XmlRpcValue* v, Get(field));
  auto b = v->AsBool(field);
  if (!b.ok()) return FieldError(field, "expected a boolean");
  return *b;
}

Result<std::vector<std::string>> RecordReader::StrSet(std::string_view field) const {
  ASSIGN_OR_RETURN(const XmlRpcValue* v, Get(field));
  if (!v->is_array()) return FieldError(field, "expected an array");
  std::vector<std::string> out;
  for (const auto& e : v->array()) {
    if (!e.is_string()) return FieldError(field, "expected an array of strings");
    out.push_back(e.str());
  }
  return out;
}

Result<std::map<std::string, std::string>> RecordReader::StrMap(std::string_view field) const {
  ASSIGN_OR_RETURN(const XmlRpcValue* v, Get(field));
  if (!v->is_struct()) return FieldError(field, "expected a map");
  std::map<std::string, std::string> out;
  for (const auto& [k, e] : v->members()) {
    if (e.is_string()) out[k] = e.str();
    else if (e.type() == XmlRpcValue::Type::kInt) out[k] = std::to_string(e.i());
    else return FieldError(field, "expected a map of strings");
  }
  return out;
}

Result<int64_t> RecordReader::Time(std::string_view field) const {
  ASSIGN_OR_RETURN(const XmlRpcValue* v, Get(field));
  std::string_view text;
  if (v->type() == XmlRpcValue::Type::kDateTime) text = v->date().text;
  else if (v->is_string()) text = v->str();
  else return FieldError(field, "expected a datetime");
  auto t = ParseXapiDateTime(text);
  if (!t.ok()) return FieldError(field, t.status().message());
  return *t;
}

Result<std::string> RecordReader::OptStr(std::string_view field, std::string fallback) const {
  return Has(field) ? Str(field) : Result<std::string>(std::move(fallback));
}
Result<int64_t> RecordReader::OptInt(std::string_view field, int64_t fallback) const {
  return Has(field) ? Int(field) : Result<int64_t>(fallback);
}
Result<bool> RecordReader::OptBool(std::string_view field, bool fallback) const {
  return Has(field) ? Bool(field) : Result<bool>(fallback);
}
Result<std::vector<std::string>> RecordReader::OptStrSet(std::string_view field) const {
  return Has(field) ? StrSet(field) : Result<std::vector<std::string>>(std::vector<std::string>{});
}

// Each parser lists its fields in the order of reference §2; required ones
// use the plain readers, later additions the Opt* ones.

Result<PoolRecord> ParsePool(std::string_view ref, const XmlRpcValue& record) {
  RecordReader r("pool", ref, record);
  RETURN_IF_ERROR(r.CheckStruct());
  PoolRecord p;
  p.ref = ref;
  ASSIGN_OR_RETURN(p.uuid, r.Str("uuid"));
  ASSIGN_OR_RETURN(p.name_label, r.Str("name_label"));
  ASSIGN_OR_RETURN(p.master, r.Str("master"));
  ASSIGN_OR_RETURN(p.default_sr, r.OptStr("default_SR", std::string(kNullRef)));
  if (r.Has("restrictions")) {
    ASSIGN_OR_RETURN(p.restrictions, r.StrMap("restrictions"));
  }
  return p;
}

Result<HostRecord> ParseHost(std::string_view ref, const XmlRpcValue& record) {
  RecordReader r("host", ref, record);
  RETURN_IF_ERROR(r.CheckStruct());
  HostRecord h;
  h.ref = ref;
  ASSIGN_OR_RETURN(h.uuid, r.Str("uuid"));
  ASSIGN_OR_RETURN(h.name_label, r.Str("name_label"));
  ASSIGN_OR_RETURN(h.hostname, r.OptStr("hostname"));
  ASSIGN_OR_RETURN(h.address, r.Str("address"));
  ASSIGN_OR_RETURN(h.api_version_major, r.Int("API_version_major"));
  ASSIGN_OR_RETURN(h.api_version_minor, r.Int("API_version_minor"));
  ASSIGN_OR_RETURN(h.software_version, r.StrMap("software_version"));
  ASSIGN_OR_RETURN(h.enabled, r.OptBool("enabled", true));
  ASSIGN_OR_RETURN(h.pifs, r.OptStrSet("PIFs"));
  ASSIGN_OR_RETURN(h.pbds, r.OptStrSet("PBDs"));
  ASSIGN_OR_RETURN(h.resident_vms, r.OptStrSet("resident_VMs"));
  ASSIGN_OR_RETURN(h.control_domain, r.OptStr("control_domain"));  // 7.1+
  return h;
}

Result<VmRecord> ParseVm(std::string_view ref, const XmlRpcValue& record) {
  RecordReader r("VM", ref, record);
  RETURN_IF_ERROR(r.CheckStruct());
  VmRecord v;
  v.ref = ref;
  ASSIGN_OR_RETURN(v.uuid, r.Str("uuid"));
  ASSIGN_OR_RETURN(v.name_label, r.Str("name_label"));
  ASSIGN_OR_RETURN(v.power_state, r.Str("power_state"));
  ASSIGN_OR_RETURN(v.is_a_template, r.Bool("is_a_template"));
  ASSIGN_OR_RETURN(v.is_default_template, r.OptBool("is_default_template", false));  // 7.2+
  ASSIGN_OR_RETURN(v.is_a_snapshot, r.Bool("is_a_snapshot"));
  ASSIGN_OR_RETURN(v.is_control_domain, r.Bool("is_control_domain"));
  ASSIGN_OR_RETURN(v.vbds, r.StrSet("VBDs"));
  ASSIGN_OR_RETURN(v.vifs, r.OptStrSet("VIFs"));
  ASSIGN_OR_RETURN(v.snapshots, r.OptStrSet("snapshots"));
  ASSIGN_OR_RETURN(v.snapshot_of, r.OptStr("snapshot_of", std::string(kNullRef)));
  ASSIGN_OR_RETURN(v.resident_on, r.OptStr("resident_on", std::string(kNullRef)));
  return v;
}

Result<VbdRecord> ParseVbd(std::string_view ref, const XmlRpcValue& record) {
  RecordReader r("VBD", ref, record);
  RETURN_IF_ERROR(r.CheckStruct());
  VbdRecord b;
  b.ref = ref;
  ASSIGN_OR_RETURN(b.uuid, r.Str("uuid"));
  ASSIGN_OR_RETURN(b.vm, r.Str("VM"));
  ASSIGN_OR_RETURN(b.vdi, r.Str("VDI"));
  ASSIGN_OR_RETURN(b.device, r.OptStr("device"));
  ASSIGN_OR_RETURN(b.userdevice, r.OptStr("userdevice"));
  ASSIGN_OR_RETURN(b.type, r.Str("type"));
  ASSIGN_OR_RETURN(b.mode, r.OptStr("mode", "RW"));
  ASSIGN_OR_RETURN(b.empty, r.OptBool("empty", false));
  ASSIGN_OR_RETURN(b.currently_attached, r.OptBool("currently_attached", false));
  return b;
}

Result<SrRecord> ParseSr(std::string_view ref, const XmlRpcValue& record) {
  RecordReader r("SR", ref, record);
  RETURN_IF_ERROR(r.CheckStruct());
  SrRecord s;
  s.ref = ref;
  ASSIGN_OR_RETURN(s.uuid, r.Str("uuid"));
  ASSIGN_OR_RETURN(s.name_label, r.Str("name_label"));
  ASSIGN_OR_RETURN(s.type, r.Str("type"));
  ASSIGN_OR_RETURN(s.content_type, r.OptStr("content_type"));
  ASSIGN_OR_RETURN(s.shared, r.Bool("shared"));
  ASSIGN_OR_RETURN(s.physical_size, r.Int("physical_size"));
  ASSIGN_OR_RETURN(s.physical_utilisation, r.Int("physical_utilisation"));
  ASSIGN_OR_RETURN(s.virtual_allocation, r.OptInt("virtual_allocation", 0));
  ASSIGN_OR_RETURN(s.vdis, r.OptStrSet("VDIs"));
  ASSIGN_OR_RETURN(s.pbds, r.OptStrSet("PBDs"));
  return s;
}

Result<NetworkRecord> ParseNetwork(std::string_view ref, const XmlRpcValue& record) {
  RecordReader r("network", ref, record);
  RETURN_IF_ERROR(r.CheckStruct());
  NetworkRecord n;
  n.ref = ref;
  ASSIGN_OR_RETURN(n.uuid, r.Str("uuid"));
  ASSIGN_OR_RETURN(n.name_label, r.Str("name_label"));
  ASSIGN_OR_RETURN(n.bridge, r.Str("bridge"));
  ASSIGN_OR_RETURN(n.mtu, r.OptInt("MTU", 1500));
  ASSIGN_OR_RETURN(n.pifs, r.OptStrSet("PIFs"));
  ASSIGN_OR_RETURN(n.vifs, r.OptStrSet("VIFs"));
  ASSIGN_OR_RETURN(n.purpose, r.OptStrSet("purpose"));  // 7.3+
  return n;
}

Result<PifRecord> ParsePif(std::string_view ref, const XmlRpcValue& record) {
  RecordReader r("PIF", ref, record);
  RETURN_IF_ERROR(r.CheckStruct());
  PifRecord p;
  p.ref = ref;
  ASSIGN_OR_RETURN(p.uuid, r.Str("uuid"));
  ASSIGN_OR_RETURN(p.device, r.Str("device"));
  ASSIGN_OR_RETURN(p.network, r.Str("network"));
  ASSIGN_OR_RETURN(p.host, r.Str("host"));
  ASSIGN_OR_RETURN(p.mac, r.OptStr("MAC"));
  ASSIGN_OR_RETURN(p.ip, r.OptStr("IP"));
  ASSIGN_OR_RETURN(p.vlan, r.Int("VLAN"));
  ASSIGN_OR_RETURN(p.physical, r.OptBool("physical", false));
  ASSIGN_OR_RETURN(p.currently_attached, r.OptBool("currently_attached", false));
  ASSIGN_OR_RETURN(p.management, r.OptBool("management", false));
  ASSIGN_OR_RETURN(p.bond_master_of, r.OptStrSet("bond_master_of"));
  ASSIGN_OR_RETURN(p.vlan_master_of, r.OptStr("VLAN_master_of", std::string(kNullRef)));
  return p;
}

Result<VlanRecord> ParseVlan(std::string_view ref, const XmlRpcValue& record) {
  RecordReader r("VLAN", ref, record);
  RETURN_IF_ERROR(r.CheckStruct());
  VlanRecord v;
  v.ref = ref;
  ASSIGN_OR_RETURN(v.uuid, r.Str("uuid"));
  ASSIGN_OR_RETURN(v.tagged_pif, r.Str("tagged_PIF"));
  ASSIGN_OR_RETURN(v.untagged_pif, r.Str("untagged_PIF"));
  ASSIGN_OR_RETURN(v.tag, r.Int("tag"));
  return v;
}

Result<BondRecord> ParseBond(std::string_view ref, const XmlRpcValue& record) {
  RecordReader r("Bond", ref, record);
  RETURN_IF_ERROR(r.CheckStruct());
  BondRecord b;
  b.ref = ref;
  ASSIGN_OR_RETURN(b.uuid, r.Str("uuid"));
  ASSIGN_OR_RETURN(b.master, r.Str("master"));
  ASSIGN_OR_RETURN(b.slaves, r.StrSet("slaves"));
  ASSIGN_OR_RETURN(b.mode, r.OptStr("mode"));
  ASSIGN_OR_RETURN(b.primary_slave, r.OptStr("primary_slave", std::string(kNullRef)));
  return b;
}

}  // namespace casulo::xapi

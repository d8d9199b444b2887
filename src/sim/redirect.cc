// The 302 of xapi-protocol.md §3.1 (Importexport.return_302_redirect in
// export.ml / import.ml): a transfer must run on a host that sees its SRs.
#include <string>
#include <vector>

#include "sim/http.h"

namespace casulo::sim {
namespace {

std::string Str(const XmlRpcValue* v) { return v != nullptr && v->is_string() ? v->str() : ""; }

// A ref given as a ref or a uuid ("" when it names nothing of `cls`).
std::string Resolve(const Store& st, std::string_view cls, const std::string& given) {
  if (given.empty()) return "";
  if (st.Find(cls, given) != nullptr) return given;
  return st.RefOfUuid(cls, given).value_or("");
}

std::string SrOfVdi(const Store& st, const std::string& vdi) {
  const XmlRpcValue* rec = st.Find("VDI", vdi);
  return rec != nullptr ? Str(rec->Find("SR")) : "";
}

std::string GivenSr(const Store& st, const httplib::Request& req) {
  std::string sr = Resolve(st, "SR", Param(req, "sr_id"));
  return sr.empty() ? Resolve(st, "SR", Param(req, "sr_uuid")) : sr;
}

// The SRs a request involves, by handler (longest prefix first).
std::vector<std::string> SrsOf(const Store& st, const httplib::Request& req) {
  const std::string& p = req.path;
  auto under = [&](std::string_view prefix) {
    return p.rfind(prefix, 0) == 0 && (p.size() == prefix.size() || p[prefix.size()] == '/');
  };
  if (under("/export_raw_vdi") || under("/import_raw_vdi")) {
    std::string vdi = Resolve(st, "VDI", Param(req, "vdi"));
    if (!vdi.empty()) return {SrOfVdi(st, vdi)};
    return {GivenSr(st, req)};
  }
  if (under("/export")) {
    std::string vm = Resolve(st, "VM", Param(req, "ref"));
    if (vm.empty()) vm = Resolve(st, "VM", Param(req, "uuid"));
    const XmlRpcValue* rec = st.Find("VM", vm);
    const XmlRpcValue* vbds = rec != nullptr ? rec->Find("VBDs") : nullptr;
    std::vector<std::string> out;
    if (vbds == nullptr || !vbds->is_array()) return out;
    for (const auto& vbd : vbds->array()) {
      const XmlRpcValue* v = st.Find("VBD", Str(&vbd));
      if (v == nullptr || Str(v->Find("type")) == "CD") continue;
      out.push_back(SrOfVdi(st, Str(v->Find("VDI"))));
    }
    return out;
  }
  if (under("/import")) {
    std::string sr = GivenSr(st, req);
    if (sr.empty() && !st.Objects("pool").empty())
      sr = Str(st.Objects("pool").begin()->second.record.Find("default_SR"));
    return {sr};
  }
  return {};
}

// Shared SRs are seen by every host, as are SRs without PBDs (nothing
// better to pick); a local SR only by the hosts of its PBDs.
bool Sees(const Store& st, const std::string& host, const std::string& sr) {
  const XmlRpcValue* rec = st.Find("SR", sr);
  if (rec == nullptr) return true;
  const XmlRpcValue* shared = rec->Find("shared");
  if (shared != nullptr && shared->type() == XmlRpcValue::Type::kBool && shared->b()) return true;
  const XmlRpcValue* pbds = rec->Find("PBDs");
  if (pbds == nullptr || !pbds->is_array() || pbds->array().empty()) return true;
  for (const auto& pbd : pbds->array()) {
    const XmlRpcValue* p = st.Find("PBD", Str(&pbd));
    if (p != nullptr && Str(p->Find("host")) == host) return true;
  }
  return false;
}

// The host `req` must run on, or "" when the receiving host will do.
std::string TargetHost(const Store& st, const httplib::Request& req, const std::string& receiver) {
  const std::string& p = req.path;
  if (p.rfind("/host_backup", 0) == 0 || p.rfind("/host_restore", 0) == 0) {
    std::string host = Resolve(st, "host", Param(req, "host"));
    return host == receiver ? "" : host;
  }
  std::vector<std::string> srs = SrsOf(st, req);
  auto sees_all = [&](const std::string& host) {
    for (const auto& sr : srs)
      if (!sr.empty() && !Sees(st, host, sr)) return false;
    return true;
  };
  if (sees_all(receiver)) return "";
  for (const auto& [host, obj] : st.Objects("host"))
    if (sees_all(host)) return host;
  return "";  // no single host sees them all: let the handler try
}

}  // namespace

std::string ReceivingHost(const Store& st, const httplib::Request& req) {
  for (const auto& [ref, obj] : st.Objects("host"))
    if (Str(obj.record.Find("address")) == req.local_addr) return ref;
  return st.this_host;
}

bool RedirectToSrHost(Sim& sim, const httplib::Request& req, httplib::Response& res) {
  std::string address;
  (void)sim.Update([&](Store& st) {
    std::string session = Param(req, "session_id");
    if (session.empty() || st.Find("session", session) == nullptr) return OkStatus();
    std::string target = TargetHost(st, req, ReceivingHost(st, req));
    if (const XmlRpcValue* h = st.Find("host", target)) address = Str(h->Find("address"));
    return OkStatus();
  });
  if (address.empty()) return false;
  if (address.find(':') != std::string::npos) address = "[" + address + "]";
  // Cookies do not travel with the Location: clients pass session_id and
  // task_id in the query (§3.1), which `target` carries unchanged.
  bool tls = false;
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  tls = req.ssl != nullptr;
#endif
  res.status = 302;
  res.set_header("Location", std::string(tls ? "https" : "http") + "://" + address + ":" +
                                 std::to_string(req.local_port) + req.target);
  res.set_header("Connection", "close");
  return true;
}

}  // namespace casulo::sim

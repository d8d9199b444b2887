// VDI.get_nbd_info (xapi-protocol.md §2.4; X:ocaml/xapi/xapi_vdi.ml
// _get_nbd_info): where the VDI can be read over NBD.
#include <charconv>

#include "sim/nbd_service.h"
#include "sim/sim.h"

namespace casulo::sim {
namespace {

// get_nbd_info exists from 7.3 (inverness) on (§6): the product_version of
// the host this endpoint plays.
bool HasNbd(const Store& st) {
  const XmlRpcValue* host = st.Find("host", st.this_host);
  const XmlRpcValue* sw = host != nullptr ? host->Find("software_version") : nullptr;
  const XmlRpcValue* v = sw != nullptr ? sw->Find("product_version") : nullptr;
  if (v == nullptr || !v->is_string()) return false;
  int major = 0, minor = 0;
  const std::string& s = v->str();
  auto r = std::from_chars(s.data(), s.data() + s.size(), major);
  if (r.ptr < s.data() + s.size() && *r.ptr == '.')
    std::from_chars(r.ptr + 1, s.data() + s.size(), minor);
  return major > 7 || (major == 7 && minor >= 3);
}

bool HasNbdPurpose(const XmlRpcValue* net) {
  const XmlRpcValue* p = net != nullptr ? net->Find("purpose") : nullptr;
  if (p == nullptr || !p->is_array()) return false;
  for (const auto& v : p->array())
    if (v.is_string() && (v.str() == "nbd" || v.str() == "insecure_nbd")) return true;
  return false;
}

bool Flag(const XmlRpcValue& rec, std::string_view field) {
  const XmlRpcValue* v = rec.Find(field);
  return v != nullptr && v->type() == XmlRpcValue::Type::kBool && v->b();
}

std::string Text(const XmlRpcValue& rec, std::string_view field) {
  const XmlRpcValue* v = rec.Find(field);
  return v != nullptr && v->is_string() ? v->str() : std::string();
}

// One record per IP of every attached PIF on an nbd/insecure_nbd network of
// every host with an attached PBD for the VDI's SR. Addresses are where the
// simulator's NBD servers listen for that IP (NbdEndpoints::address_of);
// without a running service the set is empty. The certificate is given
// whatever the purpose, as XAPI does.
Result<XmlRpcValue> GetNbdInfo(CallContext& ctx, std::string_view method, Args args) {
  const Store& st = ctx.store;
  if (!HasNbd(st)) return XapiError({"MESSAGE_METHOD_UNKNOWN", std::string(method)});
  std::string vdi = RefArg(args[0]);
  const XmlRpcValue* rec = st.Find("VDI", vdi);
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", "VDI", vdi});
  if (Text(*rec, "type") == "cbt_metadata")
    return XapiError({"VDI_INCOMPATIBLE_TYPE", vdi, "cbt_metadata"});
  XmlRpcArray out;
  std::optional<NbdEndpoints> ep = CurrentNbdEndpoints();
  if (!ep) return XmlRpcValue(std::move(out));
  std::string sr = Text(*rec, "SR");
  std::string exportname = "/" + Text(*rec, "uuid") + "?session_id=" + ctx.session;
  for (const auto& [host_ref, host] : st.Objects("host")) {
    bool attached = false;
    for (const auto& [pbd_ref, pbd] : st.Objects("PBD"))
      attached |= Text(pbd.record, "host") == host_ref && Text(pbd.record, "SR") == sr &&
                  Flag(pbd.record, "currently_attached");
    if (!attached) continue;
    for (const auto& [pif_ref, pif] : st.Objects("PIF")) {
      const XmlRpcValue& p = pif.record;
      if (Text(p, "host") != host_ref || !Flag(p, "currently_attached")) continue;
      if (!HasNbdPurpose(st.Find("network", Text(p, "network")))) continue;
      auto where = ep->address_of.find(Text(p, "IP"));
      if (where == ep->address_of.end()) continue;
      out.emplace_back(XmlRpcStruct{{"exportname", XmlRpcValue(exportname)},
                                    {"address", XmlRpcValue(where->second)},
                                    {"port", XmlRpcValue(int64_t(ep->port))},
                                    {"cert", XmlRpcValue(ep->cert_pem)},
                                    {"subject", XmlRpcValue(Text(host.record, "hostname"))}});
    }
  }
  return XmlRpcValue(std::move(out));
}

const SpecialMethod kNbd[] = {
    {"VDI.get_nbd_info", {1, 1, true, false, GetNbdInfo}},
};

}  // namespace

std::span<const SpecialMethod> NbdMethods() { return kNbd; }

}  // namespace casulo::sim

// The XML-RPC and JSON-RPC envelopes (xapi-protocol.md §1.2, §1.3). API
// errors are normal responses ({Status: Failure, ...} or a JSON error);
// only requests that cannot be parsed get HTTP 500 with an HTML body, as
// XAPI's http_svr answers them.
#include "sim/sim.h"

namespace casulo::sim {
namespace {

HttpReply Internal500(std::string_view why) {
  std::string body =
      "<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; "
      "please wait a while and try again. If the problem persists, please contact your "
      "support representative.<h1> Additional information </h1>";
  for (char c : why) {  // the reason, escaped
    if (c == '<') body += "&lt;";
    else if (c == '>') body += "&gt;";
    else if (c == '&') body += "&amp;";
    else body += c;
  }
  body += "</body></html>";
  return {500, "text/html", std::move(body)};
}

}  // namespace

HttpReply Sim::HandleXmlRpc(std::string_view body, std::string_view host) {
  auto call = formats::ParseMethodCall(body);
  if (!call.ok()) return Internal500(call.status().ToString());
  Result<XmlRpcValue> r = Call(call->method, call->params, host);
  XmlRpcStruct envelope;
  if (r.ok()) {
    envelope = {{"Status", XmlRpcValue("Success")}, {"Value", std::move(r).value()}};
  } else {
    XmlRpcArray desc;
    for (auto& d : ErrorDescription(r.status())) desc.emplace_back(std::move(d));
    envelope = {{"Status", XmlRpcValue("Failure")}, {"ErrorDescription", XmlRpcValue(std::move(desc))}};
  }
  return {200, "text/xml",
          formats::PrintMethodResponse(XmlRpcValue(std::move(envelope)), formats::XmlRpcStyle::kBare)};
}

HttpReply Sim::HandleJsonRpc(std::string_view body, std::string_view host) {
  Json req = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object()) return Internal500("JSON-RPC: not a JSON object");
  // id must be a string or an integer and not null: notifications are refused.
  auto id = req.find("id");
  if (id == req.end() || !(id->is_string() || id->is_number_integer()))
    return Internal500("JSON-RPC: missing or invalid id");
  auto method = req.find("method");
  if (method == req.end() || !method->is_string()) return Internal500("JSON-RPC: missing method");
  bool v2 = req.contains("jsonrpc");
  if (v2 && req["jsonrpc"] != "2.0") return Internal500("JSON-RPC: unsupported version");
  XmlRpcArray params;
  if (auto p = req.find("params"); p != req.end()) {
    if (!p->is_array()) return Internal500("JSON-RPC: params must be an array");
    for (const auto& e : *p) params.push_back(FromJson(e, JsonFlavour::kWire));
  }
  Result<XmlRpcValue> r = Call(method->get<std::string>(), params, host);
  Json out = Json::object();
  if (v2) out["jsonrpc"] = "2.0";
  if (r.ok()) {
    out["result"] = ToJson(*r, JsonFlavour::kWire);
    if (!v2) out["error"] = nullptr;
  } else {
    std::vector<std::string> desc = ErrorDescription(r.status());
    if (v2) {
      // code is always 1 (api_server_common.ml error_code_lit).
      out["error"] = Json{{"code", 1},
                          {"message", desc[0]},
                          {"data", std::vector<std::string>(desc.begin() + 1, desc.end())}};
    } else {
      out["result"] = nullptr;
      out["error"] = desc;
    }
  }
  out["id"] = *id;
  return {200, "application/json", out.dump()};
}

}  // namespace casulo::sim

#include "xapi/rpc.h"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

namespace casulo::xapi {
namespace {

using nlohmann::json;

json ToJson(const XmlRpcValue& v) {
  switch (v.type()) {
    case XmlRpcValue::Type::kNil: return nullptr;
    case XmlRpcValue::Type::kString: return v.str();
    case XmlRpcValue::Type::kInt: return v.i();
    case XmlRpcValue::Type::kBool: return v.b();
    case XmlRpcValue::Type::kDouble: return v.d();
    case XmlRpcValue::Type::kDateTime: return v.date().text;
    case XmlRpcValue::Type::kBase64: return v.base64().text;
    case XmlRpcValue::Type::kArray: {
      json a = json::array();
      for (const auto& e : v.array()) a.push_back(ToJson(e));
      return a;
    }
    case XmlRpcValue::Type::kStruct: {
      json o = json::object();
      for (const auto& [k, e] : v.members()) o[k] = ToJson(e);
      return o;
    }
  }
  return nullptr;
}

XmlRpcValue FromJson(const json& j) {
  switch (j.type()) {
    case json::value_t::string: return XmlRpcValue(j.get<std::string>());
    case json::value_t::boolean: return XmlRpcValue(j.get<bool>());
    case json::value_t::number_integer: return XmlRpcValue(j.get<int64_t>());
    case json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      // XAPI ints are int64; a larger literal is kept exactly, as text.
      if (u > uint64_t(INT64_MAX)) return XmlRpcValue(std::to_string(u));
      return XmlRpcValue(int64_t(u));
    }
    case json::value_t::number_float: return XmlRpcValue(j.get<double>());
    case json::value_t::array: {
      XmlRpcArray a;
      a.reserve(j.size());
      for (const auto& e : j) a.push_back(FromJson(e));
      return XmlRpcValue(std::move(a));
    }
    case json::value_t::object: {
      XmlRpcStruct s;
      s.reserve(j.size());
      for (const auto& [k, e] : j.items()) s.emplace_back(k, FromJson(e));
      return XmlRpcValue(std::move(s));
    }
    default: return XmlRpcValue();  // null, discarded, binary
  }
}

std::string JsonText(const json& j) {
  return j.is_string() ? j.get<std::string>() : j.dump();
}

// The start of a body for error messages: markup removed, whitespace
// collapsed, at most `max` characters.
std::string Excerpt(std::string_view body, size_t max = 200) {
  std::string out;
  bool in_tag = false, space = false;
  for (char c : body) {
    if (c == '<') { in_tag = true; continue; }
    if (c == '>') { in_tag = false; space = true; continue; }
    if (in_tag) continue;
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') { space = true; continue; }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
    if (out.size() >= max) { out += "..."; break; }
  }
  return out;
}

bool LooksLikeHtml(std::string_view body) {
  size_t i = body.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos) return false;
  std::string head(body.substr(i, 14));
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return head.starts_with("<html") || head.starts_with("<!doctype html") || head.starts_with("http/");
}

}  // namespace

std::string ValueText(const XmlRpcValue& v) {
  switch (v.type()) {
    case XmlRpcValue::Type::kString: return v.str();
    case XmlRpcValue::Type::kInt: return std::to_string(v.i());
    case XmlRpcValue::Type::kBool: return v.b() ? "true" : "false";
    case XmlRpcValue::Type::kDouble: return fmt::format("{}", v.d());
    case XmlRpcValue::Type::kDateTime: return v.date().text;
    case XmlRpcValue::Type::kNil: return "";
    default: return formats::PrintXmlRpcValue(v);
  }
}

EncodedCall EncodeCall(Protocol protocol, std::string_view method, const XmlRpcArray& params,
                       int64_t id) {
  if (protocol == Protocol::kXmlRpc) {
    return {"/", "text/xml", formats::PrintMethodCall(method, params)};
  }
  json req = json::object();
  if (protocol == Protocol::kJsonRpcV2) req["jsonrpc"] = "2.0";
  req["method"] = std::string(method);
  json p = json::array();
  for (const auto& v : params) p.push_back(ToJson(v));
  req["params"] = std::move(p);
  req["id"] = id;
  // Replace, not throw, on invalid UTF-8 in a caller's string.
  return {"/jsonrpc", "application/json", req.dump(-1, ' ', false, json::error_handler_t::replace)};
}

Status XapiError(std::vector<std::string> description) {
  if (description.empty()) return Status(Code::kRemote, "XAPI error (empty)");
  std::string msg = "XAPI error " + description[0];
  if (description.size() > 1) {
    msg += " [";
    for (size_t i = 1; i < description.size(); ++i) {
      if (i > 1) msg += ", ";
      msg += description[i];
    }
    msg += "]";
  }
  Code code = description[0] == "SESSION_AUTHENTICATION_FAILED" ? Code::kAuth : Code::kRemote;
  return Status(code, std::move(msg)).WithRemote(std::move(description));
}

Status HttpError(int http_status, std::string_view body) {
  Code code = (http_status == 401 || http_status == 403) ? Code::kAuth : Code::kRemote;
  std::string text = Excerpt(body);
  if (text.empty()) return Error(code, "server answered HTTP {}", http_status);
  return Error(code, "server answered HTTP {}: {}", http_status, text);
}

Result<XmlRpcValue> DecodeXmlRpcResponse(std::string_view body) {
  if (LooksLikeHtml(body)) {
    return Error(Code::kRemote, "server answered HTML, not XML-RPC: {}", Excerpt(body));
  }
  auto resp = formats::ParseMethodResponse(body);
  if (!resp.ok()) {
    return Error(Code::kRemote, "malformed XML-RPC response: {}", resp.status().ToString());
  }
  if (resp->fault) {  // XAPI never sends faults, but a proxy or another server may
    const XmlRpcValue* code = resp->value.Find("faultCode");
    const XmlRpcValue* text = resp->value.Find("faultString");
    return Error(Code::kRemote, "XML-RPC fault {}: {}", code ? ValueText(*code) : "?",
                 text ? ValueText(*text) : "");
  }
  const XmlRpcValue& env = resp->value;
  const XmlRpcValue* status = env.Find("Status");
  if (status == nullptr || !status->is_string()) {
    return Status(Code::kRemote, "XML-RPC response without the XenAPI Status envelope");
  }
  if (status->str() == "Success") {
    const XmlRpcValue* value = env.Find("Value");
    return value ? *value : XmlRpcValue(std::string());  // void: empty string
  }
  if (status->str() == "Failure") {
    std::vector<std::string> desc;
    const XmlRpcValue* ed = env.Find("ErrorDescription");
    if (ed && ed->is_array()) {
      for (const auto& e : ed->array()) desc.push_back(ValueText(e));
    }
    return XapiError(std::move(desc));
  }
  return Error(Code::kRemote, "XML-RPC response with unknown Status '{}'", status->str());
}

Result<XmlRpcValue> DecodeJsonRpcResponse(std::string_view body) {
  if (LooksLikeHtml(body)) {
    return Error(Code::kRemote, "server answered HTML, not JSON-RPC: {}", Excerpt(body));
  }
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Error(Code::kRemote, "malformed JSON-RPC response: {}", Excerpt(body, 80));
  }
  auto err = j.find("error");
  if (err != j.end() && !err->is_null()) {
    std::vector<std::string> desc;
    if (err->is_array()) {  // v1: ["CODE", "p1", ...]
      for (const auto& e : *err) desc.push_back(JsonText(e));
    } else if (err->is_object()) {  // v2: {code: 1, message: "CODE", data: [...]}
      auto msg = err->find("message");
      desc.push_back(msg != err->end() ? JsonText(*msg) : "");
      auto data = err->find("data");
      if (data != err->end() && data->is_array()) {
        for (const auto& e : *data) desc.push_back(JsonText(e));
      } else if (data != err->end() && !data->is_null()) {
        desc.push_back(JsonText(*data));
      }
    } else {
      desc.push_back(JsonText(*err));
    }
    return XapiError(std::move(desc));
  }
  auto res = j.find("result");
  if (res == j.end()) return Status(Code::kRemote, "JSON-RPC response with neither result nor error");
  return FromJson(*res);
}

Result<XmlRpcValue> DecodeResponse(Protocol protocol, std::string_view body) {
  return protocol == Protocol::kXmlRpc ? DecodeXmlRpcResponse(body) : DecodeJsonRpcResponse(body);
}

}  // namespace casulo::xapi

// XmlRpcValue and the printers. Printing follows rpc-light (XAPI's library):
// escapes & < > ", drops control characters other than TAB/LF, and writes CR
// as a character reference so it survives XML line-end normalisation.
#include <charconv>
#include <cmath>

#include "formats/xmlrpc.h"

namespace casulo::formats {

const XmlRpcValue* XmlRpcValue::Find(std::string_view name) const {
  if (!is_struct()) return nullptr;
  for (const auto& [k, v] : members())
    if (k == name) return &v;
  return nullptr;
}

void XmlRpcValue::Set(std::string name, XmlRpcValue value) {
  XmlRpcStruct& m = members();
  for (auto& [k, v] : m) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  m.emplace_back(std::move(name), std::move(value));
}

Result<std::string> XmlRpcValue::AsString(std::string_view what) const {
  if (is_string()) return str();
  return Error(Code::kCorruption, "{}: expected a string", what);
}

Result<int64_t> XmlRpcValue::AsInt(std::string_view what) const {
  if (type() == Type::kInt) return i();
  if (is_string()) {
    const std::string& s = str();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!s.empty() && ec == std::errc() && p == s.data() + s.size()) return v;
    return Error(Code::kCorruption, "{}: '{}' is not an integer", what, s.substr(0, 40));
  }
  return Error(Code::kCorruption, "{}: expected an integer", what);
}

Result<bool> XmlRpcValue::AsBool(std::string_view what) const {
  if (type() == Type::kBool) return b();
  if (is_string()) {
    if (str() == "true") return true;
    if (str() == "false") return false;
  }
  return Error(Code::kCorruption, "{}: expected a boolean", what);
}

bool XmlRpcValue::operator==(const XmlRpcValue& o) const {
  if (type() != o.type()) return false;
  switch (type()) {
    case Type::kNil: return true;
    case Type::kString: return str() == o.str();
    case Type::kInt: return i() == o.i();
    case Type::kBool: return b() == o.b();
    case Type::kDouble: return d() == o.d() || (std::isnan(d()) && std::isnan(o.d()));
    case Type::kDateTime: return date().text == o.date().text;
    case Type::kBase64: return base64().text == o.base64().text;
    case Type::kArray: return array() == o.array();
    case Type::kStruct: return members() == o.members();
  }
  return false;
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0. XML (and XAPI's parser)
// accept only UTF-8; overlong forms and surrogates are not valid.
size_t Utf8Length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
             : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  if (n == 3 && ((c == 0xE0 && b(i + 1) < 0xA0) || (c == 0xED && b(i + 1) >= 0xA0))) return 0;
  if (n == 4 && ((c == 0xF0 && b(i + 1) < 0x90) || (c == 0xF4 && b(i + 1) >= 0x90))) return 0;
  // U+FFFE and U+FFFF are not XML characters either.
  if (n == 3 && c == 0xEF && b(i + 1) == 0xBF && b(i + 2) >= 0xBE) return 0;
  return n;
}

void Escape(std::string& out, std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      // Bytes that are not UTF-8 (a Latin-1 file name) become U+FFFD rather
      // than a document no XML parser accepts.
      size_t n = Utf8Length(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\r': out += "&#13;"; break;
      case '\t':
      case '\n': out += c; break;
      default:
        if (c >= 0x20) out += c;
    }
  }
}

void Print(std::string& out, const XmlRpcValue& v, XmlRpcStyle style) {
  using T = XmlRpcValue::Type;
  const bool bare = style == XmlRpcStyle::kBare;
  out += "<value>";
  switch (v.type()) {
    case T::kNil: out += "<nil/>"; break;
    case T::kString:
      if (!bare) out += "<string>";
      Escape(out, v.str());
      if (!bare) out += "</string>";
      break;
    case T::kInt:
      if (bare) {
        out += std::to_string(v.i());
      } else {
        bool small = v.i() >= INT32_MIN && v.i() <= INT32_MAX;
        out += small ? "<int>" : "<i8>";
        out += std::to_string(v.i());
        out += small ? "</int>" : "</i8>";
      }
      break;
    case T::kBool: out += v.b() ? "<boolean>1</boolean>" : "<boolean>0</boolean>"; break;
    case T::kDouble:
      out += "<double>";
      out += fmt::format("{}", v.d());
      out += "</double>";
      break;
    case T::kDateTime:
      out += "<dateTime.iso8601>";
      Escape(out, v.date().text);
      out += "</dateTime.iso8601>";
      break;
    case T::kBase64:
      out += "<base64>";
      Escape(out, v.base64().text);
      out += "</base64>";
      break;
    case T::kArray:
      out += "<array><data>";
      for (const auto& e : v.array()) Print(out, e, style);
      out += "</data></array>";
      break;
    case T::kStruct:
      out += "<struct>";
      for (const auto& [k, m] : v.members()) {
        out += "<member><name>";
        Escape(out, k);
        out += "</name>";
        Print(out, m, style);
        out += "</member>";
      }
      out += "</struct>";
      break;
  }
  out += "</value>";
}

}  // namespace

std::string PrintXmlRpcValue(const XmlRpcValue& v, XmlRpcStyle style) {
  std::string out;
  Print(out, v, style);
  return out;
}

std::string PrintMethodCall(std::string_view method, const XmlRpcArray& params) {
  std::string out = "<?xml version=\"1.0\"?><methodCall><methodName>";
  Escape(out, method);
  out += "</methodName><params>";
  for (const auto& p : params) {
    out += "<param>";
    Print(out, p, XmlRpcStyle::kTyped);
    out += "</param>";
  }
  out += "</params></methodCall>";
  return out;
}

std::string PrintMethodResponse(const XmlRpcValue& result, XmlRpcStyle style) {
  std::string out = "<?xml version=\"1.0\"?><methodResponse><params><param>";
  Print(out, result, style);
  out += "</param></params></methodResponse>";
  return out;
}

std::string PrintFaultResponse(int code, std::string_view message) {
  XmlRpcValue fault(XmlRpcStruct{{"faultCode", XmlRpcValue(code)},
                                 {"faultString", XmlRpcValue(std::string(message))}});
  std::string out = "<?xml version=\"1.0\"?><methodResponse><fault>";
  Print(out, fault, XmlRpcStyle::kTyped);
  out += "</fault></methodResponse>";
  return out;
}

}  // namespace casulo::formats

// The XML database dump (xapi-protocol.md §4.1): writer and parser.
// Layout from X:ocaml/database/db_xml.ml, value strings from
// X:ocaml/idl/datamodel_values.ml to_db, sets and maps from
// X:ocaml/database/string_marshall_helper.ml and ocaml/libs/sexpr/sExpr.ml,
// whitespace protection from X:ocaml/database/xml_spaces.ml.
#include "sim/xmldb.h"

#include <expat.h>
#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <vector>

namespace casulo::sim {
namespace {

// Fields declared inside a datamodel namespace (name, memory, VCPUs, HVM,
// PV, API_version, qos): their column joins namespace and field with "__".
constexpr std::array<std::string_view, 7> kNamespaces = {"name_",  "memory_", "VCPUs_", "HVM_",
                                                         "PV_",    "API_version_", "qos_"};
// Fields that merely start like a namespace (plain fields in the datamodel).
constexpr std::array<std::string_view, 3> kNotNamespaced = {"memory_overhead", "memory_target",
                                                            "HVM_shadow_multiplier"};

// Classes whose rows XAPI does not persist (datamodel persist=false).
bool Persistent(std::string_view cls) { return cls != "session" && cls != "task"; }

// xml_spaces.ml protect: whitespace and the protect char itself.
std::string Protect(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case ' ': out += "%."; break;
      case '\t': out += "%t"; break;
      case '\n': out += "%n"; break;
      case '\r': out += "%r"; break;
      case '%': out += "%%"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Unprotect(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char n = s[i + 1];
    // "%_" is an old two-space form kept for backward compatibility.
    const char* rep = n == '.' ? " " : n == 't' ? "\t" : n == 'n' ? "\n" : n == 'r' ? "\r"
                    : n == '%' ? "%" : n == '_' ? "  " : nullptr;
    if (rep == nullptr) {
      out += s[i];
      continue;
    }
    out += rep;
    ++i;
  }
  return out;
}

void XmlAttr(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
}

// OCaml's string_of_float: %.12g, with a trailing "." when it looks integral.
std::string OcamlFloat(double d) {
  std::string s = fmt::format("{:.12g}", d);
  if (s.find_first_of(".eEn") == std::string::npos) s += '.';
  return s;
}

std::string Scalar(const XmlRpcValue& v) {
  switch (v.type()) {
    case XmlRpcValue::Type::kString: return v.str();
    case XmlRpcValue::Type::kInt: return std::to_string(v.i());
    case XmlRpcValue::Type::kBool: return v.b() ? "true" : "false";
    case XmlRpcValue::Type::kDouble: return OcamlFloat(v.d());
    case XmlRpcValue::Type::kDateTime: return v.date().text;
    case XmlRpcValue::Type::kBase64: return v.base64().text;
    default: return "";
  }
}

void SexprString(std::string& out, std::string_view s) {
  out += '\'';
  for (char c : s) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  out += '\'';
}

std::string Marshal(const XmlRpcValue& v) {
  if (v.is_array()) {
    std::string out = "(";
    bool first = true;
    for (const auto& e : v.array()) {
      if (!first) out += ' ';
      first = false;
      SexprString(out, Scalar(e));
    }
    return out + ")";
  }
  if (v.is_struct()) {
    std::string out = "(";
    bool first = true;
    for (const auto& [k, e] : v.members()) {
      if (!first) out += ' ';
      first = false;
      out += '(';
      SexprString(out, k);
      out += ' ';
      SexprString(out, Scalar(e));
      out += ')';
    }
    return out + ")";
  }
  return Scalar(v);
}

// S-expression of strings: '(' items ')' where an item is a quoted string
// or a nested list; enough for sets ('a' 'b') and maps (('k' 'v')).
struct Sexpr {
  bool is_list = false;
  std::string text;
  std::vector<Sexpr> items;
};

Result<Sexpr> ParseSexpr(std::string_view s, size_t& pos) {
  while (pos < s.size() && s[pos] == ' ') ++pos;
  if (pos >= s.size()) return Error(Code::kCorruption, "S-expression ends early");
  Sexpr e;
  if (s[pos] == '(') {
    e.is_list = true;
    ++pos;
    for (;;) {
      while (pos < s.size() && s[pos] == ' ') ++pos;
      if (pos >= s.size()) return Error(Code::kCorruption, "S-expression lacks ')'");
      if (s[pos] == ')') {
        ++pos;
        return e;
      }
      ASSIGN_OR_RETURN(Sexpr item, ParseSexpr(s, pos));
      e.items.push_back(std::move(item));
    }
  }
  if (s[pos] != '\'') return Error(Code::kCorruption, "S-expression: expected a quoted string");
  for (++pos; pos < s.size() && s[pos] != '\''; ++pos) {
    if (s[pos] == '\\' && pos + 1 < s.size()) ++pos;
    e.text += s[pos];
  }
  if (pos >= s.size()) return Error(Code::kCorruption, "S-expression: unterminated string");
  ++pos;
  return e;
}

Result<XmlRpcValue> Unmarshal(const XmlRpcValue& type, const std::string& s) {
  switch (type.type()) {
    case XmlRpcValue::Type::kInt: {
      char* end = nullptr;
      long long v = std::strtoll(s.c_str(), &end, 10);
      if (s.empty() || *end != '\0') return Error(Code::kCorruption, "not an integer: '{}'", s);
      return XmlRpcValue(int64_t(v));
    }
    case XmlRpcValue::Type::kBool:
      if (s != "true" && s != "false") return Error(Code::kCorruption, "not a bool: '{}'", s);
      return XmlRpcValue(s == "true");
    case XmlRpcValue::Type::kDouble: {
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0') return Error(Code::kCorruption, "not a float: '{}'", s);
      return XmlRpcValue(d);
    }
    case XmlRpcValue::Type::kDateTime: return XmlRpcValue(XmlRpcValue::DateTime{s});
    case XmlRpcValue::Type::kArray:
    case XmlRpcValue::Type::kStruct: {
      size_t pos = 0;
      ASSIGN_OR_RETURN(Sexpr e, ParseSexpr(s, pos));
      if (!e.is_list) return Error(Code::kCorruption, "expected a list: '{}'", s);
      if (type.is_array()) {
        XmlRpcArray a;
        for (const auto& i : e.items) {
          if (i.is_list) return Error(Code::kCorruption, "set of lists: '{}'", s);
          a.emplace_back(i.text);
        }
        return XmlRpcValue(std::move(a));
      }
      XmlRpcStruct m;
      for (const auto& i : e.items) {
        if (!i.is_list || i.items.size() != 2 || i.items[0].is_list || i.items[1].is_list)
          return Error(Code::kCorruption, "map entry is not a pair: '{}'", s);
        m.emplace_back(i.items[0].text, XmlRpcValue(i.items[1].text));
      }
      return XmlRpcValue(std::move(m));
    }
    default: return XmlRpcValue(s);
  }
}

// Event-driven reader over expat; the first error wins and stops the parse.
struct Reader {
  XML_Parser parser = nullptr;
  ParsedDatabase db;
  std::map<std::string, std::string> manifest;
  std::string table;              // the open table ("" outside)
  const ClassSchema* schema = nullptr;
  std::vector<std::string> open;  // element stack
  Status error = OkStatus();

  void Fail(Status s) {
    if (error.ok()) error = std::move(s);
    XML_StopParser(parser, XML_FALSE);
  }

  void Row(const char** attrs) {
    std::string ref;
    DumpRow row;
    std::vector<std::pair<std::string, std::string>> cols;
    for (int i = 0; attrs[i] != nullptr; i += 2) {
      std::string_view k = attrs[i];
      if (k == "ref") { if (ref.empty()) ref = attrs[i + 1]; }
      else if (k == "__ctime") row.ctime = std::strtoull(attrs[i + 1], nullptr, 10);
      else if (k == "__mtime") row.mtime = std::strtoull(attrs[i + 1], nullptr, 10);
      else cols.emplace_back(k, attrs[i + 1]);
    }
    if (ref.empty()) return Fail(Error(Code::kCorruption, "Row does not have ref attribute"));
    if (schema == nullptr)
      return Fail(Error(Code::kCorruption, "Unexpected table with rows: {}", table));
    row.record = XmlRpcValue(schema->defaults);
    for (const auto& [col, raw] : cols) {
      std::string field = col;
      if (size_t at = field.find("__"); at != std::string::npos && at > 0) field.erase(at, 1);
      const XmlRpcValue* type = schema->Default(field);
      if (type == nullptr || ColumnOfField(field) != col)
        return Fail(Error(Code::kCorruption, "Unexpected column in table {}: {}", table, col));
      Result<XmlRpcValue> v = Unmarshal(*type, Unprotect(raw));
      if (!v.ok()) return Fail(Status(v.status()).With(fmt::format("{}.{} of {}", table, col, ref)));
      row.record.Set(field, std::move(*v));
    }
    db.tables[table][ref] = std::move(row);
  }

  void Start(const char* name, const char** attrs) {
    std::string_view n = name;
    std::string_view parent = open.empty() ? "" : std::string_view(open.back());
    open.emplace_back(n);
    if (n == "database" && parent.empty()) return;
    if (n == "manifest" && parent == "database") return;
    if (n == "pair" && parent == "manifest") {
      std::string k, v;
      for (int i = 0; attrs[i] != nullptr; i += 2) {
        if (std::string_view(attrs[i]) == "key") k = attrs[i + 1];
        if (std::string_view(attrs[i]) == "value") v = attrs[i + 1];
      }
      manifest[k] = v;
      return;
    }
    if (n == "table" && parent == "database") {
      table.clear();
      for (int i = 0; attrs[i] != nullptr; i += 2)
        if (std::string_view(attrs[i]) == "name") table = attrs[i + 1];
      schema = FindClass(table);
      db.tables[table];
      return;
    }
    if (n == "row" && parent == "table") return Row(attrs);
    Fail(Error(Code::kCorruption, "Unexpected tag: {}", n));
  }
};

Result<int64_t> ManifestInt(const std::map<std::string, std::string>& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end()) return Error(Code::kCorruption, "manifest lacks {}", key);
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0')
    return Error(Code::kCorruption, "manifest {} is not an integer", key);
  return int64_t(v);
}

}  // namespace

std::string ColumnOfField(std::string_view field) {
  for (auto plain : kNotNamespaced)
    if (field == plain) return std::string(field);
  for (auto ns : kNamespaces)
    if (field.size() > ns.size() && field.substr(0, ns.size()) == ns)
      return std::string(ns) + "_" + std::string(field.substr(ns.size()));
  return std::string(field);
}

int64_t SchemaMinorVsn(const Store& store) {
  const XmlRpcValue* host = store.Find("host", store.this_host);
  const XmlRpcValue* sw = host != nullptr ? host->Find("software_version") : nullptr;
  const XmlRpcValue* pv = sw != nullptr ? sw->Find("product_version") : nullptr;
  std::string v = pv != nullptr && pv->is_string() ? pv->str() : "";
  if (v.rfind("6.5", 0) == 0) return 72;    // creedence
  if (v.rfind("7.1", 0) == 0) return 108;   // ely
  if (v.rfind("8.2", 0) == 0) return 601;   // stockholm
  return 779;                               // xapi 24.19.2 (XCP-ng 8.3)
}

std::string DumpPoolDatabase(const Store& store) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
  out += fmt::format(
      "<database><manifest><pair key=\"schema_major_vsn\" value=\"{}\"/>"
      "<pair key=\"schema_minor_vsn\" value=\"{}\"/>"
      "<pair key=\"generation_count\" value=\"{}\"/></manifest>",
      kSchemaMajorVsn, SchemaMinorVsn(store), store.generation());
  for (const ClassSchema& cls : AllClasses()) {
    out += "<table name=\"";
    XmlAttr(out, cls.name);
    out += "\">";
    if (Persistent(cls.name)) {
      for (const auto& [ref, obj] : store.Objects(cls.name)) {
        out += "<row ref=\"";
        XmlAttr(out, ref);
        out += fmt::format("\" __ctime=\"{}\" __mtime=\"{}\"", obj.created, obj.modified);
        for (const auto& [field, value] : obj.record.members()) {
          out += ' ';
          out += ColumnOfField(field);
          out += "=\"";
          XmlAttr(out, Protect(Marshal(value)));
          out += '"';
        }
        out += "/>";
      }
    }
    out += "</table>";
  }
  return out + "</database>";
}

Result<ParsedDatabase> ParsePoolDatabase(std::string_view xml) {
  Reader r;
  r.parser = XML_ParserCreate("UTF-8");
  XML_SetUserData(r.parser, &r);
  XML_SetElementHandler(
      r.parser,
      [](void* u, const XML_Char* name, const XML_Char** attrs) {
        static_cast<Reader*>(u)->Start(name, attrs);
      },
      [](void* u, const XML_Char*) {
        auto* rd = static_cast<Reader*>(u);
        if (!rd->open.empty()) {
          if (rd->open.back() == "table") {
            rd->table.clear();
            rd->schema = nullptr;
          }
          rd->open.pop_back();
        }
      });
  XML_Status st = XML_Parse(r.parser, xml.data(), int(xml.size()), XML_TRUE);
  if (st != XML_STATUS_OK && r.error.ok())
    r.error = Error(Code::kCorruption, "XML error at line {}: {}",
                    XML_GetCurrentLineNumber(r.parser), XML_ErrorString(XML_GetErrorCode(r.parser)));
  XML_ParserFree(r.parser);
  RETURN_IF_ERROR(r.error);
  ASSIGN_OR_RETURN(r.db.schema_major, ManifestInt(r.manifest, "schema_major_vsn"));
  ASSIGN_OR_RETURN(r.db.schema_minor, ManifestInt(r.manifest, "schema_minor_vsn"));
  ASSIGN_OR_RETURN(int64_t gen, ManifestInt(r.manifest, "generation_count"));
  r.db.generation = uint64_t(gen);
  return std::move(r.db);
}

}  // namespace casulo::sim

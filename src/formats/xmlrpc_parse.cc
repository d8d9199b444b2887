// XML-RPC parsing: expat builds a small element tree (bounded depth, no DTD),
// then the tree is read as XML-RPC. Two passes keep the XML-RPC rules (a bare
// `<value>text</value>` is a string; whitespace between elements is noise)
// out of the SAX callbacks.
#include <expat.h>

#include <charconv>
#include <cstdlib>
#include <memory>

#include "formats/xmlrpc.h"

namespace casulo::formats {
namespace {

constexpr int kMaxDepth = 256;

struct Node {
  std::string name;
  std::string text;
  std::vector<std::unique_ptr<Node>> children;
  int line = 0;
};

struct TreeBuilder {
  XML_Parser parser = nullptr;
  std::unique_ptr<Node> root;
  std::vector<Node*> stack;
  Status error;

  void Fail(Status s) {
    if (error.ok()) error = std::move(s);
    XML_StopParser(parser, XML_FALSE);
  }

  static void OnStart(void* ud, const XML_Char* name, const XML_Char** /*attrs*/) {
    auto* b = static_cast<TreeBuilder*>(ud);
    if (!b->error.ok()) return;
    // The cap leaves room for the type element of a <value> at the limit, so
    // a bare value that parses still parses when printed typed.
    const bool type_of_value = !b->stack.empty() && b->stack.back()->name == "value";
    if (int(b->stack.size()) >= kMaxDepth + (type_of_value ? 1 : 0)) {
      return b->Fail(Error(Code::kCorruption, "XML nested deeper than {} elements at line {}",
                           kMaxDepth, XML_GetCurrentLineNumber(b->parser)));
    }
    auto node = std::make_unique<Node>();
    node->name = name;
    node->line = int(XML_GetCurrentLineNumber(b->parser));
    Node* raw = node.get();
    if (b->stack.empty()) {
      if (b->root) return b->Fail(Error(Code::kCorruption, "XML has more than one root element"));
      b->root = std::move(node);
    } else {
      b->stack.back()->children.push_back(std::move(node));
    }
    b->stack.push_back(raw);
  }
  static void OnEnd(void* ud, const XML_Char* /*name*/) {
    auto* b = static_cast<TreeBuilder*>(ud);
    if (!b->stack.empty()) b->stack.pop_back();
  }
  static void OnText(void* ud, const XML_Char* s, int len) {
    auto* b = static_cast<TreeBuilder*>(ud);
    if (!b->stack.empty()) b->stack.back()->text.append(s, size_t(len));
  }
  // Documents with a DTD are refused outright: XML-RPC never needs one, and
  // it is where entity-expansion attacks live.
  static void OnDoctype(void* ud, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    auto* b = static_cast<TreeBuilder*>(ud);
    b->Fail(Error(Code::kCorruption, "XML document type declarations are not accepted"));
  }
  static void OnEntityDecl(void* ud, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                           const XML_Char*, const XML_Char*, const XML_Char*) {
    auto* b = static_cast<TreeBuilder*>(ud);
    b->Fail(Error(Code::kCorruption, "XML entity declarations are not accepted"));
  }
};

Result<std::unique_ptr<Node>> ParseTree(std::string_view xml) {
  TreeBuilder b;
  std::unique_ptr<XML_ParserStruct, decltype(&XML_ParserFree)> p(XML_ParserCreate(nullptr),
                                                                 &XML_ParserFree);
  if (!p) return Error(Code::kInternal, "XML_ParserCreate failed");
  b.parser = p.get();
  XML_SetUserData(b.parser, &b);
  XML_SetElementHandler(b.parser, &TreeBuilder::OnStart, &TreeBuilder::OnEnd);
  XML_SetCharacterDataHandler(b.parser, &TreeBuilder::OnText);
  XML_SetStartDoctypeDeclHandler(b.parser, &TreeBuilder::OnDoctype);
  XML_SetEntityDeclHandler(b.parser, &TreeBuilder::OnEntityDecl);
  // Feed in slices: XML_Parse takes an int length.
  constexpr size_t kSlice = 1 << 30;
  size_t off = 0;
  do {
    size_t n = std::min(kSlice, xml.size() - off);
    bool last = off + n == xml.size();
    if (XML_Parse(b.parser, xml.data() + off, int(n), last) == XML_STATUS_ERROR) {
      if (!b.error.ok()) return b.error;
      return Error(Code::kCorruption, "malformed XML at line {} column {}: {}",
                   XML_GetCurrentLineNumber(b.parser), XML_GetCurrentColumnNumber(b.parser),
                   XML_ErrorString(XML_GetErrorCode(b.parser)));
    }
    off += n;
  } while (off < xml.size());
  if (!b.error.ok()) return b.error;
  if (!b.root) return Error(Code::kCorruption, "XML document has no element");
  return std::move(b.root);
}

Status Bad(const Node& n, std::string_view why) {
  return Error(Code::kCorruption, "XML-RPC <{}> at line {}: {}", n.name, n.line, why);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' ||
                        s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' ||
                        s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

Result<XmlRpcValue> ToValue(const Node& n);

Result<XmlRpcValue> ToTyped(const Node& t) {
  const std::string& k = t.name;
  if (k != "array" && k != "struct" && !t.children.empty())
    return Bad(*t.children[0], fmt::format("unexpected element inside <{}>", k));
  if (k == "string") return XmlRpcValue(t.text);
  if (k == "i4" || k == "int" || k == "i8") {
    std::string_view s = Trim(t.text);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size())
      return Bad(t, fmt::format("'{}' is not a 64-bit integer", s.substr(0, 40)));
    return XmlRpcValue(v);
  }
  if (k == "boolean") {
    std::string_view s = Trim(t.text);
    if (s == "1" || s == "true") return XmlRpcValue(true);
    if (s == "0" || s == "false") return XmlRpcValue(false);
    return Bad(t, fmt::format("'{}' is not a boolean", s.substr(0, 40)));
  }
  if (k == "double") {
    std::string s(Trim(t.text));
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size())
      return Bad(t, fmt::format("'{}' is not a number", s.substr(0, 40)));
    return XmlRpcValue(d);
  }
  if (k == "dateTime.iso8601") return XmlRpcValue(XmlRpcValue::DateTime{std::string(Trim(t.text))});
  if (k == "base64") return XmlRpcValue(XmlRpcValue::Base64{std::string(Trim(t.text))});
  if (k == "nil") return XmlRpcValue();
  if (k == "array") {
    if (t.children.size() != 1 || t.children[0]->name != "data")
      return Bad(t, "expected exactly one <data> child");
    XmlRpcArray items;
    items.reserve(t.children[0]->children.size());
    for (const auto& c : t.children[0]->children) {
      ASSIGN_OR_RETURN(XmlRpcValue v, ToValue(*c));
      items.push_back(std::move(v));
    }
    return XmlRpcValue(std::move(items));
  }
  if (k == "struct") {
    XmlRpcStruct members;
    members.reserve(t.children.size());
    for (const auto& m : t.children) {
      if (m->name != "member") return Bad(*m, "expected <member> inside <struct>");
      const Node* name = nullptr;
      const Node* value = nullptr;
      for (const auto& c : m->children) {
        if (c->name == "name" && !name) name = c.get();
        else if (c->name == "value" && !value) value = c.get();
        else return Bad(*c, "unexpected element in <member>");
      }
      if (!name || !value) return Bad(*m, "a <member> needs a <name> and a <value>");
      if (!name->children.empty()) return Bad(*name, "a member name must be text");
      ASSIGN_OR_RETURN(XmlRpcValue v, ToValue(*value));
      members.emplace_back(name->text, std::move(v));
    }
    return XmlRpcValue(std::move(members));
  }
  return Bad(t, "unknown XML-RPC type");
}

Result<XmlRpcValue> ToValue(const Node& n) {
  if (n.name != "value") return Bad(n, "expected <value>");
  if (n.children.empty()) return XmlRpcValue(n.text);  // bare string (rpc-light)
  if (n.children.size() > 1) return Bad(n, "a <value> holds one typed element");
  if (!Trim(n.text).empty()) return Bad(n, "text beside a typed element");
  return ToTyped(*n.children[0]);
}

Result<XmlRpcArray> ToParams(const Node& params) {
  XmlRpcArray out;
  for (const auto& p : params.children) {
    if (p->name != "param" || p->children.size() != 1)
      return Bad(*p, "expected <param> with one <value>");
    ASSIGN_OR_RETURN(XmlRpcValue v, ToValue(*p->children[0]));
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

Result<XmlRpcValue> ParseXmlRpcValue(std::string_view xml) {
  ASSIGN_OR_RETURN(std::unique_ptr<Node> root, ParseTree(xml));
  return ToValue(*root);
}

Result<XmlRpcMethodCall> ParseMethodCall(std::string_view xml) {
  ASSIGN_OR_RETURN(std::unique_ptr<Node> root, ParseTree(xml));
  if (root->name != "methodCall") return Bad(*root, "expected <methodCall>");
  XmlRpcMethodCall call;
  bool have_name = false;
  for (const auto& c : root->children) {
    if (c->name == "methodName" && !have_name) {
      call.method = std::string(Trim(c->text));
      have_name = true;
    } else if (c->name == "params") {
      ASSIGN_OR_RETURN(call.params, ToParams(*c));
    } else {
      return Bad(*c, "unexpected element in <methodCall>");
    }
  }
  if (!have_name || call.method.empty()) return Bad(*root, "missing <methodName>");
  return call;
}

Result<XmlRpcResponse> ParseMethodResponse(std::string_view xml) {
  ASSIGN_OR_RETURN(std::unique_ptr<Node> root, ParseTree(xml));
  if (root->name != "methodResponse") return Bad(*root, "expected <methodResponse>");
  if (root->children.size() != 1) return Bad(*root, "expected <params> or <fault>");
  const Node& body = *root->children[0];
  XmlRpcResponse r;
  if (body.name == "fault") {
    if (body.children.size() != 1) return Bad(body, "expected one <value>");
    r.fault = true;
    ASSIGN_OR_RETURN(r.value, ToValue(*body.children[0]));
    return r;
  }
  if (body.name != "params") return Bad(body, "expected <params> or <fault>");
  ASSIGN_OR_RETURN(XmlRpcArray params, ToParams(body));
  if (params.size() != 1) return Bad(body, "a response carries exactly one <param>");
  r.value = std::move(params[0]);
  return r;
}

}  // namespace casulo::formats

// XML-RPC values, as XAPI prints them (ova.xml, the XenAPI wire protocol).
//
// Parsing accepts both styles XAPI and other writers produce: rpc-light's
// bare `<value>text</value>` for strings and integers, and typed values
// (`<string>`, `<i4>`, `<int>`, `<i8>`, `<boolean>`, `<double>`,
// `<dateTime.iso8601>`, `<base64>`, `<nil/>`, `<array>`, `<struct>`), with or
// without whitespace between elements and `<value/>` for an empty string.
// Printing is rpc-light style by default (what XAPI writes into ova.xml) or
// typed (what XenAPI method calls use).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/status.h"

namespace casulo::formats {

class XmlRpcValue;
using XmlRpcArray = std::vector<XmlRpcValue>;
// Members in document order; XAPI records have unique names, and lookups are
// linear (records have < 100 members).
using XmlRpcStruct = std::vector<std::pair<std::string, XmlRpcValue>>;

class XmlRpcValue {
 public:
  enum class Type { kNil, kString, kInt, kBool, kDouble, kDateTime, kBase64, kArray, kStruct };
  struct DateTime { std::string text; };  // as written, e.g. "20260101T10:00:00Z"
  struct Base64 { std::string text; };    // still encoded

  XmlRpcValue() = default;  // nil
  XmlRpcValue(std::string s) : v_(std::move(s)) {}  // NOLINT: implicit by design
  XmlRpcValue(const char* s) : v_(std::string(s)) {}  // NOLINT
  XmlRpcValue(int64_t i) : v_(i) {}  // NOLINT
  XmlRpcValue(int i) : v_(int64_t(i)) {}  // NOLINT
  XmlRpcValue(bool b) : v_(b) {}  // NOLINT
  XmlRpcValue(double d) : v_(d) {}  // NOLINT
  XmlRpcValue(DateTime d) : v_(std::move(d)) {}  // NOLINT
  XmlRpcValue(Base64 b) : v_(std::move(b)) {}  // NOLINT
  XmlRpcValue(XmlRpcArray a) : v_(std::make_shared<XmlRpcArray>(std::move(a))) {}  // NOLINT
  XmlRpcValue(XmlRpcStruct s) : v_(std::make_shared<XmlRpcStruct>(std::move(s))) {}  // NOLINT

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_nil() const { return type() == Type::kNil; }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_struct() const { return type() == Type::kStruct; }

  // Unchecked accessors: REQUIRE the matching type().
  const std::string& str() const { return std::get<std::string>(v_); }
  int64_t i() const { return std::get<int64_t>(v_); }
  bool b() const { return std::get<bool>(v_); }
  double d() const { return std::get<double>(v_); }
  const DateTime& date() const { return std::get<DateTime>(v_); }
  const Base64& base64() const { return std::get<Base64>(v_); }
  const XmlRpcArray& array() const { return *std::get<std::shared_ptr<XmlRpcArray>>(v_); }
  XmlRpcArray& array() { return Own<XmlRpcArray>(); }
  const XmlRpcStruct& members() const { return *std::get<std::shared_ptr<XmlRpcStruct>>(v_); }
  XmlRpcStruct& members() { return Own<XmlRpcStruct>(); }

  // Struct member by name, or nullptr (also when this is not a struct).
  const XmlRpcValue* Find(std::string_view name) const;
  // Sets or replaces a member; REQUIRES is_struct().
  void Set(std::string name, XmlRpcValue value);

  // Checked conversions for decoding untrusted records; the error names
  // `what`. AsInt accepts kInt and a decimal kString (XAPI sends int64 fields
  // as strings in the XenAPI protocol); AsBool accepts kBool and "true"/"false".
  Result<std::string> AsString(std::string_view what) const;
  Result<int64_t> AsInt(std::string_view what) const;
  Result<bool> AsBool(std::string_view what) const;

  bool operator==(const XmlRpcValue& o) const;

 private:
  template <typename T>
  T& Own() {  // copy-on-write: values share containers until mutated
    auto& p = std::get<std::shared_ptr<T>>(v_);
    if (p.use_count() > 1) p = std::make_shared<T>(*p);
    return *p;
  }
  std::variant<std::monostate, std::string, int64_t, bool, double, DateTime, Base64,
               std::shared_ptr<XmlRpcArray>, std::shared_ptr<XmlRpcStruct>>
      v_;
};

enum class XmlRpcStyle {
  kBare,   // rpc-light: strings and integers as bare text, one line (ova.xml)
  kTyped,  // <string>, <i8>: what method calls send
};

// Parses one `<value>` element (leading XML declaration and whitespace
// allowed). Fails with kCorruption naming the line/column for malformed XML
// and for elements that are not XML-RPC. Depth is capped (256 elements) and no DTD or
// entity declarations are accepted, so hostile input cannot blow the stack
// or expand.
Result<XmlRpcValue> ParseXmlRpcValue(std::string_view xml);
std::string PrintXmlRpcValue(const XmlRpcValue& v, XmlRpcStyle style = XmlRpcStyle::kBare);

// The XenAPI envelopes (issue 4 uses these).
std::string PrintMethodCall(std::string_view method, const XmlRpcArray& params);
struct XmlRpcMethodCall {
  std::string method;
  XmlRpcArray params;
};
Result<XmlRpcMethodCall> ParseMethodCall(std::string_view xml);
// A methodResponse holds one param or a <fault>; a fault is returned as a
// value with `fault` set so the caller maps faultCode/faultString itself.
struct XmlRpcResponse {
  bool fault = false;
  XmlRpcValue value;  // the param, or the fault struct
};
Result<XmlRpcResponse> ParseMethodResponse(std::string_view xml);
std::string PrintMethodResponse(const XmlRpcValue& result, XmlRpcStyle style = XmlRpcStyle::kTyped);
std::string PrintFaultResponse(int code, std::string_view message);

}  // namespace casulo::formats

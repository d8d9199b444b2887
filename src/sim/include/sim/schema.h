// The classes casulo-sim knows: for each, the record every object starts from
// (every field the XenAPI exposes for it that a client of ours reads, with
// XAPI's default value and wire type) and which fields clients may write.
//
// The generic methods (get_<field>, set_<field>, add_to_<map>, ...) are
// derived from this table, so a field absent here has no getter, exactly as
// a method missing from XAPI's datamodel answers MESSAGE_METHOD_UNKNOWN.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "formats/xmlrpc.h"

namespace casulo::sim {

using formats::XmlRpcArray;
using formats::XmlRpcStruct;
using formats::XmlRpcValue;

inline constexpr std::string_view kNullRef = "OpaqueRef:NULL";
inline constexpr std::string_view kNullDate = "19700101T00:00:00Z";

struct ClassSchema {
  std::string name;        // as on the wire and in errors: "VM", "host", "Bond"
  XmlRpcStruct defaults;   // every field, with its type and default value
  std::vector<std::string> writable;  // fields with set_ (and add_to_/add_ for maps/sets)
  bool has_get_all = true;            // false for session (XAPI has no session.get_all)

  const XmlRpcValue* Default(std::string_view field) const;
  bool IsWritable(std::string_view field) const;
};

// The class named exactly `name` (XAPI method names are case-sensitive), or
// nullptr.
const ClassSchema* FindClass(std::string_view name);
const std::vector<ClassSchema>& AllClasses();

XmlRpcValue NullRef();
XmlRpcValue NullDate();

}  // namespace casulo::sim

// The methods every class has, derived from its schema (xapi-protocol.md
// §1.4): get_all, get_all_records, get_record, get_by_uuid,
// get_by_name_label, get_<field>, and for writable fields set_<field>,
// add_to_<map>/remove_from_<map>, add_<set>/remove_<set>.
#include <charconv>

#include "sim/sim.h"
#include "vm_rules.h"

namespace casulo::sim {
namespace {

// 7.3 (inverness, API 2.8) brought CBT and NBD: VDI.cbt_enabled and
// network.purpose (xapi-protocol.md §2.4, §2.5, §6). Without a host record
// (a bare store) everything is served.
bool SinceInverness(const Store& st) {
  int v = ApiVersion(st);
  return v == 0 || v >= 208;
}

// Fields XAPI added after the oldest release the simulator plays: before
// it they are absent from records, and their accessors are unknown methods
// (MESSAGE_METHOD_UNKNOWN), as on a real host of that release.
struct LaterField {
  std::string_view cls, field;
  bool (*available)(const Store&);
};
constexpr LaterField kLaterFields[] = {
    {"VDI", "cbt_enabled", &SinceInverness},
    {"network", "purpose", &SinceInverness},
};

bool (*FieldAvailability(std::string_view cls, std::string_view field))(const Store&) {
  for (const auto& f : kLaterFields)
    if (f.cls == cls && f.field == field) return f.available;
  return nullptr;
}

struct Parsed {
  const ClassSchema* cls = nullptr;
  std::string op;
};

Parsed Split(std::string_view method) {
  size_t dot = method.find('.');
  if (dot == std::string_view::npos) return {};
  return {FindClass(method.substr(0, dot)), std::string(method.substr(dot + 1))};
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The object `arg` names, or HANDLE_INVALID [class, ref].
Result<XmlRpcValue*> Lookup(CallContext& ctx, const ClassSchema& cls, const XmlRpcValue& arg,
                            bool mutate) {
  std::string ref = arg.is_string() ? arg.str() : formats::PrintXmlRpcValue(arg);
  XmlRpcValue* rec = mutate ? ctx.store.Mutate(cls.name, ref)
                            : const_cast<XmlRpcValue*>(ctx.store.Find(cls.name, ref));
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", cls.name, ref});
  return rec;
}

// `v` converted to the wire type of `like` (a field's default), as XAPI's
// unmarshaller would: ints also from decimal strings, bools only as bools.
Result<XmlRpcValue> Coerce(const XmlRpcValue& like, const XmlRpcValue& v, std::string_view field) {
  using T = XmlRpcValue::Type;
  auto bad = [&] { return XapiError({"FIELD_TYPE_ERROR", std::string(field)}); };
  switch (like.type()) {
    case T::kInt: {
      auto i = v.AsInt(field);
      if (!i.ok()) return bad();
      return XmlRpcValue(*i);
    }
    case T::kDouble:
      if (v.type() == T::kDouble) return v;
      if (v.type() == T::kInt) return XmlRpcValue(double(v.i()));
      return bad();
    case T::kDateTime:
      if (v.type() == T::kDateTime) return v;
      if (v.is_string()) return XmlRpcValue(XmlRpcValue::DateTime{v.str()});
      return bad();
    case T::kStruct:
      if (!v.is_struct()) return bad();
      for (const auto& [k, m] : v.members())
        if (!m.is_string()) return bad();
      return v;
    default:
      if (v.type() != like.type()) return bad();
      return v;
  }
}

std::string FieldAfter(std::string_view op, std::string_view prefix) {
  return std::string(op.substr(prefix.size()));
}

Result<XmlRpcValue> Generic(CallContext& ctx, std::string_view method, Args args) {
  Parsed p = Split(method);
  const ClassSchema& cls = *p.cls;
  const std::string& op = p.op;
  const auto& table = ctx.store.Objects(cls.name);
  if (op == "get_all") {
    XmlRpcArray refs;
    for (const auto& [ref, obj] : table) refs.emplace_back(ref);
    return XmlRpcValue(std::move(refs));
  }
  if (op == "get_all_records") {
    XmlRpcStruct all;
    for (const auto& [ref, obj] : table) all.emplace_back(ref, RecordForRelease(ctx.store, cls.name, obj.record));
    return XmlRpcValue(std::move(all));
  }
  if (op == "get_record") {
    ASSIGN_OR_RETURN(XmlRpcValue * rec, Lookup(ctx, cls, args[0], false));
    return RecordForRelease(ctx.store, cls.name, *rec);
  }
  if (op == "get_by_uuid") {
    std::string uuid = args[0].is_string() ? args[0].str() : "";
    auto ref = ctx.store.RefOfUuid(cls.name, uuid);
    if (!ref) return XapiError({"UUID_INVALID", cls.name, uuid});
    return XmlRpcValue(*ref);
  }
  if (op == "get_by_name_label") {
    XmlRpcArray refs;
    for (const auto& [ref, obj] : table) {
      const XmlRpcValue* n = obj.record.Find("name_label");
      if (n != nullptr && *n == args[0]) refs.emplace_back(ref);
    }
    return XmlRpcValue(std::move(refs));
  }
  if (StartsWith(op, "get_")) {
    ASSIGN_OR_RETURN(XmlRpcValue * rec, Lookup(ctx, cls, args[0], false));
    const XmlRpcValue* v = rec->Find(FieldAfter(op, "get_"));
    return v != nullptr ? *v : *cls.Default(FieldAfter(op, "get_"));
  }
  // Mutators: validate everything before touching the object, so a failed
  // call leaves the store (and its generation) unchanged.
  ASSIGN_OR_RETURN(XmlRpcValue * cur, Lookup(ctx, cls, args[0], false));
  std::string ref = args[0].str();
  if (StartsWith(op, "set_")) {
    std::string field = FieldAfter(op, "set_");
    ASSIGN_OR_RETURN(XmlRpcValue v, Coerce(*cls.Default(field), args[1], field));
    ctx.store.Mutate(cls.name, ref)->Set(field, std::move(v));
    return XmlRpcValue("");
  }
  bool to = StartsWith(op, "add_to_"), from = StartsWith(op, "remove_from_");
  if (to || from) {
    std::string field = FieldAfter(op, to ? "add_to_" : "remove_from_");
    if (!args[1].is_string() || (to && !args[2].is_string()))
      return XapiError({"FIELD_TYPE_ERROR", field});
    const XmlRpcValue* m = cur->Find(field);
    XmlRpcStruct map = m != nullptr && m->is_struct() ? m->members() : XmlRpcStruct{};
    XmlRpcStruct out;
    for (auto& [k, v] : map) {
      if (k != args[1].str()) {
        out.emplace_back(k, v);
      } else if (to) {  // XAPI's Db_exn.Duplicate_key: [table, field, ref, key]
        return XapiError({"MAP_DUPLICATE_KEY", cls.name, field, ref, k});
      }
    }
    if (to) out.emplace_back(args[1].str(), args[2]);
    ctx.store.Mutate(cls.name, ref)->Set(field, XmlRpcValue(std::move(out)));
    return XmlRpcValue("");
  }
  bool add = StartsWith(op, "add_");
  std::string field = FieldAfter(op, add ? "add_" : "remove_");
  if (!args[1].is_string()) return XapiError({"FIELD_TYPE_ERROR", field});
  if (add)
    ctx.store.AddToSet(cls.name, ref, field, args[1].str());
  else
    ctx.store.RemoveFromSet(cls.name, ref, field, args[1].str());
  return XmlRpcValue("");
}

bool IsA(const ClassSchema& cls, std::string_view field, XmlRpcValue::Type t) {
  const XmlRpcValue* d = cls.Default(field);
  return d != nullptr && d->type() == t;
}

}  // namespace

XmlRpcValue RecordForRelease(const Store& st, std::string_view cls, const XmlRpcValue& rec) {
  bool drop = false;
  for (const auto& f : kLaterFields) drop |= f.cls == cls && !f.available(st);
  if (!drop || !rec.is_struct()) return rec;
  XmlRpcStruct out;
  for (const auto& [k, v] : rec.members()) {
    auto available = FieldAvailability(cls, k);
    if (available == nullptr || available(st)) out.emplace_back(k, v);
  }
  return XmlRpcValue(std::move(out));
}

MethodSpec ResolveGeneric(std::string_view method) {
  Parsed p = Split(method);
  if (p.cls == nullptr) return {};
  const ClassSchema& cls = *p.cls;
  const std::string& op = p.op;
  using T = XmlRpcValue::Type;
  // An accessor of a field the release lacks is unknown there.
  auto available = [&]() -> bool (*)(const Store&) {
    for (std::string_view pre : {"get_", "set_", "add_to_", "remove_from_", "add_", "remove_"})
      if (StartsWith(op, pre)) return FieldAvailability(cls.name, FieldAfter(op, pre));
    return nullptr;
  }();
  auto spec = [available](int n) {
    MethodSpec m{n, n, true, false, &Generic};
    m.available = available;
    return m;
  };
  if (op == "get_all" || op == "get_all_records") return cls.has_get_all ? spec(0) : MethodSpec{};
  if (op == "get_record" || op == "get_by_uuid") return spec(1);
  if (op == "get_by_name_label") return cls.Default("name_label") ? spec(1) : MethodSpec{};
  if (StartsWith(op, "get_")) return cls.Default(FieldAfter(op, "get_")) ? spec(1) : MethodSpec{};
  if (StartsWith(op, "set_")) return cls.IsWritable(FieldAfter(op, "set_")) ? spec(2) : MethodSpec{};
  if (StartsWith(op, "add_to_")) {
    std::string f = FieldAfter(op, "add_to_");
    return cls.IsWritable(f) && IsA(cls, f, T::kStruct) ? spec(3) : MethodSpec{};
  }
  if (StartsWith(op, "remove_from_")) {
    std::string f = FieldAfter(op, "remove_from_");
    return cls.IsWritable(f) && IsA(cls, f, T::kStruct) ? spec(2) : MethodSpec{};
  }
  for (std::string_view pre : {"add_", "remove_"}) {
    if (!StartsWith(op, pre)) continue;
    std::string f = FieldAfter(op, pre);
    return cls.IsWritable(f) && IsA(cls, f, T::kArray) ? spec(2) : MethodSpec{};
  }
  return {};
}

std::vector<std::string> ListGenericMethods() {
  std::vector<std::string> out;
  for (const auto& cls : AllClasses()) {
    auto add = [&](std::string op) { out.push_back(cls.name + "." + op); };
    if (cls.has_get_all) {
      add("get_all");
      add("get_all_records");
    }
    add("get_record");
    add("get_by_uuid");
    if (cls.Default("name_label")) add("get_by_name_label");
    for (const auto& [f, d] : cls.defaults) {
      add("get_" + f);
      if (!cls.IsWritable(f)) continue;
      add("set_" + f);
      if (d.is_struct()) {
        add("add_to_" + f);
        add("remove_from_" + f);
      } else if (d.is_array()) {
        add("add_" + f);
        add("remove_" + f);
      }
    }
  }
  return out;
}

}  // namespace casulo::sim

// VM operation rules from X:ocaml/xapi/xapi_vm_lifecycle.ml (allowed_power_states,
// is_allowed_concurrently, check_template, check_snapshot,
// check_operation_error); xapi-protocol.md §2.2.
#include "vm_rules.h"

#include <algorithm>
#include <array>
#include <vector>

namespace casulo::sim {
namespace {

const std::string kEmpty;

// The power states in which `op` may run, in XAPI's order (the order of
// VM_BAD_POWER_STATE's "expected" text).
std::vector<std::string_view> AllowedPowerStates(std::string_view op, bool is_snapshot) {
  using V = std::vector<std::string_view>;
  auto in = [&](std::initializer_list<std::string_view> ops) {
    return std::find(ops.begin(), ops.end(), op) != ops.end();
  };
  if (in({"start", "start_on", "make_into_template", "provision", "changing_shadow_memory",
          "changing_NVRAM", "create_vtpm"}))
    return V{"Halted"};
  if (op == "unpause") return V{"Paused"};
  if (in({"resume", "resume_on", "csvm"})) return V{"Suspended"};
  if (in({"clean_reboot", "clean_shutdown", "pool_migrate", "pause", "suspend",
          "snapshot_with_quiesce", "send_sysrq", "send_trigger", "call_plugin"}))
    return V{"Running"};
  if (op == "changing_dynamic_range") return V{"Halted", "Running"};
  if (op == "clone" || op == "copy")
    return is_snapshot ? V{"Halted", "Suspended"} : V{"Halted"};
  if (in({"destroy", "export", "create_template"})) return V{"Halted", "Suspended"};
  if (op == "hard_reboot") return V{"Paused", "Running"};
  if (in({"checkpoint", "hard_shutdown", "shutdown", "get_boot_record"}))
    return V{"Paused", "Suspended", "Running"};
  if (op == "migrate_send") return V{"Halted", "Suspended", "Running"};
  return V{"Halted", "Paused", "Suspended", "Running"};  // snapshot, revert, metadata_export...
}

bool AllowedConcurrently(std::string_view op, const XmlRpcStruct& current) {
  std::vector<std::string> ops;
  for (const auto& [task, o] : current) ops.push_back(o.is_string() ? o.str() : "");
  auto group = [&](std::initializer_list<std::string_view> g) {
    auto in = [&](std::string_view x) { return std::find(g.begin(), g.end(), x) != g.end(); };
    return in(op) && std::all_of(ops.begin(), ops.end(), in);
  };
  if (group({"clone", "copy", "export"}) || group({"snapshot", "checkpoint"}) ||
      group({"get_boot_record"}))
    return true;
  auto has = [&](std::string_view x) { return std::find(ops.begin(), ops.end(), x) != ops.end(); };
  if (op == "hard_shutdown") return !has("hard_shutdown");
  if (op == "hard_reboot") return !has("hard_shutdown") && !has("hard_reboot");
  if (ops.size() != 1) return false;
  if (ops[0] == "snapshot_with_quiesce") return op == "snapshot";
  if (ops[0] == "migrate_send")
    return op == "metadata_export" || op == "clean_shutdown" || op == "clean_reboot";
  return false;
}

// The operations XAPI lists in allowed_operations that the simulator models
// (allowable_ops minus the ones it never reports).
constexpr std::array<std::string_view, 21> kListed = {
    "snapshot",       "clone",         "copy",         "revert",        "checkpoint",
    "snapshot_with_quiesce", "provision", "start",     "start_on",      "pause",
    "unpause",        "clean_shutdown", "clean_reboot", "hard_shutdown", "hard_reboot",
    "suspend",        "resume",        "export",       "destroy",       "pool_migrate",
    "migrate_send"};

}  // namespace

std::string LowerState(std::string_view power) {
  std::string s(power);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const std::string& StrField(const XmlRpcValue& rec, std::string_view field) {
  const XmlRpcValue* v = rec.Find(field);
  return v != nullptr && v->is_string() ? v->str() : kEmpty;
}

bool BoolField(const XmlRpcValue& rec, std::string_view field) {
  const XmlRpcValue* v = rec.Find(field);
  return v != nullptr && v->type() == XmlRpcValue::Type::kBool && v->b();
}

int64_t IntField(const XmlRpcValue& rec, std::string_view field) {
  const XmlRpcValue* v = rec.Find(field);
  return v != nullptr && v->type() == XmlRpcValue::Type::kInt ? v->i() : 0;
}

int ApiVersion(const Store& st) {
  const XmlRpcValue* host = st.Find("host", st.this_host);
  if (host == nullptr) return 0;
  return static_cast<int>(IntField(*host, "API_version_major") * 100 +
                          IntField(*host, "API_version_minor"));
}

Status CheckVmOperation(const Store& st, const std::string& vm, std::string_view op) {
  const XmlRpcValue* rec = st.Find("VM", vm);
  if (rec == nullptr) return XapiError({"HANDLE_INVALID", "VM", vm});
  const XmlRpcValue* blocked = rec->Find("blocked_operations");
  if (blocked != nullptr && blocked->is_struct())
    for (const auto& [k, v] : blocked->members())
      if (k == op) return XapiError({"OPERATION_BLOCKED", vm, v.is_string() ? v.str() : ""});
  bool is_snapshot = BoolField(*rec, "is_a_snapshot");
  const std::string& power = StrField(*rec, "power_state");
  auto states = AllowedPowerStates(op, is_snapshot);
  if (std::find(states.begin(), states.end(), power) == states.end()) {
    std::string expected;
    for (auto s : states) expected += (expected.empty() ? "" : ", ") + LowerState(s);
    return XapiError({"VM_BAD_POWER_STATE", vm, expected, LowerState(power)});
  }
  const XmlRpcValue* cur = rec->Find("current_operations");
  if (cur != nullptr && cur->is_struct() && !cur->members().empty() &&
      !AllowedConcurrently(op, cur->members())) {
    const auto& m = cur->members();
    std::string tasks, ops;
    for (const auto& [t, o] : m) {
      tasks += (tasks.empty() ? "" : ",") + t;
      ops += (ops.empty() ? "" : ",") + (o.is_string() ? o.str() : "");
    }
    if (m.size() > 1) {
      tasks = "{" + tasks + "}";
      ops = "{" + ops + "}";
    }
    return XapiError({"OTHER_OPERATION_IN_PROGRESS", "VM", vm, ops, tasks});
  }
  if (BoolField(*rec, "is_a_template") && !is_snapshot) {
    bool default_template = BoolField(*rec, "is_default_template");
    constexpr std::string_view kOk[] = {"changing_dynamic_range", "changing_static_range",
                                        "changing_memory_limits", "changing_shadow_memory",
                                        "changing_VCPUs", "changing_NVRAM", "clone", "copy",
                                        "export", "metadata_export", "provision"};
    bool ok = std::find(std::begin(kOk), std::end(kOk), op) != std::end(kOk) ||
              ((op == "destroy" || op == "migrate_send") && !default_template);
    if (!ok) return XapiError({"VM_IS_TEMPLATE", vm, std::string(op)});
  }
  if (is_snapshot) {
    constexpr std::string_view kOk[] = {"revert", "clone", "copy", "export",
                                        "destroy", "hard_shutdown", "metadata_export"};
    if (std::find(std::begin(kOk), std::end(kOk), op) == std::end(kOk))
      return XapiError({"VM_IS_SNAPSHOT", vm, std::string(op)});
  }
  if (op == "provision" && !BoolField(*rec, "is_a_template"))
    return XapiError({"ONLY_PROVISION_TEMPLATE"});
  if (op == "revert" && !is_snapshot) return XapiError({"ONLY_REVERT_SNAPSHOT"});
  if (BoolField(*rec, "is_control_domain") && op != "metadata_export" &&
      op != "changing_dynamic_range" && op != "start")
    return XapiError({"OPERATION_NOT_ALLOWED", "Operations on domain 0 are not allowed"});
  return OkStatus();
}

void UpdateVmAllowedOperations(Store& st, const std::string& vm) {
  if (st.Find("VM", vm) == nullptr) return;
  XmlRpcArray allowed;
  for (auto op : kListed)
    if (CheckVmOperation(st, vm, op).ok()) allowed.emplace_back(std::string(op));
  if (*st.Find("VM", vm)->Find("allowed_operations") == XmlRpcValue(allowed)) return;
  st.Mutate("VM", vm)->Set("allowed_operations", XmlRpcValue(std::move(allowed)));
}

int DiskNumber(const std::string& s) {
  if (!s.empty() && s.size() < 6 && s.find_first_not_of("0123456789") == std::string::npos)
    return std::stoi(s);
  for (std::string_view p : {"xvd", "hd", "sd"})
    if (s.size() == p.size() + 1 && s.compare(0, p.size(), p) == 0 && s.back() >= 'a' &&
        s.back() <= 'z')
      return s.back() - 'a';
  return -1;
}

std::string DeviceName(const std::string& userdevice) {
  int n = std::max(DiskNumber(userdevice), 0);
  return "xvd" + std::string(1, char('a' + n % 26));
}

const XmlRpcValue* FindIn(const XmlRpcStruct& rec, std::string_view field) {
  for (const auto& [k, v] : rec)
    if (k == field) return &v;
  return nullptr;
}

void SetIn(XmlRpcStruct& rec, std::string_view field, XmlRpcValue v) {
  for (auto& [k, old] : rec)
    if (k == field) {
      old = std::move(v);
      return;
    }
  rec.emplace_back(std::string(field), std::move(v));
}

Result<XmlRpcStruct> RecordArg(std::string_view cls, const XmlRpcValue& arg) {
  using T = XmlRpcValue::Type;
  const ClassSchema* schema = FindClass(cls);
  if (!arg.is_struct()) return XapiError({"FIELD_TYPE_ERROR", "record"});
  XmlRpcStruct out = schema->defaults;
  for (const auto& [k, v] : arg.members()) {
    const XmlRpcValue* like = schema->Default(k);
    if (like == nullptr) continue;
    auto bad = [&] { return XapiError({"FIELD_TYPE_ERROR", k}); };
    XmlRpcValue got = v;
    switch (like->type()) {
      case T::kInt: {
        auto i = v.AsInt(k);
        if (!i.ok()) return bad();
        got = XmlRpcValue(*i);
        break;
      }
      case T::kDouble:
        if (v.type() == T::kInt) got = XmlRpcValue(double(v.i()));
        else if (v.type() != T::kDouble) return bad();
        break;
      case T::kDateTime:
        if (v.is_string()) got = XmlRpcValue(XmlRpcValue::DateTime{v.str()});
        else if (v.type() != T::kDateTime) return bad();
        break;
      case T::kStruct:  // maps are string -> string in every class here
        if (!v.is_struct()) return bad();
        for (const auto& [mk, mv] : v.members())
          if (!mv.is_string()) return bad();
        break;
      default:
        if (v.type() != like->type()) return bad();
    }
    SetIn(out, k, std::move(got));
  }
  return out;
}

}  // namespace casulo::sim

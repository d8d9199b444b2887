// GET and PUT /pool/xmldbdump (xapi-protocol.md §3.2, §4.1), after
// X:ocaml/xapi/pool_db_backup.ml pull_database_backup_handler,
// push_database_restore_handler and prepare_database_for_restore.
//
// A restore that passes the checks is staged and, like XAPI's reboot after
// Constants.db_restore_fuse_time (30 s), applied after a delay:
// CASULO_SIM_DB_RESTORE_DELAY_MS milliseconds (default 1000). Applying
// replaces the whole store: sessions and tasks are gone, as after XAPI's
// reboot, and event.from tokens get EVENTS_LOST.
#include <chrono>
#include <cstdlib>
#include <thread>

#include "sim/http.h"
#include "sim/xmldb.h"

namespace casulo::sim {
namespace {

std::string Str(const XmlRpcValue& rec, std::string_view f) {
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && v->is_string() ? v->str() : "";
}

std::vector<std::string> RefSet(const XmlRpcValue& rec, std::string_view f) {
  std::vector<std::string> out;
  if (const XmlRpcValue* v = rec.Find(f); v != nullptr && v->is_array())
    for (const auto& e : v->array())
      if (e.is_string()) out.push_back(e.str());
  return out;
}

XmlRpcValue* Row(ParsedDatabase& db, const std::string& cls, const std::string& ref) {
  auto t = db.tables.find(cls);
  if (t == db.tables.end()) return nullptr;
  auto r = t->second.find(ref);
  return r == t->second.end() ? nullptr : &r->second.record;
}

int RestoreDelayMs() {
  const char* v = std::getenv("CASULO_SIM_DB_RESTORE_DELAY_MS");
  return v != nullptr && *v != '\0' ? std::atoi(v) : 1000;
}

}  // namespace

Result<Json> PrepareRestore(const Store& current, ParsedDatabase db) {
  if (db.schema_major != kSchemaMajorVsn || db.schema_minor != SchemaMinorVsn(current))
    return XapiError({"RESTORE_INCOMPATIBLE_VERSION"});
  auto& pools = db.tables["pool"];
  if (pools.empty()) return XapiError({"INTERNAL_ERROR", "the database has no pool"});
  std::string master = Str(pools.begin()->second.record, "master");
  XmlRpcValue* master_rec = Row(db, "host", master);
  if (master_rec == nullptr) return XapiError({"INTERNAL_ERROR", "the pool's master is not a host"});

  // Other hosts and their PIFs go (the "no other masters" rule).
  auto& hosts = db.tables["host"];
  for (auto it = hosts.begin(); it != hosts.end();) {
    if (it->first == master) {
      ++it;
      continue;
    }
    for (const auto& pif : RefSet(it->second.record, "PIFs")) db.tables["PIF"].erase(pif);
    it = hosts.erase(it);
  }
  for (auto& [ref, row] : db.tables["network"]) {
    XmlRpcArray kept;
    for (const auto& pif : RefSet(row.record, "PIFs"))
      if (Row(db, "PIF", pif) != nullptr) kept.emplace_back(pif);
    row.record.Set("PIFs", XmlRpcValue(std::move(kept)));
  }

  // This host's identity replaces the backup master's.
  const XmlRpcValue* me = current.Find("host", current.this_host);
  if (me == nullptr) return XapiError({"INTERNAL_ERROR", "no local host"});
  master_rec->Set("uuid", Str(*me, "uuid"));
  if (const XmlRpcValue* my_dom0 = current.Find("VM", Str(*me, "control_domain")))
    if (XmlRpcValue* dom0 = Row(db, "VM", Str(*master_rec, "control_domain")))
      dom0->Set("uuid", Str(*my_dom0, "uuid"));

  std::map<std::string, std::string> device_mac;  // this host's physical PIFs
  std::vector<std::string> mgmt;
  for (const auto& pif_ref : RefSet(*me, "PIFs")) {
    const XmlRpcValue* pif = current.Find("PIF", pif_ref);
    if (pif == nullptr) continue;
    const XmlRpcValue* phys = pif->Find("physical");
    if (phys != nullptr && phys->b()) device_mac[Str(*pif, "device")] = Str(*pif, "MAC");
    const XmlRpcValue* m = pif->Find("management");
    if (m != nullptr && m->b()) mgmt.push_back(Str(*pif, "device"));
  }
  std::string mgmt_dev = mgmt.size() == 1 ? mgmt[0] : "";
  bool found_mgmt = false;
  std::vector<std::string> in_backup;  // prepended, as the OCaml list is built
  for (const auto& pif_ref : RefSet(*master_rec, "PIFs")) {
    XmlRpcValue* pif = Row(db, "PIF", pif_ref);
    if (pif == nullptr) continue;
    std::string device = Str(*pif, "device");
    in_backup.insert(in_backup.begin(), device);
    bool is_mgmt = !mgmt_dev.empty() && device == mgmt_dev;
    pif->Set("management", XmlRpcValue(is_mgmt));
    found_mgmt = found_mgmt || is_mgmt;
    const XmlRpcValue* phys = pif->Find("physical");
    if (phys != nullptr && phys->b()) {
      auto it = device_mac.find(device);
      if (it == device_mac.end()) return XapiError({"RESTORE_TARGET_MISSING_DEVICE", device});
      pif->Set("MAC", it->second);
    }
  }
  if (!found_mgmt && !mgmt_dev.empty()) {
    std::vector<std::string> err{"RESTORE_TARGET_MGMT_IF_NOT_IN_BACKUP"};
    err.insert(err.end(), in_backup.begin(), in_backup.end());
    return XapiError(std::move(err));
  }

  Json objects = Json::object();
  for (const auto& [cls, rows] : db.tables) {
    if (rows.empty()) continue;
    Json t = Json::object();
    for (const auto& [ref, row] : rows) t[ref] = ToJson(row.record, JsonFlavour::kState);
    objects[cls] = std::move(t);
  }
  return Json{{"format", "casulo-sim-db"}, {"version", 1}, {"generation", 0},
              {"this_host", master}, {"objects", std::move(objects)}};
}

namespace {

void Dump(Sim& sim, const httplib::Request& req, httplib::Response& res) {
  if (!Authenticate(sim, req, res)) return;
  HttpTask task = BeginTask(sim, req, res, "Dumping database as XML");
  auto xml = std::make_shared<std::string>();
  (void)sim.Update([&](Store& st) {
    *xml = DumpPoolDatabase(st);
    return OkStatus();
  });
  res.status = 200;
  // No Content-Length: XAPI writes the dump straight to the socket.
  res.set_content_provider("application/xml", [&sim, xml, task](size_t, httplib::DataSink& sink) {
    bool ok = sink.write(xml->data(), xml->size());
    FinishTask(sim, task, ok ? Result<XmlRpcValue>(XmlRpcValue(""))
                             : Result<XmlRpcValue>(XapiError({"INTERNAL_ERROR", "client gone"})));
    if (ok) sink.done();
    return ok;
  });
}

void Restore(Sim& sim, const httplib::Request& req, httplib::Response& res,
             const httplib::ContentReader& reader) {
  if (!Authenticate(sim, req, res)) return;
  HttpTask task = BeginTask(sim, req, res, "Reading database as XML");
  if (!req.has_header("Content-Length")) {
    // with_context completes the task even on this path.
    res.status = 400;
    FinishTask(sim, task, XmlRpcValue(""));
    return;
  }
  res.status = 200;
  bool dry_run = Param(req, "dry_run") == "true";
  std::string body;  // XAPI copies at most Content-Length bytes to a temp file
  reader([&](const char* data, size_t len) {
    body.append(data, len);
    return true;
  });
  Result<ParsedDatabase> parsed = ParsePoolDatabase(body);
  if (!parsed.ok()) {
    FinishTask(sim, task, XapiError({"INTERNAL_ERROR", parsed.status().ToString()}));
    return;
  }
  Result<Json> restored = Error(Code::kInternal, "unset");
  (void)sim.Update([&](Store& st) {
    restored = PrepareRestore(st, std::move(*parsed));
    return OkStatus();
  });
  if (!restored.ok() || dry_run) {
    FinishTask(sim, task, restored.ok() ? Result<XmlRpcValue>(XmlRpcValue(""))
                                        : Result<XmlRpcValue>(restored.status()));
    return;
  }
  FinishTask(sim, task, XmlRpcValue(""));
  auto staged = std::make_shared<Json>(std::move(*restored));
  int delay = RestoreDelayMs();
  std::thread([&sim, staged, delay] {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    (void)sim.Update([&](Store& st) {
      (*staged)["generation"] = st.generation();
      Result<Store> fresh = Store::FromJson(*staged);
      if (!fresh.ok()) return fresh.status();
      st = std::move(*fresh);
      return OkStatus();
    });
  }).detach();
}

}  // namespace

void AddXmlDbRoutes(httplib::Server& svr, Sim& sim) {
  svr.Get("/pool/xmldbdump", [&sim](const httplib::Request& req, httplib::Response& res) {
    Dump(sim, req, res);
  });
  svr.Put("/pool/xmldbdump", [&sim](const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& reader) {
    Restore(sim, req, res, reader);
  });
}

}  // namespace casulo::sim

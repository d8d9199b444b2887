// GET /host_backup and PUT /host_restore (xapi-protocol.md §3.2, §4.2;
// X:ocaml/xapi/xapi_host_backup.ml running the dom0 scripts host-backup and
// host-restore). Both act on the host whose address received the request.
#include <ctime>
#include <filesystem>
#include <memory>
#include <thread>

#include "core/file.h"
#include "formats/compress.h"
#include "sim/host_backup.h"
#include "sim/http.h"
#include "sim/xmldb.h"

namespace casulo::sim {
namespace {

std::string Str(const XmlRpcValue* v) { return v != nullptr && v->is_string() ? v->str() : ""; }

HostFacts Facts(const Store& st, const std::string& host) {
  HostFacts f;
  const XmlRpcValue* h = st.Find("host", host);
  if (h == nullptr) return f;
  f.uuid = Str(h->Find("uuid"));
  f.name = Str(h->Find("hostname"));
  f.address = Str(h->Find("address"));
  if (const XmlRpcValue* dom0 = st.Find("VM", Str(h->Find("control_domain"))))
    f.dom0_uuid = Str(dom0->Find("uuid"));
  if (const XmlRpcValue* sw = h->Find("software_version")) {
    f.product_version = Str(sw->Find("product_version"));
    f.product_brand = Str(sw->Find("product_brand"));
    f.platform_version = Str(sw->Find("platform_version"));
    f.build_number = Str(sw->Find("build_number"));
  }
  if (!st.Objects("pool").empty()) {
    std::string master = Str(st.Objects("pool").begin()->second.record.Find("master"));
    if (master != host)
      if (const XmlRpcValue* m = st.Find("host", master)) f.master_address = Str(m->Find("address"));
  }
  if (const XmlRpcValue* pifs = h->Find("PIFs"); pifs != nullptr && pifs->is_array())
    for (const auto& ref : pifs->array()) {
      const XmlRpcValue* p = st.Find("PIF", Str(&ref));
      if (p == nullptr) continue;
      HostFacts::Nic n{Str(p->Find("device")), Str(p->Find("MAC")), Str(p->Find("IP")),
                       Str(p->Find("netmask")), Str(p->Find("gateway"))};
      const XmlRpcValue* vlan = p->Find("VLAN");
      if (vlan != nullptr && vlan->type() == XmlRpcValue::Type::kInt && vlan->i() >= 0)
        n.device += "." + std::to_string(vlan->i());
      f.nics.push_back(std::move(n));
    }
  return f;
}

// What the handlers need, read under the store lock.
struct Target {
  HostFacts host;
  std::string dump;  // the pool database (host-backup's pool-dump-database)
};

Target Read(Sim& sim, const httplib::Request& req, bool with_dump) {
  Target t;
  (void)sim.Update([&](Store& st) {
    t.host = Facts(st, ReceivingHost(st, req));
    if (with_dump) t.dump = DumpPoolDatabase(st);
    return OkStatus();
  });
  return t;
}

// host-backup names the dump after `date +%F--%H-%M-%S` and deletes it
// once tar has read it.
std::string DumpName() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "pool-database-%Y-%m-%d--%H-%M-%S", &tm);
  return buf;
}

Status StreamBackup(const std::string& root, const std::string& dump, httplib::DataSink& sink) {
  std::string dump_path = root + "/var/backup/" + DumpName();
  RETURN_IF_ERROR(MakeDirs(root + "/var/backup"));
  RETURN_IF_ERROR(WriteFileAtomic(dump_path, AsBytes(dump), 0600));
  DataSinkAdapter out(sink);
  Status s = [&]() -> Status {
    ASSIGN_OR_RETURN(auto gz, formats::GzipSink::Create(out));
    RETURN_IF_ERROR(WriteHostTar(root, *gz));
    return gz->Finish();
  }();
  (void)RemoveFile(dump_path);
  return s;
}

void Backup(Sim& sim, const httplib::Request& req, httplib::Response& res) {
  if (RedirectToSrHost(sim, req, res)) return;
  if (!Authenticate(sim, req, res)) return;
  HttpTask task = BeginTask(sim, req, res, "Host backup");
  Target t = Read(sim, req, true);
  res.status = 200;  // as the other handlers: the outcome is in the task
  Result<std::string> root = Error(Code::kInternal, "casulo-sim runs without a state directory");
  if (!sim.state_dir().empty() && !t.host.uuid.empty()) root = EnsureHostRoot(sim.state_dir(), t.host);
  if (!root.ok()) {
    FinishTask(sim, task, XapiError({"BACKUP_SCRIPT_FAILED", root.status().ToString()}));
    return;
  }
  auto shared = std::make_shared<std::pair<std::string, std::string>>(*root, std::move(t.dump));
  res.set_content_provider("application/octet-stream",
                           [&sim, shared, task](size_t, httplib::DataSink& sink) {
                             Status s = StreamBackup(shared->first, shared->second, sink);
                             FinishTask(sim, task,
                                        s.ok() ? Result<XmlRpcValue>(XmlRpcValue(""))
                                               : Result<XmlRpcValue>(XapiError({"BACKUP_SCRIPT_FAILED", s.ToString()})));
                             if (s.ok()) sink.done();
                             return s.ok();
                           });
}

// host-restore: the backup partition is wiped (reformatted on a real host),
// the tarball extracted onto it, a backup of another major version refused,
// and the marker the installer looks for touched.
Status Restore(const HostFacts& host, const std::string& partition, Source& body) {
  std::error_code ec;
  std::filesystem::remove_all(partition, ec);
  RETURN_IF_ERROR(MakeDirs(partition));
  ASSIGN_OR_RETURN(auto gz, formats::GzipSource::Create(body));
  RETURN_IF_ERROR(ExtractTar(*gz, partition));
  auto inventory = ReadFile(partition + "/etc/xensource-inventory");
  if (!inventory.ok()) return Error(Code::kInvalidArgument, "the backup has no etc/xensource-inventory");
  std::string theirs = InventoryValue(
      std::string_view(reinterpret_cast<const char*>(inventory->data()), inventory->size()), "PRODUCT_VERSION");
  auto major = [](const std::string& v) { return v.substr(0, v.find('.')); };
  if (major(theirs) != major(host.product_version))
    return Error(Code::kInvalidArgument,
                 "the backup is of product version {}, this host runs {}: a backup restores only onto "
                 "the same major version",
                 theirs, host.product_version);
  return WriteFileAtomic(partition + "/.xen-backup-partition", {});
}

void RestoreHandler(Sim& sim, const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader& reader) {
  if (RedirectToSrHost(sim, req, res)) return;
  if (!Authenticate(sim, req, res)) return;
  HttpTask task = BeginTask(sim, req, res, "Host restore");
  auto fail = [&](int code, const Status& s) {
    res.status = code;
    FinishTask(sim, task, s);
  };
  // No chunked uploads anywhere in XAPI (§3.1); the codes are /import's and
  // /pool/xmldbdump's.
  if (req.has_header("Transfer-Encoding"))
    return fail(403, XapiError({"RESTORE_SCRIPT_FAILED", "Cannot handle chunked encoding"}));
  if (!req.has_header("Content-Length"))
    return fail(400, XapiError({"RESTORE_SCRIPT_FAILED", "Content-Length required"}));
  Target t = Read(sim, req, false);
  if (sim.state_dir().empty() || t.host.uuid.empty())
    return fail(500, XapiError({"RESTORE_SCRIPT_FAILED", "casulo-sim runs without a state directory"}));
  std::string partition = BackupPartitionPath(sim.state_dir(), t.host.uuid);
  Status result = OkStatus();
  PipeSource pipe;
  std::thread worker([&] {
    result = Restore(t.host, partition, pipe);
    pipe.Abandon();
  });
  (void)reader([&](const char* data, size_t len) { return pipe.Push(data, len); });
  pipe.Close();
  worker.join();
  if (!result.ok()) {
    std::error_code ec;
    std::filesystem::remove_all(partition, ec);  // no marker: nothing to restore from
  }
  res.status = 200;
  FinishTask(sim, task, result.ok() ? Result<XmlRpcValue>(XmlRpcValue(""))
                                    : Result<XmlRpcValue>(XapiError({"RESTORE_SCRIPT_FAILED", result.ToString()})));
}

}  // namespace

void AddHostBackupRoutes(httplib::Server& svr, Sim& sim) {
  svr.Get(R"(/host_backup(/.*)?)",
          [&sim](const httplib::Request& req, httplib::Response& res) { Backup(sim, req, res); });
  svr.Put(R"(/host_restore(/.*)?)",
          [&sim](const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& reader) { RestoreHandler(sim, req, res, reader); });
}

}  // namespace casulo::sim

// The pool played host by host (each on its own loopback address), the 302
// of the data handlers, and /host_backup + /host_restore, against the real
// casulo-sim binary.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "core/testing/sim_process.h"
#include "formats/xmlrpc.h"
#include "sim/host_backup.h"

namespace casulo::sim {
namespace {

namespace fs = std::filesystem;
using formats::XmlRpcValue;

class HostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = std::make_unique<testing::SimProcess>(
        CASULO_SIM_BINARY, std::vector<std::string>{"--state", state(), "--listen", "127.0.0.1:0", "--demo"});
    ASSERT_TRUE(sim_->ok());
    auto login = Call("127.0.0.1", "session.login_with_password", {"root", "casulo"});
    ASSERT_EQ(login.Find("Status")->str(), "Success");
    session_ = login.Find("Value")->str();
  }
  std::string state() const { return dir_.path() + "/state"; }

  XmlRpcValue Call(const std::string& address, const std::string& method, const formats::XmlRpcArray& params) {
    httplib::Client c(address, sim_->port());
    auto res = c.Post("/", formats::PrintMethodCall(method, params), "text/xml");
    EXPECT_TRUE(res) << address;
    if (!res) return {};
    auto r = formats::ParseMethodResponse(res->body);
    EXPECT_TRUE(r.ok()) << res->body;
    return r.ok() ? r->value : XmlRpcValue();
  }
  XmlRpcValue Value(const std::string& method, const formats::XmlRpcArray& params) {
    formats::XmlRpcArray p{XmlRpcValue(session_)};
    p.insert(p.end(), params.begin(), params.end());
    XmlRpcValue v = Call("127.0.0.1", method, p);
    const XmlRpcValue* value = v.Find("Value");
    EXPECT_NE(value, nullptr) << method << ": " << formats::PrintXmlRpcValue(v, formats::XmlRpcStyle::kBare);
    return value != nullptr ? *value : XmlRpcValue();
  }
  // host ref -> record, by address.
  std::map<std::string, XmlRpcValue> HostsByAddress() {
    std::map<std::string, XmlRpcValue> out;
    XmlRpcValue all = Value("host.get_all_records", {});
    for (const auto& [ref, rec] : all.members())
      out[rec.Find("address")->str()] = rec;
    return out;
  }
  // Requests with a session run inside a task of ours, as real clients do: a
  // handler's own task is gone when it ends (XAPI's exec_with_new_task).
  std::string WithTask(const std::string& path) {
    if (path.find("session_id=") == std::string::npos || path.find("task_id=") != std::string::npos) return path;
    return path + "&task_id=" + Value("task.create", {XmlRpcValue("test"), XmlRpcValue("")}).str();
  }
  // GET into a file; returns the status and the task-id header.
  std::pair<int, std::string> Get(const std::string& address, const std::string& raw_path, const std::string& file) {
    std::string path = WithTask(raw_path);
    httplib::Client c(address, sim_->port());
    std::ofstream out(file, std::ios::binary);
    auto res = c.Get(path.c_str(), [&](const char* d, size_t n) {
      out.write(d, std::streamsize(n));
      return true;
    });
    if (!res) return {0, ""};
    return {res->status, res->get_header_value("task-id")};
  }
  int Put(const std::string& address, const std::string& raw_path, const std::string& file, std::string* task) {
    std::string path = WithTask(raw_path);
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    httplib::Client c(address, sim_->port());
    auto res = c.Put(path.c_str(), ss.str(), "application/octet-stream");
    if (!res) return 0;
    *task = res->get_header_value("task-id");
    return res->status;
  }
  std::string TaskStatus(const std::string& task) { return Value("task.get_status", {task}).str(); }

  testing::ScratchDir dir_{"casulo-sim-hosts"};
  std::unique_ptr<testing::SimProcess> sim_;
  std::string session_;
};

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST_F(HostsTest, EveryHostListensAndMembersAnswerHostIsSlave) {
  auto hosts = HostsByAddress();
  ASSERT_EQ(hosts.size(), 3u);
  for (const char* member : {"127.0.0.2", "127.0.0.3"}) {
    ASSERT_TRUE(hosts.count(member)) << member;
    auto r = Call(member, "session.login_with_password", {"root", "casulo"});
    ASSERT_EQ(r.Find("Status")->str(), "Failure") << member;
    const auto& err = r.Find("ErrorDescription")->array();
    ASSERT_EQ(err.size(), 2u);
    EXPECT_EQ(err[0].str(), "HOST_IS_SLAVE");
    EXPECT_EQ(err[1].str(), "127.0.0.1");
  }
  // The management PIF carries the host's address (get_nbd_info reads it).
  for (const auto& [address, rec] : hosts) {
    bool found = false;
    for (const auto& pif : rec.Find("PIFs")->array()) {
      auto p = Value("PIF.get_record", {XmlRpcValue(pif.str())});
      const XmlRpcValue* m = p.Find("management");
      if (m != nullptr && m->b()) found = p.Find("IP")->str() == address;
    }
    EXPECT_TRUE(found) << address;
  }
}

TEST_F(HostsTest, RawExportOfAMemberLocalVdiAtTheMasterIs302ToThatMember) {
  std::string vdi_uuid;
  XmlRpcValue vdis = Value("VDI.get_all_records", {});
  for (const auto& [ref, rec] : vdis.members())
    if (rec.Find("name_label")->str() == "sim-host-2 scratch") vdi_uuid = rec.Find("uuid")->str();
  ASSERT_FALSE(vdi_uuid.empty());
  std::string query = "/export_raw_vdi?session_id=" + session_ + "&vdi=" + vdi_uuid + "&format=raw";
  httplib::Client c("127.0.0.1", sim_->port());
  auto res = c.Get(query.c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 302);
  EXPECT_EQ(res->get_header_value("Location"),
            "http://127.0.0.2:" + std::to_string(sim_->port()) + query);
  // At the member it is served; a shared-SR VDI is served by the master.
  auto [status, task] = Get("127.0.0.2", query, dir_.path() + "/scratch.raw");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(fs::file_size(dir_.path() + "/scratch.raw"), 16u << 20);
  EXPECT_EQ(TaskStatus(task), "success");
}

TEST_F(HostsTest, HostBackupOfEachHostIsAGzipTarWithoutTheExcludedEntries) {
  for (const auto& [address, rec] : HostsByAddress()) {
    std::string file = dir_.path() + "/backup-" + address + ".tgz";
    auto [status, task] = Get(address, "/host_backup?session_id=" + session_, file);
    ASSERT_EQ(status, 200) << address;
    EXPECT_EQ(TaskStatus(task), "success") << address;
    std::string list = Shell("tar -tzf " + file + " 2>&1");
    std::set<std::string> members;
    std::istringstream lines(list);
    for (std::string l; std::getline(lines, l);) members.insert(l);
    for (const char* m : {"./etc/xensource-inventory", "./etc/xensource/pool.conf", "./boot/vmlinuz",
                          "./boot/vmlinuz-4.19.0+1", "./tmp/", "./var/xapi/state.db",
                          "boot/efi/EFI/xenserver/grub.cfg"})
      EXPECT_TRUE(members.count(m)) << address << " lacks " << m << "\n" << list;
    for (const auto& m : members) {
      EXPECT_NE(m.rfind("./tmp/", 0) == 0 && m != "./tmp/", true) << m;
      EXPECT_EQ(m.find("audit"), std::string::npos) << m;
      EXPECT_EQ(m.find("./var/xapi/" + rec.Find("uuid")->str()), std::string::npos) << m;
      EXPECT_NE(m, "./var/crash/vmcore-dmesg.txt");
    }
    EXPECT_EQ(Shell("tar -tzf " + file + " | grep -c '^./var/backup/pool-database-'"), "1\n");
    std::string inventory = Shell("tar -xzOf " + file + " ./etc/xensource-inventory");
    EXPECT_EQ(InventoryValue(inventory, "INSTALLATION_UUID"), rec.Find("uuid")->str());
    std::string pool_conf = Shell("tar -xzOf " + file + " ./etc/xensource/pool.conf");
    EXPECT_EQ(pool_conf, address == "127.0.0.1" ? "master" : "slave:127.0.0.1");
  }
}

// Every entry below `root` (or the backup-partition), as "path type mode
// size-or-target" lines, through `keep`.
std::set<std::string> Tree(const std::string& root, bool (*keep)(const std::string&)) {
  std::set<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = fs::relative(it->path(), root).string();
    if (!keep(rel)) {
      if (it->is_directory() && !it->is_symlink()) it.disable_recursion_pending();
      continue;
    }
    struct stat st {};
    lstat(it->path().c_str(), &st);
    std::string what = S_ISLNK(st.st_mode) ? "-> " + fs::read_symlink(it->path()).string()
                       : S_ISREG(st.st_mode) ? std::to_string(st.st_size) + " " + Shell("sha1sum < '" + it->path().string() + "'")
                                             : "dir";
    out.insert(rel + " " + std::to_string(st.st_mode) + " " + what);
  }
  return out;
}

TEST_F(HostsTest, HostRestoreExtractsTheBackupOntoTheBackupPartition) {
  auto hosts = HostsByAddress();
  std::string uuid = hosts.at("127.0.0.3").Find("uuid")->str();
  std::string file = dir_.path() + "/b3.tgz";
  ASSERT_EQ(Get("127.0.0.3", "/host_backup?session_id=" + session_, file).first, 200);
  std::string task;
  ASSERT_EQ(Put("127.0.0.3", "/host_restore?session_id=" + session_, file, &task), 200);
  EXPECT_EQ(TaskStatus(task), "success");
  std::string partition = state() + "/hosts/" + uuid + "/backup-partition";
  EXPECT_TRUE(fs::exists(partition + "/.xen-backup-partition"));
  auto in_root = Tree(state() + "/hosts/" + uuid + "/root",
                      [](const std::string& rel) { return !ExcludedFromHostBackup(rel); });
  auto restored = Tree(partition, [](const std::string& rel) {
    return rel != ".xen-backup-partition" && rel.rfind("var/backup/pool-database-", 0) != 0;
  });
  EXPECT_GT(in_root.size(), 30u);
  EXPECT_EQ(restored, in_root);
  // The sparse kernel stays sparse.
  struct stat st {};
  ASSERT_EQ(stat((partition + "/boot/vmlinuz-4.19.0+1").c_str(), &st), 0);
  EXPECT_LT(uint64_t(st.st_blocks) * 512, 1u << 20);
}

TEST_F(HostsTest, HostRestoreRefusesABackupOfAnotherMajorVersion) {
  std::string file = dir_.path() + "/b1.tgz";
  ASSERT_EQ(Get("127.0.0.1", "/host_backup?session_id=" + session_, file).first, 200);
  // Rewritten by GNU tar itself (its own sparse and long-name encoding).
  std::string x = dir_.path() + "/x";
  fs::create_directories(x);
  Shell("tar -xzf " + file + " -C " + x + " && sed -i \"s/^PRODUCT_VERSION=.*/PRODUCT_VERSION='7.1.0'/\" " + x +
      "/etc/xensource-inventory && tar --sparse -czf " + dir_.path() + "/old.tgz -C " + x + " .");
  std::string task;
  ASSERT_EQ(Put("127.0.0.1", "/host_restore?session_id=" + session_, dir_.path() + "/old.tgz", &task), 200);
  EXPECT_EQ(TaskStatus(task), "failure");
  XmlRpcValue error = Value("task.get_error_info", {task});
  const auto& info = error.array();
  ASSERT_EQ(info.size(), 2u);
  EXPECT_EQ(info[0].str(), "RESTORE_SCRIPT_FAILED");
  EXPECT_NE(info[1].str().find("7.1.0"), std::string::npos) << info[1].str();
  std::string uuid = HostsByAddress().at("127.0.0.1").Find("uuid")->str();
  EXPECT_FALSE(fs::exists(state() + "/hosts/" + uuid + "/backup-partition/.xen-backup-partition"));
  // Unchanged, GNU tar's archive restores.
  Shell("sed -i \"s/^PRODUCT_VERSION=.*/PRODUCT_VERSION='8.2.0'/\" " + x + "/etc/xensource-inventory && tar --sparse -czf " +
      dir_.path() + "/same.tgz -C " + x + " .");
  ASSERT_EQ(Put("127.0.0.1", "/host_restore?session_id=" + session_, dir_.path() + "/same.tgz", &task), 200);
  EXPECT_EQ(TaskStatus(task), "success");
  EXPECT_TRUE(fs::exists(state() + "/hosts/" + uuid + "/backup-partition/.xen-backup-partition"));
}

TEST_F(HostsTest, HostRestoreRefusesChunkedUploads) {
  httplib::Client c("127.0.0.1", sim_->port());
  auto res = c.Put(WithTask("/host_restore?session_id=" + session_).c_str(),
                   [](size_t, httplib::DataSink& sink) {
                     sink.write("abc", 3);
                     sink.done();
                     return true;
                   },
                   "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(TaskStatus(res->get_header_value("task-id")), "failure");
}

}  // namespace
}  // namespace casulo::sim

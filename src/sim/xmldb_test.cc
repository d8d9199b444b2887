// The XML database dump: the pure writer/parser round trip and the restore
// checks on a demo store, then GET/PUT /pool/xmldbdump and GET
// /export_metadata on the real binary (curl on loopback).
#include "sim/xmldb.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "core/file.h"
#include "core/testing/sim_process.h"
#include "formats/xmlrpc.h"
#include "formats/xva_reader.h"
#include "sim/demo.h"

namespace casulo::sim {
namespace {

using formats::XmlRpcArray;
using formats::XmlRpcValue;

std::string ErrorCode(const Result<Json>& r) {
  return r.ok() || r.status().remote().empty() ? "" : r.status().remote()[0];
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(XmlDb, DumpParsesBackToTheSameRecords) {
  Store st;
  BuildDemoPool(st, "citrix-8.2");
  std::string vm = st.Objects("VM").begin()->first;
  XmlRpcValue* rec = st.Mutate("VM", vm);
  rec->Set("name_label", "a b%c\td\ne <&>\"q\" 'x' back\\slash");
  rec->Set("other_config", XmlRpcValue(formats::XmlRpcStruct{{"k y", "v'%z"}, {"e", ""}}));
  rec->Set("tags", XmlRpcValue(XmlRpcArray{XmlRpcValue("t 1"), XmlRpcValue("(t2)")}));
  st.Create("session", {});

  std::string xml = DumpPoolDatabase(st);
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?><database><manifest>", 0), 0u);
  EXPECT_NE(xml.find("<pair key=\"schema_minor_vsn\" value=\"601\"/>"), std::string::npos);
  EXPECT_NE(xml.find(" name__label=\""), std::string::npos);
  EXPECT_NE(xml.find(" memory__static_max=\""), std::string::npos);
  EXPECT_NE(xml.find(" API_version__major=\""), std::string::npos);
  EXPECT_NE(xml.find("<table name=\"session\"></table>"), std::string::npos);
  EXPECT_NE(xml.find("<table name=\"secret\"><row "), std::string::npos);
  EXPECT_NE(xml.find("tags=\"('t%.1'%.'(t2)')\""), std::string::npos);
  EXPECT_NE(xml.find("(('k%.y'%.'v\\'%%z')%.('e'%.''))"), std::string::npos);

  auto parsed = ParsePoolDatabase(xml);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->schema_major, 5);
  EXPECT_EQ(parsed->schema_minor, 601);
  EXPECT_EQ(parsed->generation, st.generation());
  EXPECT_TRUE(parsed->tables["session"].empty());
  size_t rows = 0;
  for (const auto& [cls, table] : st.tables()) {
    if (cls == "session" || cls == "task") continue;
    ASSERT_EQ(parsed->tables[cls].size(), table.size()) << cls;
    for (const auto& [ref, obj] : table) {
      const DumpRow& row = parsed->tables[cls][ref];
      EXPECT_EQ(row.record, obj.record) << cls << " " << ref;
      EXPECT_EQ(row.ctime, obj.created);
      EXPECT_EQ(row.mtime, obj.modified);
      ++rows;
    }
  }
  EXPECT_GT(rows, 50u);
}

TEST(XmlDb, SchemaVersionFollowsTheProduct) {
  for (auto [product, minor] : {std::pair{"xenserver-6.5", 72}, {"xenserver-7.1", 108},
                                {"citrix-8.2", 601}, {"xcp-ng-8.3", 779}}) {
    Store st;
    BuildDemoPool(st, product);
    EXPECT_EQ(SchemaMinorVsn(st), minor) << product;
  }
}

TEST(XmlDb, ParserRefusesWhatXapiRefuses) {
  Store st;
  BuildDemoPool(st, "xcp-ng-8.3");
  std::string xml = DumpPoolDatabase(st);
  auto bad_col = ParsePoolDatabase(Replace(xml, " name__label=", " colour=\"red\" name__label="));
  ASSERT_FALSE(bad_col.ok());
  EXPECT_NE(bad_col.status().ToString().find("Unexpected column in table"), std::string::npos);
  // The un-namespaced spelling is not a column either.
  EXPECT_FALSE(ParsePoolDatabase(Replace(xml, " name__label=", " name_label=")).ok());
  EXPECT_FALSE(ParsePoolDatabase(Replace(xml, "<row ref=", "<row xref=")).ok());
  EXPECT_FALSE(ParsePoolDatabase(xml.substr(0, xml.size() / 2)).ok());
  EXPECT_FALSE(ParsePoolDatabase(Replace(xml, "<table name=\"VM\">", "<table name=\"VMX\">")).ok());
  // Unknown but empty tables (XAPI has classes we do not model) are fine.
  EXPECT_TRUE(ParsePoolDatabase(Replace(xml, "</database>", "<table name=\"VGPU\"/></database>")).ok());
}

TEST(XmlDb, RestoreChecks) {
  Store st;
  BuildDemoPool(st, "citrix-8.2");
  std::string xml = DumpPoolDatabase(st);
  auto restore = [&](const std::string& text) {
    auto p = ParsePoolDatabase(text);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return PrepareRestore(st, std::move(*p));
  };
  auto ok = restore(xml);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  // Only the master and its PIFs remain of the hosts.
  EXPECT_EQ((*ok)["objects"]["host"].size(), 1u);
  EXPECT_EQ((*ok)["objects"]["PIF"].size(), 4u);
  EXPECT_EQ((*ok)["this_host"], st.this_host);

  EXPECT_EQ(ErrorCode(restore(Replace(xml, "value=\"601\"", "value=\"602\""))),
            "RESTORE_INCOMPATIBLE_VERSION");
  // A physical device this host lacks.
  std::string eth7 = xml;
  for (size_t at; (at = eth7.find("device=\"eth1\"")) != std::string::npos;)
    eth7.replace(at, 13, "device=\"eth7\"");
  auto missing = restore(eth7);
  EXPECT_EQ(ErrorCode(missing), "RESTORE_TARGET_MISSING_DEVICE");
  if (!missing.ok()) {
    EXPECT_EQ(missing.status().remote().at(1), "eth7");
  }
  // The management device (bond0 on the master) absent from the backup.
  std::string no_mgmt = xml;
  for (size_t at; (at = no_mgmt.find("device=\"bond0\"")) != std::string::npos;)
    no_mgmt.replace(at, 14, "device=\"bond9\"");
  auto r = restore(no_mgmt);
  ASSERT_EQ(ErrorCode(r), "RESTORE_TARGET_MGMT_IF_NOT_IN_BACKUP");
  EXPECT_GE(r.status().remote().size(), 2u);
}

std::string Shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class XmlDbSim : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("CASULO_SIM_DB_RESTORE_DELAY_MS", "200", 1);
    sim_ = std::make_unique<testing::SimProcess>(
        CASULO_SIM_BINARY,
        std::vector<std::string>{"--state", dir_.path(), "--listen", "127.0.0.1:0", "--demo"});
    ASSERT_TRUE(sim_->ok());
    Login();
  }
  void Login() { session_ = Call("session.login_with_password", {"root", "casulo"}).str(); }
  // As in handlers_test.cc: requests with a session run inside our own task.
  std::string Url(const std::string& path) {
    std::string p = path;
    if (p.find("session_id=") != std::string::npos && p.find("task_id=") == std::string::npos)
      p += "&task_id=" + S("task.create", {"test", ""}).str();
    return "'" + sim_->url() + p + "'";
  }
  XmlRpcValue Call(std::string_view method, XmlRpcArray params) {
    std::string req = dir_.path() + "/req.xml";
    EXPECT_TRUE(WriteFileAtomic(req, AsBytes(formats::PrintMethodCall(method, params))).ok());
    auto r = formats::ParseMethodResponse(Shell("curl -sS --data-binary @" + req + " " + Url("/")));
    if (!r.ok() || r->value.Find("Status")->str() != "Success") {
      ADD_FAILURE() << method << " failed";
      return XmlRpcValue();
    }
    return *r->value.Find("Value");
  }
  XmlRpcValue S(std::string_view m, XmlRpcArray p) {
    p.insert(p.begin(), XmlRpcValue(session_));
    return Call(m, std::move(p));
  }
  static std::string TaskOf(const std::string& headers) {
    size_t at = headers.find("task-id: ");
    return at == std::string::npos ? "" : headers.substr(at + 9, headers.find('\r', at) - at - 9);
  }
  testing::ScratchDir dir_{"casulo-xmldb"};
  std::unique_ptr<testing::SimProcess> sim_;
  std::string session_;
};

TEST_F(XmlDbSim, DumpThenRestore) {
  std::string file = dir_.path() + "/dump.xml";
  std::string headers =
      Shell("curl -sS -D - -o " + file + " " + Url("/pool/xmldbdump?session_id=" + session_));
  EXPECT_NE(headers.find("200 OK"), std::string::npos) << headers;
  EXPECT_EQ(headers.find("Content-Length"), std::string::npos) << headers;
  EXPECT_EQ(S("task.get_status", {TaskOf(headers)}).str(), "success");
  auto bytes = ReadFile(file);
  ASSERT_TRUE(bytes.ok());
  std::string xml(AsChars(*bytes));
  ASSERT_TRUE(ParsePoolDatabase(xml).ok());
  EXPECT_NE(xml.find("demo-sr-password"), std::string::npos);

  // Without Content-Length (chunked upload): 400.
  headers = Shell("curl -sS -D - -o /dev/null -X PUT -H 'Transfer-Encoding: chunked' --data-binary @" +
                  file + " " + Url("/pool/xmldbdump?dry_run=true&session_id=" + session_));
  EXPECT_NE(headers.find(" 400 "), std::string::npos) << headers;

  // A dry run changes nothing; a real one replaces the state after the delay.
  std::string vm = S("VM.get_by_name_label", {"alpine-halted"}).array()[0].str();
  headers = Shell("curl -sS -D - -o /dev/null -T " + file + " " +
                  Url("/pool/xmldbdump?dry_run=true&session_id=" + session_));
  EXPECT_EQ(S("task.get_status", {TaskOf(headers)}).str(), "success");
  S("VM.destroy", {vm});
  EXPECT_TRUE(S("VM.get_by_name_label", {"alpine-halted"}).array().empty());
  headers = Shell("curl -sS -D - -o /dev/null -T " + file + " " +
                  Url("/pool/xmldbdump?dry_run=false&session_id=" + session_));
  EXPECT_EQ(S("task.get_status", {TaskOf(headers)}).str(), "success");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  Login();  // the restored database has no sessions
  ASSERT_EQ(S("VM.get_by_name_label", {"alpine-halted"}).array().size(), 1u);
  EXPECT_EQ(S("VM.get_by_name_label", {"alpine-halted"}).array()[0].str(), vm);

  // A wrong schema version fails the task with XAPI's code.
  std::string other = Replace(xml, "value=\"601\"", "value=\"72\"");
  ASSERT_TRUE(WriteFileAtomic(file, AsBytes(other)).ok());
  headers = Shell("curl -sS -D - -o /dev/null -T " + file + " " +
                  Url("/pool/xmldbdump?dry_run=true&session_id=" + session_));
  std::string task = TaskOf(headers);
  EXPECT_EQ(S("task.get_status", {task}).str(), "failure");
  EXPECT_EQ(S("task.get_error_info", {task}).array().at(0).str(), "RESTORE_INCOMPATIBLE_VERSION");
}

TEST_F(XmlDbSim, ExportMetadataWithSnapshots) {
  std::string vm = S("VM.get_by_name_label", {"debian-web"}).array()[0].str();
  S("VM.snapshot", {vm, "nightly"});
  std::string file = dir_.path() + "/meta.xva";
  std::string headers = Shell("curl -sS -D - -o " + file + " " +
                              Url("/export_metadata?session_id=" + session_ + "&ref=" + vm));
  EXPECT_NE(headers.find("Content-Length: "), std::string::npos) << headers;
  EXPECT_EQ(S("task.get_status", {TaskOf(headers)}).str(), "success");
  auto f = File::OpenRead(file);
  ASSERT_TRUE(f.ok());
  FileSource src(&*f);
  formats::XvaReaderOptions ro;
  ro.require_all_disks = false;  // metadata only: ova.xml names disks it does not carry
  auto reader = formats::XvaReader::Open(src, ro);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const formats::OvaXml& ova = *(*reader)->ova();
  EXPECT_TRUE(formats::ValidateOvaXml(ova).ok());
  EXPECT_EQ(formats::Vms(ova).size(), 2u);
  auto primary = formats::PrimaryVm(ova);
  ASSERT_TRUE(primary.ok());
  EXPECT_EQ((*primary)->snapshot.Find("snapshots")->array().size(), 1u);
  EXPECT_EQ(formats::OvaObjectsOfClass(ova, "VDI").size(), 4u);  // 2 disks + 2 snapshot disks
  auto end = (*reader)->NextDisk();  // nothing but ova.xml
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_EQ(*end, nullptr);

  // No snapshots, no VIFs.
  headers = Shell("curl -sS -o " + file + " " +
                  Url("/export_metadata?session_id=" + session_ + "&ref=" + vm +
                      "&export_snapshots=false&excluded_device_types=vif"));
  auto f2 = File::OpenRead(file);
  ASSERT_TRUE(f2.ok());
  FileSource src2(&*f2);
  auto r2 = formats::XvaReader::Open(src2);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(formats::Vms(*(*r2)->ova()).size(), 1u);
  EXPECT_TRUE(formats::OvaObjectsOfClass(*(*r2)->ova(), "VIF").empty());
  EXPECT_EQ(formats::OvaObjectsOfClass(*(*r2)->ova(), "VBD").size(), 3u);  // 2 disks + CD
}

}  // namespace
}  // namespace casulo::sim

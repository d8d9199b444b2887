// The dispatcher as a pure function: request body in, response body out.
#include <gtest/gtest.h>

#include "formats/xmlrpc.h"
#include "sim/demo.h"
#include "sim/sim.h"

namespace casulo::sim {
namespace {

using formats::ParseMethodResponse;
using formats::PrintMethodCall;

class DispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Sim::Open("");
    ASSERT_TRUE(s.ok());
    sim_ = std::move(*s);
    BuildDemoPool(sim_->store(), "citrix-8.2");
    sim_->SetUser("root", "casulo");
  }
  // One XML-RPC round trip; returns the envelope struct.
  XmlRpcValue Xml(std::string_view method, XmlRpcArray params) {
    HttpReply r = sim_->HandleXmlRpc(PrintMethodCall(method, params));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/xml");
    auto resp = ParseMethodResponse(r.body);
    EXPECT_TRUE(resp.ok()) << r.body;
    return resp.ok() ? resp->value : XmlRpcValue();
  }
  std::string Login() {
    XmlRpcValue v = Xml("session.login_with_password", {"root", "casulo"});
    return v.Find("Value")->str();
  }
  static std::vector<std::string> Failure(const XmlRpcValue& env) {
    EXPECT_EQ(env.Find("Status")->str(), "Failure");
    std::vector<std::string> out;
    for (const auto& e : env.Find("ErrorDescription")->array()) out.push_back(e.str());
    return out;
  }
  std::unique_ptr<Sim> sim_;
};

TEST_F(DispatchTest, LoginAcceptsTwoThreeOrFourParams) {
  for (XmlRpcArray p : {XmlRpcArray{"root", "casulo"}, XmlRpcArray{"root", "casulo", "1.1"},
                        XmlRpcArray{"root", "casulo", "2.15", "casulo-test"}}) {
    XmlRpcValue env = Xml("session.login_with_password", p);
    EXPECT_EQ(env.Find("Status")->str(), "Success");
    EXPECT_EQ(env.Find("Value")->str().rfind("OpaqueRef:", 0), 0u);
  }
  EXPECT_EQ(Failure(Xml("session.login_with_password", {"root", "casulo", "1", "o", "x"})),
            (std::vector<std::string>{"MESSAGE_PARAMETER_COUNT_MISMATCH",
                                      "session.login_with_password", "2", "5"}));
  EXPECT_EQ(Failure(Xml("session.login_with_password", {"root", "wrong"})),
            (std::vector<std::string>{"SESSION_AUTHENTICATION_FAILED", "root",
                                      "Authentication failure"}));
}

TEST_F(DispatchTest, SessionRulesAndLogout) {
  std::string s = Login();
  EXPECT_EQ(Xml("pool.get_all", {s}).Find("Value")->array().size(), 1u);
  EXPECT_EQ(Xml("session.get_this_host", {s, s}).Find("Value")->str(), sim_->store().this_host);
  EXPECT_EQ(Xml("session.logout", {s}).Find("Value")->str(), "");
  EXPECT_EQ(Failure(Xml("pool.get_all", {s})),
            (std::vector<std::string>{"SESSION_INVALID", s}));
}

TEST_F(DispatchTest, UnknownMethodAndArity) {
  std::string s = Login();
  EXPECT_EQ(Failure(Xml("VM.frobnicate", {s})),
            (std::vector<std::string>{"MESSAGE_METHOD_UNKNOWN", "VM.frobnicate"}));
  EXPECT_EQ(Failure(Xml("VM.set_uuid", {s, "x", "y"}))[0], "MESSAGE_METHOD_UNKNOWN");
  EXPECT_EQ(Failure(Xml("session.get_all", {s}))[0], "MESSAGE_METHOD_UNKNOWN");
  EXPECT_EQ(Failure(Xml("VM.get_record", {s})),
            (std::vector<std::string>{"MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"}));
  EXPECT_EQ(Failure(Xml("VM.get_record", {s, "OpaqueRef:nope"})),
            (std::vector<std::string>{"HANDLE_INVALID", "VM", "OpaqueRef:nope"}));
  EXPECT_EQ(Failure(Xml("VM.get_by_uuid", {s, "00000000-0000-0000-0000-000000000000"}))[0],
            "UUID_INVALID");
}

TEST_F(DispatchTest, RecordsGettersAndWireTypes) {
  std::string s = Login();
  XmlRpcValue all = *Xml("VM.get_all_records", {s}).Find("Value");
  ASSERT_TRUE(all.is_struct());
  EXPECT_EQ(all.members().size(), 8u);  // 3 dom0s, 4 guests, 1 template
  std::string vm;
  for (const auto& [ref, rec] : all.members())
    if (rec.Find("name_label")->str() == "alpine-halted") vm = ref;
  ASSERT_FALSE(vm.empty());
  EXPECT_EQ(Xml("VM.get_power_state", {s, vm}).Find("Value")->str(), "Halted");
  EXPECT_EQ(Xml("VM.get_by_name_label", {s, "alpine-halted"}).Find("Value")->array(),
            (XmlRpcArray{XmlRpcValue(vm)}));
  // XAPI's wire types: ints as bare strings, <boolean>, datetimes, NULL refs.
  std::string body = sim_->HandleXmlRpc(PrintMethodCall("VM.get_record", {s, vm})).body;
  EXPECT_NE(body.find("<name>memory_static_max</name><value>2147483648</value>"), std::string::npos);
  EXPECT_NE(body.find("<name>is_a_template</name><value><boolean>0</boolean></value>"), std::string::npos);
  EXPECT_NE(body.find("<dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601>"), std::string::npos);
  EXPECT_NE(body.find("<name>snapshot_of</name><value>OpaqueRef:NULL</value>"), std::string::npos);

  EXPECT_EQ(Xml("VM.set_name_label", {s, vm, "renamed"}).Find("Status")->str(), "Success");
  EXPECT_EQ(Xml("VM.get_name_label", {s, vm}).Find("Value")->str(), "renamed");
  EXPECT_EQ(Xml("VM.add_to_other_config", {s, vm, "k", "v"}).Find("Status")->str(), "Success");
  EXPECT_EQ(Failure(Xml("VM.add_to_other_config", {s, vm, "k", "w"})),
            (std::vector<std::string>{"MAP_DUPLICATE_KEY", "VM", "other_config", vm, "k"}));
  EXPECT_EQ(Xml("VM.remove_from_other_config", {s, vm, "k"}).Find("Status")->str(), "Success");
  EXPECT_TRUE(Xml("VM.get_other_config", {s, vm}).Find("Value")->members().empty());
  EXPECT_EQ(Failure(Xml("VM.set_is_a_template", {s, vm, "true"}))[0], "FIELD_TYPE_ERROR");
}

TEST_F(DispatchTest, JsonRpcV1AndV2Envelopes) {
  HttpReply r = sim_->HandleJsonRpc(
      R"({"method":"session.login_with_password","params":["root","casulo"],"id":7})");
  Json v1 = Json::parse(r.body);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_TRUE(v1["error"].is_null());
  EXPECT_EQ(v1["id"], 7);
  std::string s = v1["result"];
  Json v2 = Json::parse(sim_->HandleJsonRpc(
      Json{{"jsonrpc", "2.0"}, {"method", "host.get_all_records"}, {"params", {s}}, {"id", "x"}}.dump()).body);
  EXPECT_EQ(v2["jsonrpc"], "2.0");
  EXPECT_FALSE(v2.contains("error"));
  const Json& host = v2["result"].begin().value();
  EXPECT_TRUE(host["API_version_major"].is_number_integer());  // a number in JSON
  EXPECT_EQ(host["API_version_minor"], 15);
  Json e2 = Json::parse(sim_->HandleJsonRpc(
      R"({"jsonrpc":"2.0","method":"VM.get_record","params":["bad"],"id":1})").body);
  EXPECT_EQ(e2["error"], (Json{{"code", 1}, {"message", "MESSAGE_PARAMETER_COUNT_MISMATCH"},
                               {"data", {"VM.get_record", "1", "0"}}}));
  Json e1 = Json::parse(sim_->HandleJsonRpc(R"({"method":"pool.get_all","params":["bad"],"id":1})").body);
  EXPECT_TRUE(e1["result"].is_null());
  EXPECT_EQ(e1["error"], (Json{"SESSION_INVALID", "bad"}));
}

TEST_F(DispatchTest, AsyncCallLeavesResultInTask) {
  std::string s = Login();
  std::string task = Xml("Async.pool.sync_database", {s}).Find("Value")->str();
  XmlRpcValue rec = *Xml("task.get_record", {s, task}).Find("Value");
  EXPECT_EQ(rec.Find("status")->str(), "success");
  EXPECT_EQ(rec.Find("result")->str(), "<value></value>");
  EXPECT_EQ(Failure(Xml("Async.VM.get_all", {s}))[0], "MESSAGE_METHOD_UNKNOWN");
  EXPECT_EQ(Xml("task.destroy", {s, task}).Find("Status")->str(), "Success");
  EXPECT_EQ(Failure(Xml("task.get_record", {s, task}))[0], "HANDLE_INVALID");
}

TEST_F(DispatchTest, ListMethodsAndSlave) {
  XmlRpcValue m = *Xml("system.listMethods", {}).Find("Value");
  bool found = false;
  for (const auto& e : m.array()) found |= e.str() == "VM.get_all_records";
  EXPECT_TRUE(found);
  // Play a pool member: logins are refused with the master's address.
  for (const auto& [ref, obj] : sim_->store().Objects("host"))
    if (ref != sim_->store().this_host) {
      sim_->store().this_host = ref;
      break;
    }
  EXPECT_EQ(Failure(Xml("session.login_with_password", {"root", "casulo"})),
            (std::vector<std::string>{"HOST_IS_SLAVE", "10.0.0.1"}));
}

TEST_F(DispatchTest, MalformedBodyIsHttp500Html) {
  HttpReply r = sim_->HandleXmlRpc("<methodCall><oops");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.content_type, "text/html");
  EXPECT_EQ(sim_->HandleJsonRpc("{\"method\":\"x\",\"params\":[],\"id\":null}").status, 500);
  EXPECT_EQ(sim_->HandleJsonRpc("not json").status, 500);
}

}  // namespace
}  // namespace casulo::sim

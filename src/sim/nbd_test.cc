// VDI.get_nbd_info through the dispatcher (xapi-protocol.md §2.4), with the
// NBD service's endpoints faked (SetNbdEndpointsForTest).
#include <gtest/gtest.h>

#include <set>

#include "sim/demo.h"
#include "sim/nbd_service.h"
#include "sim/sim.h"

namespace casulo::sim {
namespace {

class NbdInfoTest : public ::testing::Test {
 protected:
  void Open(std::string_view product) {
    auto s = Sim::Open("");
    ASSERT_TRUE(s.ok());
    sim_ = std::move(*s);
    BuildDemoPool(sim_->store(), product);
    sim_->SetUser("root", "casulo");
    auto login = sim_->Call("session.login_with_password", {"root", "casulo"});
    ASSERT_TRUE(login.ok());
    session_ = login->str();
  }
  void SetUp() override { Open("citrix-8.2"); }
  void TearDown() override { SetNbdEndpointsForTest(std::nullopt); }

  // Every PIF IP served at 127.0.0.1:10809, as the service does for IPs
  // that are not local.
  void FakeService() {
    NbdEndpoints ep;
    ep.port = 10809;
    ep.cert_pem = "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n";
    for (const auto& [ref, pif] : sim_->store().Objects("PIF"))
      if (!pif.record.Find("IP")->str().empty()) ep.address_of[pif.record.Find("IP")->str()] = "127.0.0.1";
    SetNbdEndpointsForTest(ep);
  }
  std::string VdiNamed(std::string_view name) {
    for (const auto& [ref, o] : sim_->store().Objects("VDI"))
      if (o.record.Find("name_label")->str() == name) return ref;
    ADD_FAILURE() << "no VDI " << name;
    return {};
  }
  Result<XmlRpcValue> Info(const std::string& vdi) {
    return sim_->Call("VDI.get_nbd_info", {session_, vdi});
  }
  std::unique_ptr<Sim> sim_;
  std::string session_;
};

TEST_F(NbdInfoTest, OneRecordPerNbdPifOfEveryHostSeeingTheSr) {
  FakeService();
  std::string vdi = VdiNamed("debian-web disk 1");  // on the shared NFS SR
  auto r = Info(vdi);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->array().size(), 3u);  // 3 hosts, one bond PIF each on the nbd network
  std::string uuid = sim_->store().Find("VDI", vdi)->Find("uuid")->str();
  std::set<std::string> subjects;
  for (const auto& e : r->array()) {
    EXPECT_EQ(e.Find("exportname")->str(), "/" + uuid + "?session_id=" + session_);
    EXPECT_EQ(e.Find("address")->str(), "127.0.0.1");
    EXPECT_EQ(e.Find("port")->i(), 10809);
    EXPECT_NE(e.Find("cert")->str().find("BEGIN CERTIFICATE"), std::string::npos);
    subjects.insert(e.Find("subject")->str());
  }
  EXPECT_EQ(subjects, (std::set<std::string>{"sim-host-1", "sim-host-2", "sim-host-3"}));
  // The local LVM SR is plugged on the first host only.
  auto local = Info(VdiNamed("win2019 disk 0"));
  ASSERT_TRUE(local.ok());
  ASSERT_EQ(local->array().size(), 1u);
  EXPECT_EQ(local->array()[0].Find("subject")->str(), "sim-host-1");
}

TEST_F(NbdInfoTest, EmptyWithoutServiceOrWithoutNbdNetwork) {
  std::string vdi = VdiNamed("debian-web disk 1");
  auto none = Info(vdi);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->array().empty());
  FakeService();
  for (const auto& [ref, net] : sim_->store().Objects("network"))
    sim_->store().Mutate("network", ref)->Set("purpose", XmlRpcValue(XmlRpcArray{}));
  auto r = Info(vdi);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->array().empty());
}

TEST_F(NbdInfoTest, Errors) {
  FakeService();
  std::string vdi = VdiNamed("debian-web disk 1");
  sim_->store().Mutate("VDI", vdi)->Set("type", XmlRpcValue("cbt_metadata"));
  EXPECT_EQ(Info(vdi).status().remote(),
            (std::vector<std::string>{"VDI_INCOMPATIBLE_TYPE", vdi, "cbt_metadata"}));
  EXPECT_EQ(Info("OpaqueRef:nope").status().remote(),
            (std::vector<std::string>{"HANDLE_INVALID", "VDI", "OpaqueRef:nope"}));
  EXPECT_EQ(sim_->Call("VDI.get_nbd_info", {session_}).status().remote()[0],
            "MESSAGE_PARAMETER_COUNT_MISMATCH");
  EXPECT_EQ(sim_->Call("VDI.get_nbd_info", {"OpaqueRef:bad", vdi}).status().remote()[0],
            "SESSION_INVALID");
}

TEST_F(NbdInfoTest, UnknownBefore73) {
  for (std::string_view product : {"xenserver-6.5", "xenserver-7.1"}) {
    Open(product);
    FakeService();
    EXPECT_EQ(Info(VdiNamed("debian-web disk 1")).status().remote(),
              (std::vector<std::string>{"MESSAGE_METHOD_UNKNOWN", "VDI.get_nbd_info"}));
  }
  Open("xcp-ng-8.3");
  FakeService();
  EXPECT_TRUE(Info(VdiNamed("debian-web disk 1")).ok());
}

}  // namespace
}  // namespace casulo::sim

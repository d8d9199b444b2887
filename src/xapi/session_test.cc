#include "xapi/session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_transport_test.h"

namespace casulo::xapi {
namespace {

using ::testing::ElementsAre;
using testing::FakeTransport;
using testing::Script;

struct Fixture {
  std::shared_ptr<Script> script = std::make_shared<Script>();
  std::vector<std::string> connected;  // addresses the factory was asked for
  std::unique_ptr<Session> session;

  explicit Fixture(bool with_factory = true) {
    SessionOptions o;
    if (with_factory) {
      o.connect_to_host = [this](std::string_view addr) -> Result<std::unique_ptr<RpcTransport>> {
        connected.emplace_back(addr);
        return std::unique_ptr<RpcTransport>(new FakeTransport(script, "https://" + std::string(addr)));
      };
    }
    session = std::make_unique<Session>(std::make_unique<FakeTransport>(script, "https://member"), o);
  }
};

TEST(SessionTest, LoginSendsFourParamsWithOriginator) {
  Fixture f;
  f.script->Ok("OpaqueRef:s1");
  ASSERT_TRUE(f.session->Login("root", "pw").ok());
  EXPECT_EQ(f.session->ref(), "OpaqueRef:s1");
  EXPECT_EQ(f.session->login_params(), 4);
  const auto& p = f.script->calls[0].params;
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].str(), "root");
  EXPECT_EQ(p[2].str(), "1.1");
  EXPECT_THAT(p[3].str(), ::testing::StartsWith("casulo/"));
}

TEST(SessionTest, LoginFallsBackToThreeThenTwoParams) {
  Fixture f;
  f.script->Fail({"MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", "3", "4"});
  f.script->Fail({"MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", "2", "3"});
  f.script->Ok("OpaqueRef:s1");
  ASSERT_TRUE(f.session->Login("root", "pw").ok());
  ASSERT_EQ(f.script->calls.size(), 3u);
  EXPECT_EQ(f.script->calls[0].params.size(), 4u);
  EXPECT_EQ(f.script->calls[1].params.size(), 3u);
  EXPECT_EQ(f.script->calls[2].params.size(), 2u);
  EXPECT_EQ(f.session->login_params(), 2);
}

TEST(SessionTest, WrongPasswordIsKAuthAndDoesNotShowThePassword) {
  Fixture f;
  f.script->Fail({"SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"});
  Status s = f.session->Login("root", "s3cret");
  EXPECT_EQ(s.code(), Code::kAuth);
  EXPECT_EQ(XapiCode(s), "SESSION_AUTHENTICATION_FAILED");
  EXPECT_EQ(s.ToString().find("s3cret"), std::string::npos);
  EXPECT_FALSE(f.session->logged_in());
}

TEST(SessionTest, HostIsSlaveReconnectsToTheMasterOnce) {
  Fixture f;
  f.script->Fail({"HOST_IS_SLAVE", "10.0.0.1"});
  f.script->Ok("OpaqueRef:s1");
  ASSERT_TRUE(f.session->Login("root", "pw").ok());
  EXPECT_THAT(f.connected, ElementsAre("10.0.0.1"));
  EXPECT_THAT(f.script->urls, ElementsAre("https://member", "https://10.0.0.1"));
  EXPECT_EQ(f.session->url(), "https://10.0.0.1");

  Fixture g;  // a second HOST_IS_SLAVE is not followed
  g.script->Fail({"HOST_IS_SLAVE", "10.0.0.1"});
  g.script->Fail({"HOST_IS_SLAVE", "10.0.0.2"});
  Status s = g.session->Login("root", "pw");
  EXPECT_EQ(XapiCode(s), "HOST_IS_SLAVE");
  EXPECT_EQ(g.connected.size(), 1u);

  Fixture h(/*with_factory=*/false);
  h.script->Fail({"HOST_IS_SLAVE", "10.0.0.1"});
  EXPECT_EQ(XapiCode(h.session->Login("root", "pw")), "HOST_IS_SLAVE");
}

TEST(SessionTest, CallPrependsTheSessionAndReloginsOnceOnSessionInvalid) {
  Fixture f;
  f.script->Fail({"MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", "2", "4"});
  f.script->Ok("OpaqueRef:s1");
  ASSERT_TRUE(f.session->Login("root", "pw").ok());
  f.script->Ok(XmlRpcArray{"OpaqueRef:vm"});
  auto all = f.session->Call("VM.get_all");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(f.script->calls.back().params[0].str(), "OpaqueRef:s1");

  f.script->Fail({"SESSION_INVALID", "OpaqueRef:s1"});
  f.script->Ok("OpaqueRef:s2");  // re-login starts from the 3 params that worked
  f.script->Ok("vm-a");
  auto name = f.session->Call("VM.get_name_label", {"OpaqueRef:vm"});
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  EXPECT_EQ(name->str(), "vm-a");
  EXPECT_EQ(f.session->ref(), "OpaqueRef:s2");
  size_t n = f.script->calls.size();
  EXPECT_EQ(f.script->calls[n - 2].params.size(), 3u);
  EXPECT_EQ(f.script->calls[n - 1].params[0].str(), "OpaqueRef:s2");
  EXPECT_EQ(f.script->calls[n - 1].params[1].str(), "OpaqueRef:vm");

  // Only once: a second SESSION_INVALID after the re-login is returned.
  f.script->Fail({"SESSION_INVALID", "OpaqueRef:s2"});
  f.script->Ok("OpaqueRef:s3");
  f.script->Fail({"SESSION_INVALID", "OpaqueRef:s3"});
  EXPECT_EQ(XapiCode(f.session->Call("VM.get_all").status()), "SESSION_INVALID");
}

TEST(SessionTest, LogoutAndDestructor) {
  Fixture f;
  f.script->Ok("OpaqueRef:s1");
  ASSERT_TRUE(f.session->Login("root", "pw").ok());
  f.script->Ok("");
  EXPECT_TRUE(f.session->Logout().ok());
  EXPECT_FALSE(f.session->logged_in());
  EXPECT_EQ(f.script->calls.back().method, "session.logout");
  EXPECT_EQ(f.script->calls.back().params[0].str(), "OpaqueRef:s1");

  f.script->Ok("OpaqueRef:s2");
  ASSERT_TRUE(f.session->Login("root", "pw").ok());
  f.script->Fail({"SESSION_INVALID", "OpaqueRef:s2"});  // expired: still fine
  f.session.reset();
  EXPECT_EQ(f.script->calls.back().method, "session.logout");
  EXPECT_TRUE(f.script->answers.empty());
}

TEST(SessionTest, CallWithoutLoginIsABug) {
  Fixture f;
  EXPECT_EQ(f.session->Call("VM.get_all").status().code(), Code::kInternal);
}

}  // namespace
}  // namespace casulo::xapi

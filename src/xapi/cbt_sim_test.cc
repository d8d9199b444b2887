// Our client against casulo-sim's CBT methods: the XAPI error codes and
// params the backup flow branches on (xapi-protocol.md §2.4, §5, §7.4) reach
// Session::Call intact, over XML-RPC and JSON-RPC, and products without CBT
// answer MESSAGE_METHOD_UNKNOWN (§6).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/testing/sim_process.h"
#include "xapi/rpc.h"
#include "xapi/session.h"
#include "xapi/transport.h"

namespace casulo::xapi {
namespace {

using V = std::vector<std::string>;

struct Pool {
  testing::ScratchDir dir;
  testing::SimProcess sim;
  std::unique_ptr<Session> session;

  Pool(const std::string& product, Protocol protocol)
      : dir("casulo-xapi-cbt-" + product),
        sim(CASULO_SIM_BINARY, {"--state", dir.path(), "--listen", "127.0.0.1:0", "--demo",
                                "--product", product}) {
    if (!sim.ok()) return;
    auto t = NewCurlRpcTransport(Endpoint{sim.url(), {}});
    if (!t.ok()) return;
    SessionOptions opts;
    opts.protocol = protocol;
    session = std::make_unique<Session>(std::move(*t), opts);
    if (!session->Login("root", "casulo").ok()) session.reset();
  }
  std::string Str(std::string_view method, XmlRpcArray params) {
    auto r = session->Call(method, std::move(params));
    EXPECT_TRUE(r.ok()) << method << ": " << r.status().ToString();
    return r.ok() && r->is_string() ? r->str() : "";
  }
  // Disk userdevice 0 of the named VM.
  std::string Disk0(const std::string& name) {
    auto vms = session->Call("VM.get_by_name_label", {name});
    if (!vms.ok() || vms->array().empty()) return "";
    auto vbds = session->Call("VM.get_VBDs", {vms->array()[0]});
    if (!vbds.ok()) return "";
    for (const auto& vbd : vbds->array())
      if (Str("VBD.get_userdevice", {vbd}) == "0") return Str("VBD.get_VDI", {vbd});
    return "";
  }
  std::string Vm(const std::string& name) {
    auto vms = session->Call("VM.get_by_name_label", {name});
    return vms.ok() && !vms->array().empty() ? vms->array()[0].str() : "";
  }
};

// The ErrorDescription of a call that must fail with a XAPI error.
V Remote(Session& s, std::string_view method, XmlRpcArray params) {
  auto r = s.Call(method, std::move(params));
  EXPECT_FALSE(r.ok()) << method << " succeeded";
  if (r.ok()) return {};
  EXPECT_EQ(r.status().code(), Code::kRemote);
  EXPECT_EQ(XapiCode(r.status()), r.status().remote().empty() ? "" : r.status().remote()[0]);
  return r.status().remote();
}

class CbtSimTest : public ::testing::TestWithParam<Protocol> {};

TEST_P(CbtSimTest, ErrorCodesAndParamsReachTheClient) {
  Pool p("citrix-8.2", GetParam());
  ASSERT_TRUE(p.session);
  Session& s = *p.session;
  std::string leaf = p.Disk0("debian-db");
  ASSERT_FALSE(leaf.empty());
  EXPECT_EQ(Remote(s, "VDI.data_destroy", {leaf}),
            (V{"OPERATION_NOT_ALLOWED", "VDI is not a snapshot: " + leaf}));
  std::string plain = p.Str("VDI.snapshot", {leaf});
  EXPECT_EQ(Remote(s, "VDI.data_destroy", {plain}), (V{"VDI_NO_CBT_METADATA", plain}));
  EXPECT_EQ(Remote(s, "VDI.enable_cbt", {plain}),
            (V{"OPERATION_NOT_ALLOWED", "VDI is a snapshot: " + plain}));

  p.Str("VDI.enable_cbt", {leaf});
  auto enabled = s.Call("VDI.get_cbt_enabled", {leaf});
  ASSERT_TRUE(enabled.ok());
  EXPECT_TRUE(enabled->b());
  std::string snap_vm = p.Str("VM.snapshot", {p.Vm("debian-db"), "xo-backup-temp-snapshot-name"});
  auto vbds = s.Call("VM.get_VBDs", {snap_vm});
  ASSERT_TRUE(vbds.ok());
  std::string base;
  for (const auto& vbd : vbds->array())
    if (p.Str("VBD.get_type", {vbd}) == "Disk") base = p.Str("VBD.get_VDI", {vbd});
  ASSERT_FALSE(base.empty());
  EXPECT_EQ(Remote(s, "VDI.data_destroy", {base}), (V{"VDI_IN_USE", base, "data_destroy"}));
  EXPECT_EQ(Remote(s, "VDI.list_changed_blocks", {base, base}),
            (V{"SR_BACKEND_FAILURE_460", "",
               "Failed to calculate changed blocks for given VDIs. [opterr=Source and target VDI "
               "are same]",
               ""}));
  EXPECT_EQ(Remote(s, "VDI.list_changed_blocks", {plain, base})[0], "SR_BACKEND_FAILURE_460");

  // XO's purge: destroy the snapshot VM, then data_destroy the VDI.
  p.Str("VM.destroy", {snap_vm});
  p.Str("VDI.data_destroy", {base});
  EXPECT_EQ(p.Str("VDI.get_type", {base}), "cbt_metadata");
  EXPECT_EQ(Remote(s, "VDI.snapshot", {base}), (V{"VDI_INCOMPATIBLE_TYPE", base, "cbt_metadata"}));
  std::string next = p.Str("VDI.snapshot", {leaf});
  std::string bitmap = p.Str("VDI.list_changed_blocks", {base, next});
  // 256 MiB = 4096 blocks of 64 KiB = 512 bytes = 684 base64 characters.
  EXPECT_EQ(bitmap.size(), 684u);
  EXPECT_EQ(bitmap.substr(0, 8), "AAAAAAAA");  // nothing written in between
}

TEST_P(CbtSimTest, ProductsWithoutCbtDoNotKnowTheMethods) {
  Pool p("xenserver-7.1", GetParam());
  ASSERT_TRUE(p.session);
  std::string leaf = p.Disk0("debian-db");
  for (const char* m : {"VDI.enable_cbt", "VDI.disable_cbt", "VDI.data_destroy"}) {
    auto r = p.session->Call(m, {leaf});
    EXPECT_TRUE(IsXapiError(r.status(), "MESSAGE_METHOD_UNKNOWN")) << m;
    EXPECT_EQ(r.status().remote(), (V{"MESSAGE_METHOD_UNKNOWN", m}));
  }
  auto r = p.session->Call("VDI.list_changed_blocks", {leaf, leaf});
  EXPECT_EQ(r.status().remote(), (V{"MESSAGE_METHOD_UNKNOWN", "VDI.list_changed_blocks"}));
}

INSTANTIATE_TEST_SUITE_P(Protocols, CbtSimTest,
                         ::testing::Values(Protocol::kXmlRpc, Protocol::kJsonRpcV1,
                                           Protocol::kJsonRpcV2),
                         [](const auto& info) {
                           return info.param == Protocol::kXmlRpc     ? "XmlRpc"
                                  : info.param == Protocol::kJsonRpcV1 ? "JsonRpcV1"
                                                                       : "JsonRpcV2";
                         });

}  // namespace
}  // namespace casulo::xapi

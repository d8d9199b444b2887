// Our client against casulo-sim playing every pool host on its own loopback
// address: HOST_IS_SLAVE sends the login to the master, and a transfer of a
// VDI on a member's local SR follows the master's 302 to that member.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>

#include "core/file.h"
#include "core/testing/sim_process.h"
#include "xapi/session.h"
#include "xapi/transport.h"

namespace casulo::xapi {
namespace {

class StringSink final : public Sink {
 public:
  Status Write(ByteSpan data) override {
    out.append(reinterpret_cast<const char*>(data.data()), data.size());
    return OkStatus();
  }
  uint64_t position() const override { return out.size(); }
  std::string out;
};

struct SimPool : ::testing::Test {
  void SetUp() override {
    sim = std::make_unique<testing::SimProcess>(
        CASULO_SIM_BINARY, std::vector<std::string>{"--state", dir.path(), "--listen", "127.0.0.1:0", "--demo"});
    ASSERT_TRUE(sim->ok());
  }
  std::unique_ptr<Session> Connect(const std::string& address) {
    Endpoint ep{"http://" + address + ":" + std::to_string(sim->port()), {}};
    auto t = NewCurlRpcTransport(ep);
    EXPECT_TRUE(t.ok());
    SessionOptions opts;
    opts.connect_to_host = [ep](std::string_view host) { return NewCurlRpcTransport(EndpointForHost(ep, host)); };
    return std::make_unique<Session>(std::move(*t), opts);
  }
  testing::ScratchDir dir{"casulo-xapi-simpool"};
  std::unique_ptr<testing::SimProcess> sim;
};

TEST_F(SimPool, LoginAtAMemberEndsOnTheMaster) {
  auto s = Connect("127.0.0.3");
  ASSERT_TRUE(s->Login("root", "casulo").ok());
  EXPECT_EQ(s->url(), "http://127.0.0.1:" + std::to_string(sim->port()));
  auto pool = s->Call("pool.get_all");
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
}

TEST_F(SimPool, RawExportFollowsTheRedirectToTheMemberThatSeesTheSr) {
  auto s = Connect("127.0.0.1");
  ASSERT_TRUE(s->Login("root", "casulo").ok());
  auto vdis = s->Call("VDI.get_all_records");
  ASSERT_TRUE(vdis.ok()) << vdis.status().ToString();
  std::string uuid;
  for (const auto& [ref, rec] : vdis->members())
    if (rec.Find("name_label")->str() == "sim-host-2 scratch") uuid = rec.Find("uuid")->str();
  ASSERT_FALSE(uuid.empty());
  // Recognisable bytes in the VDI's file (the simulator reads it per request).
  std::string data(16 << 20, '\0');
  std::mt19937 rng(7);
  for (size_t i = 0; i < (1 << 20); ++i) data[i * 13 % data.size()] = char(rng());
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/vdi/" + uuid + ".img", AsBytes(data)).ok());
  StringSink sink;
  Endpoint master{"http://127.0.0.1:" + std::to_string(sim->port()), {}};
  auto r = HttpGet(master, "/export_raw_vdi?session_id=" + s->ref() + "&vdi=" + uuid + "&format=raw", sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->http_status, 200);
  EXPECT_EQ(r->final_url.rfind("http://127.0.0.2:", 0), 0u) << r->final_url;
  EXPECT_TRUE(sink.out == data);
}

}  // namespace
}  // namespace casulo::xapi

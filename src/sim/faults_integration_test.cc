// Faults and statistics on the real binary: the control endpoint, the
// `casulo-sim fault` command, a GET and a PUT dropped mid-body (connection
// reset, task failed as XAPI's would be), a slowed transfer that still
// completes, and the byte counts of GET /casulo-sim/stats.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "core/testing/sim_process.h"
#include "formats/xmlrpc.h"
#include "sim/value_json.h"

namespace casulo::sim {
namespace {

using formats::XmlRpcArray;
using formats::XmlRpcValue;
using testing::ScratchDir;
using testing::SimProcess;

class FaultsOnBinary : public ::testing::Test {
 protected:
  FaultsOnBinary()
      : dir_("casulo-sim-faults"),
        sim_(CASULO_SIM_BINARY,
             {"--state", dir_.path(), "--listen", "127.0.0.1:0", "--demo"}),
        http_(sim_.host(), sim_.port()) {}
  void SetUp() override {
    ASSERT_TRUE(sim_.ok());
    session_ = Rpc("session.login_with_password", {XmlRpcValue("root"), XmlRpcValue("casulo")}).str();
    XmlRpcValue vdis = Rpc("VDI.get_all_records", {XmlRpcValue(session_)});
    for (const auto& [ref, rec] : vdis.members()) {
      // On a shared SR: a member-local VDI is answered with a 302 (the
      // demo's second host has one).
      XmlRpcValue shared = Rpc("SR.get_shared", {XmlRpcValue(session_), *rec.Find("SR")});
      if (shared.type() != XmlRpcValue::Type::kBool || !shared.b()) continue;
      // XAPI sends ints as strings in XML-RPC (reference §1.2).
      int64_t size = std::stoll(rec.Find("virtual_size")->str());
      if (size > 0 && (vdi_size_ == 0 || size < vdi_size_)) vdi_ = ref, vdi_size_ = size;
    }
    ASSERT_FALSE(vdi_.empty());
  }
  XmlRpcValue Rpc(const std::string& method, const XmlRpcArray& params) {
    auto res = http_.Post("/", formats::PrintMethodCall(method, params), "text/xml");
    EXPECT_TRUE(res) << method;
    if (!res) return {};
    auto r = formats::ParseMethodResponse(res->body);
    EXPECT_TRUE(r.ok()) << res->body;
    const XmlRpcValue* v = r.ok() ? r->value.Find("Value") : nullptr;
    return v ? *v : XmlRpcValue();
  }
  std::string NewTask() {
    return Rpc("task.create", {XmlRpcValue(session_), XmlRpcValue("t"), XmlRpcValue("")}).str();
  }
  // The task once it has left `pending` (a reset reaches the client before
  // the handler records the outcome).
  XmlRpcValue TaskRecord(const std::string& task) {
    XmlRpcValue rec;
    for (int i = 0; i < 500; ++i) {
      rec = Rpc("task.get_record", {XmlRpcValue(session_), XmlRpcValue(task)});
      const XmlRpcValue* s = rec.Find("status");
      if (s == nullptr || s->str() != "pending") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return rec;
  }
  std::string Query(const std::string& task) {
    return "?session_id=" + session_ + "&vdi=" + vdi_ + "&task_id=" + task;
  }
  Json Stats() { return Json::parse(http_.Get("/casulo-sim/stats")->body); }
  int FaultCommand(const std::string& args) {
    std::string cmd = std::string(CASULO_SIM_BINARY) + " fault --state " + dir_.path() + " " + args +
                      " > /dev/null 2>&1";
    int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }

  ScratchDir dir_;
  SimProcess sim_;
  httplib::Client http_;
  std::string session_, vdi_;
  int64_t vdi_size_ = 0;
};

TEST_F(FaultsOnBinary, ControlEndpointArmsListsRefusesAndClears) {
  auto bad = http_.Post("/casulo-sim/faults", "snapshot-fails\nnonsense\n", "text/plain");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("nonsense"), std::string::npos);
  auto ok = http_.Post("/casulo-sim/faults", "snapshot-fails:2\nslow:/export:1M\n", "text/plain");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  Json armed = Json::parse(http_.Get("/casulo-sim/faults")->body)["faults"];
  ASSERT_EQ(armed.size(), 2u);
  EXPECT_EQ(armed[0], "error:VM.snapshot:2:SR_BACKEND_FAILURE_44,,There is insufficient space,");
  ASSERT_TRUE(http_.Delete("/casulo-sim/faults"));
  EXPECT_TRUE(Json::parse(http_.Get("/casulo-sim/faults")->body)["faults"].empty());
}

TEST_F(FaultsOnBinary, FaultCommandReadsTheEndpointFileAndArms) {
  EXPECT_EQ(FaultCommand("snapshot-fails:1 expire-sessions"), 0);
  EXPECT_EQ(Json::parse(http_.Get("/casulo-sim/faults")->body)["faults"].size(), 2u);
  EXPECT_NE(FaultCommand("no-such-fault"), 0);
  EXPECT_EQ(FaultCommand("--clear"), 0);
  EXPECT_TRUE(Json::parse(http_.Get("/casulo-sim/faults")->body)["faults"].empty());
  // The session GET above made no RPC: the old session is still valid.
  EXPECT_TRUE(Rpc("pool.get_all", {XmlRpcValue(session_)}).is_array());
}

TEST_F(FaultsOnBinary, DroppedExportResetsTheConnectionAndFailsTheTask) {
  constexpr uint64_t kDrop = 1 << 20;
  ASSERT_EQ(FaultCommand("drop:/export_raw_vdi:" + std::to_string(kDrop)), 0);
  std::string task = NewTask();
  uint64_t got = 0;
  auto res = http_.Get("/export_raw_vdi" + Query(task), [&](const char*, size_t n) {
    got += n;
    return true;
  });
  EXPECT_FALSE(res && got == uint64_t(vdi_size_)) << "a whole body arrived";
  EXPECT_LE(got, kDrop);
  // The reset can reach us before the handler records the outcome.
  XmlRpcValue t = TaskRecord(task);
  for (int i = 0; i < 200 && t.Find("status") && t.Find("status")->str() == "pending"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    t = TaskRecord(task);
  }
  ASSERT_NE(t.Find("status"), nullptr);
  EXPECT_EQ(t.Find("status")->str(), "failure");
  ASSERT_NE(t.Find("error_info"), nullptr);
  ASSERT_FALSE(t.Find("error_info")->array().empty());
  EXPECT_EQ(t.Find("error_info")->array()[0].str(), "VDI_IO_ERROR");
  Json http = Stats()["http"]["/export_raw_vdi"];
  EXPECT_EQ(http["requests"], 1);
  EXPECT_EQ(http["bytes_sent"], kDrop);
  // Used once: the next export is whole and counted.
  std::string task2 = NewTask();
  auto whole = http_.Get("/export_raw_vdi" + Query(task2));
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->body.size(), uint64_t(vdi_size_));
  EXPECT_EQ(Stats()["http"]["/export_raw_vdi"]["bytes_sent"], kDrop + uint64_t(vdi_size_));
}

TEST_F(FaultsOnBinary, DroppedImportFailsTheTaskAndCountsBytesReceived) {
  constexpr uint64_t kDrop = 256 << 10;
  ASSERT_EQ(FaultCommand("drop:/import_raw_vdi:" + std::to_string(kDrop)), 0);
  std::string task = NewTask();
  std::string body(4 << 20, 'x');
  auto res = http_.Put("/import_raw_vdi" + Query(task), body, "application/octet-stream");
  EXPECT_FALSE(res && res->status == 200);
  XmlRpcValue t = TaskRecord(task);
  EXPECT_EQ(t.Find("status")->str(), "failure");
  EXPECT_EQ(t.Find("error_info")->array()[0].str(), "VDI_IO_ERROR");
  EXPECT_EQ(Stats()["http"]["/import_raw_vdi"]["bytes_received"], kDrop);
}

TEST_F(FaultsOnBinary, SlowedExportStillDeliversTheWholeBody) {
  // 64 MiB/s: the smallest demo disk takes well under a second.
  ASSERT_EQ(FaultCommand("slow:/export_raw_vdi:64M"), 0);
  std::string task = NewTask();
  auto res = http_.Get("/export_raw_vdi" + Query(task));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body.size(), uint64_t(vdi_size_));
  EXPECT_EQ(TaskRecord(task).Find("status")->str(), "success");
  EXPECT_EQ(Json::parse(http_.Get("/casulo-sim/faults")->body)["faults"][0],
            "slow:/export_raw_vdi:67108864");
}

}  // namespace
}  // namespace casulo::sim

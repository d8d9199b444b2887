// The restore sequence of xapi-protocol.md §7.5 (XO's importIncrementalVm)
// with our client against the real casulo-sim: VM.create, start blocked,
// VDI.create, VBD.create, PUT /import_raw_vdi, VIF.create, unblock, start.
#include <gtest/gtest.h>

#include <string>

#include "core/file.h"
#include "core/testing/sim_process.h"
#include "xapi/session.h"
#include "xapi/transfer.h"

namespace casulo::xapi {
namespace {

using casulo::testing::ScratchDir;
using casulo::testing::SimProcess;

XmlRpcValue S(std::string s) { return XmlRpcValue(std::move(s)); }

TEST(VmOpsSim, RestoreSequenceWritesTheDiskAndStartsTheVm) {
  ScratchDir dir("casulo-vmops");
  SimProcess sim(CASULO_SIM_BINARY, {"--state", dir.path(), "--listen", "127.0.0.1:0", "--demo"});
  ASSERT_TRUE(sim.ok());
  Endpoint ep;
  ep.url = sim.url();
  auto t = NewCurlRpcTransport(ep);
  ASSERT_TRUE(t.ok());
  Session s(std::move(*t), SessionOptions{});
  ASSERT_TRUE(s.Login("root", "casulo").ok());

  auto pools = s.Call("pool.get_all_records");
  ASSERT_TRUE(pools.ok());
  std::string sr = pools->members().at(0).second.Find("default_SR")->str();
  auto nets = s.Call("network.get_by_name_label", {S("Bond 0+1")});
  ASSERT_TRUE(nets.ok() && nets->array().size() == 1);
  std::string net = nets->array()[0].str();

  // 1. The VM, kept from starting while its disks are written. XAPI ignores
  // blocked_operations in VM.create, so it is set afterwards, as XO does.
  XmlRpcStruct blocked{{"start", S("Importing…")}, {"start_on", S("Importing…")}};
  auto vm = s.Call("VM.create", {XmlRpcStruct{{"name_label", S("[Importing…] web")},
                                              {"memory_static_max", XmlRpcValue(int64_t(1) << 30)},
                                              {"VCPUs_max", XmlRpcValue(2)},
                                              {"HVM_boot_policy", S("BIOS order")},
                                              {"blocked_operations", XmlRpcValue(blocked)}}});
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  XmlRpcValue vmref = *vm;
  ASSERT_TRUE(s.Call("VM.set_blocked_operations", {vmref, XmlRpcValue(blocked)}).ok());
  auto early = s.Call("VM.start", {vmref, XmlRpcValue(false), XmlRpcValue(false)});
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().remote(),
            (std::vector<std::string>{"OPERATION_BLOCKED", vmref.str(), "Importing…"}));

  // 2. The disk and its VBD.
  const int64_t size = 6 << 20;
  auto vdi = s.Call("VDI.create", {XmlRpcStruct{{"name_label", S("web disk 0")}, {"SR", S(sr)},
                                                {"virtual_size", XmlRpcValue(size)},
                                                {"type", S("user")}, {"sharable", XmlRpcValue(false)},
                                                {"read_only", XmlRpcValue(false)},
                                                {"other_config", XmlRpcValue(XmlRpcStruct{})}}});
  ASSERT_TRUE(vdi.ok()) << vdi.status().ToString();
  auto vbd = s.Call("VBD.create", {XmlRpcStruct{{"VM", vmref}, {"VDI", *vdi}, {"userdevice", S("0")},
                                                {"bootable", XmlRpcValue(true)}, {"mode", S("RW")},
                                                {"type", S("Disk")}, {"empty", XmlRpcValue(false)},
                                                {"unpluggable", XmlRpcValue(true)},
                                                {"other_config", XmlRpcValue(XmlRpcStruct{})}}});
  ASSERT_TRUE(vbd.ok()) << vbd.status().ToString();

  // 3. The data: a pattern with a zero gap in the middle.
  Bytes data(size, uint8_t{0});
  for (int64_t i = 0; i < size; ++i)
    if (i < (2 << 20) || i >= (4 << 20)) data[i] = static_cast<uint8_t>(i * 7 + (i >> 12));
  MemorySource src(data);
  HandlerOptions o;
  o.wait.poll_interval = std::chrono::milliseconds(20);
  auto up = Upload(s, ep, {"/import_raw_vdi", {{"vdi", vdi->str()}, {"format", "raw"}}}, src,
                   data.size(), o);
  ASSERT_TRUE(up.ok()) << up.status().ToString();

  // 4. The network interface, MAC generated from the VM's mac_seed.
  auto vif = s.Call("VIF.create", {XmlRpcStruct{{"VM", vmref}, {"network", S(net)}, {"device", S("0")},
                                                {"MAC", S("")}, {"MTU", XmlRpcValue(1500)},
                                                {"other_config", XmlRpcValue(XmlRpcStruct{})}}});
  ASSERT_TRUE(vif.ok()) << vif.status().ToString();

  // 5. Name and blocked operations restored; the VM starts.
  ASSERT_TRUE(s.Call("VM.set_name_label", {vmref, S("web")}).ok());
  ASSERT_TRUE(s.Call("VM.remove_from_blocked_operations", {vmref, S("start")}).ok());
  ASSERT_TRUE(s.Call("VM.remove_from_blocked_operations", {vmref, S("start_on")}).ok());
  auto start = s.Call("VM.start", {vmref, XmlRpcValue(false), XmlRpcValue(false)});
  ASSERT_TRUE(start.ok()) << start.status().ToString();

  auto rec = s.Call("VM.get_record", {vmref});
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->Find("power_state")->str(), "Running");
  EXPECT_EQ(rec->Find("VBDs")->array(), (XmlRpcArray{*vbd}));
  EXPECT_EQ(rec->Find("VIFs")->array(), (XmlRpcArray{*vif}));
  auto attached = s.Call("VBD.get_currently_attached", {*vbd});
  ASSERT_TRUE(attached.ok());
  EXPECT_TRUE(attached->b());
  auto vdi_vbds = s.Call("VDI.get_VBDs", {*vdi});
  ASSERT_TRUE(vdi_vbds.ok());
  EXPECT_EQ(vdi_vbds->array(), (XmlRpcArray{*vbd}));
  auto mac = s.Call("VIF.get_MAC", {*vif});
  ASSERT_TRUE(mac.ok());
  EXPECT_EQ(mac->str().size(), 17u);

  auto uuid = s.Call("VDI.get_uuid", {*vdi});
  ASSERT_TRUE(uuid.ok());
  auto file = ReadFile(dir.path() + "/vdi/" + uuid->str() + ".img");
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(file->size(), data.size());
  EXPECT_TRUE(*file == data);
}

}  // namespace
}  // namespace casulo::xapi

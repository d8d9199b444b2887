// VBD.create/destroy/plug/unplug and VIF.create/destroy through the
// dispatcher, with the back-references they keep (xapi-protocol.md §2.3,
// §2.5, §7.5).
#include "ops_test_fixture.h"

namespace casulo::sim {
namespace {

using VbdVif = SimOpsTest;

XmlRpcStruct Vif(const std::string& vm, const std::string& net, std::string device, std::string mac) {
  return {{"VM", XmlRpcValue(vm)}, {"network", XmlRpcValue(net)}, {"device", XmlRpcValue(device)},
          {"MAC", XmlRpcValue(mac)}, {"MTU", XmlRpcValue(9000)}};
}

TEST_F(VbdVif, VbdCreateChecksAndLinks) {
  std::string vm = NewVm(), vdi = NewVdi();
  auto r = NewVbd(vm, vdi, "0", {{"currently_attached", XmlRpcValue(true)}, {"device", XmlRpcValue("xvdz")}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string vbd = r->str();
  EXPECT_TRUE(Has("VM", vm, "VBDs", vbd));
  EXPECT_TRUE(Has("VDI", vdi, "VBDs", vbd));
  EXPECT_EQ(Str("VBD", vbd, "userdevice"), "0");
  EXPECT_EQ(Str("VBD", vbd, "device"), "") << "kept only for Suspended VMs";
  EXPECT_FALSE(Rec("VBD", vbd).Find("currently_attached")->b());
  EXPECT_TRUE(Rec("VBD", vbd).Find("bootable")->b());

  std::string vdi2 = NewVdi();
  EXPECT_EQ(ErrorDescription(NewVbd(vm, vdi2, "0").status()), (Desc{"DEVICE_ALREADY_EXISTS", "0"}));
  EXPECT_EQ(ErrorDescription(NewVbd(vm, vdi2, "xvda").status()), (Desc{"DEVICE_ALREADY_EXISTS", "xvda"}));
  EXPECT_EQ(ErrorDescription(NewVbd(vm, vdi2, "foo").status()), (Desc{"INVALID_DEVICE", "foo"}));
  auto auto_vbd = NewVbd(vm, vdi2, "autodetect");
  ASSERT_TRUE(auto_vbd.ok());
  EXPECT_EQ(Str("VBD", auto_vbd->str(), "userdevice"), "1");
  auto devices = Call("VM.get_allowed_VBD_devices", {vm});
  ASSERT_TRUE(devices.ok());
  EXPECT_EQ(devices->array()[0].str(), "2");

  std::string vdi3 = NewVdi();
  EXPECT_EQ(ErrorDescription(NewVbd("OpaqueRef:novm", vdi3, "5").status()),
            (Desc{"HANDLE_INVALID", "VM", "OpaqueRef:novm"}));
  EXPECT_EQ(ErrorDescription(NewVbd(vm, "OpaqueRef:novdi", "5").status()),
            (Desc{"HANDLE_INVALID", "VDI", "OpaqueRef:novdi"}));
  EXPECT_EQ(ErrorDescription(NewVbd(vm, vdi3, "5", {{"type", XmlRpcValue("CD")}}).status()),
            (Desc{"VBD_CDS_MUST_BE_READONLY"}));
  EXPECT_EQ(ErrorDescription(NewVbd(vm, vdi3, "5", {{"empty", XmlRpcValue(true)}}).status()),
            (Desc{"VBD_NOT_REMOVABLE_MEDIA", "in constructor"}));
  sim_->store().Mutate("VDI", vdi3)->Set("read_only", XmlRpcValue(true));
  EXPECT_EQ(ErrorDescription(NewVbd(vm, vdi3, "5").status()), (Desc{"VDI_READONLY", vdi3}));
  sim_->store().Mutate("VDI", vdi3)->Set("type", XmlRpcValue("cbt_metadata"));
  EXPECT_EQ(ErrorDescription(NewVbd(vm, vdi3, "5", {{"mode", XmlRpcValue("RO")}}).status()),
            (Desc{"VDI_INCOMPATIBLE_TYPE", vdi3, "cbt_metadata"}));
  auto cd = NewVbd(vm, std::string(kNullRef), "3",
                   {{"type", XmlRpcValue("CD")}, {"mode", XmlRpcValue("RO")}, {"empty", XmlRpcValue(true)}});
  ASSERT_TRUE(cd.ok()) << cd.status().ToString();
  EXPECT_EQ(Str("VBD", cd->str(), "VDI"), kNullRef);
  sim_->store().Mutate("VM", vm)->Set(
      "current_operations", XmlRpcValue(XmlRpcStruct{{"OpaqueRef:t", XmlRpcValue("pool_migrate")}}));
  EXPECT_EQ(ErrorDescription(NewVbd(vm, NewVdi(), "6").status()),
            (Desc{"OTHER_OPERATION_IN_PROGRESS", "VM", vm, "pool_migrate", "OpaqueRef:t"}));
}

TEST_F(VbdVif, PlugUnplugAndDestroy) {
  std::string vm = NewVm(), vdi = NewVdi();
  std::string vbd = NewVbd(vm, vdi, "0")->str();
  EXPECT_EQ(Err("VBD.plug", {vbd}), (Desc{"VM_BAD_POWER_STATE", vm, "running", "halted"}));
  Ok("VM.start", {vm, false, false});
  EXPECT_TRUE(Rec("VBD", vbd).Find("currently_attached")->b());
  EXPECT_EQ(Str("VBD", vbd, "device"), "xvda");
  EXPECT_EQ(Err("VBD.plug", {vbd}), (Desc{"DEVICE_ALREADY_ATTACHED", vbd}));
  EXPECT_EQ(Err("VBD.destroy", {vbd}),
            (Desc{"OPERATION_NOT_ALLOWED", "VBD '" + Str("VBD", vbd, "uuid") + "' still attached to '" +
                                               Str("VM", vm, "uuid") + "'"}));
  Ok("Async.VBD.unplug", {vbd});
  EXPECT_FALSE(Rec("VBD", vbd).Find("currently_attached")->b());
  EXPECT_EQ(Err("VBD.unplug", {vbd}), (Desc{"DEVICE_ALREADY_DETACHED", vbd}));

  // Another running VM holds the VDI read-write: the plug is refused.
  std::string other = NewVm("other");
  std::string vbd2 = NewVbd(other, vdi, "0")->str();
  Ok("VM.start", {other, false, false});
  EXPECT_TRUE(Rec("VBD", vbd2).Find("currently_attached")->b());
  EXPECT_EQ(Err("VBD.plug", {vbd}), (Desc{"VDI_IN_USE", vdi}));
  Ok("VBD.unplug", {vbd2});
  Ok("VBD.plug", {vbd});
  EXPECT_TRUE(Rec("VBD", vbd).Find("currently_attached")->b());

  Ok("VBD.set_unpluggable", {vbd, false});
  EXPECT_EQ(Err("VBD.unplug", {vbd}), (Desc{"VBD_NOT_UNPLUGGABLE", vbd}));
  Ok("VM.hard_shutdown", {vm});
  Ok("VBD.destroy", {vbd});
  EXPECT_EQ(sim_->store().Find("VBD", vbd), nullptr);
  EXPECT_FALSE(Has("VM", vm, "VBDs", vbd));
  EXPECT_FALSE(Has("VDI", vdi, "VBDs", vbd));
  EXPECT_TRUE(Has("VDI", vdi, "VBDs", vbd2));
  EXPECT_EQ(Err("VBD.destroy", {vbd}), (Desc{"HANDLE_INVALID", "VBD", vbd}));

  std::string web = VmNamed("debian-web");  // HVM, with an empty CD on 3
  std::string cd;
  for (const auto& v : Rec("VM", web).Find("VBDs")->array())
    if (Str("VBD", v.str(), "type") == "CD") cd = v.str();
  EXPECT_EQ(Err("VBD.plug", {cd}),
            (Desc{"OPERATION_NOT_ALLOWED", "HVM CDROMs cannot be hotplugged/unplugged, only inserted or ejected"}));
}

TEST_F(VbdVif, VifCreateGeneratesXapiMacsAndChecksDevices) {
  std::string vm = NewVm();
  Ok("VM.remove_from_other_config", {vm, "mac_seed"});
  Ok("VM.add_to_other_config", {vm, "mac_seed", "c0ffee00-0000-4000-8000-000000000001"});
  std::string net = Named("network", "Bond 0+1");
  std::string vif0 = Ok("VIF.create", {Vif(vm, net, "0", "")});
  std::string vif1 = Ok("Async.VIF.create", {Vif(vm, net, "1", "")});
  vif1 = Rec("VM", vm).Find("VIFs")->array().at(1).str();
  // xapi_vif_helpers.ml gen_mac over this seed (computed independently).
  EXPECT_EQ(Str("VIF", vif0, "MAC"), "96:dc:1a:a4:29:d2");
  EXPECT_EQ(Str("VIF", vif1, "MAC"), "8e:da:81:e2:24:ee");
  EXPECT_TRUE(Rec("VIF", vif0).Find("MAC_autogenerated")->b());
  EXPECT_EQ(Rec("VIF", vif0).Find("MTU")->i(), 9000);
  EXPECT_TRUE(Has("VM", vm, "VIFs", vif0));
  EXPECT_TRUE(Has("network", net, "VIFs", vif0));
  std::string kept = Ok("VIF.create", {Vif(vm, net, "2", "AA:BB:CC:00:11:22")});
  EXPECT_EQ(Str("VIF", kept, "MAC"), "AA:BB:CC:00:11:22");
  EXPECT_FALSE(Rec("VIF", kept).Find("MAC_autogenerated")->b());

  EXPECT_EQ(Err("VIF.create", {Vif(vm, net, "0", "")}), (Desc{"DEVICE_ALREADY_EXISTS", "0"}));
  EXPECT_EQ(Err("VIF.create", {Vif(vm, net, "eth0", "")}), (Desc{"INVALID_DEVICE", "eth0"}));
  EXPECT_EQ(Err("VIF.create", {Vif(vm, net, "5", "aa:bb")}), (Desc{"MAC_INVALID", "aa:bb"}));
  EXPECT_EQ(Err("VIF.create", {Vif(vm, "OpaqueRef:nonet", "5", "")}),
            (Desc{"HANDLE_INVALID", "network", "OpaqueRef:nonet"}));
  EXPECT_EQ(Err("VIF.create", {Vif("OpaqueRef:novm", net, "5", "")}),
            (Desc{"HANDLE_INVALID", "VM", "OpaqueRef:novm"}));
  // Demo VMs were not made by VM.create: no mac_seed, so "" stays invalid.
  EXPECT_EQ(Err("VIF.create", {Vif(VmNamed("alpine-halted"), net, "5", "")}), (Desc{"MAC_INVALID", ""}));
}

TEST_F(VbdVif, VifDestroyAndVmDestroyKeepBackReferences) {
  std::string vm = NewVm(), vdi = NewVdi();
  std::string net = Named("network", "Bond 0+1");
  std::string vbd = NewVbd(vm, vdi, "0")->str();
  std::string vif = Ok("VIF.create", {Vif(vm, net, "0", "")});
  std::string vif2 = Ok("VIF.create", {Vif(vm, net, "1", "")});
  Ok("VM.start", {vm, false, false});
  EXPECT_EQ(Err("VIF.destroy", {vif}), (Desc{"OPERATION_NOT_ALLOWED", "VIF currently attached to a running VM"}));
  EXPECT_EQ(Err("VM.destroy", {vm}), (Desc{"VM_BAD_POWER_STATE", vm, "halted, suspended", "running"}));
  Ok("VM.clean_shutdown", {vm});
  Ok("VIF.destroy", {vif});
  EXPECT_FALSE(Has("VM", vm, "VIFs", vif));
  EXPECT_FALSE(Has("network", net, "VIFs", vif));
  EXPECT_EQ(Err("VIF.destroy", {vif}), (Desc{"HANDLE_INVALID", "VIF", vif}));

  Ok("VM.destroy", {vm});
  EXPECT_EQ(sim_->store().Find("VBD", vbd), nullptr);
  EXPECT_EQ(sim_->store().Find("VIF", vif2), nullptr);
  EXPECT_FALSE(Has("network", net, "VIFs", vif2));
  EXPECT_TRUE(Rec("VDI", vdi).Find("VBDs")->array().empty());
  Ok("VDI.destroy", {vdi});
}

}  // namespace
}  // namespace casulo::sim

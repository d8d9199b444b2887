// VDI.create, VDI.clone, VDI.resize, VDI.copy through the dispatcher, with
// the VDI files in a temporary state dir (xapi-protocol.md §2.4, §7.5).
#include "core/file.h"
#include "ops_test_fixture.h"

namespace casulo::sim {
namespace {

using VdiOps = SimOpsTest;

std::string Slurp(const std::string& path) {
  auto b = ReadFile(path);
  return b.ok() ? std::string(AsChars(*b)) : "<missing>";
}

uint64_t SizeOf(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

TEST_F(VdiOps, CreateMakesASparseFileAndHonoursTheRecord) {
  std::string sr = Named("SR", "Local storage");
  XmlRpcStruct rec{{"name_label", XmlRpcValue("restored disk")}, {"SR", XmlRpcValue(sr)},
                   {"virtual_size", XmlRpcValue("8388608")},  // XO sends ints as strings
                   {"type", XmlRpcValue("system")}, {"sharable", XmlRpcValue(true)},
                   {"read_only", XmlRpcValue(true)},
                   {"other_config", XmlRpcValue(XmlRpcStruct{{"xo:k", XmlRpcValue("v")}})},
                   {"sm_config", XmlRpcValue(XmlRpcStruct{{"image-format", XmlRpcValue("vhd")}})},
                   {"tags", XmlRpcValue(XmlRpcArray{XmlRpcValue("t")})},
                   {"is_a_snapshot", XmlRpcValue(true)},  // not the caller's to choose
                   {"cbt_enabled", XmlRpcValue(true)}};
  std::string vdi = Ok("VDI.create", {XmlRpcValue(rec)});
  const XmlRpcValue& r = Rec("VDI", vdi);
  EXPECT_EQ(r.Find("name_label")->str(), "restored disk");
  EXPECT_EQ(r.Find("virtual_size")->i(), 8 << 20);
  EXPECT_EQ(r.Find("type")->str(), "system");
  EXPECT_TRUE(r.Find("sharable")->b());
  EXPECT_TRUE(r.Find("read_only")->b());
  EXPECT_EQ(r.Find("other_config")->Find("xo:k")->str(), "v");
  EXPECT_EQ(r.Find("sm_config")->Find("image-format")->str(), "vhd");
  EXPECT_EQ(r.Find("tags")->array().size(), 1u);
  EXPECT_FALSE(r.Find("is_a_snapshot")->b());
  EXPECT_FALSE(r.Find("cbt_enabled")->b());
  EXPECT_EQ(r.Find("location")->str(), r.Find("uuid")->str());
  EXPECT_TRUE(Has("SR", sr, "VDIs", vdi));
  EXPECT_EQ(SizeOf(File(vdi)), 8u << 20);
  EXPECT_EQ(Slurp(File(vdi)), std::string(8 << 20, '\0'));

  EXPECT_EQ(Err("VDI.create", {XmlRpcStruct{{"SR", XmlRpcValue("OpaqueRef:gone")}}}),
            (Desc{"HANDLE_INVALID", "SR", "OpaqueRef:gone"}));
  EXPECT_EQ(Err("VDI.create", {XmlRpcStruct{{"SR", XmlRpcValue(sr)},
                                            {"type", XmlRpcValue("cbt_metadata")}}}),
            (Desc{"VDI_INCOMPATIBLE_TYPE", "", "cbt_metadata"}));
  EXPECT_EQ(Err("VDI.create", {XmlRpcStruct{{"SR", XmlRpcValue(sr)}, {"type", XmlRpcValue("disk")}}}),
            (Desc{"FIELD_TYPE_ERROR", "type"}));
  EXPECT_EQ(Err("VDI.create", {XmlRpcStruct{{"SR", XmlRpcValue(sr)}, {"virtual_size", XmlRpcValue(-1)}}})[0],
            "SR_BACKEND_FAILURE_79");
  auto task = Call("Async.VDI.create", {XmlRpcStruct{{"SR", XmlRpcValue(sr)}}});
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(Str("task", task->str(), "status"), "success");
}

TEST_F(VdiOps, CloneCopiesDataAndRecordButIsNoSnapshot) {
  std::string vm = VmNamed("debian-web");
  std::string snap = Ok("VM.snapshot", {vm, "base"});
  std::string snap_vdi;
  for (const auto& v : Rec("VM", snap).Find("VBDs")->array())
    if (Str("VBD", v.str(), "type") == "Disk") snap_vdi = Str("VBD", v.str(), "VDI");
  ASSERT_FALSE(snap_vdi.empty());
  std::string clone = Ok("VDI.clone", {snap_vdi, XmlRpcStruct{}});
  const XmlRpcValue& c = Rec("VDI", clone);
  EXPECT_FALSE(c.Find("is_a_snapshot")->b());
  EXPECT_EQ(c.Find("snapshot_of")->str(), kNullRef);
  EXPECT_EQ(c.Find("name_label")->str(), Str("VDI", snap_vdi, "name_label"));
  EXPECT_EQ(c.Find("SR")->str(), Str("VDI", snap_vdi, "SR"));
  EXPECT_TRUE(c.Find("VBDs")->array().empty());
  EXPECT_TRUE(Has("SR", c.Find("SR")->str(), "VDIs", clone));
  EXPECT_EQ(Slurp(File(clone)), Slurp(File(snap_vdi)));
  EXPECT_NE(Slurp(File(clone)).find("casulo-sim demo disk"), std::string::npos);
  EXPECT_TRUE(Call("VDI.clone", {snap_vdi}).ok()) << "driver_params has a default";
  EXPECT_EQ(Err("VDI.clone", {"OpaqueRef:x"}), (Desc{"HANDLE_INVALID", "VDI", "OpaqueRef:x"}));

  // A cbt_metadata VDI has no data to clone (§2.4).
  sim_->store().Mutate("VDI", clone)->Set("type", XmlRpcValue("cbt_metadata"));
  EXPECT_EQ(Err("VDI.clone", {clone}), (Desc{"VDI_INCOMPATIBLE_TYPE", clone, "cbt_metadata"}));
  EXPECT_EQ(Err("VDI.resize", {clone, int64_t(1) << 40}), (Desc{"VDI_INCOMPATIBLE_TYPE", clone, "cbt_metadata"}));
}

TEST_F(VdiOps, ResizeGrowsOnly) {
  std::string vdi = NewVdi(4 << 20);
  ASSERT_TRUE(WriteFileAtomic(File(vdi), AsBytes(std::string("keep me"))).ok());
  ASSERT_TRUE(Call("VDI.resize", {vdi, int64_t(4 << 20)}).ok());
  EXPECT_EQ(SizeOf(File(vdi)), 7u) << "an equal size changes nothing";
  Ok("VDI.resize", {vdi, int64_t(16 << 20)});
  EXPECT_EQ(Rec("VDI", vdi).Find("virtual_size")->i(), 16 << 20);
  EXPECT_EQ(SizeOf(File(vdi)), 16u << 20);
  EXPECT_EQ(Slurp(File(vdi)).substr(0, 7), "keep me");
  EXPECT_EQ(Err("VDI.resize", {vdi, int64_t(1 << 20)}),
            (Desc{"SR_BACKEND_FAILURE_79", "", "VDI Invalid size [opterr=shrinking not allowed]", ""}));
  EXPECT_EQ(Rec("VDI", vdi).Find("virtual_size")->i(), 16 << 20);
  EXPECT_EQ(Err("VDI.resize", {vdi, "big"}), (Desc{"FIELD_TYPE_ERROR", "size"}));
}

TEST_F(VdiOps, CopyToAnotherSrOrIntoAVdi) {
  std::string src = NewVdi(4 << 20);
  ASSERT_TRUE(WriteFileAtomic(File(src), AsBytes(std::string(4 << 20, 'x'))).ok());
  Ok("VDI.set_sm_config", {src, XmlRpcStruct{{"lock", XmlRpcValue("1")}}});
  std::string local = Named("SR", "Local storage");
  std::string copy = Ok("VDI.copy", {src, local});
  EXPECT_EQ(Str("VDI", copy, "SR"), local);
  EXPECT_TRUE(Rec("VDI", copy).Find("sm_config")->members().empty());
  EXPECT_EQ(Slurp(File(copy)), Slurp(File(src)));
  EXPECT_EQ(Err("VDI.copy", {src, "OpaqueRef:nosr"}), (Desc{"HANDLE_INVALID", "SR", "OpaqueRef:nosr"}));

  const std::string null(kNullRef);
  std::string small = NewVdi(1 << 20);
  EXPECT_EQ(Err("VDI.copy", {src, null, null, small}),
            (Desc{"VDI_TOO_SMALL", small, std::to_string(4 << 20)}));
  std::string into = NewVdi(8 << 20);
  EXPECT_EQ(Ok("VDI.copy", {src, null, null, into}), into);
  EXPECT_EQ(SizeOf(File(into)), 8u << 20);
  EXPECT_EQ(Slurp(File(into)).substr(0, 4 << 20), std::string(4 << 20, 'x'));
  sim_->store().Mutate("VDI", into)->Set("read_only", XmlRpcValue(true));
  EXPECT_EQ(Err("VDI.copy", {src, null, null, into}), (Desc{"VDI_READONLY", into}));
}

}  // namespace
}  // namespace casulo::sim

// The HTTP data-plane handlers of the real binary, driven with curl on
// loopback: export of a snapshot checked with our own XvaReader, import of it
// back with identical disk bytes, 401 without a session, chunked PUT refused;
// /export_raw_vdi as raw, VHD and delta VHD, and /import_raw_vdi of a delta.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "core/file.h"
#include "formats/xmlrpc.h"
#include "formats/vhd_reader.h"
#include "formats/xva_reader.h"
#include "sim/disks.h"

namespace casulo::sim {
namespace {

using formats::PrintMethodCall;
using formats::XmlRpcArray;
using formats::XmlRpcValue;

std::string Shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class Handlers : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "casulo-sim-h-" + std::to_string(getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      const char* bin = CASULO_SIM_BINARY;
      execl(bin, bin, "--state", dir_.c_str(), "--listen", "127.0.0.1:0", "--demo", nullptr);
      _exit(127);
    }
    close(fds[1]);
    FILE* out = fdopen(fds[0], "r");
    char line[256] = {};
    if (fgets(line, sizeof line, out) != nullptr) {
      std::string s(line);
      port_ = std::atoi(s.substr(s.rfind(':') + 1).c_str());
    }
    fclose(out);
    ASSERT_GT(port_, 0);
    session_ = Call("session.login_with_password", {"root", "casulo"}).str();
  }
  void TearDown() override {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    std::filesystem::remove_all(dir_);
  }
  // Requests carrying a session run inside a task of ours, as real clients
  // do: a handler's own task is destroyed when it ends (XAPI's
  // exec_with_new_task), so only a given task_id can be inspected afterwards.
  std::string Url(const std::string& path) {
    std::string p = path;
    if (p.find("session_id=") != std::string::npos && p.find("task_id=") == std::string::npos)
      p += "&task_id=" + S("task.create", {"test", ""}).str();
    return "'http://127.0.0.1:" + std::to_string(port_) + p + "'";
  }
  XmlRpcValue Call(std::string_view method, XmlRpcArray params) {
    std::string req = dir_ + "/req.xml";
    std::string body = PrintMethodCall(method, params);
    EXPECT_TRUE(WriteFileAtomic(req, AsBytes(body)).ok());
    auto r = formats::ParseMethodResponse(Shell("curl -sS --data-binary @" + req + " " + Url("/")));
    EXPECT_TRUE(r.ok());
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
  std::string dir_, session_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// cmp(1): the disks are hundreds of MiB, too big to hold twice in memory.
bool SameDisk(const std::string& dir, const std::string& a, const std::string& b) {
  return std::system(("cmp -s " + DiskPath(dir, a) + " " + DiskPath(dir, b)).c_str()) == 0;
}

TEST_F(Handlers, ExportSnapshotThenImportItBack) {
  std::string vm = S("VM.get_by_name_label", {"debian-web"}).array()[0].str();
  std::string snap = S("VM.snapshot", {vm, "nightly"}).str();
  // A running VM cannot be exported: 200, then the task says why.
  std::string headers = Shell("curl -sS -o /dev/null -D - " +
                            Url("/export?session_id=" + session_ + "&ref=" + vm));
  EXPECT_NE(headers.find("200 OK"), std::string::npos);
  size_t at = headers.find("task-id: ");
  ASSERT_NE(at, std::string::npos);
  std::string task = headers.substr(at + 9, headers.find('\r', at) - at - 9);
  XmlRpcValue info = S("task.get_error_info", {task});
  ASSERT_FALSE(info.array().empty());
  EXPECT_EQ(info.array()[0].str(), "VM_BAD_POWER_STATE");

  std::string xva = dir_ + "/snap.xva";
  headers = Shell("curl -sS -D - -o " + xva + " " +
                Url("/export/?session_id=" + session_ + "&ref=" + snap + "&use_compression=zstd"));
  EXPECT_EQ(headers.find("Content-Length"), std::string::npos) << headers;
  EXPECT_EQ(headers.find("chunked"), std::string::npos) << headers;
  at = headers.find("task-id: ");
  task = headers.substr(at + 9, headers.find('\r', at) - at - 9);
  EXPECT_EQ(S("task.get_status", {task}).str(), "success");

  // Our own reader: every chunk verified, disks equal to the snapshot VDIs.
  auto f = File::OpenRead(xva);
  ASSERT_TRUE(f.ok());
  FileSource src(&*f);
  auto reader = formats::XvaReader::Open(src);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->compression(), formats::Compression::kZstd);
  int disks = 0;
  for (;;) {
    auto d = (*reader)->NextDisk();
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    if (*d == nullptr) break;
    ++disks;
    while (true) {
      auto e = (*d)->Next();
      ASSERT_TRUE(e.ok()) << e.status().ToString();
      if (!*e) break;
    }
  }
  EXPECT_EQ(disks, 2);

  // Import back: a new VM whose disks hold the same bytes.
  headers = Shell("curl -sS -D - -o /dev/null -T " + xva + " " + Url("/import/?session_id=" + session_));
  at = headers.find("task-id: ");
  ASSERT_NE(at, std::string::npos) << headers;
  task = headers.substr(at + 9, headers.find('\r', at) - at - 9);
  ASSERT_EQ(S("task.get_status", {task}).str(), "success");
  auto result = formats::ParseXmlRpcValue(S("task.get_result", {task}).str());
  ASSERT_TRUE(result.ok());
  std::string imported = result->array()[0].str();
  XmlRpcValue rec = S("VM.get_record", {imported});
  EXPECT_EQ(rec.Find("name_label")->str(), "nightly");
  EXPECT_EQ(rec.Find("power_state")->str(), "Halted");
  std::map<std::string, std::string> by_device_orig, by_device_new;
  for (auto [ref, out] : {std::pair{snap, &by_device_orig}, std::pair{imported, &by_device_new}})
    for (XmlRpcValue vbds = S("VM.get_VBDs", {ref}); const auto& vbd : vbds.array()) {
      XmlRpcValue b = S("VBD.get_record", {vbd});
      if (b.Find("type")->str() != "Disk") continue;
      (*out)[b.Find("userdevice")->str()] = S("VDI.get_uuid", {*b.Find("VDI")}).str();
    }
  ASSERT_EQ(by_device_new.size(), 2u);
  for (const auto& [dev, uuid] : by_device_orig) {
    ASSERT_TRUE(by_device_new.count(dev));
    EXPECT_NE(uuid, by_device_new[dev]);
    EXPECT_TRUE(SameDisk(dir_, uuid, by_device_new[dev])) << dev;
  }
}

TEST_F(Handlers, NoSessionIs401AndChunkedImportIsRefused) {
  std::string headers = Shell("curl -sS -o /dev/null -D - " + Url("/export?ref=x"));
  EXPECT_NE(headers.find("401"), std::string::npos);
  EXPECT_NE(headers.find("WWW-Authenticate: Basic"), std::string::npos);
  std::string task = S("task.create", {"mine", ""}).str();
  headers = Shell("echo data | curl -sS -o /dev/null -D - -H 'Transfer-Encoding: chunked' -T - " +
                Url("/import?session_id=" + session_ + "&task_id=" + task));
  EXPECT_NE(headers.find("403"), std::string::npos) << headers;
  EXPECT_NE(headers.find("task-id: " + task), std::string::npos);
  EXPECT_EQ(S("task.get_error_info", {task}).array()[0].str(), "IMPORT_ERROR_CANNOT_HANDLE_CHUNKED");
}

// Without task_id the handler runs in a task of its own, named in the
// task-id header and gone once the handler ends (a probe leaves nothing).
TEST_F(Handlers, OwnTaskIsDestroyedWhenTheHandlerEnds) {
  size_t before = S("task.get_all", {}).array().size();
  std::string vm = S("VM.get_by_name_label", {"debian-web"}).array()[0].str();
  std::string headers = Shell("curl -sS -o /dev/null -D - 'http://127.0.0.1:" + std::to_string(port_) +
                              "/export?session_id=" + session_ + "&ref=" + vm + "'");
  EXPECT_NE(headers.find("task-id: OpaqueRef:"), std::string::npos) << headers;
  headers = Shell("curl -sS -o /dev/null -D - -X PUT 'http://127.0.0.1:" + std::to_string(port_) +
                  "/import?session_id=" + session_ + "'");
  EXPECT_NE(headers.find("task-id: OpaqueRef:"), std::string::npos) << headers;
  EXPECT_EQ(S("task.get_all", {}).array().size(), before);
}

// The task-id header of a curl -D dump.
std::string TaskOf(const std::string& headers) {
  size_t at = headers.find("task-id: ");
  if (at == std::string::npos) return "";
  return headers.substr(at + 9, headers.find('\r', at) - at - 9);
}


class RawVdi : public Handlers {
 protected:
  std::string FirstDisk(const std::string& vm) {
    for (XmlRpcValue vbds = S("VM.get_VBDs", {vm}); const auto& vbd : vbds.array()) {
      XmlRpcValue b = S("VBD.get_record", {vbd});
      if (b.Find("type")->str() == "Disk") return b.Find("VDI")->str();
    }
    return "";
  }
  // GETs /export_raw_vdi into `out`; the task's status.
  std::string Export(const std::string& query, const std::string& out) {
    std::string headers = Shell("curl -sS -D - -o " + out + " " +
                                Url("/export_raw_vdi/?session_id=" + session_ + "&" + query));
    EXPECT_NE(headers.find("200 OK"), std::string::npos) << headers;
    return S("task.get_status", {TaskOf(headers)}).str();
  }
};

TEST_F(RawVdi, ExportRawAndVhdMatchTheDisk) {
  std::string vm = S("VM.get_by_name_label", {"debian-web"}).array()[0].str();
  std::string vdi = FirstDisk(vm);
  std::string uuid = S("VDI.get_uuid", {vdi}).str();
  std::string raw = dir_ + "/out.raw", vhd = dir_ + "/out.vhd";
  ASSERT_EQ(Export("vdi=" + uuid + "&format=raw", raw), "success");
  EXPECT_EQ(std::system(("cmp -s " + raw + " " + DiskPath(dir_, uuid)).c_str()), 0);
  ASSERT_EQ(Export("vdi=" + vdi + "&format=vhd", vhd), "success");
  auto f = File::OpenRead(vhd);
  ASSERT_TRUE(f.ok());
  FileRandomSource src(&*f, *f->Size());
  auto img = formats::OpenVhdImage(src);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ((*img)->type(), formats::VhdDiskType::kDynamic);
  EXPECT_FALSE((*img)->AllocatedBlocks().empty());
  EXPECT_EQ(std::system(("qemu-img compare -q --image-opts driver=raw,file.filename=" +
                         DiskPath(dir_, uuid) +
                         " driver=vpc,force_size_calc=current_size,file.filename=" + vhd)
                            .c_str()),
            0);
  // Unknown format: 200, then the task fails.
  EXPECT_EQ(Export("vdi=" + vdi + "&format=qcow3", raw), "failure");
}

TEST_F(RawVdi, DeltaVhdAgainstASnapshotAppliesOntoACopy) {
  std::string vm = S("VM.get_by_name_label", {"debian-web"}).array()[0].str();
  std::string snap = S("VM.snapshot", {vm, "base"}).str();
  std::string vdi = FirstDisk(vm), base = FirstDisk(snap);
  std::string uuid = S("VDI.get_uuid", {vdi}).str();
  std::string base_uuid = S("VDI.get_uuid", {base}).str();
  // Change one sector of block 3 behind the simulator's back (as a guest
  // would: the snapshot shares the file until then).
  {
    auto f = OpenDiskForWrite(DiskPath(dir_, uuid), O_WRONLY);
    ASSERT_TRUE(f.ok());
    Bytes junk(512, 0xAB);
    ASSERT_TRUE(f->PWrite(3 * (2u << 20) + 4096, junk).ok());
  }
  std::string delta = dir_ + "/delta.vhd";
  ASSERT_EQ(Export("vdi=" + vdi + "&format=vhd&base=" + base_uuid, delta), "success");
  {
    auto f = File::OpenRead(delta);
    ASSERT_TRUE(f.ok());
    FileRandomSource src(&*f, *f->Size());
    auto img = formats::OpenVhdImage(src);
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    EXPECT_EQ((*img)->type(), formats::VhdDiskType::kDifferencing);
    EXPECT_EQ((*img)->AllocatedBlocks(), std::vector<uint32_t>{3});
    EXPECT_EQ((*img)->info().parent_id, base_uuid);
  }
  // Apply it onto a fresh copy of the base: the copy becomes the VM's disk.
  std::string copy = S("VDI.snapshot", {base, XmlRpcValue(formats::XmlRpcStruct{})}).str();
  std::string copy_uuid = S("VDI.get_uuid", {copy}).str();
  EXPECT_FALSE(SameDisk(dir_, uuid, copy_uuid));
  std::string headers = Shell("curl -sS -D - -o /dev/null -T " + delta + " " +
                              Url("/import_raw_vdi/?session_id=" + session_ + "&vdi=" + copy +
                                  "&format=vhd"));
  EXPECT_NE(headers.find("200 OK"), std::string::npos) << headers;
  std::string task = TaskOf(headers);
  ASSERT_EQ(S("task.get_status", {task}).str(), "success");
  EXPECT_NE(S("task.get_result", {task}).str().find(copy), std::string::npos);
  EXPECT_TRUE(SameDisk(dir_, uuid, copy_uuid));
}

TEST_F(RawVdi, ImportNeedsContentLengthAndRefusesChunked) {
  std::string vm = S("VM.get_by_name_label", {"debian-web"}).array()[0].str();
  std::string vdi = FirstDisk(vm);
  std::string headers = Shell("curl -sS -o /dev/null -D - -X PUT " +
                              Url("/import_raw_vdi?session_id=" + session_ + "&vdi=" + vdi));
  EXPECT_NE(headers.find("HTTP/1.1 400"), std::string::npos) << headers;
  EXPECT_EQ(S("task.get_status", {TaskOf(headers)}).str(), "failure");
  headers = Shell("echo data | curl -sS -o /dev/null -D - -H 'Transfer-Encoding: chunked' -T - " +
                  Url("/import_raw_vdi?session_id=" + session_ + "&vdi=" + vdi));
  EXPECT_NE(headers.find("HTTP/1.1 404"), std::string::npos) << headers;
  XmlRpcValue info = S("task.get_error_info", {TaskOf(headers)});
  ASSERT_EQ(info.array().size(), 2u);
  EXPECT_EQ(info.array()[0].str(), "INTERNAL_ERROR");
  EXPECT_EQ(info.array()[1].str(), "Cannot handle encoding: chunked");
}

// xapi's chunked framing (format=raw&chunked): only the pieces are written,
// and the blocks they touch are marked in the VDI's CBT log, so
// list_changed_blocks against a snapshot names exactly those. A body cut
// before the end header fails the task. (A halted VM: list_changed_blocks
// refuses a disk a running VM has attached.)
TEST_F(RawVdi, ChunkedImportWritesPiecesAndMarksCbt) {
  std::string vm = S("VM.get_by_name_label", {"alpine-halted"}).array()[0].str();
  std::string vdi = FirstDisk(vm);
  std::string uuid = S("VDI.get_uuid", {vdi}).str();
  S("VDI.enable_cbt", {vdi});
  std::string base = FirstDisk(S("VM.snapshot", {vm, "base"}).str());
  Bytes body;
  auto piece = [&](uint64_t off, uint32_t len, uint8_t fill) {
    for (int i = 0; i < 8; ++i) body.push_back(uint8_t(off >> (8 * i)));
    for (int i = 0; i < 4; ++i) body.push_back(uint8_t(len >> (8 * i)));
    body.insert(body.end(), len, fill);
  };
  piece(5 * 65536, 65536, 0xCD);
  piece(9 * 65536 + 100, 10, 0xEF);
  std::string cut = dir_ + "/cut.bin", whole = dir_ + "/chunked.bin";
  ASSERT_TRUE(WriteFileAtomic(cut, body).ok());
  piece(0, 0, 0);
  ASSERT_TRUE(WriteFileAtomic(whole, body).ok());
  std::string q = "/import_raw_vdi?session_id=" + session_ + "&vdi=" + vdi + "&format=raw&chunked=true";
  std::string headers = Shell("curl -sS -D - -o /dev/null -T " + whole + " " + Url(q));
  EXPECT_NE(headers.find("200 OK"), std::string::npos) << headers;
  ASSERT_EQ(S("task.get_status", {TaskOf(headers)}).str(), "success");
  auto f = File::OpenRead(DiskPath(dir_, uuid));
  ASSERT_TRUE(f.ok());
  Bytes got(65536);
  ASSERT_TRUE(f->PReadFull(5 * 65536, got).ok());
  EXPECT_EQ(got, Bytes(65536, 0xCD));
  got.resize(12);
  ASSERT_TRUE(f->PReadFull(9 * 65536 + 99, got).ok());
  EXPECT_NE(got[0], 0xEF);
  EXPECT_EQ(Bytes(got.begin() + 1, got.begin() + 11), Bytes(10, 0xEF));
  std::string bits = S("VDI.list_changed_blocks", {base, vdi}).str();
  // Blocks 5 and 9 only: bit 0x80 >> (i % 8) of byte i / 8, the rest clear.
  std::string out = Shell("echo " + bits + " | base64 -d | od -An -tx1 -v | tr -s ' \\n' ' '");
  EXPECT_EQ(out.substr(0, 7), " 04 40 ") << out;
  EXPECT_EQ(out.find_first_not_of(" 0", 7), std::string::npos) << out;
  headers = Shell("curl -sS -D - -o /dev/null -T " + cut + " " + Url(q));
  EXPECT_EQ(S("task.get_status", {TaskOf(headers)}).str(), "failure") << headers;
  headers = Shell("curl -sS -D - -o /dev/null -T " + whole + " " + Url(q.substr(0, q.find("&format")) +
                                                                        "&format=vhd&chunked"));
  EXPECT_NE(headers.find("HTTP/1.1 400"), std::string::npos) << headers;
}

}  // namespace
}  // namespace casulo::sim

// NbdReader against a real casulo-sim and its nbdkit (docs/design/
// xapi-client.md "NBD reads"), checked against the VDI files themselves and
// against libnbd's own nbdcopy.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "core/file.h"
#include "core/testing/sim_process.h"
#include "xapi/nbd.h"
#include "xapi/transport.h"

namespace casulo::xapi {
namespace {

using casulo::testing::ScratchDir;
using casulo::testing::SimProcess;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The pids whose parent is `parent` (from /proc).
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = Slurp(e.path().string() + "/stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
      out.push_back(std::stoi(name));
  }
  return out;
}

bool Alive(pid_t pid) {  // a zombie counts as gone
  std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  return close != std::string::npos && stat[close + 2] != 'Z';
}

template <typename F>
bool Eventually(F f) {
  for (int i = 0; i < 200; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// A self-signed certificate valid for 127.0.0.1 but not the server's.
std::string OtherCert() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("impostor"), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(x, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, size_t(n));
  BIO_free(bio);
  X509_free(x);
  EVP_PKEY_free(key);
  return pem;
}

class NbdSimTest : public ::testing::Test {
 protected:
  NbdSimTest() : dir_("nbd-sim") {}
  void Start() {
    sim_ = std::make_unique<SimProcess>(CASULO_SIM_BINARY,
                                        std::vector<std::string>{"--state", dir_.path(), "--listen",
                                                                 "127.0.0.1:0", "--demo"});
    ASSERT_TRUE(sim_->ok());
    auto t = NewCurlRpcTransport(Endpoint{sim_->url(), {}});
    ASSERT_TRUE(t.ok());
    session_ = std::make_unique<Session>(std::move(*t), SessionOptions{});
    ASSERT_TRUE(session_->Login("root", "casulo").ok());
    auto recs = session_->Call("VDI.get_all_records");
    ASSERT_TRUE(recs.ok());
    for (const auto& [ref, rec] : recs->members())
      if (rec.Find("name_label")->str() == "debian-web disk 1") {
        vdi_ = ref;
        uuid_ = rec.Find("uuid")->str();
      }
    ASSERT_FALSE(vdi_.empty());
    auto info = GetNbdInfo(*session_, vdi_);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    info_ = *info;
    ASSERT_FALSE(info_.empty());
  }
  std::string File() const { return Slurp(dir_.path() + "/vdi/" + uuid_ + ".img"); }
  static std::string ReadAll(NbdReader& r) {
    std::string data(r.Size(), '\0');
    EXPECT_TRUE(r.Read(0, {reinterpret_cast<uint8_t*>(data.data()), data.size()}).ok());
    return data;
  }

  ScratchDir dir_;
  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<Session> session_;
  std::string vdi_, uuid_;
  std::vector<NbdInfo> info_;
};

TEST_F(NbdSimTest, ReadsTheWholeVdiOverVerifiedTls) {
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_EQ(info_.size(), 3u);  // the NFS SR is seen by all 3 hosts
  for (const auto& i : info_) {
    EXPECT_EQ(i.exportname, "/" + uuid_ + "?session_id=" + session_->ref());
    EXPECT_NE(i.cert.find("BEGIN CERTIFICATE"), std::string::npos);
  }
  auto r = NbdReader::Connect(info_[0]);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string file = File();
  ASSERT_EQ((*r)->Size(), file.size());
  EXPECT_TRUE(ReadAll(**r) == file);
}

TEST_F(NbdSimTest, AWrongPinnedCertificateOrPlaintextIsRefused) {
  ASSERT_NO_FATAL_FAILURE(Start());
  NbdInfo wrong = info_[0];
  wrong.cert = OtherCert();
  auto r = NbdReader::Connect(wrong);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kAuth) << r.status().ToString();
  // The server requires TLS: a plaintext client is turned away.
  auto plain = NbdReader::Connect(info_[0], {.insecure_nbd = true});
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.status().message().find(wrong.address), std::string::npos);
}

TEST_F(NbdSimTest, ABadSessionIsRefused) {
  ASSERT_NO_FATAL_FAILURE(Start());
  NbdInfo bad = info_[0];
  bad.exportname = "/" + uuid_ + "?session_id=OpaqueRef:00000000-0000-0000-0000-000000000000";
  auto r = NbdReader::Connect(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kAuth) << r.status().ToString();
  // A logged-out session too: the server asks the simulator on every open.
  std::string before = info_[0].exportname;
  ASSERT_TRUE(session_->Logout().ok());
  auto after = NbdReader::Connect(info_[0]);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), Code::kAuth);
}

TEST_F(NbdSimTest, ExtentsMatchTheFileAllocation) {
  ASSERT_NO_FATAL_FAILURE(Start());
  auto r = NbdReader::Connect(info_[0]);
  ASSERT_TRUE(r.ok());
  auto ext = (*r)->AllocatedExtents();
  ASSERT_TRUE(ext.ok()) << ext.status().ToString();
  auto f = casulo::File::OpenRead(dir_.path() + "/vdi/" + uuid_ + ".img");
  ASSERT_TRUE(f.ok());
  std::vector<formats::ByteRange> want;
  int fd = f->fd();
  for (off_t pos = 0;;) {
    off_t d = lseek(fd, pos, SEEK_DATA);
    if (d < 0) break;
    off_t h = lseek(fd, d, SEEK_HOLE);
    want.push_back({uint64_t(d), uint64_t(h - d)});
    pos = h;
  }
  ASSERT_GT(want.size(), 1u);  // the demo disk has data and holes
  ASSERT_EQ(ext->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*ext)[i].offset, want[i].offset);
    EXPECT_EQ((*ext)[i].length, want[i].length);
  }
}

TEST_F(NbdSimTest, MultiConnectionReadsEqualSingleAndStatsCountThem) {
  ASSERT_NO_FATAL_FAILURE(Start());
  std::string file = File();
  {
    auto m = MultiNbdReader::Connect(info_, 4);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ((*m)->connections(), 4);
    std::string data(file.size(), '\0');
    // An unaligned range crossing several 2 MiB blocks, then everything.
    std::string part(5 << 20, '\0');
    ASSERT_TRUE((*m)->Read(3 << 19, {reinterpret_cast<uint8_t*>(part.data()), part.size()}).ok());
    EXPECT_TRUE(part == file.substr(3 << 19, part.size()));
    ASSERT_TRUE((*m)->Read(0, {reinterpret_cast<uint8_t*>(data.data()), data.size()}).ok());
    EXPECT_TRUE(data == file);
  }
  uint64_t want = file.size() + (5 << 20);
  std::string stats = dir_.path() + "/nbd-stats/" + uuid_;
  // Each connection adds its count as it closes, just after our disconnect.
  EXPECT_TRUE(Eventually([&] { return std::strtoull(Slurp(stats).c_str(), nullptr, 10) == want; }))
      << Slurp(stats) << " != " << want;
}

TEST_F(NbdSimTest, UnreachableEntriesAreSkipped) {
  ASSERT_NO_FATAL_FAILURE(Start());
  NbdInfo dead = info_[0];
  dead.port = 1;  // nothing listens there
  auto m = MultiNbdReader::Connect({dead, info_[1]}, 2);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->connections(), 2);
  auto none = MultiNbdReader::Connect({dead}, 2);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kIoError);
  EXPECT_NE(none.status().ToString().find(dead.address + ":1"), std::string::npos) << none.status().ToString();
}

TEST_F(NbdSimTest, NbdcopyReadsTheSameBytes) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ScratchDir pin("nbd-pin");
  ASSERT_TRUE(WriteFileAtomic(pin.path() + "/ca-cert.pem", AsBytes(info_[0].cert)).ok());
  std::string name = info_[0].exportname;
  name.replace(name.find('?'), 1, "%3F");
  std::string out = dir_.path() + "/copy.img";
  std::string cmd = "nbdcopy 'nbds://" + info_[0].address + ":" + std::to_string(info_[0].port) +
                    "/" + name + "?tls-certificates=" + pin.path() + "' " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_TRUE(Slurp(out) == File());
}

TEST_F(NbdSimTest, InsecureNbdNetworkServesPlaintext) {
  ASSERT_NO_FATAL_FAILURE(Start());
  auto nets = session_->Call("network.get_all_records");
  ASSERT_TRUE(nets.ok());
  for (const auto& [ref, rec] : nets->members())
    for (const auto& p : rec.Find("purpose")->array())
      if (p.str() == "nbd") {
        ASSERT_TRUE(session_->Call("network.remove_purpose", {ref, "nbd"}).ok());
        ASSERT_TRUE(session_->Call("network.add_purpose", {ref, "insecure_nbd"}).ok());
      }
  session_.reset();
  sim_->Stop();  // listeners follow the purposes at start
  ASSERT_NO_FATAL_FAILURE(Start());
  auto tls = NbdReader::Connect(info_[0]);
  EXPECT_FALSE(tls.ok());
  auto r = NbdReader::Connect(info_[0], {.insecure_nbd = true});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(ReadAll(**r) == File());
}

TEST_F(NbdSimTest, NbdkitStopsWithTheSimulator) {
  ASSERT_NO_FATAL_FAILURE(Start());
  std::vector<pid_t> kids = ChildrenOf(sim_->pid());
  ASSERT_FALSE(kids.empty());
  sim_->Stop();
  for (pid_t k : kids) EXPECT_FALSE(Alive(k)) << k;
  // SIGKILL: the children learn it through PR_SET_PDEATHSIG.
  ASSERT_NO_FATAL_FAILURE(Start());
  kids = ChildrenOf(sim_->pid());
  ASSERT_FALSE(kids.empty());
  sim_->Kill();
  for (pid_t k : kids) EXPECT_TRUE(Eventually([&] { return !Alive(k); })) << k;
}

}  // namespace
}  // namespace casulo::xapi

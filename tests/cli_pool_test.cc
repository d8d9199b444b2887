// `casulo pool add/list/show` against the real casulo-sim binary (--demo
// pool: 3 hosts, 2 SRs, 4 networks, 4 guests, 1 template, 3 dom0s) on a
// free loopback port.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_harness.h"

namespace casulo::testing {
namespace {

// A user of our own next to --demo's root/casulo, with a password that
// cannot appear in any output by chance (unlike "casulo").
constexpr const char* kPoolUser = "backup-op";
constexpr const char* kPoolPassword = "Zq-pool-secret-7781";

// A casulo-sim child process, stopped with SIGTERM by the destructor.
class Sim {
 public:
  Sim(const std::string& state, bool tls) {
    std::filesystem::create_directories(state);
    std::ofstream(state + "/users.json")
        << nlohmann::json{{kPoolUser, kPoolPassword}}.dump();
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      const char* bin = CASULO_SIM_BIN;
      if (tls)
        execl(bin, bin, "--state", state.c_str(), "--listen", "127.0.0.1:0", "--demo", "--tls",
              nullptr);
      else
        execl(bin, bin, "--state", state.c_str(), "--listen", "127.0.0.1:0", "--demo", nullptr);
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
  }
  ~Sim() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
  }
  int port() const { return port_; }
  std::string url(const char* scheme = "http") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_);
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class CliPool : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(h_.Path("pool-password")) << kPoolPassword << "\n";
    chmod(h_.Path("pool-password").c_str(), 0600);
    std::ofstream(h_.Path("wrong-password")) << "not the password\n";
  }
  RunResult Run(std::vector<std::string> args) const {
    return h_.Run(args, {{"CASULO_CONFIG_DIR", config()}});
  }
  std::string config() const { return h_.Path("config"); }
  RunResult Add(const std::string& name, const std::string& url, const std::string& pwfile,
                std::vector<std::string> extra = {"--yes"}) const {
    std::vector<std::string> args = {"pool", "add", name, url, "--user", kPoolUser,
                                     "--password-file", h_.Path(pwfile)};
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  }
  CliHarness h_;
};

TEST_F(CliPool, AddListShowAgainstSimulator) {
  Sim sim(h_.Path("sim"), /*tls=*/false);
  ASSERT_GT(sim.port(), 0);
  auto add = Add("lab", sim.url(), "pool-password");
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_NE(add.out.find("Citrix Hypervisor 8.2.0"), std::string::npos) << add.out;
  EXPECT_NE(add.err.find("plain http"), std::string::npos);  // the user is warned

  // Secrets: 0600 password file in a 0700 dir; the JSON holds no password.
  struct stat st;
  ASSERT_EQ(stat((config() + "/pools").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((config() + "/pools/lab.password").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((config() + "/pools/lab.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Slurp(config() + "/pools/lab.password"), kPoolPassword);
  std::string entry = Slurp(config() + "/pools/lab.json");
  EXPECT_EQ(entry.find(kPoolPassword), std::string::npos) << entry;
  auto j = nlohmann::json::parse(entry);
  EXPECT_EQ(j["url"], sim.url());
  EXPECT_EQ(j["user"], kPoolUser);
  EXPECT_EQ(j["api_version"], "2.15");
  EXPECT_FALSE(j.contains("pin"));  // plain http

  auto again = Add("lab", sim.url(), "pool-password");
  EXPECT_EQ(again.exit_code, 4) << again.err;  // kAlreadyExists
  EXPECT_EQ(Add("lab", sim.url(), "pool-password", {"--yes", "--replace"}).exit_code, 0);

  auto list = Run({"pool", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("lab"), std::string::npos);
  EXPECT_NE(list.out.find(sim.url()), std::string::npos);
  auto list_json = Run({"pool", "list", "--json"});
  ASSERT_EQ(list_json.exit_code, 0) << list_json.err;
  auto lj = nlohmann::json::parse(list_json.out);
  ASSERT_EQ(lj.size(), 1u);
  EXPECT_EQ(lj[0]["name"], "lab");
  EXPECT_EQ(list_json.out.find(kPoolPassword), std::string::npos);

  auto show = Run({"pool", "show", "lab", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  auto sj = nlohmann::json::parse(show.out);
  EXPECT_EQ(sj["pool"]["name"], "casulo-sim pool");
  EXPECT_EQ(sj["pool"]["master"], "sim-host-1");
  EXPECT_EQ(sj["hosts"].size(), 3u);
  EXPECT_EQ(sj["srs"].size(), 3u);  // NFS, local storage of hosts 1 and 2
  EXPECT_EQ(sj["networks"].size(), 4u);
  EXPECT_EQ(sj["vms"].size(), 4u);
  EXPECT_EQ(sj["counts"]["templates"], 1);
  EXPECT_EQ(sj["counts"]["snapshots"], 0);
  EXPECT_EQ(sj["counts"]["control_domains"], 3);
  for (const auto& v : sj["vms"]) {
    if (v["name"] == "debian-web") {
      EXPECT_EQ(v["disks"], 2);  // the CD drive is not a disk
    }
    if (v["name"] == "alpine-halted") {
      EXPECT_EQ(v["power_state"], "Halted");
    }
  }
  int vlans = 0, nbd = 0;
  for (const auto& n : sj["networks"]) {
    vlans += n["vlan"] == 100;
    nbd += n["purpose"] == nlohmann::json::array({"nbd"});
  }
  EXPECT_EQ(vlans, 1);
  EXPECT_EQ(nbd, 1);
  EXPECT_TRUE(sj["capabilities"]["cbt"]);
  EXPECT_TRUE(sj["capabilities"]["nbd"]);
  EXPECT_TRUE(sj["capabilities"]["xva_xxhash"]);
  EXPECT_FALSE(sj["capabilities"]["ignore_vdis"]);  // CH 8.2, xapi 1.249

  auto text = Run({"pool", "show", "lab"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("hosts (3)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("debian-web"), std::string::npos);
  EXPECT_EQ(text.out.find("Control domain"), std::string::npos);

  // A stored password readable by others is refused, as ssh refuses keys.
  chmod((config() + "/pools/lab.password").c_str(), 0644);
  auto loose = Run({"pool", "show", "lab"});
  EXPECT_EQ(loose.exit_code, 2) << loose.err;
  EXPECT_NE(loose.err.find("chmod 600"), std::string::npos);
  EXPECT_EQ(loose.err.find(kPoolPassword), std::string::npos);
}

TEST_F(CliPool, WrongPasswordIsAuthAndNothingStored) {
  Sim sim(h_.Path("sim"), false);
  ASSERT_GT(sim.port(), 0);
  auto r = Add("lab", sim.url(), "wrong-password");
  EXPECT_EQ(r.exit_code, 7) << r.err;  // kAuth
  EXPECT_EQ(r.err.find("not the password"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(config() + "/pools/lab.json"));
  EXPECT_FALSE(std::filesystem::exists(config() + "/pools/lab.password"));
}

TEST_F(CliPool, UnreachableIsIoErrorAndUnknownPoolNotFound) {
  int port;
  {
    Sim sim(h_.Path("sim"), false);  // a port that was free, now closed again
    port = sim.port();
  }
  auto r = Add("gone", "http://127.0.0.1:" + std::to_string(port), "pool-password");
  EXPECT_EQ(r.exit_code, 6) << r.err;  // kIoError
  EXPECT_EQ(Run({"pool", "show", "nosuch"}).exit_code, 3);
  EXPECT_EQ(Add("../x", "http://127.0.0.1:1", "pool-password").exit_code, 2);
  EXPECT_EQ(Add("x", "ftp://127.0.0.1:1", "pool-password").exit_code, 2);
  auto empty = Run({"pool", "list"});
  EXPECT_EQ(empty.exit_code, 0);
  EXPECT_NE(empty.out.find("no pools"), std::string::npos);
}

TEST_F(CliPool, HttpsTrustOnFirstUseThenPinChecked) {
  Sim sim(h_.Path("sim"), /*tls=*/true);
  ASSERT_GT(sim.port(), 0);
  // Not a terminal and neither --yes nor --pin: refused, the key shown.
  auto refused = Add("tls", sim.url("https"), "pool-password", {});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  size_t at = refused.err.find("sha256//");
  ASSERT_NE(at, std::string::npos) << refused.err;
  std::string pin = refused.err.substr(at, 8 + 44);
  EXPECT_FALSE(std::filesystem::exists(config() + "/pools/tls.json"));

  // With the pin given as checked out of band.
  auto add = Add("tls", sim.url("https"), "pool-password", {"--pin", pin});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  auto j = nlohmann::json::parse(Slurp(config() + "/pools/tls.json"));
  EXPECT_EQ(j["pin"], pin);
  auto show = Run({"pool", "show", "tls", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(nlohmann::json::parse(show.out)["hosts"].size(), 3u);

  // A wrong pin is refused by the handshake (kAuth), before any password.
  std::string wrong = "sha256//" + std::string(43, 'A') + "=";
  auto bad = Add("tls2", sim.url("https"), "pool-password", {"--pin", wrong});
  EXPECT_EQ(bad.exit_code, 7) << bad.err;
  // --yes trusts the key as shown.
  EXPECT_EQ(Add("tls3", sim.url("https"), "pool-password").exit_code, 0);
}

}  // namespace
}  // namespace casulo::testing

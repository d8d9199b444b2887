// The real casulo-sim binary on a free loopback port, driven with curl.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "formats/xmlrpc.h"

namespace casulo::sim {
namespace {

struct Running {
  pid_t pid = -1;
  int port = 0;
};

// Starts the simulator and waits for its "listening on HOST:PORT" line.
Running Start(const std::string& dir, bool demo) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    const char* bin = CASULO_SIM_BINARY;
    if (demo)
      execl(bin, bin, "--state", dir.c_str(), "--listen", "127.0.0.1:0", "--demo", nullptr);
    else
      execl(bin, bin, "--state", dir.c_str(), "--listen", "127.0.0.1:0", nullptr);
    _exit(127);
  }
  close(fds[1]);
  FILE* out = fdopen(fds[0], "r");
  char line[256] = {};
  Running r{pid, 0};
  if (fgets(line, sizeof line, out) != nullptr) {
    std::string s(line);
    r.port = std::atoi(s.substr(s.rfind(':') + 1).c_str());
  }
  fclose(out);
  return r;
}

int Stop(const Running& r) {
  kill(r.pid, SIGTERM);
  int status = 0;
  waitpid(r.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Post(int port, const std::string& body, const std::string& dir) {
  std::string req = dir + "/req.xml";
  FILE* f = fopen(req.c_str(), "w");
  fputs(body.c_str(), f);
  fclose(f);
  std::string cmd = "curl -sS -H 'Content-Type: text/xml' --data-binary @" + req +
                    " http://127.0.0.1:" + std::to_string(port) + "/xmlrpc";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

formats::XmlRpcValue Envelope(const std::string& body) {
  auto r = formats::ParseMethodResponse(body);
  EXPECT_TRUE(r.ok()) << body.substr(0, 300);
  return r.ok() ? r->value : formats::XmlRpcValue();
}

TEST(SimBinary, LoginAndVmRecordsOverHttpThenStateSaved) {
  std::string dir = testing::TempDir() + "casulo-sim-it-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  for (bool first : {true, false}) {  // the second run reloads the saved state
    Running sim = Start(dir, /*demo=*/first);
    ASSERT_GT(sim.port, 0);
    auto login = Envelope(Post(sim.port,
                               formats::PrintMethodCall("session.login_with_password",
                                                        {"root", "casulo", "1.1", "it"}),
                               dir));
    ASSERT_EQ(login.Find("Status")->str(), "Success");
    std::string session = login.Find("Value")->str();
    auto vms = Envelope(Post(sim.port, formats::PrintMethodCall("VM.get_all_records", {session}), dir));
    ASSERT_EQ(vms.Find("Status")->str(), "Success");
    EXPECT_EQ(vms.Find("Value")->members().size(), 8u);
    EXPECT_EQ(Stop(sim), 0);
    EXPECT_TRUE(std::filesystem::exists(dir + "/db.json"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/users.json"));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace casulo::sim

// Starting and stopping casulo-sim (or any server that prints
// "... listening on HOST:PORT") from a test: one helper for every suite that
// needs a real simulator process on loopback. Header-only, test code only.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace casulo::testing {

class SimProcess {
 public:
  // Starts `binary` with `args` (e.g. {"--state", dir, "--listen",
  // "127.0.0.1:0", "--demo"}) and waits for its "listening on" line.
  // ok() is false (and a test failure recorded) when it never comes.
  SimProcess(const std::string& binary, const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0) {
      ADD_FAILURE() << "pipe failed";
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      // A test killed before its destructors run must not leave a server.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(binary.c_str()));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    FILE* out = fdopen(fds[0], "r");
    char line[512] = {};
    if (fgets(line, sizeof line, out) != nullptr) {
      std::string s(line);
      size_t at = s.find("listening on ");
      if (at != std::string::npos) {
        std::string hp = s.substr(at + 13);
        while (!hp.empty() && (hp.back() == '\n' || hp.back() == '\r')) hp.pop_back();
        size_t colon = hp.rfind(':');
        host_ = hp.substr(0, colon);
        port_ = std::atoi(hp.c_str() + colon + 1);
      }
    }
    fclose(out);  // later output goes to a closed pipe: the server must not depend on stdout
    if (port_ <= 0) ADD_FAILURE() << binary << " did not report a listening port";
  }
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;
  ~SimProcess() { Stop(); }

  // SIGTERM and wait; returns the exit status as waitpid reports it.
  int Stop() {
    if (pid_ <= 0) return status_;
    kill(pid_, SIGTERM);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }
  // SIGKILL and wait (crash tests).
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
  }

  bool ok() const { return port_ > 0; }
  int port() const { return port_; }
  const std::string& host() const { return host_; }
  pid_t pid() const { return pid_; }
  std::string url(const std::string& scheme = "http") const {
    return scheme + "://" + host_ + ":" + std::to_string(port_);
  }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  int port_ = 0;
  std::string host_;
};

// A fresh scratch directory under the test temp dir, removed on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : path_(::testing::TempDir() + name + "-" + std::to_string(getpid())) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace casulo::testing

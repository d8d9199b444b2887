// Runs the casulo binary in a scratch directory with a throwaway password,
// as an administrator would, and captures exit code and output.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/bytes.h"

namespace casulo::testing {

struct RunResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out, err;
};

// One HTTP/1.0 request to 127.0.0.1:`port` (a simulator's control paths,
// or XML-RPC at POST /); the answer's body (it runs to EOF), "" on failure.
std::string HttpBody(int port, const std::string& method, const std::string& path,
                     const std::string& body = "");

class CliHarness {
 public:
  CliHarness();
  ~CliHarness();

  const std::filesystem::path& dir() const { return dir_; }
  std::string Path(const std::string& name) const { return dir_ / name; }
  std::string repo() const { return Path("repo"); }

  // Runs casulo with `args`; CASULO_PASSWORD_FILE, CASULO_CACHE_DIR and
  // CASULO_REPO point into the scratch directory unless `env` overrides them
  // (an empty value unsets the variable).
  RunResult Run(const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env = {}) const;
  // Starts casulo without waiting; returns its pid (output goes to files
  // TAG.out and TAG.err); `env` as for Run.
  pid_t Start(const std::vector<std::string>& args, const std::string& tag,
              const std::map<std::string, std::string>& env = {}) const;
  // Waits for a started process; returns its exit code (128+N for signal N).
  static int Wait(pid_t pid);

  // Creates a repository with cheap KDF parameters (tests are not attacks).
  void Init(const std::vector<std::string>& extra = {}) const;
  // A sparse image of `size` bytes with random data every `stride` bytes.
  void MakeImage(const std::string& name, uint64_t size, uint64_t stride, uint32_t seed) const;
  Bytes Read(const std::string& name) const;
  std::string LatestSnapshot() const;

 private:
  std::vector<std::string> Env(const std::map<std::string, std::string>& env) const;
  std::filesystem::path dir_;
};

}  // namespace casulo::testing

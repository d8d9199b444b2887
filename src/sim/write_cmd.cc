// casulo-sim write --state DIR VM [--blocks N] [--disk D] [--seed S]
//                  [--offset BYTES] [--json]
// Asks the simulator running on DIR (its URL is in DIR/endpoint) to write N
// 64 KiB blocks into the disks of Running VM `VM` (guest.cc), and prints what
// was written: one line per disk, or the server's JSON with --json.
#include <httplib.h>

#include <cstdio>
#include <string>

#include "core/file.h"
#include "sim/commands.h"
#include "sim/value_json.h"

namespace casulo::sim {
namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: casulo-sim write --state DIR VM [--blocks N] [--disk USERDEVICE] "
               "[--seed S] [--offset BYTES] [--json]\n");
  return 2;
}

bool ParseU64(const char* s, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || *s == '-') return false;
  out = v;
  return true;
}

}  // namespace

int RunWriteCommand(int argc, char** argv) {
  std::string state, vm;
  bool json = false;
  Json req = Json::object();
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    uint64_t n = 0;
    if (a == "--json") {
      json = true;
      continue;
    }
    if (a == "--state" || a == "--disk" || a == "--blocks" || a == "--seed" || a == "--offset") {
      if (v == nullptr) return Usage();
      ++i;
      if (a == "--state") state = v;
      else if (a == "--disk") req["disk"] = v;
      else if (!ParseU64(v, n)) return Usage();
      else req[a.substr(2)] = n;
      continue;
    }
    if (!a.empty() && a[0] == '-') return Usage();
    if (!vm.empty()) return Usage();
    vm = a;
  }
  if (state.empty() || vm.empty()) return Usage();
  req["vm"] = vm;

  auto url = ReadEndpoint(state);
  if (!url.ok()) {
    std::fprintf(stderr, "casulo-sim write: %s\n", url.status().ToString().c_str());
    return 1;
  }
  httplib::Client cli(*url);
  // The simulator's certificate is self-signed and made at startup.
  cli.enable_server_certificate_verification(false);
  cli.set_read_timeout(300, 0);
  auto res = cli.Post("/casulo-sim/guest-write", req.dump(), "application/json");
  if (!res) {
    std::fprintf(stderr, "casulo-sim write: %s: %s\n", url->c_str(),
                 httplib::to_string(res.error()).c_str());
    return 1;
  }
  Json body = Json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (res->status != 200) {
    std::string msg = body.is_object() && body.contains("error") && body["error"].is_string()
                          ? body["error"].get<std::string>()
                          : res->body;
    std::fprintf(stderr, "casulo-sim write: %s\n", msg.c_str());
    return 1;
  }
  if (json || !body.is_object()) {
    std::fputs(res->body.c_str(), stdout);
    return 0;
  }
  for (const auto& d : body["disks"]) {
    std::printf("VDI %s (userdevice %s): %llu blocks of 64 KiB, %llu bytes, %llu in new regions%s\n",
                d["vdi"].get<std::string>().c_str(), d["userdevice"].get<std::string>().c_str(),
                (unsigned long long)d["count"].get<uint64_t>(),
                (unsigned long long)d["bytes"].get<uint64_t>(),
                (unsigned long long)d["new_blocks"].get<uint64_t>(),
                d["cbt"].get<bool>() ? ", marked in the CBT log" : "");
  }
  return 0;
}

}  // namespace casulo::sim

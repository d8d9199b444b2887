// casulo-sim fault --state DIR SPEC...   arm faults on a running simulator
// casulo-sim fault --state DIR --list    print the armed faults
// casulo-sim fault --state DIR --clear   disarm them all
// The simulator's URL is in DIR/endpoint (main.cc writes it once it
// listens); the control endpoint is control.cc's. A TLS simulator's
// self-signed certificate is not verified: this talks to our own loopback
// process.
#include <httplib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/file.h"
#include "sim/commands.h"

namespace casulo::sim {
namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: casulo-sim fault --state DIR SPEC...\n"
               "       casulo-sim fault --state DIR --list | --clear\n"
               "SPEC: error:METHOD:COUNT:CODE[,PARAM...] | snapshot-fails[:COUNT] |\n"
               "      drop:/PATH:BYTES[:COUNT] | slow:/PATH:BYTES_PER_S[:COUNT] |\n"
               "      expire-sessions | vdi-in-use:DURATION   (docs/design/simulator.md)\n");
  return 2;
}

}  // namespace

int RunFaultCommand(int argc, char** argv) {
  std::string state;
  bool list = false, clear = false;
  std::vector<std::string> specs;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--state" && i + 1 < argc) state = argv[++i];
    else if (a == "--list") list = true;
    else if (a == "--clear") clear = true;
    else if (!a.starts_with("--")) specs.push_back(a);
    else return Usage();
  }
  if (state.empty() || (specs.empty() && !list && !clear)) return Usage();
  auto url = ReadEndpoint(state);
  if (!url.ok()) {
    std::fprintf(stderr, "casulo-sim fault: %s\n", url.status().ToString().c_str());
    return 1;
  }
  httplib::Client cli(*url);
  cli.enable_server_certificate_verification(false);
  httplib::Result r = clear ? cli.Delete("/casulo-sim/faults") : cli.Get("/casulo-sim/faults");
  if (!specs.empty()) {
    std::string body;
    for (const auto& s : specs) body += s + "\n";
    r = cli.Post("/casulo-sim/faults", body, "text/plain");
  }
  if (!r) {
    std::fprintf(stderr, "casulo-sim fault: %s: %s\n", url->c_str(), httplib::to_string(r.error()).c_str());
    return 1;
  }
  if (r->status != 200) {
    std::fprintf(stderr, "casulo-sim fault: %s", r->body.c_str());
    return 1;
  }
  std::fputs(r->body.c_str(), stdout);
  return 0;
}

}  // namespace casulo::sim

// casulo-sim's subcommands besides serving. Each takes the arguments after
// its name and returns the process exit code.
#pragma once

#include <string>

#include "core/status.h"

namespace casulo::sim {

// casulo-sim write: guest activity on a running simulator (guest.cc's calls).
int RunWriteCommand(int argc, char** argv);
// casulo-sim fault: arms a fault on a running simulator (control.cc).
int RunFaultCommand(int argc, char** argv);

// The URL of the simulator running on `state_dir` (DIR/endpoint, written by
// the server at startup), without a trailing slash.
Result<std::string> ReadEndpoint(const std::string& state_dir);

}  // namespace casulo::sim

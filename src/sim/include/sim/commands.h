// casulo-sim's subcommands besides serving. Each takes the arguments after
// its name and returns the process exit code.
#pragma once

namespace casulo::sim {

// casulo-sim write: guest activity on a running simulator (guest.cc's calls).
int RunWriteCommand(int argc, char** argv);
// casulo-sim fault: arms a fault on a running simulator (control.cc).
int RunFaultCommand(int argc, char** argv);

}  // namespace casulo::sim

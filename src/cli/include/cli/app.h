// The casulo command line: parses argv, runs one command, maps its Status to
// an exit code (docs/cli-exit-codes.md).
#pragma once

namespace casulo::cli {
int Main(int argc, char** argv);
}  // namespace casulo::cli

#include "cli/app.h"

#include <csignal>
#include <cstdio>

#include "cli/common.h"
#include "core/cancel.h"

namespace casulo::cli {

namespace {

void OnSignal(int) { CancelFlag().store(true); }

void InstallSignalHandlers() {
  struct sigaction sa{};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed stdout becomes a write error, not a death
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"casulo: backup of XenServer and XCP-ng pools into a deduplicated, encrypted "
               "repository"};
  app.set_version_flag("--version", "casulo 0.1.0");
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the command: casulo backup image F -r R
  GlobalOptions g;
  app.add_option("-r,--repo", g.repo, "repository directory")->envname("CASULO_REPO");
  app.add_option("--cache-dir", g.cache_dir, "local cache directory")->envname("CASULO_CACHE_DIR");
  app.add_flag("--json", g.json, "machine-readable output on stdout");
  app.add_flag("-q,--quiet", g.quiet, "no progress display");

  CommandAction action;
  AddInitCommand(app, g, action);
  AddBackupCommand(app, g, action);
  AddRestoreCommand(app, g, action);
  AddSnapshotsCommand(app, g, action);
  AddCheckCommand(app, g, action);
  AddForgetCommand(app, g, action);
  AddPruneCommand(app, g, action);
  AddStatsCommand(app, g, action);
  AddCatCommand(app, g, action);
  AddKeyCommand(app, g, action);
  AddUnlockCommand(app, g, action);
  AddInspectCommand(app, g, action);
  AddConvertCommand(app, g, action);
  AddExportCommand(app, g, action);
  AddPoolCommand(app, g, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  InstallSignalHandlers();
  Status s = action ? action() : Status(Code::kInternal, "no command action");
  if (!s.ok()) {
    std::fprintf(stderr, "casulo: error: %s\n", s.ToString().c_str());
    return ExitCode(s);
  }
  return 0;
}

}  // namespace casulo::cli

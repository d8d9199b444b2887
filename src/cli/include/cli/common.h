// Shared pieces of the commands: global options, opening the repository,
// reading the password (never from argv), progress display, output.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "engine/image.h"
#include "repo/lock.h"
#include "repo/repository.h"

namespace casulo::cli {

struct GlobalOptions {
  std::string repo;       // -r / CASULO_REPO
  std::string cache_dir;  // --cache-dir / CASULO_CACHE_DIR
  bool json = false;      // machine-readable output on stdout
  bool quiet = false;     // no progress
};

// A registered command: adds its subcommand to `app` and returns the action
// run when it is chosen.
// What a chosen command runs; each Add*Command sets it from its callback.
using CommandAction = std::function<Status()>;

// The repository password: $CASULO_PASSWORD_FILE, else $CASULO_PASSWORD, else
// a prompt on the terminal. `confirm` asks twice (init, new passwords).
Result<std::string> ReadPassword(bool confirm = false);
// A new password for `key passwd`/`key add`: $CASULO_NEW_PASSWORD_FILE, else a prompt.
Result<std::string> ReadNewPassword();

Result<std::unique_ptr<repo::Repository>> OpenRepo(const GlobalOptions& g, bool sync_index = true);
Result<std::unique_ptr<repo::Lock>> LockRepo(repo::Repository& r, bool exclusive,
                                             std::string_view purpose);

// A progress line on stderr (rate, ETA), only when stderr is a terminal and
// the output is not JSON or quiet.
engine::ProgressFn MakeProgress(const GlobalOptions& g, std::string label);
void EndProgress(const GlobalOptions& g);

std::string HumanBytes(uint64_t n);

// Exit code for a Status (docs/cli-exit-codes.md).
int ExitCode(const Status& s);

// Command registration functions, one per cmd_*.cc.
void AddInitCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddBackupCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddBackupVmCommand(CLI::App& backup, const GlobalOptions& g, CommandAction& action);
void AddRestoreCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddRestoreVmCommand(CLI::App& restore, const GlobalOptions& g, CommandAction& action);
void AddSnapshotsCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddCheckCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddForgetCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddPruneCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddStatsCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddCatCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddKeyCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddUnlockCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddInspectCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddConvertCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddExportCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);
void AddPoolCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action);

}  // namespace casulo::cli

#include <cstdio>

#include "cli/common.h"

namespace casulo::cli {

void AddUnlockCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* sub = app.add_subcommand("unlock", "remove stale locks (of dead processes)");
  auto all = std::make_shared<bool>(false);
  sub->add_flag("--remove-all", *all, "remove every lock, even live ones (dangerous)");
  sub->callback([&g, &action, all] {
    action = [&g, all]() -> Status {
      ASSIGN_OR_RETURN(auto repo, OpenRepo(g, false));
      ASSIGN_OR_RETURN(int n, repo::RemoveStaleLocks(repo->backend(), repo->sealer(), *all));
      std::printf("removed %d lock%s\n", n, n == 1 ? "" : "s");
      return OkStatus();
    };
  });
}

}  // namespace casulo::cli

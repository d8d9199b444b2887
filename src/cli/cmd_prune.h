// Prune as both `prune` and `forget --prune` run it: plan, print, execute.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/common.h"

namespace casulo::cli {

struct PruneRun {
  double repack_below = 0.8;
  bool dry_run = false;
  // Snapshots to treat as removed (forget --dry-run --prune).
  std::vector<std::string> ignore_snapshots;
};

// Plans a prune, prints the plan (text on stdout, or into `*json` when
// g.json), and unless dry_run executes it. REQUIRES: `lock` is exclusive.
Status RunPrune(repo::Repository& repo, const repo::Lock& lock, const GlobalOptions& g,
                const PruneRun& run, nlohmann::json* json);

}  // namespace casulo::cli

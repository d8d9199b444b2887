#include "cmd_prune.h"

#include <cstdio>

#include "repo/prune.h"

namespace casulo::cli {

namespace {

nlohmann::json PlanJson(const repo::PrunePlan& p) {
  auto hexes = [](const std::vector<Hash256>& ids) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& id : ids) a.push_back(id.Hex());
    return a;
  };
  std::vector<Hash256> repacked;
  for (const auto& r : p.repack) repacked.push_back(r.pack);
  const auto& s = p.stats;
  return {{"repack_below", p.repack_below},
          {"snapshots", s.snapshots},
          {"index_files", s.index_files},
          {"rewrite_index", p.rewrite_index},
          {"packs", s.packs},
          {"packs_kept", p.keep.size()},
          {"packs_deleted", hexes(p.delete_packs)},
          {"packs_repacked", hexes(repacked)},
          {"packs_unreferenced", hexes(p.unreferenced_packs)},
          {"live_blobs", s.live_blobs},
          {"live_bytes", s.live_bytes},
          {"dead_blobs", s.dead_blobs},
          {"dead_bytes", s.dead_bytes},
          {"duplicate_blobs", s.duplicate_blobs},
          {"bytes_removed", p.bytes_removed},
          {"bytes_repacked", p.bytes_repacked},
          {"bytes_freed", p.bytes_freed()}};
}

void PrintPlan(const repo::PrunePlan& p) {
  const auto& s = p.stats;
  std::printf("prune plan (repack packs below %.0f%% live):\n", p.repack_below * 100);
  std::printf("  snapshots    %llu\n", (unsigned long long)s.snapshots);
  std::printf(
      "  packs        %llu in data/: %zu kept, %zu deleted, %zu repacked, %zu unreferenced "
      "deleted\n",
      (unsigned long long)s.packs, p.keep.size(), p.delete_packs.size(), p.repack.size(),
      p.unreferenced_packs.size());
  std::printf("  live blobs   %llu (%s)\n", (unsigned long long)s.live_blobs,
              HumanBytes(s.live_bytes).c_str());
  std::printf("  dead blobs   %llu (%s), %llu of them extra copies of live blobs\n",
              (unsigned long long)s.dead_blobs, HumanBytes(s.dead_bytes).c_str(),
              (unsigned long long)s.duplicate_blobs);
  std::printf("  index files  %llu, %s\n", (unsigned long long)s.index_files,
              p.rewrite_index ? "replaced by new ones" : "unchanged");
  std::printf("  frees        about %s (removes %s of packs, copies %s into new ones)\n",
              HumanBytes(p.bytes_freed()).c_str(), HumanBytes(p.bytes_removed).c_str(),
              HumanBytes(p.bytes_repacked).c_str());
}

}  // namespace

Status RunPrune(repo::Repository& repo, const repo::Lock& lock, const GlobalOptions& g,
                const PruneRun& run, nlohmann::json* json) {
  ASSIGN_OR_RETURN(repo::PrunePlan plan,
                   repo::PlanPrune(repo, run.repack_below, run.ignore_snapshots));
  if (g.json) {
    *json = PlanJson(plan);
  } else {
    PrintPlan(plan);
  }
  if (run.dry_run) {
    if (!g.json) std::printf("dry run: nothing changed\n");
    return OkStatus();
  }
  if (plan.empty()) {
    if (!g.json) std::printf("nothing to prune\n");
    return OkStatus();
  }
  RETURN_IF_ERROR(repo::ExecutePrune(repo, plan, [&lock] { return lock.status(); }));
  if (!g.json)
    std::printf(
        "pruned: %zu packs deleted, %zu repacked, %zu unreferenced removed; about %s "
        "freed\n",
        plan.delete_packs.size(), plan.repack.size(), plan.unreferenced_packs.size(),
        HumanBytes(plan.bytes_freed()).c_str());
  return OkStatus();
}

void AddPruneCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* sub =
      app.add_subcommand("prune", "remove data no snapshot needs (takes an exclusive lock)");
  auto run = std::make_shared<PruneRun>();
  sub->add_flag("--dry-run", run->dry_run, "print the plan, change nothing");
  sub->add_option("--repack-below", run->repack_below,
                  "repack packs whose live fraction is below this (0..1, default 0.8)")
      ->check(CLI::Range(0.0, 1.0));
  sub->callback([&g, &action, run] {
    action = [&g, run]() -> Status {
      // Prune reads the index files itself (and refuses damaged ones with
      // a pointer to check); the cache is re-synced after it ran.
      ASSIGN_OR_RETURN(auto repo, OpenRepo(g, /*sync_index=*/false));
      ASSIGN_OR_RETURN(auto lock, LockRepo(*repo, /*exclusive=*/true, "prune"));
      nlohmann::json j;
      Status s = RunPrune(*repo, *lock, g, *run, &j);
      if (g.json && s.ok()) {
        j["dry_run"] = run->dry_run;
        std::printf("%s\n", j.dump().c_str());
      }
      Status released = lock->Release();
      return s.ok() ? released : s;
    };
  });
}

}  // namespace casulo::cli

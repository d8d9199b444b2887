#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cmd_prune.h"
#include "repo/retention.h"

namespace casulo::cli {

namespace {

struct ForgetOptions {
  repo::RetentionPolicy policy;
  std::string within;  // duration text, parsed when run
  bool dry_run = false;
  bool prune = false;
  double repack_below = 0.8;
};

// Snapshots are grouped by what they back up: the policy applies to each
// (kind, source) separately, so a busy VM cannot push out another's history.
using GroupKey = std::pair<std::string, std::string>;

}  // namespace

void AddForgetCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* sub = app.add_subcommand(
      "forget",
      "remove snapshots by a retention policy, per (kind, source); --prune to free space");
  auto o = std::make_shared<ForgetOptions>();
  sub->add_option("--keep-last", o->policy.last, "keep the N newest snapshots");
  sub->add_option("--keep-hourly", o->policy.hourly, "keep the newest of each of N hours");
  sub->add_option("--keep-daily", o->policy.daily, "keep the newest of each of N days");
  sub->add_option("--keep-weekly", o->policy.weekly, "keep the newest of each of N ISO weeks");
  sub->add_option("--keep-monthly", o->policy.monthly, "keep the newest of each of N months");
  sub->add_option("--keep-yearly", o->policy.yearly, "keep the newest of each of N years");
  sub->add_option("--keep-within", o->within, "keep every snapshot newer than DUR (7d, 2w, 1y6m)");
  sub->add_option("--keep-tag", o->policy.keep_tags,
                  "keep every snapshot with this tag (repeatable)");
  sub->add_flag("--dry-run", o->dry_run, "print the plan, remove nothing");
  sub->add_flag("--prune", o->prune, "run prune afterwards (takes an exclusive lock)");
  sub->add_option("--repack-below", o->repack_below, "with --prune: see prune --repack-below")
      ->check(CLI::Range(0.0, 1.0));
  sub->callback([&g, &action, o] {
    action = [&g, o]() -> Status {
      repo::RetentionPolicy policy = o->policy;
      if (!o->within.empty()) {
        ASSIGN_OR_RETURN(policy.within_seconds, repo::ParseDuration(o->within));
      }
      if (policy.empty())
        return Error(Code::kInvalidArgument,
                     "forget needs a policy: give at least one of --keep-last, --keep-hourly, "
                     "--keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within, "
                     "--keep-tag (refusing to guess which snapshots to remove)");
      ASSIGN_OR_RETURN(auto repo, OpenRepo(g, /*sync_index=*/false));
      ASSIGN_OR_RETURN(auto lock, LockRepo(*repo, /*exclusive=*/o->prune, "forget"));
      ASSIGN_OR_RETURN(auto all, repo->ListSnapshots());
      std::map<GroupKey, std::vector<repo::SnapshotInfo>> groups;
      for (const auto& e : all)
        groups[{e.snap.kind, e.snap.source}].push_back(
            {e.id, e.snap.time, e.snap.tags, e.snap.time_nanos});

      const int64_t now = std::time(nullptr);
      std::vector<std::string> remove;
      nlohmann::json jgroups = nlohmann::json::array();
      for (auto& [key, infos] : groups) {
        auto decisions = repo::ApplyRetention(std::move(infos), policy, now);
        size_t kept = 0;
        for (const auto& d : decisions) kept += d.keep;
        if (!g.json)
          std::printf("%s %s: keep %zu, remove %zu\n", key.first.c_str(), key.second.c_str(), kept,
                      decisions.size() - kept);
        nlohmann::json jd = nlohmann::json::array();
        for (const auto& d : decisions) {
          std::string reasons;
          for (const auto& r : d.reasons) reasons += (reasons.empty() ? "" : ",") + r;
          if (!g.json)
            std::printf("  %-6s  %s  %s%s%s\n", d.keep ? "keep" : "remove",
                        d.id.substr(0, 12).c_str(), repo::FormatTime(d.time).c_str(),
                        reasons.empty() ? "" : "  ", reasons.c_str());
          jd.push_back({{"id", d.id},
                        {"time", repo::FormatTime(d.time)},
                        {"keep", d.keep},
                        {"reasons", d.reasons}});
          if (!d.keep) remove.push_back(d.id);
        }
        jgroups.push_back({{"kind", key.first}, {"source", key.second}, {"snapshots", jd}});
      }

      size_t removed = 0;
      if (!o->dry_run) {
        for (const auto& id : remove) {
          RETURN_IF_ERROR(lock->status().With("forget stopped before removing snapshots"));
          Status s = repo->backend().Remove(repo::FileType::kSnapshot, id);
          if (!s.ok() && s.code() != Code::kNotFound)
            return std::move(s).With(
                fmt::format("removing snapshot {} ({} of {} removed)", id, removed, remove.size()));
          ++removed;
        }
      }
      if (!g.json) {
        const size_t n = o->dry_run ? remove.size() : removed;
        std::printf("%s %zu snapshot%s\n", o->dry_run ? "dry run: would remove" : "removed", n,
                    n == 1 ? "" : "s");
      }

      nlohmann::json jprune;
      Status s;
      if (o->prune) {
        PruneRun run;
        run.repack_below = o->repack_below;
        run.dry_run = o->dry_run;
        if (o->dry_run) run.ignore_snapshots = remove;
        s = RunPrune(*repo, *lock, g, run, &jprune);
      }
      if (g.json && s.ok()) {
        nlohmann::json j = {{"groups", jgroups},
                            {"dry_run", o->dry_run},
                            {"removed", o->dry_run ? 0 : removed},
                            {"prune", o->prune ? jprune : nlohmann::json(nullptr)}};
        std::printf("%s\n", j.dump().c_str());
      }
      Status released = lock->Release();
      return s.ok() ? released : s;
    };
  });
}

}  // namespace casulo::cli

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"

namespace casulo::cli {

void AddStatsCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* sub = app.add_subcommand("stats", "repository size, deduplication and compression");
  sub->callback([&g, &action] {
    action = [&g]() -> Status {
      ASSIGN_OR_RETURN(auto repo, OpenRepo(g));
      ASSIGN_OR_RETURN(auto snaps, repo->ListSnapshots());
      ASSIGN_OR_RETURN(auto t, repo->index().GetTotals());
      uint64_t logical = 0;
      for (const auto& e : snaps) logical += e.snap.size;
      double dedup = t.raw_bytes ? double(logical) / double(t.raw_bytes) : 0;
      double comp = t.stored_bytes ? double(t.raw_bytes) / double(t.stored_bytes) : 0;
      if (g.json) {
        nlohmann::json j = {{"snapshots", snaps.size()},     {"logical_bytes", logical},
                            {"unique_bytes", t.raw_bytes},    {"stored_bytes", t.stored_bytes},
                            {"blobs", t.blobs},               {"packs", t.packs},
                            {"dedup_ratio", dedup},           {"compression_ratio", comp},
                            {"encrypted", repo->config().encrypted},
                            {"compression_level", repo->config().compression}};
        std::printf("%s\n", j.dump().c_str());
        return OkStatus();
      }
      std::printf("repository   %s (%s, zstd level %d)\n", g.repo.c_str(),
                  repo->config().encrypted ? "aes-256-gcm" : "unencrypted",
                  repo->config().compression);
      std::printf("snapshots    %zu, %s of images\n", snaps.size(), HumanBytes(logical).c_str());
      std::printf("unique data  %s in %llu chunks (dedup %.1fx, zero chunks not counted)\n",
                  HumanBytes(t.raw_bytes).c_str(), (unsigned long long)t.blobs, dedup);
      std::printf("stored       %s in %llu packs (compression %.2fx)\n",
                  HumanBytes(t.stored_bytes).c_str(), (unsigned long long)t.packs, comp);
      return OkStatus();
    };
  });
}

}  // namespace casulo::cli

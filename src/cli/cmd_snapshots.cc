#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"

namespace casulo::cli {

void AddSnapshotsCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* sub = app.add_subcommand("snapshots", "list snapshots");
  auto tag = std::make_shared<std::string>();
  sub->add_option("--tag", *tag, "only snapshots with this tag");
  sub->callback([&g, &action, tag] {
    action = [&g, tag]() -> Status {
      ASSIGN_OR_RETURN(auto repo, OpenRepo(g, false));
      ASSIGN_OR_RETURN(auto all, repo->ListSnapshots());
      std::vector<repo::SnapshotEntry> shown;
      for (auto& e : all)
        if (tag->empty() || std::find(e.snap.tags.begin(), e.snap.tags.end(), *tag) !=
                                e.snap.tags.end())
          shown.push_back(std::move(e));
      if (g.json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& e : shown) {
          nlohmann::json j = nlohmann::json::parse(repo::EncodeSnapshot(e.snap));
          j["id"] = e.id;
          arr.push_back(std::move(j));
        }
        std::printf("%s\n", arr.dump().c_str());
        return OkStatus();
      }
      std::printf("%-12s  %-20s  %-6s  %10s  %10s  %s\n", "ID", "TIME (UTC)", "KIND", "SIZE",
                  "NEW", "SOURCE");
      for (const auto& e : shown) {
        std::string tags;
        for (const auto& t : e.snap.tags) tags += " [" + t + "]";
        std::printf("%-12s  %-20s  %-6s  %10s  %10s  %s%s\n", e.id.substr(0, 12).c_str(),
                    repo::FormatTime(e.snap.time).c_str(), e.snap.kind.c_str(),
                    HumanBytes(e.snap.size).c_str(),
                    HumanBytes(e.snap.stats.stored_bytes).c_str(), e.snap.source.c_str(),
                    tags.c_str());
      }
      std::printf("%zu snapshots\n", shown.size());
      return OkStatus();
    };
  });
}

}  // namespace casulo::cli

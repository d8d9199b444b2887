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
        // A multi-disk point (a VM) counts its disks; its own tree is only
        // the metadata document. The VM's name follows its uuid.
        uint64_t size = e.snap.disks.empty() ? e.snap.size : 0;
        uint64_t stored = e.snap.stats.stored_bytes;
        for (const auto& d : e.snap.disks) size += d.size, stored += d.stats.stored_bytes;
        auto name = e.snap.labels.find("vm_name");
        std::string source = e.snap.source;
        if (name != e.snap.labels.end()) source += " (" + name->second + ")";
        std::printf("%-12s  %-20s  %-6s  %10s  %10s  %s%s\n", e.id.substr(0, 12).c_str(),
                    repo::FormatTime(e.snap.time).c_str(), e.snap.kind.c_str(), HumanBytes(size).c_str(),
                    HumanBytes(stored).c_str(), source.c_str(), tags.c_str());
      }
      std::printf("%zu snapshots\n", shown.size());
      return OkStatus();
    };
  });
}

}  // namespace casulo::cli

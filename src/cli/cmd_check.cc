#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "repo/check.h"

namespace casulo::cli {

namespace {

const char* SeverityName(repo::CheckFinding::Severity s) {
  return s == repo::CheckFinding::kError ? "error" : "info";
}

}  // namespace

void AddCheckCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* sub = app.add_subcommand(
      "check", "verify the repository: keys, index files, packs, snapshots and trees");
  auto o = std::make_shared<repo::CheckOptions>();
  sub->add_flag("--read-data", o->read_data,
                "also read every pack whole, open every blob and verify its id");
  sub->add_option("--read-data-subset", o->read_data_subset,
                  "read the data of some packs only: n/m (the n-th of m parts) or x% "
                  "(implies --read-data)");
  sub->callback([&g, &action, o] {
    action = [&g, o]() -> Status {
      // Bad options fail before the repository is touched.
      RETURN_IF_ERROR(repo::ParseReadDataSubset(o->read_data_subset));
      // No index sync: check reads the index files itself and reports a
      // damaged one instead of failing to open.
      ASSIGN_OR_RETURN(auto repo, OpenRepo(g, /*sync_index=*/false));
      ASSIGN_OR_RETURN(auto lock, LockRepo(*repo, false, "check"));
      auto print = [&g](const repo::CheckFinding& f) {
        if (g.json) return;
        std::printf("%-5s  %s: %s\n", SeverityName(f.severity), f.object.c_str(),
                    f.message.c_str());
        std::fflush(stdout);
      };
      ASSIGN_OR_RETURN(auto findings, repo::CheckRepository(*repo, *o, print));
      (void)lock->Release();
      size_t errors = 0;
      for (const auto& f : findings) errors += f.severity == repo::CheckFinding::kError;
      const size_t infos = findings.size() - errors;
      const bool data = o->read_data || !o->read_data_subset.empty();
      if (g.json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& f : findings)
          arr.push_back({{"severity", SeverityName(f.severity)},
                         {"object", f.object},
                         {"message", f.message}});
        nlohmann::json j = {{"findings", arr},
                            {"errors", errors},
                            {"infos", infos},
                            {"read_data", data},
                            {"read_data_subset", o->read_data_subset}};
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::string scope = "metadata only; --read-data also verifies every blob";
        if (data)
          scope = o->read_data_subset.empty() ? "all data read"
                                              : "data of packs " + o->read_data_subset + " read";
        std::printf("check: %zu error%s, %zu info%s (%s)\n", errors, errors == 1 ? "" : "s", infos,
                    infos == 1 ? "" : "s", scope.c_str());
      }
      if (errors > 0)
        return Error(Code::kCorruption, "check found {} error{} in {}", errors,
                     errors == 1 ? "" : "s", g.repo);
      return OkStatus();
    };
  });
}

}  // namespace casulo::cli

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/file.h"

namespace casulo::cli {

namespace {

// One flat JSON object: the snapshot's id, source, size, parent and stats.
std::string SnapshotJson(const std::string& id, const repo::Snapshot& s) {
  nlohmann::json j = nlohmann::json::parse(repo::SnapshotStatsJson(s.stats));
  j["snapshot"] = id;
  j["source"] = s.source;
  j["size"] = s.size;
  j["parent"] = s.parent ? nlohmann::json(*s.parent) : nlohmann::json(nullptr);
  return j.dump();
}

}  // namespace

void AddBackupCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* backup = app.add_subcommand("backup", "take a backup");
  backup->require_subcommand(1);
  AddBackupVmCommand(*backup, g, action);
  auto* sub = backup->add_subcommand("image", "back up a raw disk image (file, device, or - for stdin)");
  struct Opts {
    std::string path;
    std::string parent;
    std::string changed_blocks;
    std::string bitmap_format = "auto";
    std::string source;
    std::vector<std::string> tags;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("FILE", o->path, "image file, block device, or - for stdin")->required();
  sub->add_option("--parent", o->parent, "snapshot this one is made against (id, prefix, latest)");
  sub->add_option("--changed-blocks", o->changed_blocks,
                  "changed-block bitmap since --parent (CBT: 1 bit per 64 KiB, MSB first)");
  sub->add_option("--bitmap-format", o->bitmap_format, "raw, base64 or auto (default)")
      ->check(CLI::IsMember({"raw", "base64", "auto"}));
  sub->add_option("--source", o->source, "name recorded in the snapshot (default: FILE)");
  sub->add_option("--tag", o->tags, "tag the snapshot (repeatable)");
  sub->add_option("--threads", o->threads, "worker threads (default: one per core)");
  sub->callback([&g, &action, o] {
    action = [&g, o]() -> Status {
      ASSIGN_OR_RETURN(auto repo, OpenRepo(g));
      ASSIGN_OR_RETURN(auto lock, LockRepo(*repo, false, "backup"));
      ASSIGN_OR_RETURN(engine::ImageInput in, engine::OpenImageInput(o->path));
      engine::ImageBackupOptions bo;
      bo.source = o->source.empty() ? o->path : o->source;
      bo.tags = o->tags;
      bo.threads = o->threads;
      if (!o->parent.empty()) {
        ASSIGN_OR_RETURN(std::string pid, repo->ResolveSnapshot(o->parent).With("--parent"));
        bo.parent = pid;
      }
      if (!o->changed_blocks.empty()) {
        if (!in.seekable)
          return Error(Code::kInvalidArgument, "--changed-blocks needs a file or device input");
        ASSIGN_OR_RETURN(Bytes raw, ReadFile(o->changed_blocks).With("--changed-blocks"));
        ASSIGN_OR_RETURN(Bytes bitmap,
                         engine::ParseChangedBlocks(raw, o->bitmap_format, in.size)
                             .With(o->changed_blocks));
        bo.changed_blocks = std::move(bitmap);
      }
      bo.progress = MakeProgress(g, "backup");
      auto r = engine::BackupImage(*repo, in, bo);
      EndProgress(g);
      if (!r.ok()) return std::move(r).status().With("backup of " + o->path);
      RETURN_IF_ERROR(lock->Release());
      const auto& s = r->snapshot;
      if (g.json) {
        std::printf("%s\n", SnapshotJson(r->snapshot_id, s).c_str());
      } else {
        std::printf("snapshot %s saved\n", r->snapshot_id.substr(0, 12).c_str());
        std::printf("  image      %s (%llu chunks: %llu zero, %llu unchanged by bitmap)\n",
                    HumanBytes(s.size).c_str(), (unsigned long long)s.stats.chunks,
                    (unsigned long long)s.stats.zero_chunks,
                    (unsigned long long)s.stats.reused_chunks);
        std::printf("  read       %s\n", HumanBytes(s.stats.read_bytes).c_str());
        std::printf("  new        %s in %llu chunks, stored as %s\n",
                    HumanBytes(s.stats.new_bytes).c_str(), (unsigned long long)s.stats.new_chunks,
                    HumanBytes(s.stats.stored_bytes).c_str());
        std::printf("  time       %.2f s (%s/s)\n", s.stats.seconds,
                    HumanBytes(uint64_t(s.size / std::max(s.stats.seconds, 1e-3))).c_str());
      }
      return OkStatus();
    };
  });
}

}  // namespace casulo::cli

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/file.h"
#include "core/stream.h"
#include "engine/vm_restore.h"

namespace casulo::cli {

namespace {

struct Opts {
  std::string snapshot;
  std::string disk;  // restore disk: key, userdevice or name
  std::string out;
  bool overwrite = false;
  bool sync = false;
  int threads = 0;
  std::string format = "raw";  // raw | vhd
};

// A dynamic VHD of the image, written in order (a pipe or stdout works):
// only the 2 MiB blocks holding data are present, so `xe`, qemu-img and
// vhd-util see the holes.
Result<uint64_t> WriteVhd(repo::Repository& repo, const repo::Snapshot& view, const std::string& name,
                          const File& out) {
  repo::SnapshotDisk d;
  d.key = name;
  d.size = view.size;
  d.chunk_size = view.chunk_size;
  d.tree = view.tree;
  ASSIGN_OR_RETURN(engine::DiskVhdPlan plan, engine::PlanDiskVhd(repo, d));
  FileSink sink(&out);
  RETURN_IF_ERROR(engine::WriteDiskVhd(repo, d, plan, sink));
  RETURN_IF_ERROR(sink.Finish());
  if (sink.position() != plan.encoded_size)
    return Error(Code::kInternal, "VHD of {} bytes, planned {}", sink.position(), plan.encoded_size);
  return sink.position();
}

// The image to restore: the snapshot itself (restore image), or one disk of
// a multi-disk recovery point (restore disk), as a snapshot-shaped view.
Result<repo::Snapshot> SelectImage(const repo::Snapshot& snap, const std::string& id, const Opts& o) {
  if (o.disk.empty()) {
    if (!snap.disks.empty())
      return Error(Code::kInvalidArgument, "{} is a {} recovery point with {} disks: use `restore disk`",
                   id.substr(0, 12), snap.kind, snap.disks.size());
    return snap;
  }
  std::vector<const repo::SnapshotDisk*> hits;
  for (const auto& d : snap.disks) {
    auto ud = d.labels.find("userdevice");
    if (d.key == o.disk || d.name == o.disk || (ud != d.labels.end() && ud->second == o.disk)) hits.push_back(&d);
  }
  if (hits.empty()) {
    std::string have;
    for (const auto& d : snap.disks) {
      auto ud = d.labels.find("userdevice");
      have += fmt::format("\n  {} (userdevice {}, {})", d.key, ud == d.labels.end() ? "?" : ud->second, d.name);
    }
    return Error(Code::kNotFound, "{} has no disk '{}'; its disks:{}", id.substr(0, 12), o.disk,
                 have.empty() ? std::string(" none") : have);
  }
  if (hits.size() > 1) return Error(Code::kInvalidArgument, "'{}' names {} disks: give the key", o.disk, hits.size());
  repo::Snapshot view = snap;
  view.disks.clear();
  view.size = hits[0]->size;
  view.chunk_size = hits[0]->chunk_size;
  view.tree = hits[0]->tree;
  return view;
}

}  // namespace

void AddRestoreCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* restore = app.add_subcommand("restore", "restore from a snapshot");
  restore->require_subcommand(1);
  auto* sub = restore->add_subcommand("image", "restore a disk image to a file, device or stdout");
  auto o = std::make_shared<Opts>();
  sub->add_option("SNAPSHOT", o->snapshot, "snapshot id, unique prefix, or latest")->required();
  sub->add_option("OUT", o->out, "output file or device, or - for stdout")->required();
  sub->add_flag("--overwrite", o->overwrite, "replace an existing file");
  // Like cp, restic and borg, a restore leaves durability to the page cache;
  // --sync waits until the image is on disk.
  sub->add_flag("--sync", o->sync, "fsync the output before returning");
  sub->add_option("--threads", o->threads, "worker threads (default: one per core)");
  sub->add_option("--format", o->format, "raw (default) or vhd (a dynamic VHD holding only the data blocks)")
      ->check(CLI::IsMember({"raw", "vhd"}));
  auto* disk = restore->add_subcommand("disk", "restore one disk of a VM recovery point (raw or VHD) to a file, device or stdout");
  disk->add_option("SNAPSHOT", o->snapshot, "recovery point id, unique prefix, or latest")->required();
  disk->add_option("DISK", o->disk, "the disk: source VDI uuid, userdevice (0, 1...) or name")->required();
  disk->add_option("--to", o->out, "output file or device, or - for stdout")->required();
  disk->add_flag("--overwrite", o->overwrite, "replace an existing file");
  disk->add_flag("--sync", o->sync, "fsync the output before returning");
  disk->add_option("--format", o->format, "raw (default) or vhd (a dynamic VHD holding only the data blocks)")
      ->check(CLI::IsMember({"raw", "vhd"}));
  auto run = [&g, &action, o] {
    action = [&g, o]() -> Status {
      ASSIGN_OR_RETURN(auto repo, OpenRepo(g));
      ASSIGN_OR_RETURN(auto lock, LockRepo(*repo, false, "restore"));
      ASSIGN_OR_RETURN(std::string id, repo->ResolveSnapshot(o->snapshot));
      ASSIGN_OR_RETURN(repo::Snapshot whole, repo->LoadSnapshot(id));
      ASSIGN_OR_RETURN(repo::Snapshot snap, SelectImage(whole, id, *o));
      File out;
      bool seekable = false;
      bool to_stdout = o->out == "-";
      if (to_stdout) {
        if (isatty(STDOUT_FILENO))
          return Error(Code::kInvalidArgument, "refusing to write a disk image to a terminal");
        out = File::FromFd(STDOUT_FILENO, "<stdout>");
      } else {
        struct stat st;
        bool exists = ::stat(o->out.c_str(), &st) == 0;
        bool device = exists && S_ISBLK(st.st_mode);
        if (exists && !device && !o->overwrite && st.st_size > 0)
          return Error(Code::kAlreadyExists, "{} exists; give --overwrite to replace it", o->out);
        int trunc = o->format == "vhd" && !device ? O_TRUNC : 0;  // a VHD is written whole, in order
        ASSIGN_OR_RETURN(out, File::Open(o->out, O_WRONLY | trunc | (device ? 0 : O_CREAT), 0644));
        // Block devices cannot hold holes: they get every byte, in order.
        seekable = !device;
      }
      if (o->format == "vhd") {
        auto n = WriteVhd(*repo, snap, o->disk.empty() ? id : o->disk, out);
        if (n.ok() && o->sync && !to_stdout) {
          if (Status st = out.Sync(); !st.ok()) n = st;
        }
        if (to_stdout) out.Release();
        if (!n.ok()) return std::move(n).status().With("restore of " + id.substr(0, 12) + " as VHD");
        RETURN_IF_ERROR(lock->Release());
        if (g.json) std::printf("%s\n", nlohmann::json({{"snapshot", id}, {"format", "vhd"}, {"bytes", *n}}).dump().c_str());
        else if (!to_stdout)
          std::printf("restored %s as a %s VHD to %s\n", id.substr(0, 12).c_str(), HumanBytes(*n).c_str(),
                      o->out.c_str());
        return OkStatus();
      }
      engine::ImageRestoreOptions ro;
      ro.threads = o->threads;
      ro.sync = o->sync;
      ro.progress = MakeProgress(g, "restore");
      auto r = engine::RestoreImage(*repo, snap, out, seekable, ro);
      EndProgress(g);
      if (to_stdout) out.Release();
      if (!r.ok()) return std::move(r).status().With("restore of " + id.substr(0, 12));
      RETURN_IF_ERROR(lock->Release());
      if (g.json) {
        nlohmann::json j = {{"snapshot", id},        {"bytes", r->bytes},
                            {"data_chunks", r->data_chunks}, {"zero_chunks", r->zero_chunks},
                            {"seconds", r->seconds}};
        std::printf("%s\n", j.dump().c_str());
      } else if (!to_stdout) {
        std::printf("restored %s (%s) to %s in %.2f s\n", id.substr(0, 12).c_str(),
                    HumanBytes(r->bytes).c_str(), o->out.c_str(), r->seconds);
      }
      return OkStatus();
    };
  };
  sub->callback(run);
  disk->callback(run);
  AddRestoreVmCommand(*restore, g, action);
}

}  // namespace casulo::cli

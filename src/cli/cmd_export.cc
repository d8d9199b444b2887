// casulo export vm SNAPSHOT [--format xva] --to FILE|- [--name N]
// [--checksum xxhash|sha1] [--compress none|gzip|zstd] [--overwrite]
// (docs/design/vm-backup.md "Export"). A file appears under its name only
// when complete.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/file.h"
#include "engine/vm_restore.h"

namespace casulo::cli {
namespace {

struct ExportArgs {
  std::string snapshot, to, format = "xva", name, checksum = "xxhash", compress = "none";
  bool overwrite = false;
};

Status RunExportVm(const GlobalOptions& g, const ExportArgs& a) {
  if (a.format != "xva") return Error(Code::kInvalidArgument, "--format must be xva, not '{}'", a.format);
  engine::VmExportOptions o;
  o.name = a.name;
  if (a.checksum == "sha1") o.checksum = formats::ChunkChecksum::kSha1;
  else if (a.checksum != "xxhash")
    return Error(Code::kInvalidArgument, "--checksum must be xxhash or sha1, not '{}'", a.checksum);
  if (a.compress == "gzip") o.compression = formats::Compression::kGzip;
  else if (a.compress == "zstd") o.compression = formats::Compression::kZstd;
  else if (a.compress != "none")
    return Error(Code::kInvalidArgument, "--compress must be none, gzip or zstd, not '{}'", a.compress);
  const bool to_stdout = a.to == "-";
  if (to_stdout && isatty(STDOUT_FILENO)) return Error(Code::kInvalidArgument, "refusing to write an XVA to a terminal");
  if (!to_stdout) {
    struct stat st;
    if (::lstat(a.to.c_str(), &st) == 0) {
      if (!S_ISREG(st.st_mode)) return Error(Code::kInvalidArgument, "{} is not a regular file; write to - and redirect", a.to);
      if (!a.overwrite) return Error(Code::kAlreadyExists, "{} exists; give --overwrite to replace it", a.to);
    }
  }
  ASSIGN_OR_RETURN(auto repo, OpenRepo(g));
  ASSIGN_OR_RETURN(auto lock, LockRepo(*repo, false, "export vm"));
  ASSIGN_OR_RETURN(std::string id, repo->ResolveSnapshot(a.snapshot));
  ASSIGN_OR_RETURN(repo::Snapshot point, repo->LoadSnapshot(id));
  if (point.kind != "vm")
    return Error(Code::kInvalidArgument, "{} is a {} snapshot, not a VM recovery point", id.substr(0, 12), point.kind);
  File out;
  std::string temp;
  if (to_stdout) {
    out = File::FromFd(STDOUT_FILENO, "<stdout>");
  } else {
    temp = fmt::format("{}.casulo-tmp-{}", a.to, ::getpid());
    ASSIGN_OR_RETURN(out, File::Open(temp, O_WRONLY | O_CREAT | O_EXCL, 0644));
  }
  FileSink sink(&out);
  auto r = engine::ExportVmXva(*repo, point, sink, o);
  Status st = r.ok() ? sink.Finish() : r.status();
  if (to_stdout) out.Release();
  else if (st.ok()) st = out.Close();
  if (st.ok() && !to_stdout && std::rename(temp.c_str(), a.to.c_str()) != 0)
    st = ErrnoStatus(errno, "rename", a.to);
  if (!st.ok()) {
    if (!temp.empty()) ::unlink(temp.c_str());
    return std::move(st).With("export of " + id.substr(0, 12));
  }
  RETURN_IF_ERROR(lock->Release());
  if (g.json) {
    nlohmann::json j = {{"snapshot", id},          {"name", r->vm_name},        {"disks", r->disks},
                        {"vifs", r->vifs},         {"virtual_size", r->virtual_size},
                        {"data_bytes", r->data_bytes}, {"output_bytes", sink.position()}};
    std::fprintf(to_stdout ? stderr : stdout, "%s\n", j.dump().c_str());
  } else if (!to_stdout) {
    std::printf("exported %s (VM %s, %zu disks, %s of data) to %s (%s)\n", id.substr(0, 12).c_str(),
                r->vm_name.c_str(), r->disks, HumanBytes(r->data_bytes).c_str(), a.to.c_str(),
                HumanBytes(sink.position()).c_str());
  }
  return OkStatus();
}

}  // namespace

void AddExportCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* exp = app.add_subcommand("export", "write a recovery point in a format other tools import");
  exp->require_subcommand(1);
  auto a = std::make_shared<ExportArgs>();
  auto* sub = exp->add_subcommand("vm", "a VM recovery point as one XVA (xe vm-import)");
  sub->add_option("SNAPSHOT", a->snapshot, "recovery point id, unique prefix, or latest")->required();
  sub->add_option("--to", a->to, "output file, or - for stdout")->required();
  sub->add_option("--format", a->format, "xva (the only one)");
  sub->add_option("--name", a->name, "name of the VM in the XVA (default: the stored name)");
  sub->add_option("--checksum", a->checksum, "chunk checksums: xxhash (8.1 and later) or sha1 (older hosts)");
  sub->add_option("--compress", a->compress, "none, gzip or zstd");
  sub->add_flag("--overwrite", a->overwrite, "replace an existing file");
  sub->callback([&g, &action, a] { action = [&g, a] { return RunExportVm(g, *a); }; });
}

}  // namespace casulo::cli

// One disk of a VM backup, best transport first (docs/design/vm-backup.md,
// "Transports"): CBT + NBD against the kept cbt_metadata base, a VHD delta
// against a kept snapshot VDI, NBD reading the allocated blocks, a full VHD
// stream. Each transport that cannot be used says why, and the next is tried.
#include <fmt/format.h>

#include <thread>

#include "core/cancel.h"
#include "core/pipe.h"
#include "engine/disk.h"
#include "formats/vhd_reader.h"
#include "vm_internal.h"
#include "xapi/nbd.h"
#include "xapi/transfer.h"

namespace casulo::engine::vm {
namespace {

// MultiNbdReader as a RandomSource for the pipeline.
class NbdSource final : public RandomSource {
 public:
  explicit NbdSource(xapi::MultiNbdReader& r) : r_(r) {}
  uint64_t size() const override { return r_.Size(); }
  Result<size_t> ReadAt(uint64_t offset, MutableByteSpan out) const override {
    if (offset >= size()) return size_t(0);
    size_t n = size_t(std::min<uint64_t>(out.size(), size() - offset));
    RETURN_IF_ERROR(r_.Read(offset, out.first(n)));
    return n;
  }

 private:
  xapi::MultiNbdReader& r_;
};

DiskBackupOptions DiskOptions(const DiskJob& job, const VmBackupOptions& opt, bool with_parent) {
  DiskBackupOptions o;
  if (with_parent) o.parent = job.parent;
  o.threads = opt.threads;
  if (opt.progress) {
    std::string phase = "disk " + job.name;
    o.progress = [progress = opt.progress, phase](uint64_t done, uint64_t total) { progress(phase, done, total); };
  }
  return o;
}

// Where the snapshot VDI can be read over NBD, or why it cannot. What holds
// beyond this disk (no get_nbd_info on the hosts; no NBD network for its
// SR) is kept in the run's probe, so other disks and VMs do not ask again.
Result<std::vector<xapi::NbdInfo>> NbdInfos(xapi::Session& s, const DiskJob& job, const VmBackupOptions& opt) {
  if (std::string why = opt.probe->NoNbd(job.sr); !why.empty()) return Error(Code::kUnsupported, "{}", why);
  auto infos = xapi::GetNbdInfo(s, job.snap_vdi_ref);
  if (xapi::IsXapiError(infos.status(), "MESSAGE_METHOD_UNKNOWN")) {
    opt.probe->SetNoNbd("", "the hosts have no NBD (VDI.get_nbd_info is unknown: XenServer before 7.3)");
    return Error(Code::kUnsupported, "{}", opt.probe->NoNbd(job.sr));
  }
  if (!infos.ok()) return std::move(infos).status().With("VDI.get_nbd_info");
  if (infos->empty()) {
    opt.probe->SetNoNbd(job.sr,
                        "no network with an NBD purpose reaches the hosts of the disk's SR "
                        "(VDI.get_nbd_info is empty)");
    return Error(Code::kUnsupported, "{}", opt.probe->NoNbd(job.sr));
  }
  return infos;
}

Result<DiskBackupResult> ReadOverNbd(repo::Repository& repo, const DiskJob& job, const VmBackupOptions& opt,
                                     const std::vector<xapi::NbdInfo>& infos, std::optional<Bytes> bitmap) {
  ASSIGN_OR_RETURN(auto reader, xapi::MultiNbdReader::Connect(infos, std::max(1, opt.nbd_connections)));
  ASSIGN_OR_RETURN(std::vector<formats::ByteRange> ranges, reader->AllocatedExtents());
  NbdSource src(*reader);
  RandomDisk disk{&src, {}, std::move(bitmap)};
  for (const auto& r : ranges) disk.allocated.emplace_back(r.offset, r.length);
  return BackupDiskRandom(repo, disk, DiskOptions(job, opt, job.parent.has_value()));
}

std::string Label(const std::optional<repo::SnapshotDisk>& d, const char* key) {
  return d && d->labels.count(key) ? d->labels.at(key) : "";
}

// The base is the previous run's snapshot: its cbt_metadata VDI, or the
// whole snapshot a run without NBD kept (its CBT log serves as well).
// NBD is checked first: without it the bitmap would be asked for nothing.
Result<DiskBackupResult> CbtNbd(xapi::Session& s, repo::Repository& repo, const DiskJob& job,
                                const VmBackupOptions& opt) {
  if (!job.cbt) {
    if (std::string why = opt.probe->NoCbt(); !why.empty()) return Error(Code::kUnsupported, "{}", why);
    return Error(Code::kUnsupported, "{}",
                 opt.enable_cbt ? "CBT is off on this disk (VDI.enable_cbt did not take)"
                                : "CBT is off on this disk and was not asked for");
  }
  std::string base = Label(job.parent, kCbtBase);
  if (base.empty()) base = Label(job.parent, kVhdBase);
  if (base.empty()) return Error(Code::kUnsupported, "no CBT base from an earlier run");
  ASSIGN_OR_RETURN(std::vector<xapi::NbdInfo> infos, NbdInfos(s, job, opt));
  auto base_ref = s.Call("VDI.get_by_uuid", {XmlRpcValue(base)});
  if (!base_ref.ok()) return Error(Code::kUnsupported, "the CBT base {} is gone from the pool", base);
  ASSIGN_OR_RETURN(XmlRpcValue text, Call(s, "VDI.list_changed_blocks", {*base_ref, XmlRpcValue(job.snap_vdi_ref)}));
  if (!text.is_string()) return Error(Code::kRemote, "list_changed_blocks returned no string");
  ASSIGN_OR_RETURN(Bytes bitmap, ParseChangedBlocks(AsBytes(text.str()), "base64", job.size));
  return ReadOverNbd(repo, job, opt, infos, std::move(bitmap));
}

// GET /export_raw_vdi?format=vhd[&base=] parsed while it arrives.
Result<DiskBackupResult> VhdStream(xapi::Session& s, const xapi::Endpoint& ep, repo::Repository& repo,
                                   const DiskJob& job, const VmBackupOptions& opt, const std::string& base_ref,
                                   bool* was_delta) {
  xapi::HandlerRequest req{"/export_raw_vdi", {{"vdi", job.snap_vdi_ref}, {"format", "vhd"}}};
  if (!base_ref.empty()) req.query.emplace_back("base", base_ref);
  Pipe pipe;
  Result<xapi::TransferOutcome> dl = Status(Code::kInternal, "not run");
  xapi::HandlerOptions ho;
  ho.task_label = kTaskPrefix + job.name;
  std::thread t([&] {
    dl = xapi::Download(s, ep, req, pipe.sink(), ho);
    pipe.CloseWrite(dl.ok() ? OkStatus() : dl.status());
  });
  Result<DiskBackupResult> r = [&]() -> Result<DiskBackupResult> {
    ASSIGN_OR_RETURN(auto reader, formats::OpenVhdStream(pipe.source()));
    *was_delta = reader->info().kind == formats::DiskKind::kDelta;
    if (reader->info().virtual_size != job.size)
      return Error(Code::kCorruption, "the VHD says {} bytes, the VDI {}", reader->info().virtual_size, job.size);
    return BackupDiskExtents(repo, *reader, DiskOptions(job, opt, job.parent.has_value()));
  }();
  if (r.ok()) {
    Bytes sink(1 << 16);  // anything after the footer (nothing, normally)
    while (true) {
      auto n = pipe.source().Read(sink);
      if (!n.ok() || *n == 0) break;
    }
  }
  pipe.CloseRead();
  t.join();
  if (!dl.ok()) return std::move(dl).status();
  return r;
}

Result<DiskBackupResult> VhdDelta(xapi::Session& s, const xapi::Endpoint& ep, repo::Repository& repo,
                                  const DiskJob& job, const VmBackupOptions& opt, std::vector<std::string>* notes) {
  std::string base = Label(job.parent, kVhdBase);
  if (base.empty())
    return Error(Code::kUnsupported, "{}",
                 Label(job.parent, kCbtBase).empty()
                     ? "no kept snapshot from an earlier run"
                     : "the earlier run kept only CBT metadata (no data to diff against)");
  auto base_ref = s.Call("VDI.get_by_uuid", {XmlRpcValue(base)});
  if (!base_ref.ok()) return Error(Code::kUnsupported, "the kept snapshot {} is gone from the pool", base);
  bool delta = false;
  ASSIGN_OR_RETURN(DiskBackupResult r, VhdStream(s, ep, repo, job, opt, base_ref->str(), &delta));
  if (!delta) notes->push_back("the host sent a full VHD for base=" + base);
  return r;
}

}  // namespace

Result<DiskOutcome> BackupOneDisk(xapi::Session& s, const xapi::Endpoint& ep, repo::Repository& repo,
                                  const DiskJob& job, const VmBackupOptions& opt) {
  std::vector<std::string> fallbacks;
  std::string transport;
  Result<DiskBackupResult> r = Status(Code::kUnsupported, "no transport");
  // A cancelled attempt ends the disk: the next transport would only be
  // cancelled too, and its reason is not a fallback.
  auto attempt = [&](std::string name, auto&& fn) {
    if (r.ok() || r.status().code() == Code::kCancelled) return;
    r = fn();
    if (!r.ok() && CancelRequested() && r.status().code() != Code::kCancelled)
      r = Status(Code::kCancelled, "interrupted: " + r.status().ToString());
    if (r.ok()) {
      transport = std::move(name);
    } else if (r.status().code() != Code::kCancelled) {
      fallbacks.push_back(name + ": " + r.status().ToString());
    }
  };
  attempt("cbt-nbd", [&] { return CbtNbd(s, repo, job, opt); });
  attempt("vhd-delta", [&] { return VhdDelta(s, ep, repo, job, opt, &fallbacks); });
  attempt("nbd", [&]() -> Result<DiskBackupResult> {
    ASSIGN_OR_RETURN(std::vector<xapi::NbdInfo> infos, NbdInfos(s, job, opt));
    return ReadOverNbd(repo, job, opt, infos, std::nullopt);
  });
  attempt("vhd", [&]() -> Result<DiskBackupResult> {
    bool delta = false;
    return VhdStream(s, ep, repo, job, opt, "", &delta);
  });
  if (!r.ok()) return std::move(r).status().With("disk " + job.name + " (" + job.key + ")");

  DiskOutcome out;
  out.disk = repo::SnapshotDisk{job.key, job.name, r->size, repo.config().chunk_size, r->tree, r->stats, {}};
  out.disk.labels["userdevice"] = job.userdevice;
  out.disk.labels["transport"] = transport;
  out.disk.labels["snapshot_vdi"] = job.snap_vdi_uuid;
  std::string why;
  for (const auto& f : fallbacks) why += (why.empty() ? "" : "; ") + f;
  if (!why.empty()) out.disk.labels["fallbacks"] = why;
  out.report = VmDiskReport{job.key, job.name, transport, fallbacks, r->size, r->stats.read_bytes,
                            r->stats.new_bytes, r->stats.stored_bytes, r->stats.seconds};
  return out;
}

}  // namespace casulo::engine::vm

// casulo backup vm POOL [VM...] [--all] [--tag T] [--exclude-tag T]
// [--concurrency N] [--per-host N] [--per-sr N] (issue 5;
// docs/design/vm-backup.md). Up to N VMs at once (engine/vm_schedule.h),
// each worker with its own XenAPI session; one VM's failure is reported and
// the others go on; the summaries come out in VM name order whatever the
// order of finishing; the exit code is that of the first failure in that
// order (130 when interrupted).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/common.h"
#include "core/cancel.h"
#include "cmd_pool.h"
#include "engine/vm_backup.h"
#include "engine/vm_schedule.h"
#include "vm_progress.h"

namespace casulo::cli {
namespace {

struct VmArgs {
  std::string pool;
  std::vector<std::string> vms;
  bool all = false;
  std::vector<std::string> tags, exclude_tags, snapshot_tags;
  int nbd_connections = 2;
  bool no_cbt = false;
  bool quiesce = false;
  std::vector<std::string> exclude_disk_tags;
  int min_sr_free = 5, max_chain = 25;
  int concurrency = 1, per_host = 0, per_sr = 0;  // 0: no limit
};

bool HasAny(const formats::XmlRpcValue& rec, const std::vector<std::string>& tags) {
  const formats::XmlRpcValue* t = rec.Find("tags");
  if (t == nullptr || !t->is_array()) return false;
  for (const auto& v : t->array())
    if (v.is_string() && std::find(tags.begin(), tags.end(), v.str()) != tags.end()) return true;
  return false;
}

// The uuids of the VMs to back up, in name order, from names, uuids, --all
// and the tag filters. An unknown name is an error before anything starts.
Result<std::vector<std::pair<std::string, std::string>>> SelectVms(xapi::Session& s, const VmArgs& a) {
  ASSIGN_OR_RETURN(formats::XmlRpcValue all, s.Call("VM.get_all_records"));
  std::vector<std::pair<std::string, std::string>> out;  // (name, uuid)
  auto str = [](const formats::XmlRpcValue& r, const char* f) {
    const formats::XmlRpcValue* v = r.Find(f);
    return v && v->is_string() ? v->str() : std::string();
  };
  auto flag = [](const formats::XmlRpcValue& r, const char* f) {
    const formats::XmlRpcValue* v = r.Find(f);
    return v && v->type() == formats::XmlRpcValue::Type::kBool && v->b();
  };
  for (const auto& want : a.vms) {
    int found = 0;
    for (const auto& [ref, rec] : all.members()) {
      if (flag(rec, "is_a_template") || flag(rec, "is_a_snapshot") || flag(rec, "is_control_domain")) continue;
      if (str(rec, "uuid") == want || str(rec, "name_label") == want) {
        out.emplace_back(str(rec, "name_label"), str(rec, "uuid"));
        ++found;
      }
    }
    if (found == 0) return Error(Code::kNotFound, "no VM named or with uuid '{}' in pool {}", want, a.pool);
    if (found > 1) return Error(Code::kInvalidArgument, "'{}' names {} VMs: give the uuid", want, found);
  }
  if (a.all || (a.vms.empty() && !a.tags.empty())) {
    for (const auto& [ref, rec] : all.members()) {
      if (flag(rec, "is_a_template") || flag(rec, "is_a_snapshot") || flag(rec, "is_control_domain")) continue;
      if (!a.tags.empty() && !HasAny(rec, a.tags)) continue;
      out.emplace_back(str(rec, "name_label"), str(rec, "uuid"));
    }
  }
  std::erase_if(out, [&](const auto& nu) {
    for (const auto& [ref, rec] : all.members())
      if (str(rec, "uuid") == nu.second) return HasAny(rec, a.exclude_tags);
    return false;
  });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.empty()) return Error(Code::kInvalidArgument, "no VM selected: name VMs, or use --all or --tag");
  return out;
}

nlohmann::json ReportJson(const engine::VmBackupReport& r) {
  nlohmann::json j = {{"vm", r.vm_uuid},       {"name", r.vm_name},         {"snapshot", r.snapshot_id},
                      {"parent", r.parent_id}, {"skipped", r.skipped},      {"note", r.skip_reason},
                      {"read_bytes", r.read_bytes}, {"new_bytes", r.new_bytes}, {"phases", r.phase_seconds},
                      {"swept", r.swept}, {"notes", r.notes}};
  for (const auto& d : r.disks)
    j["disks"].push_back({{"key", d.key}, {"name", d.name}, {"transport", d.transport},
                          {"fallbacks", d.fallbacks}, {"size", d.size}, {"read_bytes", d.read_bytes},
                          {"new_bytes", d.new_bytes}, {"stored_bytes", d.stored_bytes}, {"seconds", d.seconds}});
  return j;
}

void PrintReport(const engine::VmBackupReport& r) {
  if (r.skipped) {
    std::printf("%s: skipped: %s\n", r.vm_name.c_str(), r.skip_reason.c_str());
    return;
  }
  double total = 0;
  for (const auto& [k, v] : r.phase_seconds) total += v;
  std::printf("%s: recovery point %s (%s read, %s new, %.2f s)\n", r.vm_name.c_str(),
              r.snapshot_id.substr(0, 12).c_str(), HumanBytes(r.read_bytes).c_str(),
              HumanBytes(r.new_bytes).c_str(), total);
  for (const auto& d : r.disks) {
    std::printf("  disk %-24s %-10s %9s read %9s new %6.2f s\n", d.name.c_str(), d.transport.c_str(),
                HumanBytes(d.read_bytes).c_str(), HumanBytes(d.new_bytes).c_str(), d.seconds);
    for (const auto& f : d.fallbacks) std::printf("    not %s\n", f.c_str());
  }
  std::string phases;
  for (const char* p : {"preflight", "snapshot", "metadata", "disks", "commit", "cleanup"})
    if (r.phase_seconds.count(p)) phases += fmt::format(" {} {:.2f}s", p, r.phase_seconds.at(p));
  std::printf("  phases:%s\n", phases.c_str());
  for (const auto& w : r.swept) std::printf("  removed a leftover of an earlier run: %s\n", w.c_str());
  for (const auto& n : r.notes) std::printf("  note: %s\n", n.c_str());
  if (!r.skip_reason.empty()) std::printf("  warning: %s\n", r.skip_reason.c_str());
}

Status RunBackupVm(const GlobalOptions& g, const VmArgs& a) {
  ASSIGN_OR_RETURN(std::string config, ConfigDir());
  ASSIGN_OR_RETURN(PoolEntry entry, LoadPoolEntry(config, a.pool));
  ASSIGN_OR_RETURN(std::string password, LoadPoolPassword(config, a.pool));
  ASSIGN_OR_RETURN(auto session, ConnectPool(entry, password).With("pool " + a.pool));
  ASSIGN_OR_RETURN(auto vms, SelectVms(*session, a));
  // A Session is one connection and not thread-safe: each worker logs in
  // its own (the first reuses this one).
  const size_t workers = std::min<size_t>(size_t(std::max(1, a.concurrency)), vms.size());
  std::vector<std::unique_ptr<xapi::Session>> extra;
  std::vector<xapi::Session*> sessions{session.get()};
  for (size_t i = 1; i < workers; ++i) {
    ASSIGN_OR_RETURN(auto s, ConnectPool(entry, password).With("pool " + a.pool + ", worker session"));
    sessions.push_back(s.get());
    extra.push_back(std::move(s));
  }
  std::vector<engine::VmPlacement> places(vms.size());
  if (workers > 1 && (a.per_host > 0 || a.per_sr > 0))
    for (size_t i = 0; i < vms.size(); ++i) places[i] = engine::PlaceVm(*session, vms[i].second);
  ASSIGN_OR_RETURN(auto repo, OpenRepo(g));
  ASSIGN_OR_RETURN(auto lock, LockRepo(*repo, false, "backup vm"));
  xapi::Endpoint ep{session->url(), {entry.pin, entry.ca_file}};
  engine::VmBackupOptions o;
  o.pool = a.pool;
  o.tags = a.snapshot_tags;
  o.enable_cbt = !a.no_cbt;
  o.nbd_connections = a.nbd_connections;
  o.quiesce = a.quiesce;
  o.exclude_disk_tags = a.exclude_disk_tags;
  o.min_sr_free_percent = a.min_sr_free;
  o.max_chain = a.max_chain;
  // The disks' hashing and sealing threads are shared out among the VMs.
  if (workers > 1) o.threads = int(std::max<size_t>(2, std::thread::hardware_concurrency() / workers));

  std::vector<std::string> names, uuids;
  for (const auto& [name, uuid] : vms) {
    names.push_back(name);
    uuids.push_back(uuid);
  }
  VmProgress progress(g, names, uuids);
  engine::VmBatchOptions bo;
  bo.limits = {int(workers), a.per_host, a.per_sr};
  bo.options_for = [&](size_t i) {
    engine::VmBackupOptions vo = o;
    vo.progress = [&progress, i](std::string_view phase, uint64_t done, uint64_t total) {
      progress.Update(i, phase, done, total);
    };
    return vo;
  };
  bo.on_start = [&](size_t i) { progress.Start(i); };
  bo.on_tick = [&] { progress.Tick(); };
  Status first, cancelled;
  nlohmann::json out = nlohmann::json::array();
  bo.on_result = [&](size_t i, Result<engine::VmBackupReport> r) {
    progress.Finish(i);
    progress.Clear();
    const auto& [name, uuid] = vms[i];
    if (!r.ok()) {
      Status st = std::move(r).status().With("VM " + name);
      std::fprintf(stderr, "casulo: %s\n", st.ToString().c_str());
      if (g.json) out.push_back({{"vm", uuid}, {"name", name}, {"error", st.ToString()}});
      if (first.ok()) first = st;
      if (st.code() == Code::kCancelled && cancelled.ok()) cancelled = st;
    } else if (g.json) {
      out.push_back(ReportJson(*r));
    } else {
      PrintReport(*r);
      std::fflush(stdout);
    }
  };
  engine::BackupVms(sessions, ep, *repo, uuids, places, bo);
  progress.Clear();
  if (g.json) std::printf("%s\n", out.dump().c_str());
  RETURN_IF_ERROR(lock->Release());
  // Interrupted: exit as interrupted (130) even when an earlier VM failed.
  return cancelled.ok() ? first : cancelled;
}

}  // namespace

void AddBackupVmCommand(CLI::App& backup, const GlobalOptions& g, CommandAction& action) {
  auto a = std::make_shared<VmArgs>();
  auto* sub = backup.add_subcommand("vm", "back up VMs of a pool (snapshot, metadata, disks)");
  sub->add_option("POOL", a->pool, "a pool added with `casulo pool add`")->required();
  sub->add_option("VM", a->vms, "VM names or uuids");
  sub->add_flag("--all", a->all, "every VM of the pool (not templates, snapshots or dom0)");
  sub->add_option("--tag", a->tags, "VMs carrying this XenServer tag (repeatable)");
  sub->add_option("--exclude-tag", a->exclude_tags, "leave out VMs carrying this tag (repeatable)");
  sub->add_option("--snapshot-tag", a->snapshot_tags, "tag the recovery points (repeatable)");
  sub->add_option("--nbd-connections", a->nbd_connections, "NBD connections per disk (default 2)")
      ->check(CLI::Range(1, 16));
  sub->add_flag("--no-cbt", a->no_cbt, "do not turn CBT on for the VMs' disks");
  sub->add_flag("--quiesce", a->quiesce,
                "quiesced (VSS) snapshots where the host and guest support them (before CH 8.1)");
  sub->add_option("--exclude-disk-tag", a->exclude_disk_tags,
                  "leave out disks carrying this tag (repeatable; disks named [NOBAK] always are)");
  sub->add_option("--min-sr-free", a->min_sr_free,
                  "skip a VM whose snapshot would leave less than PCT% of an SR free (default 5; 0: off)")
      ->check(CLI::Range(0, 90));
  sub->add_option("--max-chain", a->max_chain,
                  "skip a VM with a disk whose VHD chain is this long already (default 25; 0: off)")
      ->check(CLI::Range(0, 30));
  sub->add_option("--concurrency", a->concurrency,
                  "back up N VMs at once, each with its own XenAPI session (default 1)")
      ->check(CLI::Range(1, 64));
  sub->add_option("--per-host", a->per_host,
                  "at most N VMs at once per host (where it runs; halted on a local SR: that SR's host; "
                  "default 0: no limit)")
      ->check(CLI::Range(0, 64));
  sub->add_option("--per-sr", a->per_sr,
                  "at most N VMs at once with a disk on any one SR (default 0: no limit)")
      ->check(CLI::Range(0, 64));
  sub->callback([&g, &action, a] { action = [&g, a] { return RunBackupVm(g, *a); }; });
}

}  // namespace casulo::cli

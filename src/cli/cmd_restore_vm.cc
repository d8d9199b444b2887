// casulo restore vm SNAPSHOT --pool P [--sr SR] [--network-map OLD=NEW]...
// [--name N] [--start] [--keep-macs] (docs/design/vm-backup.md "Restore"):
// a new VM; on failure nothing of it is left in the pool. With --overwrite
// [--differential] [--into VM]: the point's disks written over an existing
// halted VM ("Restore over a VM"), which is refused without --overwrite.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cmd_pool.h"
#include "engine/vm_restore.h"

namespace casulo::cli {
namespace {

struct RestoreVmArgs {
  std::string snapshot, pool, sr, name;
  std::vector<std::string> network_map;
  bool start = false, keep_macs = false;
  bool overwrite = false, differential = false;
  std::string into;
};

Status RunRestoreVm(const GlobalOptions& g, const RestoreVmArgs& a) {
  engine::VmRestoreOptions o;
  for (const auto& m : a.network_map) {
    size_t eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size())
      return Error(Code::kInvalidArgument, "--network-map '{}': expected OLD=NEW", m);
    o.network_map.emplace_back(m.substr(0, eq), m.substr(eq + 1));
  }
  if (a.overwrite || a.differential || !a.into.empty()) {
    const char* given = !a.sr.empty() ? "--sr" : !a.name.empty() ? "--name"
                        : !a.network_map.empty() ? "--network-map" : a.keep_macs ? "--keep-macs" : nullptr;
    if (given != nullptr)
      return Error(Code::kInvalidArgument,
                   "{} does not apply over an existing VM: only its disks are written, in their SRs", given);
  }
  o.overwrite = a.overwrite;
  o.differential = a.differential;
  o.into = a.into;
  o.sr = a.sr;
  o.name = a.name;
  o.start = a.start;
  o.keep_macs = a.keep_macs;
  ASSIGN_OR_RETURN(auto repo, OpenRepo(g));
  ASSIGN_OR_RETURN(auto lock, LockRepo(*repo, false, "restore vm"));
  ASSIGN_OR_RETURN(std::string id, repo->ResolveSnapshot(a.snapshot));
  ASSIGN_OR_RETURN(repo::Snapshot point, repo->LoadSnapshot(id));
  if (point.kind != "vm")
    return Error(Code::kInvalidArgument, "{} is a {} snapshot, not a VM recovery point: use `restore image`",
                 id.substr(0, 12), point.kind);
  ASSIGN_OR_RETURN(std::string config, ConfigDir());
  ASSIGN_OR_RETURN(PoolEntry entry, LoadPoolEntry(config, a.pool));
  ASSIGN_OR_RETURN(std::string password, LoadPoolPassword(config, a.pool));
  ASSIGN_OR_RETURN(auto session, ConnectPool(entry, password).With("pool " + a.pool));
  xapi::Endpoint ep{session->url(), {entry.pin, entry.ca_file}};
  if (!g.quiet && !g.json)
    o.progress = [](std::string_view phase, uint64_t, uint64_t) {
      std::fprintf(stderr, "  %.*s\n", int(phase.size()), phase.data());
    };
  auto r = engine::RestoreVm(*session, ep, *repo, point, o);
  if (!r.ok()) return std::move(r).status().With("restore of " + id.substr(0, 12));
  RETURN_IF_ERROR(lock->Release());
  if (g.json) {
    nlohmann::json j = {{"snapshot", id},        {"vm", r->vm_uuid},    {"name", r->vm_name},
                        {"sr", r->sr_uuid},      {"sr_name", r->sr_name}, {"started", r->started},
                        {"seconds", r->seconds}, {"disks", nlohmann::json::array()},
                        {"vifs", nlohmann::json::array()}, {"overwrote", r->overwrote},
                        {"notes", r->notes}};
    for (const auto& d : r->disks)
      j["disks"].push_back({{"key", d.key}, {"name", d.name}, {"userdevice", d.userdevice}, {"vdi", d.vdi_uuid},
                            {"size", d.size}, {"sent_bytes", d.sent_bytes}, {"seconds", d.seconds},
                            {"mode", d.mode}, {"changed_blocks", d.changed_blocks}, {"cbt_base", d.cbt_base},
                            {"fallback", d.fallback}, {"replaced_vdi", d.replaced_vdi}});
    for (const auto& v : r->vifs)
      j["vifs"].push_back({{"device", v.device}, {"network", v.network_uuid}, {"network_name", v.network_name},
                           {"mac", v.mac}, {"matched_by", v.matched_by}});
    std::printf("%s\n", j.dump().c_str());
    return OkStatus();
  }
  if (r->overwrote) {
    std::printf("restored %s over VM %s (%s), %.2f s%s\n", id.substr(0, 12).c_str(), r->vm_name.c_str(),
                r->vm_uuid.c_str(), r->seconds, r->started ? ", started" : "");
    for (const auto& d : r->disks) {
      std::printf("  disk %s %-24s %-12s %9s sent of %9s  %6.2f s  VDI %s\n", d.userdevice.c_str(), d.name.c_str(),
                  d.mode.c_str(), HumanBytes(d.sent_bytes).c_str(), HumanBytes(d.size).c_str(), d.seconds,
                  d.vdi_uuid.c_str());
      if (!d.fallback.empty()) std::printf("    written whole: %s\n", d.fallback.c_str());
    }
    for (const auto& n : r->notes) std::printf("  note: %s\n", n.c_str());
    return OkStatus();
  }
  std::printf("restored %s as VM %s (%s) in SR %s, %.2f s%s\n", id.substr(0, 12).c_str(), r->vm_name.c_str(),
              r->vm_uuid.c_str(), r->sr_name.c_str(), r->seconds, r->started ? ", started" : "");
  for (const auto& d : r->disks)
    std::printf("  disk %s %-24s %9s sent %6.2f s  VDI %s\n", d.userdevice.c_str(), d.name.c_str(),
                HumanBytes(d.sent_bytes).c_str(), d.seconds, d.vdi_uuid.c_str());
  for (const auto& v : r->vifs)
    std::printf("  vif %s on %s (%s) MAC %s\n", v.device.c_str(), v.network_name.c_str(), v.matched_by.c_str(),
                v.mac.c_str());
  return OkStatus();
}

}  // namespace

void AddRestoreVmCommand(CLI::App& restore, const GlobalOptions& g, CommandAction& action) {
  auto a = std::make_shared<RestoreVmArgs>();
  auto* sub = restore.add_subcommand(
      "vm", "restore a VM recovery point into a pool as a new VM, or with --overwrite over an existing VM's disks");
  sub->add_option("SNAPSHOT", a->snapshot, "recovery point id, unique prefix, or latest")->required();
  sub->add_option("--pool", a->pool, "a pool added with `casulo pool add`")->required();
  sub->add_option("--sr", a->sr, "SR for the disks, by name or uuid (default: the pool's default SR)");
  sub->add_option("--network-map", a->network_map,
                  "OLD=NEW: put VIFs of stored network OLD (uuid or name) on network NEW (repeatable)");
  sub->add_option("--name", a->name, "name of the new VM (default: the stored name)");
  sub->add_flag("--start", a->start, "start the VM once restored");
  sub->add_flag("--keep-macs", a->keep_macs, "keep the stored MAC addresses (default: new ones)");
  sub->add_flag("--overwrite", a->overwrite,
                "write the point's disks over an existing halted VM (the point's own, or --into) instead of "
                "creating one; each disk goes into a new VDI swapped in once all are written");
  sub->add_flag("--differential", a->differential,
                "with --overwrite: send only the 64 KiB blocks changed since the point's snapshot (CBT); "
                "disks CBT cannot answer for are written whole, with the reason");
  sub->add_option("--into", a->into, "with --overwrite: the VM to write over (uuid or name; default: the "
                                     "point's source VM)");
  sub->callback([&g, &action, a] { action = [&g, a] { return RunRestoreVm(g, *a); }; });
}

}  // namespace casulo::cli

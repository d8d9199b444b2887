// Reading casulo-sim's state and statistics from a CLI test: what a VM
// backup must not leave in the pool.
// Shared by cli_vm_faults_test.cc and cli_vm_concurrency_test.cc.
// Header-only, test code only.
#pragma once

#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace casulo::testing {

// The VDIs the latest points record as kept for the next run: cbt_metadata
// bases (after data_destroy) and whole snapshots kept for a VHD delta.
struct Kept {
  std::set<std::string> cbt, vhd;
};

// The bases named by the latest point of each VM in `points` (the output of
// `casulo --json snapshots`).
inline Kept LatestBases(const nlohmann::json& points) {
  std::map<std::string, nlohmann::json> latest;
  for (const auto& p : points)
    if (!latest.count(p["source"]) || p["time"] > latest[p["source"]]["time"]) latest[p["source"]] = p;
  Kept out;
  for (const auto& [vm, p] : latest)
    for (const auto& d : p["disks"]) {
      if (d["labels"].contains("cbt_base")) out.cbt.insert(d["labels"]["cbt_base"].get<std::string>());
      if (d["labels"].contains("vhd_base")) out.vhd.insert(d["labels"]["vhd_base"].get<std::string>());
    }
  return out;
}

// Everything in the simulator's state (db.json, saved after every mutating
// call) that a finished backup must not leave: snapshot VMs, snapshot VDIs
// other than the bases the repository's latest points record (a CBT base
// must be cbt_metadata, a VHD base a whole snapshot), VBDs of snapshot VMs
// or snapshot VDIs, tasks, and blocked operations with our reason. One line
// per leftover.
inline std::vector<std::string> Leftovers(const nlohmann::json& db, const Kept& kept) {
  using Json = nlohmann::json;
  std::vector<std::string> out;
  const Json& o = db["objects"];
  auto all = [&](const char* cls) { return o.contains(cls) ? o[cls] : Json::object(); };
  const Json vms = all("VM"), vdis = all("VDI"), vbds = all("VBD"), tasks = all("task");
  for (const auto& [ref, vm] : vms.items()) {
    if (vm["is_a_snapshot"] == true)
      out.push_back("snapshot VM " + vm["name_label"].get<std::string>());
    const Json& blocked = vm["blocked_operations"];
    for (const auto& [op, why] : blocked.items())
      if (why == "casulo backup running")
        out.push_back("blocked " + op + " on " + vm["name_label"].get<std::string>());
  }
  for (const auto& [ref, vdi] : vdis.items()) {
    std::string uuid = vdi["uuid"], type = vdi["type"];
    if (kept.cbt.count(uuid)) {
      if (type != "cbt_metadata") out.push_back("CBT base VDI " + uuid + " still holds data (" + type + ")");
    } else if (kept.vhd.count(uuid)) {
      if (type == "cbt_metadata" || vdi["is_a_snapshot"] != true)
        out.push_back("VHD base VDI " + uuid + " is not a whole snapshot (" + type + ")");
    } else if (vdi["is_a_snapshot"] == true || type == "cbt_metadata") {
      out.push_back("snapshot VDI " + uuid + " (" + type + ")");
    }
  }
  for (const auto& [ref, vbd] : vbds.items()) {
    std::string vm = vbd["VM"], vdi = vbd["VDI"];
    if (!vms.contains(vm) || vms[vm]["is_a_snapshot"] == true)
      out.push_back("VBD " + ref + " of a snapshot VM");
    else if (vdis.contains(vdi) && vdis[vdi]["is_a_snapshot"] == true)
      out.push_back("VBD " + ref + " on a snapshot VDI");
  }
  for (const auto& [ref, task] : tasks.items())
    out.push_back("task " + task["name_label"].get<std::string>() + " " +
                  task["status"].get<std::string>());
  return out;
}

}  // namespace casulo::testing

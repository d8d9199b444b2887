// casulo pool show NAME: one session, a few get_all_records, a summary of
// the pool (reference §2.1, §2.2, §2.5) and its capabilities (§6).
#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cmd_pool.h"
#include "xapi/probe.h"
#include "xapi/records.h"

namespace casulo::cli {

namespace {

using nlohmann::json;

template <typename T>
Result<std::vector<T>> GetAll(xapi::Session& s, const std::string& cls,
                              Result<T> (*parse)(std::string_view, const xapi::XmlRpcValue&)) {
  ASSIGN_OR_RETURN(xapi::XmlRpcValue all, s.Call(cls + ".get_all_records"));
  return xapi::ParseAllRecords<T>(all, parse).With(cls + ".get_all_records");
}

const char* YesNo(bool b) { return b ? "yes" : "no"; }

}  // namespace

Status RunPoolShow(const GlobalOptions& g, const std::string& name) {
  ASSIGN_OR_RETURN(std::string config, ConfigDir());
  ASSIGN_OR_RETURN(PoolEntry entry, LoadPoolEntry(config, name));
  ASSIGN_OR_RETURN(std::string password, LoadPoolPassword(config, name));
  ASSIGN_OR_RETURN(auto session, ConnectPool(entry, password).With("pool " + name));
  password.clear();

  ASSIGN_OR_RETURN(xapi::ProbeResult probe, xapi::Probe(*session));
  ASSIGN_OR_RETURN(auto hosts, GetAll<xapi::HostRecord>(*session, "host", xapi::ParseHost));
  ASSIGN_OR_RETURN(auto srs, GetAll<xapi::SrRecord>(*session, "SR", xapi::ParseSr));
  ASSIGN_OR_RETURN(auto pifs, GetAll<xapi::PifRecord>(*session, "PIF", xapi::ParsePif));
  ASSIGN_OR_RETURN(auto vms, GetAll<xapi::VmRecord>(*session, "VM", xapi::ParseVm));
  ASSIGN_OR_RETURN(auto vbds, GetAll<xapi::VbdRecord>(*session, "VBD", xapi::ParseVbd));
  (void)session->Logout();  // best effort: everything is read
  // Stable output: master first, then by name.
  auto by_name = [](const auto& a, const auto& b) { return a.name_label < b.name_label; };
  std::sort(hosts.begin(), hosts.end(), [&](const auto& a, const auto& b) {
    bool am = a.ref == probe.pool.master, bm = b.ref == probe.pool.master;
    return am != bm ? am : a.name_label < b.name_label;
  });
  std::sort(srs.begin(), srs.end(), by_name);
  std::sort(probe.networks.begin(), probe.networks.end(), by_name);
  std::sort(vms.begin(), vms.end(), by_name);
  const xapi::Capabilities& caps = probe.caps;

  std::map<std::string, bool> vbd_is_disk;
  for (const auto& b : vbds) vbd_is_disk[b.ref] = b.IsDisk();
  // Per network: VLAN tag and bond, from the PIFs on it (one per host).
  std::map<std::string, int64_t> net_vlan;
  std::map<std::string, bool> net_bond;
  for (const auto& p : pifs) {
    if (p.vlan >= 0) net_vlan[p.network] = p.vlan;
    if (!p.bond_master_of.empty()) net_bond[p.network] = true;
  }

  json j;
  j["pool"] = {{"name", probe.pool.name_label}, {"uuid", probe.pool.uuid},
               {"master", probe.master.name_label}, {"url", entry.url}};
  j["hosts"] = json::array();
  for (const auto& h : hosts) {
    auto pv = h.software_version.find("product_version");
    j["hosts"].push_back(
        {{"name", h.name_label}, {"address", h.address},
         {"product_version", pv == h.software_version.end() ? "" : pv->second},
         {"api_version", xapi::ApiVersion{h.api_version_major, h.api_version_minor}.ToString()},
         {"master", h.ref == probe.pool.master}, {"enabled", h.enabled}});
  }
  j["srs"] = json::array();
  for (const auto& s : srs)
    j["srs"].push_back({{"name", s.name_label}, {"type", s.type}, {"shared", s.shared},
                        {"content_type", s.content_type}, {"physical_size", s.physical_size},
                        {"physical_utilisation", s.physical_utilisation}});
  j["networks"] = json::array();
  for (const auto& n : probe.networks) {
    json v = net_vlan.count(n.ref) ? json(net_vlan[n.ref]) : json(nullptr);
    j["networks"].push_back({{"name", n.name_label}, {"bridge", n.bridge}, {"vlan", v},
                             {"bond", net_bond[n.ref]}, {"purpose", n.purpose}});
  }
  int templates = 0, snapshots = 0, dom0s = 0;
  j["vms"] = json::array();
  for (const auto& v : vms) {
    if (v.is_control_domain) ++dom0s;
    else if (v.is_a_snapshot) ++snapshots;  // snapshots are templates too (§2.2)
    else if (v.is_a_template) ++templates;
    if (!v.IsGuest()) continue;
    int disks = int(std::count_if(v.vbds.begin(), v.vbds.end(),
                                  [&](const std::string& r) { return vbd_is_disk[r]; }));
    j["vms"].push_back({{"name", v.name_label}, {"uuid", v.uuid},
                        {"power_state", v.power_state}, {"disks", disks}});
  }
  j["counts"] = {{"guests", j["vms"].size()}, {"templates", templates},
                 {"snapshots", snapshots}, {"control_domains", dom0s}};
  json nbd_nets = json::array();
  for (const auto& n : caps.nbd_networks)
    nbd_nets.push_back({{"name", n.name_label}, {"tls", n.tls}});
  j["capabilities"] = {
      {"api_version", caps.api.ToString()}, {"product_brand", caps.product_brand},
      {"product_version", caps.product_version}, {"platform_version", caps.platform_version},
      {"xapi", caps.xapi_version}, {"cbt", caps.cbt}, {"cbt_licensed", caps.cbt_licensed},
      {"nbd", caps.nbd()}, {"nbd_networks", nbd_nets}, {"xva_xxhash", caps.xva_xxhash},
      {"ignore_vdis", caps.ignore_vdis}, {"json_rpc_v2", caps.json_rpc_v2},
      {"login_originator", caps.login_originator},
      {"snapshot_with_quiesce", caps.snapshot_with_quiesce}};
  if (g.json) {
    std::printf("%s\n", j.dump().c_str());
    return OkStatus();
  }

  std::printf("pool     %s (%s)\n", probe.pool.name_label.c_str(), entry.url.c_str());
  std::printf("master   %s (%s)\n", probe.master.name_label.c_str(),
              probe.master.address.c_str());
  std::printf("product  %s\n", caps.ProductText().c_str());
  std::printf("\nhosts (%zu)\n", hosts.size());
  for (const auto& h : j["hosts"])
    std::printf("  %-24s %-16s %-10s API %-6s%s\n", h["name"].get<std::string>().c_str(),
                h["address"].get<std::string>().c_str(),
                h["product_version"].get<std::string>().c_str(),
                h["api_version"].get<std::string>().c_str(), h["master"].get<bool>() ? "  master" : "");
  std::printf("\nSRs (%zu)\n", srs.size());
  for (const auto& s : srs) {
    double pct = s.physical_size > 0 ? 100.0 * double(s.physical_utilisation) / double(s.physical_size) : 0;
    std::printf("  %-24s %-8s %-8s %s, %s used (%.0f%%)\n", s.name_label.c_str(), s.type.c_str(),
                s.shared ? "shared" : "local", HumanBytes(uint64_t(std::max<int64_t>(0, s.physical_size))).c_str(),
                HumanBytes(uint64_t(std::max<int64_t>(0, s.physical_utilisation))).c_str(), pct);
  }
  std::printf("\nnetworks (%zu)\n", probe.networks.size());
  for (const auto& n : j["networks"]) {
    std::string extra;
    if (!n["vlan"].is_null()) extra += " VLAN " + std::to_string(n["vlan"].get<int64_t>());
    if (n["bond"].get<bool>()) extra += " bond";
    for (const auto& p : n["purpose"]) extra += " purpose=" + p.get<std::string>();
    std::printf("  %-40s %-8s%s\n", n["name"].get<std::string>().c_str(),
                n["bridge"].get<std::string>().c_str(), extra.c_str());
  }
  std::printf("\nVMs (%zu guests; not listed: templates %d, snapshots %d, control domains %d)\n",
              j["vms"].size(), templates, snapshots, dom0s);
  for (const auto& v : j["vms"])
    std::printf("  %-32s %-10s %d disk%s\n", v["name"].get<std::string>().c_str(),
                v["power_state"].get<std::string>().c_str(), v["disks"].get<int>(),
                v["disks"].get<int>() == 1 ? "" : "s");
  std::printf("\ncapabilities\n");
  std::printf("  CBT               %s%s\n", YesNo(caps.cbt),
              caps.cbt && !caps.cbt_licensed ? " (not licensed: restrict_cbt)" : "");
  std::string nbd = YesNo(caps.nbd());
  for (const auto& n : caps.nbd_networks)
    nbd += " " + n.name_label + (n.tls ? " [nbd, TLS]" : " [insecure_nbd]");
  if (caps.nbd_api && caps.nbd_networks.empty()) nbd += " (no network has purpose nbd)";
  std::printf("  NBD               %s\n", nbd.c_str());
  std::printf("  XVA xxhash        %s\n", YesNo(caps.xva_xxhash));
  std::printf("  snapshot ignore_vdis %s\n", YesNo(caps.ignore_vdis));
  std::printf("  JSON-RPC v2       %s\n", YesNo(caps.json_rpc_v2));
  return OkStatus();
}

}  // namespace casulo::cli

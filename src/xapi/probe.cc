#include "xapi/probe.h"

#include <charconv>

namespace casulo::xapi {

bool ParseXapiVersion(std::string_view text, int64_t* major, int64_t* minor) {
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, *major);
  if (ec != std::errc()) return false;
  *minor = 0;
  if (p < end && *p == '.') {
    auto [q, ec2] = std::from_chars(p + 1, end, *minor);
    if (ec2 != std::errc()) *minor = 0;
  }
  return true;
}

std::string Capabilities::ProductText() const {
  std::string s = product_brand.empty() ? "XenAPI server" : product_brand;
  if (!product_version.empty()) s += " " + product_version;
  s += " (API " + api.ToString();
  if (!xapi_version.empty()) s += ", xapi " + xapi_version;
  return s + ")";
}

Capabilities ProbeCapabilities(const ProbeInput& in) {
  Capabilities c;
  const HostRecord& m = *in.master;
  c.api = {m.api_version_major, m.api_version_minor};
  auto sw = [&](const char* key) {
    auto it = m.software_version.find(key);
    return it == m.software_version.end() ? std::string() : it->second;
  };
  c.product_brand = sw("product_brand");
  c.product_version = sw("product_version");
  c.platform_version = sw("platform_version");
  c.xapi_version = sw("xapi");
  c.build_number = sw("build_number");

  // Release table, reference §0: boston 6.0 = 1.9, clearwater 6.2 = 2.0,
  // inverness 7.3 = 2.8, quebec CH 8.1 = 2.14, nile XenServer 8 = 2.21.
  c.event_from = c.api.AtLeast(1, 9);
  c.login_originator = c.api.AtLeast(2, 0);
  c.json_rpc_v2 = c.api.AtLeast(2, 8);
  c.snapshot_with_quiesce = !c.api.AtLeast(2, 14);
  c.xva_xxhash = c.api.AtLeast(2, 14);

  // CBT: §6 row "CBT ... 7.3 (inverness)", or the field itself (§2.4:
  // cbt_enabled is 7.3+), for servers whose API number we do not trust.
  c.cbt = c.api.AtLeast(2, 8) ||
          (in.sample_vdi != nullptr && in.sample_vdi->Find("cbt_enabled") != nullptr);
  if (in.pool != nullptr) {
    auto it = in.pool->restrictions.find("restrict_cbt");
    c.cbt_licensed = it == in.pool->restrictions.end() || it->second != "true";
  }

  // NBD: §6 row "NBD ... 7.3" and "for NBD a network with a purpose"; the
  // purposes are those get_nbd_info looks for (§2.4).
  c.nbd_api = c.api.AtLeast(2, 8);
  if (in.networks != nullptr) {
    for (const auto& n : *in.networks) {
      bool tls = false, insecure = false;
      for (const auto& p : n.purpose) {
        tls |= p == "nbd";
        insecure |= p == "insecure_nbd";
      }
      if (tls || insecure) c.nbd_networks.push_back({n.ref, n.name_label, tls});
    }
  }

  // ignore_vdis: xapi 21.4.0 (§2.2 VM.snapshot, §6). Before 2021 xapi was
  // versioned 1.x (CH 8.2: "1.249"), so a major of 21+ is the new scheme.
  int64_t xmaj = 0, xmin = 0;
  bool numbered = ParseXapiVersion(c.xapi_version, &xmaj, &xmin) && xmaj >= 21;
  c.ignore_vdis = (numbered && (xmaj > 21 || xmin >= 4)) || c.api.AtLeast(2, 21);
  return c;
}

Result<ProbeResult> Probe(Session& session) {
  ProbeResult r;
  ASSIGN_OR_RETURN(XmlRpcValue pools, session.Call("pool.get_all_records"));
  ASSIGN_OR_RETURN(auto pool_list,
                   ParseAllRecords<PoolRecord>(pools, ParsePool).With("pool.get_all_records"));
  if (pool_list.size() != 1)
    return Error(Code::kCorruption, "pool.get_all_records gave {} pools, expected 1",
                 pool_list.size());
  r.pool = std::move(pool_list[0]);
  if (IsNullRef(r.pool.master)) return Error(Code::kCorruption, "the pool has no master");
  ASSIGN_OR_RETURN(XmlRpcValue host, session.Call("host.get_record", {r.pool.master}));
  ASSIGN_OR_RETURN(r.master, ParseHost(r.pool.master, host));
  ASSIGN_OR_RETURN(XmlRpcValue nets, session.Call("network.get_all_records"));
  ASSIGN_OR_RETURN(r.networks, ParseAllRecords<NetworkRecord>(nets, ParseNetwork));
  ASSIGN_OR_RETURN(XmlRpcValue vdis, session.Call("VDI.get_all"));
  XmlRpcValue sample;
  if (vdis.is_array() && !vdis.array().empty() && vdis.array()[0].is_string()) {
    ASSIGN_OR_RETURN(sample, session.Call("VDI.get_record", {vdis.array()[0]}));
  }
  r.caps = ProbeCapabilities({&r.pool, &r.master, &r.networks, sample.is_struct() ? &sample : nullptr});
  return r;
}

}  // namespace casulo::xapi

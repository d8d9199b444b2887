// Capability probing: what the pool we talk to can do, read from the master
// host's record, the pool record and the networks, as reference §6
// ("Version differences (what to probe)") prescribes: "after login read the
// master's API_version_major/minor and software_version; treat
// MESSAGE_METHOD_UNKNOWN as 'not supported'; for CBT additionally require the
// SR type to support it ... and for NBD a network with a purpose".
//
// The answers are what the version promises, not a guarantee: callers still
// handle MESSAGE_METHOD_UNKNOWN / MESSAGE_PARAMETER_COUNT_MISMATCH /
// SR_OPERATION_NOT_SUPPORTED at the call and fall back (XO does the same,
// reference §1.4).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "xapi/records.h"
#include "xapi/session.h"

namespace casulo::xapi {

struct ApiVersion {
  int64_t major = 0, minor = 0;
  bool AtLeast(int64_t maj, int64_t min) const {
    return major > maj || (major == maj && minor >= min);
  }
  std::string ToString() const { return std::to_string(major) + "." + std::to_string(minor); }
};

// A network usable for NBD reads (reference §2.4 get_nbd_info, §2.5).
struct NbdNetwork {
  std::string ref, name_label;
  bool tls = false;  // purpose "nbd" (TLS); false for "insecure_nbd" only
};

struct Capabilities {
  ApiVersion api;  // of the pool master (XenCenter reads it so, reference §0)
  // From the master's software_version (reference §2.1); "" when absent.
  std::string product_brand, product_version, platform_version, xapi_version, build_number;

  bool login_originator = false;  // 4-param login: 6.2 = API 2.0 (§6)
  bool event_from = false;        // event.from: 6.0 = API 1.9 (§6)
  bool json_rpc_v2 = false;       // JSON-RPC v2 errors: 7.3 = API 2.8 (§1.3, §6)
  bool snapshot_with_quiesce = false;  // 5.0 .. removed in CH 8.1 = API 2.14 (§6)
  // CBT: 7.3 (inverness) = API 2.8, or a VDI record with `cbt_enabled` (§6).
  // Also licensed on Citrix: `cbt_licensed` is false when pool.restrictions
  // says restrict_cbt=true (the Features.CBT check of xapi_vdi.ml enable_cbt,
  // §6; the key name is xapi's features.ml, not in the reference).
  bool cbt = false;
  bool cbt_licensed = true;
  // NBD: 7.3 = API 2.8 (§6), and usable only with a network whose purpose
  // holds nbd or insecure_nbd (§2.4, §6).
  bool nbd_api = false;
  std::vector<NbdNetwork> nbd_networks;
  bool nbd() const { return nbd_api && !nbd_networks.empty(); }
  // XVA .xxhash checksums: xapi Jan 2019, "CH 8.1" per XO (§6) = API 2.14.
  bool xva_xxhash = false;
  // VM.snapshot(ignore_vdis): xapi 21.4.0 (§2.2, §6). Known from the xapi
  // version in software_version (numbered releases ≥ 21.4) or API ≥ 2.21
  // (XenServer 8, whose xapi is numbered later than 21.4). CH 8.2 (xapi
  // "1.249") does not have it; which product first did is reference open
  // question 8, hence: callers retry without it on
  // MESSAGE_PARAMETER_COUNT_MISMATCH, as XO does (§1.4).
  bool ignore_vdis = false;

  // "Citrix Hypervisor 8.2.0 (API 2.15, xapi 1.249)".
  std::string ProductText() const;
};

// What ProbeCapabilities reads. `sample_vdi` is any VDI record (nullptr if
// the pool has none): the presence of its `cbt_enabled` field shows CBT on a
// server whose version numbers are odd.
struct ProbeInput {
  const PoolRecord* pool = nullptr;  // nullptr: licence unknown, assumed ok
  const HostRecord* master = nullptr;  // REQUIRED
  const std::vector<NetworkRecord>* networks = nullptr;
  const XmlRpcValue* sample_vdi = nullptr;
};

// Pure: the capabilities of the records given.
Capabilities ProbeCapabilities(const ProbeInput& in);

// Parses the leading "MAJOR.MINOR" of a xapi version ("24.19.2" → 24.19,
// "1.249" → 1.249); false if it does not start with digits.
bool ParseXapiVersion(std::string_view text, int64_t* major, int64_t* minor);

// Fetches what ProbeCapabilities needs through a logged-in session:
// pool.get_all_records, the master's host.get_record, network.get_all_records,
// and one VDI record (VDI.get_all then get_record of the first). Returns the
// records read too, so `pool show` does not fetch them twice.
struct ProbeResult {
  PoolRecord pool;
  HostRecord master;
  std::vector<NetworkRecord> networks;
  Capabilities caps;
};
Result<ProbeResult> Probe(Session& session);

}  // namespace casulo::xapi

// Typed views over the XenAPI records that `pool show` and capability probing
// read (reference §2.1, §2.2, §2.3, §2.5). Pure: XmlRpcValue in, structs out.
//
// Contract: a record is decoded whole or not at all. A field that every
// server since 6.5 sends is required; its absence or a wrong type is
// kCorruption naming the class, the ref and the field ("host
// OpaqueRef:ab..: field 'address': expected a string"). Fields introduced
// later (`control_domain` 7.1, `purpose` 7.3, `is_default_template` 7.2...)
// are optional and take the value an older server implies. Integers may come
// as bare strings (XML-RPC int64 fields) or as numbers (JSON-RPC).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "xapi/rpc.h"

namespace casulo::xapi {

// The null reference XAPI uses for "no object" (reference §1.2).
inline constexpr std::string_view kNullRef = "OpaqueRef:NULL";
// True for OpaqueRef:NULL and for "" (older servers and JSON omit it).
inline bool IsNullRef(std::string_view ref) { return ref.empty() || ref == kNullRef; }

// Parses an XAPI datetime into seconds since the Unix epoch, UTC. Accepts
// the wire form `YYYYMMDDTHH:MM:SSZ` (reference §1.2), the dashed ISO form
// `YYYY-MM-DDTHH:MM:SSZ`, and both without the trailing Z (XAPI writes UTC
// either way) and with fractional seconds (dropped). Anything else is
// kCorruption.
Result<int64_t> ParseXapiDateTime(std::string_view text);
// 19700101T00:00:00Z, which XAPI uses for "never" (snapshot_time of a VM
// that is not a snapshot).
inline constexpr int64_t kXapiEpoch = 0;

// Reads the fields of one record, with errors that name the record.
class RecordReader {
 public:
  // REQUIRES: `record` outlives the reader.
  RecordReader(std::string_view cls, std::string_view ref, const XmlRpcValue& record);

  Status CheckStruct() const;  // kCorruption unless the record is a struct
  bool Has(std::string_view field) const { return record_.Find(field) != nullptr; }

  Result<std::string> Str(std::string_view field) const;
  Result<int64_t> Int(std::string_view field) const;
  Result<bool> Bool(std::string_view field) const;
  // A set of strings (refs, purposes, tags).
  Result<std::vector<std::string>> StrSet(std::string_view field) const;
  // A map of string to string (software_version, other_config); int values
  // are printed, as lenient peers send them.
  Result<std::map<std::string, std::string>> StrMap(std::string_view field) const;
  // A datetime field (a kDateTime value, or its text as a string).
  Result<int64_t> Time(std::string_view field) const;

  // The Opt* forms return `fallback` when the field is absent, and still
  // fail on a present field of the wrong type.
  Result<std::string> OptStr(std::string_view field, std::string fallback = "") const;
  Result<int64_t> OptInt(std::string_view field, int64_t fallback) const;
  Result<bool> OptBool(std::string_view field, bool fallback) const;
  Result<std::vector<std::string>> OptStrSet(std::string_view field) const;

 private:
  Status FieldError(std::string_view field, std::string_view what) const;
  Result<const XmlRpcValue*> Get(std::string_view field) const;

  std::string cls_;
  std::string ref_;
  const XmlRpcValue& record_;
};

struct PoolRecord {
  std::string ref, uuid, name_label, master, default_sr;
  std::map<std::string, std::string> restrictions;  // licence, e.g. "restrict_cbt"
};

struct HostRecord {
  std::string ref, uuid, name_label, hostname, address;
  int64_t api_version_major = 0, api_version_minor = 0;
  std::map<std::string, std::string> software_version;
  bool enabled = true;
  std::vector<std::string> pifs, pbds, resident_vms;
  std::string control_domain;  // 7.1+; "" before
};

struct VmRecord {
  std::string ref, uuid, name_label, power_state;
  bool is_a_template = false, is_default_template = false, is_a_snapshot = false,
       is_control_domain = false;
  std::vector<std::string> vbds, vifs, snapshots;
  std::string snapshot_of, resident_on;  // null refs kept as OpaqueRef:NULL
  // What a backup looks at: not a template, snapshot or dom0 (reference §2.2).
  bool IsGuest() const { return !is_a_template && !is_a_snapshot && !is_control_domain; }
};

struct VbdRecord {
  std::string ref, uuid, vm, vdi, device, userdevice, type, mode;
  bool empty = false, currently_attached = false;
  // A disk to back up: type Disk with a VDI (reference §2.3, XO VM_getDisks).
  bool IsDisk() const { return type == "Disk" && !IsNullRef(vdi); }
};

struct SrRecord {
  std::string ref, uuid, name_label, type, content_type;
  bool shared = false;
  int64_t physical_size = 0, physical_utilisation = 0, virtual_allocation = 0;
  std::vector<std::string> vdis, pbds;
};

struct NetworkRecord {
  std::string ref, uuid, name_label, bridge;
  int64_t mtu = 1500;
  std::vector<std::string> pifs, vifs;
  std::vector<std::string> purpose;  // 7.3+: "nbd", "insecure_nbd"
};

struct PifRecord {
  std::string ref, uuid, device, network, host, mac, ip;
  int64_t vlan = -1;  // -1 when untagged
  bool physical = false, currently_attached = false, management = false;
  std::vector<std::string> bond_master_of;
  std::string vlan_master_of;
};

struct VlanRecord {
  std::string ref, uuid, tagged_pif, untagged_pif;
  int64_t tag = -1;
};

struct BondRecord {
  std::string ref, uuid, master, mode, primary_slave;
  std::vector<std::string> slaves;
};

Result<PoolRecord> ParsePool(std::string_view ref, const XmlRpcValue& record);
Result<HostRecord> ParseHost(std::string_view ref, const XmlRpcValue& record);
Result<VmRecord> ParseVm(std::string_view ref, const XmlRpcValue& record);
Result<VbdRecord> ParseVbd(std::string_view ref, const XmlRpcValue& record);
Result<SrRecord> ParseSr(std::string_view ref, const XmlRpcValue& record);
Result<NetworkRecord> ParseNetwork(std::string_view ref, const XmlRpcValue& record);
Result<PifRecord> ParsePif(std::string_view ref, const XmlRpcValue& record);
Result<VlanRecord> ParseVlan(std::string_view ref, const XmlRpcValue& record);
Result<BondRecord> ParseBond(std::string_view ref, const XmlRpcValue& record);

// Decodes the result of `<class>.get_all_records` (a struct ref → record)
// with `parse`, in the server's order. The first bad record fails the whole.
template <typename T>
Result<std::vector<T>> ParseAllRecords(
    const XmlRpcValue& all,
    const std::function<Result<T>(std::string_view, const XmlRpcValue&)>& parse) {
  if (!all.is_struct())
    return Error(Code::kCorruption, "get_all_records: expected a map of ref to record");
  std::vector<T> out;
  out.reserve(all.members().size());
  for (const auto& [ref, record] : all.members()) {
    ASSIGN_OR_RETURN(T t, parse(ref, record));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace casulo::xapi

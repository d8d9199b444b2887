// ova.xml: the metadata document at the head of every XVA VM export
// (docs/format/ova-xml.md).
//
// The document is one XML-RPC struct {version, objects}; each object is
// {class, id, snapshot} where snapshot is the XenAPI record of that object
// with references rewritten to other objects' ids ("Ref:12") or
// "OpaqueRef:NULL". Reading is tolerant (bare or typed values, whitespace,
// unknown classes and fields kept); writing is what XAPI writes (rpc-light
// bare values, one line, no XML declaration) with every field any XAPI from
// XenServer 6.5 to XCP-ng 8.3 / XenServer 8.4 needs to decode the record.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "formats/xmlrpc.h"

namespace casulo::formats {

// The version block. Defaults are what we write: XAPI only uses
// (xapi_major, xapi_minor) to refuse archives from a newer XAPI
// (IMPORT_INCOMPATIBLE_VERSION), and XenServer 6.5-7.1 report 1.9 and
// require an equal major, so 1.3 (the lowest value any XAPI since XenServer
// 5.5 reports) imports everywhere; the doc has the derivation.
inline constexpr int64_t kOvaXapiMajor = 1;
inline constexpr int64_t kOvaXapiMinor = 3;
inline constexpr int64_t kOvaExportVsn = 2;  // inline per-chunk checksums
struct OvaVersion {
  std::string hostname = "localhost";
  std::string date = "1970-01-01";
  std::string product_version = "0.1.0";
  std::string product_brand = "Casulo";
  std::string build_number = "casulo";
  int64_t xapi_major = kOvaXapiMajor;
  int64_t xapi_minor = kOvaXapiMinor;
  int64_t export_vsn = kOvaExportVsn;  // a missing export_vsn reads as 0
  bool operator==(const OvaVersion&) const = default;
};

struct OvaObject {
  std::string cls;           // datamodel class: "VM", "VBD", "VDI", "network", ...
  std::string id;            // "Ref:<n>"; the tar folder name of a streamed VDI
  XmlRpcValue snapshot;      // the record, as read (unknown fields kept)
};

struct OvaXml {
  OvaVersion version;
  std::vector<OvaObject> objects;  // document order
};

inline constexpr std::string_view kOvaNullRef = "OpaqueRef:NULL";

// Parses ova.xml. Accepts bare and typed values, whitespace, `<value/>`, an
// XML declaration, integers written as strings, a missing export_vsn (0),
// missing version strings (""), unknown classes and fields. Fails with
// kCorruption when the XML is malformed, `version` or `objects` is missing,
// xapi_major/xapi_minor is missing or not an integer, or an object lacks a
// non-empty class, id or a snapshot.
Result<OvaXml> ParseOvaXml(std::string_view xml);

// What XAPI writes: rpc-light bare values, one line, no XML declaration.
// Snapshots are printed as held, so Print(Parse(x)) keeps unknown fields and
// member order; an XAPI-written document prints back byte for byte, except
// doubles (XAPI: %.16g, we: shortest exact) and CR characters (XAPI writes
// them raw, which XML turns into LF on reading; we write &#13;).
std::string PrintOvaXml(const OvaXml& ova);

// Re-emits an export parsed from XAPI for import elsewhere: objects as they
// are (unknown classes and fields kept), version block replaced so older
// hosts accept it (by default the one we write).
std::string ReemitOvaXml(const OvaXml& exported, const OvaVersion& version = OvaVersion());

// ---- Reading ----------------------------------------------------------------

// The object with this id, or nullptr.
const OvaObject* FindOvaObject(const OvaXml& ova, std::string_view id);
// Objects of one class (exact name), in document order.
std::vector<const OvaObject*> OvaObjectsOfClass(const OvaXml& ova, std::string_view cls);
// All VM objects (an export with snapshots has several), in document order.
std::vector<const OvaObject*> Vms(const OvaXml& ova);
// The exported VM itself: the one VM object whose is_a_snapshot is not true
// (a template counts); kCorruption when there is none or more than one.
Result<const OvaObject*> PrimaryVm(const OvaXml& ova);

struct OvaVbd {
  std::string id;
  std::string vdi_id;  // "" when the VBD is empty or points to OpaqueRef:NULL
  std::string type;    // "Disk", "CD", "Floppy" as written
  std::string userdevice;
  std::string mode;    // "RW" / "RO"
  bool bootable = false;
  bool empty = false;
};
// The VBDs whose `VM` field names this VM, in document order (XAPI's
// importer plugs VBDs by that back-reference, not by VM.VBDs).
Result<std::vector<OvaVbd>> VmVbds(const OvaXml& ova, const OvaObject& vm);

struct OvaVdi {
  std::string id;
  std::string uuid;
  std::string name_label;
  std::string type;  // "user", "system", "suspend", ...
  std::string sr_id;
  int64_t virtual_size = 0;  // an int or a decimal string in the document
};
// Decodes the fields above from a VDI object; kCorruption names the field.
Result<OvaVdi> DecodeOvaVdi(const OvaObject& vdi);

// The VDIs XAPI streams after ova.xml, in stream order: those referenced by
// a VBD whose type is not CD and whose SR's content_type is not "iso", plus
// every VDI of type suspend, sorted byte-wise by id ("Ref:10" < "Ref:9").
// Enum values compare case-insensitively, as XAPI does. A non-CD VBD whose
// VDI or SR object is missing fails (kCorruption), as it fails XAPI import.
Result<std::vector<OvaVdi>> StreamedVdis(const OvaXml& ova);

// ---- Checking ---------------------------------------------------------------

// Fields XAPI cannot default when decoding a record of this class (VM, VBD,
// VIF, VDI, SR, network; empty for others): the union over XAPI versions
// from XenServer 6.5 to today, plus VM.parent (its absence makes XAPI reset
// memory settings as for a pre-5.6 export). Sources in the doc.
const std::vector<std::string_view>& OvaRequiredFields(std::string_view cls);

// What an importer would trip on: duplicate ids, a known-class record that
// is not a struct or lacks a required field, and references between VM, VBD,
// VIF, VDI, SR and network objects that name no object (OpaqueRef:NULL is
// allowed where XAPI allows it). kCorruption naming the object and field.
Status ValidateOvaXml(const OvaXml& ova);

// ---- Writing ----------------------------------------------------------------

using OvaMap = std::map<std::string, std::string>;

struct VmSpec {
  std::string name_label;
  std::string name_description;
  std::string uuid;      // "" = fresh random
  // other_config:mac_seed, from which XAPI derives VIF MACs. "" = fresh
  // random. Keep the original only together with the original uuid: with
  // restore=true XAPI refuses (DUPLICATE_MAC_SEED) a VM whose seed another
  // VM with a different uuid already has.
  std::string mac_seed;
  int64_t memory = 0;             // bytes: static max, dynamic min and max
  int64_t memory_static_min = 0;  // 0 = memory
  int64_t vcpus = 1;              // VCPUs_at_startup
  int64_t vcpus_max = 0;          // 0 = vcpus
  bool hvm = true;                // false: PV (HVM_boot_policy "")
  std::string hvm_boot_policy = "BIOS order";
  OvaMap hvm_boot_params = {{"order", "cd"}};  // firmware=uefi for UEFI guests
  std::string pv_bootloader;      // e.g. "pygrub"
  std::string pv_kernel, pv_ramdisk, pv_args, pv_bootloader_args, pv_legacy_args;
  OvaMap platform;
  OvaMap other_config;            // mac_seed is set from the field above
  OvaMap xenstore_data;
  std::vector<std::string> tags;
  bool is_a_template = false;
  int64_t user_version = 1;
};

struct DiskSpec {
  std::string vdi_uuid;           // "" = fresh random
  std::string vbd_uuid;           // "" = fresh random
  std::string name_label;
  std::string name_description;
  int64_t virtual_size = 0;       // bytes; > 0 for a Disk
  std::string userdevice;         // "0", "1", ...: unique per VM
  bool bootable = false;
  std::string mode = "RW";        // "RW" or "RO"
  // "Disk": a VDI that is streamed; "CD": an empty CD drive (no VDI,
  // nothing streamed; ISOs live outside the XVA).
  std::string type = "Disk";
  std::string vdi_type = "user";  // "user" or "system"
  OvaMap vdi_other_config;
};

struct VifSpec {
  std::string uuid;               // "" = fresh random
  std::string device;             // "0", "1", ...: unique per VM
  std::string mac;                // "" = XAPI derives it from the mac_seed
  int64_t mtu = 1500;
  // The network, found on import by name_label, then by bridge, else created.
  // VIFs naming the same network share one network object.
  std::string network_name_label;
  std::string network_uuid;       // "" = fresh random
  std::string bridge;             // "" = XAPI picks one if it creates it
  int64_t network_mtu = 1500;
};

// The SR the VDIs say they live in. A full import puts the disks in the
// importer's sr_id instead; only content_type (never "iso") matters.
struct SrSpec {
  std::string uuid;               // "" = fresh random
  std::string name_label = "Casulo";
  std::string name_description;
  std::string type = "lvm";
  std::string content_type = "user";
};

struct OvaSpec {
  OvaVersion version;
  VmSpec vm;
  std::vector<DiskSpec> disks;
  std::vector<VifSpec> vifs;
  SrSpec sr;
};

struct BuiltOva {
  OvaXml ova;
  // Per DiskSpec, the VDI's id (the XVA folder of its chunks); "" for a CD.
  std::vector<std::string> disk_vdi_ids;
};

// A complete, valid ova.xml for one halted VM. Ids are "Ref:" plus a
// zero-padded counter (at least 3 digits) so byte order equals numeric
// order and VDIs stream in DiskSpec order. Every record carries the
// required fields plus XO's working set, references are ids or
// OpaqueRef:NULL, power_state is Halted. kInvalidArgument for a spec XAPI
// would refuse (no memory, no vcpus, duplicate userdevice or VIF device, a
// bad mode/type/uuid/MAC, a Disk without size).
Result<BuiltOva> BuildOvaXml(const OvaSpec& spec);

}  // namespace casulo::formats

// VM-level restore (docs/design/vm-backup.md "Restore"): a version-2
// recovery point brought back into a pool as a new VM, the way Xen
// Orchestra's importIncrementalVm does it (xapi-protocol.md §7.5): VM.create
// blocked from starting, per disk VDI.create + VBD.create + PUT
// /import_raw_vdi?format=vhd with a VHD generated from the disk's tree,
// VIF.create with mapped networks, then the real name and the start
// unblocked; on any failure it removes what it created. Only when told to
// (`overwrite`) does a restore write over an existing VM instead: the
// point's disks, into new VDIs swapped in once all are written, optionally
// only the blocks that differ (`differential`).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/stream.h"
#include "formats/checksum.h"
#include "formats/compress.h"
#include "formats/disk.h"
#include "formats/xmlrpc.h"
#include "repo/repository.h"
#include "xapi/session.h"
#include "xapi/transport.h"

namespace casulo::engine {

// The metadata document of a VM recovery point (vm_backup.cc
// MetadataDocument), its records parsed back from their XML-RPC text.
struct VmNetworkMeta {
  formats::XmlRpcValue record;
  int64_t vlan = -1;  // the VLAN tag of its PIFs, -1 when untagged
};
struct VmMetadata {
  std::string vm_ref;  // in the source pool
  formats::XmlRpcValue vm;
  std::map<std::string, formats::XmlRpcValue> vbds, vdis, vifs, srs;  // ref -> record
  std::map<std::string, VmNetworkMeta> networks;
};

Result<VmMetadata> LoadVmMetadata(repo::Repository& repo, const repo::Snapshot& point);

struct VmRestoreOptions {
  std::string sr;  // name_label or uuid; "" = the pool's default_SR
  // OLD = the stored network's uuid or name_label; NEW = a target network's
  // uuid or name_label. A mapping given here wins over matching.
  std::vector<std::pair<std::string, std::string>> network_map;
  std::string name;  // "" = the stored name
  bool start = false;
  bool keep_macs = false;
  // Over an existing, halted VM instead of a new one: `into` (uuid or
  // name_label; "" = the point's source VM by uuid). Without `overwrite`,
  // `into` or `differential` is refused (kAlreadyExists) when the VM exists.
  // sr, network_map, name and keep_macs do not apply: only disks are
  // written; the VM's record, VIFs and disks' SRs stay.
  bool overwrite = false;
  std::string into;
  // Write only the 64 KiB blocks changed since the point's snapshot (CBT);
  // disks CBT cannot answer for are written whole, with the reason.
  bool differential = false;
  // Phase changes ("create", "disk <name>", "vifs", "start") and upload bytes.
  std::function<void(std::string_view phase, uint64_t done, uint64_t total)> progress;
};

struct VmRestoreDiskReport {
  std::string key;  // the source VDI uuid
  std::string name, userdevice;
  std::string vdi_uuid;  // the new VDI
  uint64_t size = 0;
  uint64_t sent_bytes = 0;  // the body's length (VHD, or chunked pieces)
  double seconds = 0;
  // "new" (a new VM's disk), "full" or "differential" (over a VM).
  std::string mode = "new";
  uint64_t changed_blocks = 0;  // differential: 64 KiB blocks written
  std::string cbt_base;         // differential: the base CBT answered against
  std::string fallback;         // why a differential disk was written whole
  std::string replaced_vdi;     // over a VM: the VDI the new one replaced ("" = kept)
};

struct VmRestoreVifReport {
  std::string device, network_uuid, network_name, mac;
  std::string matched_by;  // uuid, name+vlan, map
};

struct VmRestoreReport {
  std::string vm_uuid, vm_name;
  std::string sr_uuid, sr_name;
  std::vector<VmRestoreDiskReport> disks;
  std::vector<VmRestoreVifReport> vifs;
  bool started = false;
  bool overwrote = false;  // written over an existing VM
  double seconds = 0;
  std::vector<std::string> notes;  // what did not go as asked but did not fail it
};

Result<VmRestoreReport> RestoreVm(xapi::Session& session, const xapi::Endpoint& endpoint,
                                  repo::Repository& repo, const repo::Snapshot& point,
                                  const VmRestoreOptions& options);

// The dynamic VHD of one disk of a recovery point, for /import_raw_vdi:
// only the 2 MiB blocks holding non-zero chunks are present.
struct DiskVhdPlan {
  std::vector<uint32_t> blocks;
  uint64_t encoded_size = 0;  // the Content-Length
};
Result<DiskVhdPlan> PlanDiskVhd(repo::Repository& repo, const repo::SnapshotDisk& disk);
// Feeds the non-zero chunks of a disk's tree to `w` as extents, ascending;
// does not call w.Finish().
Status WriteDiskExtents(repo::Repository& repo, const repo::SnapshotDisk& disk, formats::ExtentWriter& w);
// Writes the VHD of `plan` into `sink` (not Finish()ed).
Status WriteDiskVhd(repo::Repository& repo, const repo::SnapshotDisk& disk, const DiskVhdPlan& plan,
                    Sink& sink);

// `export vm`: the point as one XVA (ova.xml built by formats::BuildOvaXml
// from the stored records, each disk's non-zero chunks as XVA chunks), for
// `xe vm-import` or any XVA reader. The VM gets a fresh uuid and mac_seed
// (so importing next to the original clashes with nothing) and VIFs blank
// MACs, which XAPI derives from that seed.
struct VmExportOptions {
  std::string name;  // "" = the stored name
  formats::ChunkChecksum checksum = formats::ChunkChecksum::kXxh64;
  formats::Compression compression = formats::Compression::kNone;
};
struct VmExportReport {
  std::string vm_name;
  size_t disks = 0, vifs = 0;
  uint64_t virtual_size = 0, data_bytes = 0;
};
// Writes the XVA into `out` and finishes it.
Result<VmExportReport> ExportVmXva(repo::Repository& repo, const repo::Snapshot& point, Sink& out,
                                   const VmExportOptions& options);

}  // namespace casulo::engine

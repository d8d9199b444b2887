// Pieces shared by the two ways of restoring a VM (vm_restore.cc: a new VM;
// vm_restore_over.cc: over an existing one) and their repository side
// (vm_restore_data.cc, vm_restore_diff.cc). Internal to the engine.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/vm_restore.h"
#include "vm_internal.h"

namespace casulo::engine::vm {

// The reason of the start block a restore puts on the VM it writes.
inline constexpr const char* kRestoreBlockReason = "casulo restore in progress";
// Bytes of a changed block: the unit of VDI.list_changed_blocks.
inline constexpr uint64_t kCbtBlock = 64 * 1024;

XmlRpcValue EmptyMap();
// A string map field without our own casulo:* keys (tags of the backup).
XmlRpcValue OtherConfig(const XmlRpcValue& rec);
// rec[f], or `fallback` when absent or nil.
XmlRpcValue Field(const XmlRpcValue& rec, const char* f, XmlRpcValue fallback);

// One disk of the point with its stored VDI and VBD records (nil when the
// metadata lacks them), in userdevice order.
struct DiskPlan {
  const repo::SnapshotDisk* disk;
  XmlRpcValue vdi;
  XmlRpcValue vbd;
};
std::vector<DiskPlan> PlanDisks(const VmMetadata& m, const repo::Snapshot& point);
// The stored VBD's userdevice, else the disk's label, else "autodetect".
std::string StoredUserdevice(const DiskPlan& p);

// PUT /import_raw_vdi?vdi=VDI&<query> of `length` bytes that `write` produces
// on a thread through a pipe, inside a task labelled `label`.
Status UploadToVdi(xapi::Session& s, const xapi::Endpoint& ep, const std::string& vdi_ref,
                   std::vector<std::pair<std::string, std::string>> query, uint64_t length,
                   const std::string& label, const std::function<Status(Sink&)>& write);

// The body of PUT /import_raw_vdi?format=raw&chunked (xapi-protocol.md §3.2,
// xapi's chunked framing) that writes `blocks` (64 KiB indices, ascending)
// of disk `d` from its tree: each run of adjacent blocks, up to 4 MiB, as
// one piece {offset u64 LE, length u32 LE, data}, then the end header (two
// zeros).
struct BlockBody {
  std::vector<std::pair<uint64_t, uint64_t>> pieces;  // offset, length
  uint64_t length = 0;                                 // the Content-Length
};
BlockBody PlanBlockBody(const repo::SnapshotDisk& d, const std::vector<uint64_t>& blocks);
Status WriteBlockBody(repo::Repository& repo, const repo::SnapshotDisk& d, const BlockBody& body, Sink& sink);

// What a differential restore must write so that the VM's disk `vdi_ref`
// (record `vdi`) equals disk `d` of `point` again.
struct DiskChanges {
  std::vector<uint64_t> blocks;  // 64 KiB indices, ascending
  std::string base;              // the cbt_metadata VDI CBT was asked against
  std::string via_point;         // a later point the base belongs to, "" = `point`'s own
};
// The blocks CBT says changed since the snapshot of `point` (its cbt_base),
// or, when that base is gone, since the snapshot of a later point of the
// same VM whose base still exists, plus the chunks that differ between the
// two points in the repository. An error says why CBT cannot answer (CBT
// off, no base left, another chain, a resized disk); the caller then
// writes the whole disk.
Result<DiskChanges> FindDiskChanges(xapi::Session& s, repo::Repository& repo, const repo::Snapshot& point,
                                    const repo::SnapshotDisk& d, const std::string& vdi_ref,
                                    const XmlRpcValue& vdi);

// RestoreVm with options.overwrite (vm_restore_over.cc).
Result<VmRestoreReport> RestoreOverVm(xapi::Session& s, const xapi::Endpoint& ep, repo::Repository& repo,
                                      const repo::Snapshot& point, const VmRestoreOptions& options);

}  // namespace casulo::engine::vm

// Pieces of the VM backup (vm_backup.cc): record access, the pool-side
// cleanup, and the per-disk transports. Internal to the engine.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/vm_backup.h"
#include "repo/snapshot.h"
#include "xapi/records.h"
#include "xapi/rpc.h"

namespace casulo::engine::vm {

using formats::XmlRpcArray;
using formats::XmlRpcValue;

// Labels we put on what we create in the pool (other_config keys).
inline constexpr const char* kTagVm = "casulo:vm";    // the source VM's uuid
inline constexpr const char* kTagRun = "casulo:run";  // the run that made it
// Labels of a disk in the recovery point naming the VDI kept for the next run.
inline constexpr const char* kCbtBase = "cbt_base";  // a cbt_metadata VDI
inline constexpr const char* kVhdBase = "vhd_base";  // a snapshot VDI kept whole
// The reason of the blocked_operations we set on the source VM. VM.snapshot
// copies blocked_operations, so a snapshot VM carrying it is ours even when
// a kill came before it was tagged.
inline constexpr const char* kBlockReason = "casulo backup running";
// Label prefix of the tasks our transfers create (task.create name_label);
// the rest of the label names the VM's disk or the VM.
inline constexpr const char* kTaskPrefix = "casulo export ";

std::string Str(const XmlRpcValue& rec, std::string_view field);
bool Bool(const XmlRpcValue& rec, std::string_view field);
int64_t Int(const XmlRpcValue& rec, std::string_view field);
std::vector<std::string> Refs(const XmlRpcValue& rec, std::string_view field);
std::string MapValue(const XmlRpcValue& rec, std::string_view field, std::string_view key);

// session.Call with the busy errors retried (TOO_MANY_PENDING_TASKS,
// OTHER_OPERATION_IN_PROGRESS, VDI_IN_USE).
Result<XmlRpcValue> Call(xapi::Session& s, std::string_view method, XmlRpcArray params);
// The same for cleanup steps: retried even after SIGINT/SIGTERM set the
// cancel flag, since cleanup is what a cancelled run still has to do.
Result<XmlRpcValue> CleanupCall(xapi::Session& s, std::string_view method, XmlRpcArray params);

// Undo steps, run newest first by RunAll (on failure, and for the parts of
// success that are cleanup). Each step's failure is logged into `errors`
// and does not stop the others.
class Undo {
 public:
  void Add(std::string what, std::function<Status()> fn) { steps_.push_back({std::move(what), std::move(fn)}); }
  std::vector<std::string> RunAll();

 private:
  struct Step {
    std::string what;
    std::function<Status()> fn;
  };
  std::vector<Step> steps_;
};

// VM.destroy of a snapshot VM, then VDI.destroy of its disk VDIs except
// those in `keep` (uuids).
Status DestroySnapshotVm(xapi::Session& s, const std::string& snap_ref, const std::vector<std::string>& keep);

// Destroys finished tasks labelled kTaskPrefix + the VM's or one of its
// disks' name. Pending ones are left: they may be a live run's. A transfer
// whose task finished while we were cancelling it leaves such a task
// (WaitForTask returns when task.cancel is refused).
void RemoveFinishedTasks(xapi::Session& s, const XmlRpcValue& vm_rec, std::vector<std::string>* removed);

// Removes what an earlier, killed run of ours left: snapshot VMs of `vm`
// tagged with our kTagVm (or carrying kBlockReason), snapshot VDIs of its
// disks tagged so, except the VDIs in `keep` (the bases the latest recovery
// point names), finished tasks labelled kTaskPrefix + one of its disks' or
// its own name (their owner died before destroying them), and
// blocked_operations holding kBlockReason. Returns what it removed, for the
// log; `vm_rec` should be read again when it is not empty.
Result<std::vector<std::string>> SweepLeftovers(xapi::Session& s, const XmlRpcValue& vm_ref, const XmlRpcValue& vm_rec,
                                                const std::string& vm_uuid, const std::vector<std::string>& keep);

// A disk VDI of the VM (not its snapshot) and whether the options leave it
// out: "[NOBAK]" in its name (Xen Orchestra's convention) or one of
// exclude_disk_tags among its tags.
struct DiskOfVm {
  std::string ref;
  XmlRpcValue record;
  bool excluded = false;
};
std::vector<DiskOfVm> DisksOfVm(xapi::Session& s, const XmlRpcValue& vm_rec, const VmBackupOptions& opt);

// Why the VM should not be snapshotted now, "" when it can: an SR without
// room for the snapshot (min_sr_free_percent kept free; thick LVM SRs need
// each disk's full size), or a VHD chain already max_chain long.
std::string PreflightSkipReason(xapi::Session& s, const std::vector<DiskOfVm>& disks, const VmBackupOptions& opt);

// VM.snapshot_with_quiesce when `quiesce` (falling back to a crash-consistent
// snapshot where the host removed it or the guest cannot), else VM.snapshot
// with ignore_vdis = `ignore` (without it on hosts older than xapi 21.4).
// What was not as asked goes to `notes`. Returns the snapshot VM's ref.
Result<std::string> TakeSnapshot(xapi::Session& s, const XmlRpcValue& vm_ref, const std::string& name,
                                 const std::vector<std::string>& ignore, bool quiesce,
                                 std::vector<std::string>* notes);

struct DiskJob {
  std::string key;           // source VDI uuid
  std::string name;          // its name_label
  std::string userdevice;
  std::string snap_vdi_ref;  // the snapshot's VDI
  std::string snap_vdi_uuid;
  std::string sr;            // the snapshot VDI's SR (NBD reach is per SR)
  uint64_t size = 0;
  bool cbt = false;          // the snapshot VDI has CBT
  std::optional<repo::SnapshotDisk> parent;  // the same disk in the previous point
};

struct DiskOutcome {
  repo::SnapshotDisk disk;  // tree, stats, labels (transport, fallbacks)
  VmDiskReport report;
};

Result<DiskOutcome> BackupOneDisk(xapi::Session& s, const xapi::Endpoint& ep, repo::Repository& repo,
                                  const DiskJob& job, const VmBackupOptions& options);

}  // namespace casulo::engine::vm

// VM-level backup (issue 5, docs/design/vm-backup.md): a crash-consistent
// snapshot of a VM taken through the XenAPI, its metadata and disks stored
// as one version-2 recovery point, forever-incremental (CBT + NBD, else a
// VHD delta against a kept snapshot, else a full stream), and the pool left
// as it was found, whatever happens.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "repo/repository.h"
#include "xapi/session.h"
#include "xapi/transport.h"

namespace casulo::engine {

// What a run learns about the pool once, for every VM and disk of the run:
// a capability the hosts lack is probed once, not per VM and disk. XAPI's
// MESSAGE_METHOD_UNKNOWN to VDI.enable_cbt or VDI.get_nbd_info (hosts
// before 7.3), or LICENCE_RESTRICTION to enable_cbt, hold pool-wide; an
// empty get_nbd_info (no network with an NBD purpose on the hosts that see
// the SR) holds for that SR. Other errors may be passing and are not kept.
// Thread-safe.
class VmPoolProbe {
 public:
  // "" while CBT may work; else why it cannot (the first answer seen).
  std::string NoCbt() const {
    std::lock_guard l(mu_);
    return no_cbt_;
  }
  void SetNoCbt(std::string why) {
    std::lock_guard l(mu_);
    if (no_cbt_.empty()) no_cbt_ = std::move(why);
  }
  // "" while NBD may work for disks in SR `sr`; else why not.
  std::string NoNbd(const std::string& sr) const {
    std::lock_guard l(mu_);
    if (!no_nbd_pool_.empty()) return no_nbd_pool_;
    auto it = no_nbd_sr_.find(sr);
    return it == no_nbd_sr_.end() ? "" : it->second;
  }
  // `sr` "" means every SR.
  void SetNoNbd(const std::string& sr, std::string why) {
    std::lock_guard l(mu_);
    if (sr.empty()) no_nbd_pool_ = std::move(why);
    else no_nbd_sr_.emplace(sr, std::move(why));
  }

 private:
  mutable std::mutex mu_;
  std::string no_cbt_, no_nbd_pool_;
  std::map<std::string, std::string> no_nbd_sr_;
};

struct VmBackupOptions {
  std::string pool;  // recorded in the recovery point's labels
  std::vector<std::string> tags;
  // Turn CBT on for the VM's disks when the host supports it (it takes
  // effect from this snapshot on: the next run can use it).
  bool enable_cbt = true;
  int nbd_connections = 2;
  // VM.snapshot_with_quiesce where the host still has it (before CH 8.1)
  // and the guest's VSS agent answers; crash-consistent otherwise.
  bool quiesce = false;
  // Disks carrying one of these tags are not backed up (nor those with
  // "[NOBAK]" in their name); ignore_vdis keeps them out of the snapshot
  // where the host supports it.
  std::vector<std::string> exclude_disk_tags;
  // Preflight: skip the VM when a snapshot would leave less than this share
  // of an SR free, or when a disk's VHD chain is already this long (0: off).
  int min_sr_free_percent = 5;
  int max_chain = 25;
  int threads = 0;
  // Shared by the copies of one run's options (one per run: a new run
  // probes again, the pool may have been upgraded or reconfigured).
  std::shared_ptr<VmPoolProbe> probe = std::make_shared<VmPoolProbe>();
  // Called on every phase change and during disk reads.
  std::function<void(std::string_view phase, uint64_t done, uint64_t total)> progress;
};

struct VmDiskReport {
  std::string key;  // source VDI uuid
  std::string name;
  std::string transport;  // cbt-nbd, nbd, vhd-delta, vhd
  std::vector<std::string> fallbacks;  // why better transports were not used
  uint64_t size = 0, read_bytes = 0, new_bytes = 0, stored_bytes = 0;
  double seconds = 0;
};

struct VmBackupReport {
  std::string vm_uuid, vm_name;
  std::string snapshot_id;  // the recovery point; "" when skipped
  std::string parent_id;
  bool skipped = false;
  std::string skip_reason;
  std::vector<VmDiskReport> disks;
  // What earlier, killed runs had left in the pool and this run removed.
  std::vector<std::string> swept;
  // What differed from what was asked (quiesce, ignore_vdis) and the disks
  // left out.
  std::vector<std::string> notes;
  std::map<std::string, double> phase_seconds;  // preflight, snapshot, metadata, disks, commit, cleanup
  // Over the disks and the metadata document: new_bytes is what this point
  // added to the repository (before compression), metadata included.
  uint64_t read_bytes = 0, new_bytes = 0;
};

// Backs up the VM with uuid `vm_uuid`. `endpoint` is where the session's
// pool master answers HTTP (the data handlers). A VM that cannot be backed
// up now (being migrated) is returned with skipped set, not as an error.
Result<VmBackupReport> BackupVm(xapi::Session& session, const xapi::Endpoint& endpoint,
                                repo::Repository& repo, const std::string& vm_uuid,
                                const VmBackupOptions& options);

}  // namespace casulo::engine

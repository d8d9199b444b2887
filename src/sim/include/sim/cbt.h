// Changed block tracking in casulo-sim (xapi-protocol.md §2.4, SM's
// drivers/VDI.py): one change log per CBT VDI, linked into chains by
// snapshots, and the pre-checks XAPI makes before VDI operations
// (xapi_vdi.ml check_operation_error) that the VDI and VM methods share.
//
// Logs live next to the data, DIR/vdi/<uuid>.cbt (format in
// docs/design/simulator.md "CBT"); without a state dir they are kept in
// memory for the life of the process. Callers hold the store lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sim/sim.h"
#include "sim/value_json.h"

namespace casulo::sim {

inline constexpr uint64_t kCbtBlockSize = 64 * 1024;

// A change log: the 64 KiB blocks written since the log was started (CBT
// enabled, or the snapshot that made `parent`), and the chain links.
struct CbtLog {
  std::string parent;  // uuid of the older VDI in the chain, "" = none
  std::string child;   // uuid of the newer VDI, "" = none (the leaf)
  uint64_t size = 0;   // virtual_size of the VDI when last written
  // One bit per block, ceil(size / 64 KiB) bits, byte-padded; block i is
  // bit 0x80 >> (i % 8) of byte i / 8 (reference §2.4 bit order).
  std::vector<uint8_t> bitmap;

  static CbtLog Empty(uint64_t size);
  void Mark(uint64_t block);
  bool Test(uint64_t block) const;
  uint64_t blocks() const { return (size + kCbtBlockSize - 1) / kCbtBlockSize; }
};

std::string CbtLogPath(const std::string& state_dir, std::string_view uuid);
// nullopt when the VDI has no log.
Result<std::optional<CbtLog>> LoadCbtLog(const std::string& state_dir, std::string_view uuid);
// Atomic (WriteFileAtomic) so a crash leaves the old or the new log.
Status SaveCbtLog(const std::string& state_dir, std::string_view uuid, const CbtLog& log);
Status RemoveCbtLog(const std::string& state_dir, std::string_view uuid);
// Standard base64 with padding, as list_changed_blocks answers.
std::string CbtBase64(const std::vector<uint8_t>& bytes);

// SM's _cbt_snapshot: the leaf's log becomes the snapshot's (its parent now
// points at the snapshot) and the leaf starts an empty log whose parent is
// the snapshot. No-op when the leaf has no log.
Status CbtOnSnapshot(const std::string& state_dir, const std::string& leaf_uuid,
                     const std::string& snap_uuid, uint64_t leaf_size);
// SM's delete: the log's changes are ORed into the child's log, parent and
// child are linked to each other, the log is deleted. No-op without a log.
Status CbtOnDestroy(const std::string& state_dir, const std::string& uuid);
// Marks `blocks` changed in the VDI's log (guest writes); no-op without one.
Status CbtMarkWritten(const std::string& state_dir, const std::string& uuid,
                      uint64_t vdi_size, const std::vector<uint64_t>& blocks);

// True when the host this endpoint plays has CBT: API 2.8 (inverness, 7.3)
// or later; a store without hosts counts as current. Older products have no
// CBT methods at all (MESSAGE_METHOD_UNKNOWN, reference §6).
bool ProductHasCbt(const Store& st);

// XAPI's pre-checks for VDI operation `op` ("snapshot", "clone", "destroy",
// "enable_cbt", "data_destroy", "list_changed_blocks", ...) on `vdi`, which
// must exist: cbt_metadata restrictions, CBT rules, SR capability, VDIs in
// use by a non-live operation. OK or the XAPI error.
Status CheckVdiOperation(const Store& st, const std::string& vdi, std::string_view op);

// Records that the last VBD of `vdi_ref` went away now (VM.destroy), for
// the data_destroy linger fault (Faults::VdiInUseLinger).
void NoteVbdsGone(const std::string& vdi_ref);

// Guest activity (guest.cc), simulator-only: writes deterministic
// pseudo-random data into 64 KiB blocks of a Running VM's disks and marks
// them in their CBT logs. Request and answer JSON are described in
// docs/design/simulator.md "Guest writes". Errors: kNotFound (no such VM or
// disk), kInvalidArgument (bad request), kUnsupported (VM not Running; the
// message names the power state).
Result<Json> GuestWrite(Sim& sim, const Json& request);

}  // namespace casulo::sim

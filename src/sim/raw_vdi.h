// Shared by the two raw VDI handlers (xapi-protocol.md §3.2): GET
// /export_raw_vdi (raw_vdi.cc) and PUT /import_raw_vdi (raw_vdi_import.cc).
// Private to src/sim.
#pragma once

#include <string>

#include "sim/http.h"

namespace casulo::sim {

// A VDI's identity and data file, copied out of the store so the transfer
// runs without the lock.
struct VdiData {
  std::string ref, uuid, path;  // path "" without a state dir (all zeros)
  uint64_t size = 0;
};

// `id` is a ref or a uuid, as XAPI accepts either. HANDLE_INVALID when
// neither names a VDI.
Result<VdiData> ResolveVdi(const Store& st, const std::string& dir, const std::string& id);

// tar and qcow2 are not simulated.
Status UnknownFormat(const std::string& format);

// PUT /import_raw_vdi: raw, xapi's chunked framing, or a VHD applied as a
// patch; every 64 KiB block written is marked in the VDI's CBT log, as
// tapdisk does for writes through it.
void ImportRawVdi(Sim& sim, const httplib::Request& req, httplib::Response& res,
                  const httplib::ContentReader& reader);

}  // namespace casulo::sim

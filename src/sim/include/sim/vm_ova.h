// The ova.xml description of one VM built from the store's records, shared
// by GET /export (export.cc) and GET /export_metadata (export_metadata.cc):
// formats::BuildOvaXml's input (VM, VBDs, VDIs, VIFs, networks, SR) plus
// where each disk's data lives.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "formats/ova.h"
#include "sim/store.h"

namespace casulo::sim {

// The VM named by ref (when non-empty) else by uuid: HANDLE_INVALID /
// UUID_INVALID as XAPI's handlers answer.
Result<std::string> ResolveVm(const Store& st, const std::string& ref, const std::string& uuid);

struct VmOva {
  formats::OvaSpec spec;
  std::vector<std::string> disk_files;  // per spec.disks ("" for a CD or without a state dir)
  std::string product_version;          // of the host this endpoint plays
};

struct VmOvaOptions {
  bool vbds = true;  // false: no VBD/VDI/SR records (excluded_device_types=vbd)
  bool vifs = true;  // false: no VIF/network records (excluded_device_types=vif)
};

// REQUIRES st.Find("VM", vm). CD drives and VDIs on ISO SRs become empty CD
// drives (export.ml streams neither).
VmOva BuildVmOva(const Store& st, const std::string& state_dir, const std::string& vm,
                 const VmOvaOptions& options = {});

}  // namespace casulo::sim

// The data of simulated VDIs: one sparse file per VDI, DIR/vdi/<uuid>.img,
// exactly virtual_size bytes long. Holes read as zeros, as unwritten blocks of
// a real thin-provisioned SR do, and SEEK_DATA tells exporters which ranges
// may hold data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/file.h"
#include "core/status.h"
#include "formats/raw.h"
#include "sim/store.h"

namespace casulo::sim {

// DIR/vdi/<uuid>.img ("" when the simulator runs without a state dir: then
// VDIs have records but no data, and the data operations are no-ops).
std::string DiskPath(const std::string& state_dir, std::string_view vdi_uuid);

// Creates (or resizes) the sparse file of `size` bytes; existing data below
// `size` is kept.
Status CreateDisk(const std::string& path, uint64_t size);

// Copies `src` to a new file `dst` the way `cp --reflink=auto
// --sparse=always` does: a reflink clone where the file system allows it,
// else only the SEEK_DATA ranges, leaving holes as holes.
Status CloneDisk(const std::string& src, const std::string& dst);

// The ranges SEEK_DATA reports as possibly holding data, in order.
Result<std::vector<formats::ByteRange>> DataRanges(const File& file);

// Writes recognisable content into a demo disk: a text "boot sector" and
// a few MiB of seeded pseudo-random and text data at several offsets, so
// exports have both data and holes. Deterministic for a given seed.
Status FillDemoDisk(const std::string& path, uint64_t size, uint64_t seed);

// For every VDI record of `store` whose file is missing, creates it; the
// disks of non-template VMs also get FillDemoDisk content (--demo).
Status CreateDemoDisks(const Store& store, const std::string& state_dir);

// The VDI uuid of a VDI record ("" if absent).
std::string UuidOf(const XmlRpcValue& record);

}  // namespace casulo::sim

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

// Snapshots share their source's file (a hard link at `dst`) until either
// side is written: XAPI's snapshot is a VHD metadata operation whose cost
// does not grow with the disk, and a full copy here would charge every
// backup for the simulator's storage. Falls back to CloneDisk where a link
// cannot be made.
Status ShareDisk(const std::string& src, const std::string& dst);

// Gives `path` a file of its own if it shares one (CloneDisk to a temporary
// name, renamed over `path`), so a write does not reach the other names.
// Readers holding the old file open (nbdkit serving a snapshot) keep seeing
// the data as it was, which is what they must see. Every writer of an
// existing VDI file goes through OpenDiskForWrite.
Status UnshareDisk(const std::string& path);
Result<File> OpenDiskForWrite(const std::string& path, int flags);

// The ranges SEEK_DATA reports as possibly holding data, in order.
Result<std::vector<formats::ByteRange>> DataRanges(const File& file);

// Writes recognisable content into a demo disk: a text "boot sector" and
// a few MiB of seeded pseudo-random and text data at several offsets, so
// exports have both data and holes. Deterministic for a given seed.
Status FillDemoDisk(const std::string& path, uint64_t size, uint64_t seed);

// A Linux guest disk: an ext4 file system made by `mke2fs -t ext4 -d` from a
// generated tree (/etc, /home/user/docs, ~300 small files under
// /usr/share/doc, random binaries of size/8 capped at 6 MiB under
// /var/lib/app; /etc/motd reads "casulo-sim demo disk <seed> (<label>)").
// `partitioned`: an MBR with one Linux partition at 1 MiB holding the file
// system; else the file system fills the whole disk. Needs mke2fs.
Status FillExt4Disk(const std::string& path, uint64_t size, uint64_t seed, bool partitioned,
                    const std::string& label);

// A Windows-like disk: an MBR with one NTFS partition at 1 MiB whose boot
// sector has the 'NTFS    ' OEM id (and its backup at the end), $MFT records
// at 3 GiB into the volume, and a few MiB of data regions spread over the
// disk; the rest is holes.
Status FillNtfsLikeDisk(const std::string& path, uint64_t size, uint64_t seed);

// Bytes the file really occupies (st_blocks * 512).
Result<uint64_t> AllocatedBytes(const std::string& path);

// For every VDI record of `store` whose file is missing, creates it: disks
// of non-template VMs get content (a VM whose platform has viridian=true an
// NTFS-like disk, others ext4: partitioned for userdevice 0, whole-disk for
// data disks), seeded by the VDI's name_label. Then sets every VDI's
// physical_utilisation to its file's allocated bytes and each SR's
// physical_utilisation / virtual_allocation to the sums over its VDIs
// (--demo).
Status CreateDemoDisks(Store& store, const std::string& state_dir);

// The VDI uuid of a VDI record ("" if absent).
std::string UuidOf(const XmlRpcValue& record);

}  // namespace casulo::sim

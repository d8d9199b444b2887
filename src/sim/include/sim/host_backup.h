// The simulated dom0 file system of each host and the host backup format
// (xapi-protocol.md §4.2): a gzip'd GNU tar of the root file system as the
// host-backup script's `tar --gzip --sparse --preserve-permissions
// --one-file-system -C / -c . boot/efi` writes it, and the extraction that
// host-restore does onto the backup partition.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/stream.h"

namespace casulo::sim {

// What a host's dom0 tree is made from (read from the store).
struct HostFacts {
  std::string uuid, name, address, dom0_uuid;
  std::string product_version, product_brand, platform_version, build_number;
  std::string master_address;  // "" when this host is the master
  struct Nic {
    std::string device, mac, ip, netmask, gateway;  // device "bond0.100" for a VLAN
  };
  std::vector<Nic> nics;
};

// DIR/hosts/<uuid>/root, created with realistic small content on first use
// (inventory, hostname, ifcfg-*, pool.conf, var/xapi with a UUID-named
// entry, tmp/, var/log/audit.log, a sparse kernel and a symlink in boot/,
// boot/efi, files of several modes); an existing tree is left alone.
Result<std::string> EnsureHostRoot(const std::string& state_dir, const HostFacts& host);
// DIR/hosts/<uuid>/backup-partition: where /host_restore extracts.
std::string BackupPartitionPath(const std::string& state_dir, std::string_view host_uuid);

// The host-backup exclusions: tmp/*, var/crash/*, var/log/audit*,
// var/xsconfig/* (GNU tar's unanchored patterns, `*` matching `/`) and
// UUID-named entries directly under var/xapi/. `rel` has no leading "./".
bool ExcludedFromHostBackup(std::string_view rel);

// Writes `root` as GNU tar: members "./", "./etc/", ... in name order,
// directories, regular files (sparse ones as GNU 'S' members), symlinks,
// with mode, owner ids and names, and mtime; `boot/efi` (a separate file
// system on a real host) comes last as "boot/efi/...". Ends with two zero
// blocks. Does not Finish `out`.
Status WriteHostTar(const std::string& root, Sink& out);

// Extracts a tar (GNU, ustar, V7; 'L'/'K' long names, 'S' sparse, pax
// path/linkpath/size) under `dest`: directories, files, symlinks, hard
// links, modes and mtimes, owners when running as root. Names with ".."
// components or leading "/" fail with kCorruption.
Status ExtractTar(Source& in, const std::string& dest);

// The value of KEY='value' in an xensource-inventory text ("" if absent).
std::string InventoryValue(std::string_view inventory, std::string_view key);

}  // namespace casulo::sim

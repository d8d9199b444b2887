// --demo: a realistic pool of records (disk data: CreateDemoDisks, disks.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sim/store.h"

namespace casulo::sim {

// Products the simulated hosts can claim to be: "xenserver-6.5",
// "xenserver-7.1", "citrix-8.2", "xcp-ng-8.3". Sets API_version_* and
// software_version the way that release reports them.
bool IsKnownProduct(std::string_view product);

// Fills an empty store with: a pool of 3 hosts (the first is the master and
// is the host this endpoint plays), a bond of eth0+eth1 carrying management
// (network purpose nbd) and a VLAN 100 on it, a shared NFS SR and a local
// LVM SR with PBDs (the NFS ones name a `secret` in device_config), dom0s,
// 4 guest VMs (one halted; Linux disks of 32-256 MiB, a 40 GiB Windows disk)
// and a template, each with an empty CD drive and a VIF.
// The second host also has a local LVM SR holding one VDI, so requests for
// it reach the master and are redirected (302).
// `addresses`: each host's address (host.address and its management PIF IP),
// master first; empty: 10.0.0.1, 10.0.0.2, ...
// REQUIRES IsKnownProduct(product); addresses empty or kDemoHosts long.
inline constexpr int kDemoHosts = 3;
void BuildDemoPool(Store& store, std::string_view product,
                   const std::vector<std::string>& addresses = {});

}  // namespace casulo::sim

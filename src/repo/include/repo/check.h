// `casulo check`: verifies that a repository is complete and readable, and
// reports every problem it finds instead of stopping at the first (a corrupt
// pack must not hide a missing snapshot). docs/maintenance.md explains each
// finding to users.
//
// The default check reads only metadata: key files, index files, pack
// headers and trailers, snapshots and every tree node. `read_data` also reads
// every blob of every (or a subset of the) pack, opens its envelope and
// recomputes its id.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "repo/repository.h"

namespace casulo::repo {

struct CheckOptions {
  bool read_data = false;
  // Reads the data of a subset of the packs only (implies read_data):
  // "n/m" (1 <= n <= m <= 256) takes the packs whose name's first byte % m is
  // n-1, so m runs with n = 1..m cover every pack once; "x%" (0 < x <= 100)
  // takes the packs whose first four name bytes, as a fraction of 2^32, are
  // below x/100. Both are deterministic: the same run reads the same packs.
  std::string read_data_subset;
};

struct CheckFinding {
  // kError: data is missing or damaged; some restore may fail.
  // kInfo: harmless leftovers (unreferenced packs, duplicated blobs,
  // superseded index files) that prune removes.
  enum Severity { kError, kInfo };
  Severity severity = kError;
  std::string object;  // the damaged or odd object: "pack <hex>", "index <hex>",
                       // "snapshot <hex>", "tree node <hex>", "key <name>", "repository"
  std::string message;
};

// Runs the check and returns every finding, also passing each to
// `on_finding` (may be empty) as soon as it is known, for live output.
// Problems with the repository are findings, never the returned Status: that
// is reserved for a bad `read_data_subset` (kInvalidArgument) and for
// cancellation (kCancelled). The repository may be opened without syncing
// the index cache (OpenOptions::sync_index = false): check reads the index
// files itself, so a damaged one is reported rather than failing the open.
Result<std::vector<CheckFinding>> CheckRepository(
    Repository& repo, const CheckOptions& options,
    const std::function<void(const CheckFinding&)>& on_finding);

// Parses CheckOptions::read_data_subset into a pack selector; an empty string
// selects every pack. kInvalidArgument naming the input otherwise.
Result<std::function<bool(const Hash256& pack)>> ParseReadDataSubset(std::string_view subset);

}  // namespace casulo::repo

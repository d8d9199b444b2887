// Snapshots (recovery points): the small object that names a tree and says
// what it is. Stored sealed (type kSnapshot) under snapshots/, named by the
// BLAKE3 of the sealed bytes; JSON inside (docs/format/snapshot.md).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "repo/tree.h"

namespace casulo::repo {

struct SnapshotStats {
  uint64_t chunks = 0;         // chunk ids in the tree
  uint64_t zero_chunks = 0;    // all-zero chunks (holes or zero data), never stored
  uint64_t reused_chunks = 0;  // taken from the parent without reading
  uint64_t read_bytes = 0;     // bytes read from the source
  uint64_t new_chunks = 0;     // chunks this backup added to the repository
  uint64_t new_bytes = 0;      // their plaintext size
  uint64_t stored_bytes = 0;   // their size in packs (compressed, sealed)
  double seconds = 0;
};

// One disk of a multi-disk recovery point (a VM): its own image and tree.
struct SnapshotDisk {
  std::string key;   // identity across recovery points (a VM disk: the source VDI uuid)
  std::string name;  // for people: "xvda (system disk)"
  uint64_t size = 0;
  uint32_t chunk_size = 0;
  TreeRoot tree;
  SnapshotStats stats;
  std::map<std::string, std::string> labels;  // userdevice, transport, cbt_base...
};

struct Snapshot {
  // 1 for a single image; 2 when `disks` is not empty (older readers must
  // refuse such a snapshot rather than prune the disks' data).
  uint32_t version = 1;
  std::string kind = "image";  // image | vm | host | pool (later levels)
  std::string source;          // what was backed up: a path, a VM uuid...
  std::string hostname;        // the machine that ran the backup
  int64_t time = 0;            // unix seconds, UTC
  uint32_t time_nanos = 0;     // sub-second part: orders snapshots of one second
  std::vector<std::string> tags;
  std::optional<std::string> parent;  // snapshot id this one was made against
  uint64_t size = 0;                  // image size in bytes
  uint32_t chunk_size = 0;
  TreeRoot tree;
  SnapshotStats stats;
  std::map<std::string, std::string> labels;  // free-form metadata of upper layers
  // The images of a multi-disk point; `tree`/`size` then hold its metadata
  // document. Written with version 2.
  std::vector<SnapshotDisk> disks;

  // Every tree of the snapshot: `tree`, then each disk's.
  std::vector<TreeRoot> Trees() const {
    std::vector<TreeRoot> out{tree};
    for (const auto& d : disks) out.push_back(d.tree);
    return out;
  }
  const SnapshotDisk* FindDisk(std::string_view key) const {
    for (const auto& d : disks)
      if (d.key == key) return &d;
    return nullptr;
  }
};

Bytes EncodeSnapshot(const Snapshot& s);  // JSON text
// The "stats" object of the snapshot JSON, as JSON text (for CLI summaries).
std::string SnapshotStatsJson(const SnapshotStats& stats);
Result<Snapshot> DecodeSnapshot(ByteSpan json);

std::string FormatTime(int64_t unix_seconds);  // RFC 3339, UTC: 2026-11-27T18:00:00Z
Result<int64_t> ParseTime(std::string_view rfc3339);
// With a 9-digit fraction when `nanos` is not 0; ParseTimeNanos accepts both.
std::string FormatTimeNanos(int64_t unix_seconds, uint32_t nanos);
Result<std::pair<int64_t, uint32_t>> ParseTimeNanos(std::string_view rfc3339);

}  // namespace casulo::repo

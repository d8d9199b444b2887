// Retention: which snapshots a `forget` policy keeps. A pure function of
// (snapshots, policy, now), with no I/O, so the CLI can print the plan before
// acting and the rules are pinned by golden cases (tests/golden/retention/).
// docs/retention.md describes the options for users; the semantics follow
// restic's `forget`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace casulo::repo {

struct SnapshotInfo {
  std::string id;
  int64_t time = 0;  // unix seconds
  std::vector<std::string> tags;
  uint32_t time_nanos = 0;  // orders snapshots of the same second (buckets use `time`)
};

// Every rule adds snapshots to the kept set; nothing is removed that any rule
// keeps.
//
// - last N: the N newest snapshots.
// - hourly/daily/weekly/monthly/yearly N: the newest snapshot of each of the N
//   most recent periods that contain a snapshot (periods without snapshots do
//   not count). Periods are calendar hours, days, ISO weeks (Monday to
//   Sunday), months and years in UTC, whatever the local time zone of the
//   host or of the snapshot's origin, so the same repository gives the same
//   plan everywhere.
// - A negative count means unlimited (every period, every snapshot).
// - within_seconds D > 0: every snapshot with time >= now - D.
// - keep_tags: every snapshot carrying at least one of these tags.
struct RetentionPolicy {
  int last = 0;
  int hourly = 0;
  int daily = 0;
  int weekly = 0;
  int monthly = 0;
  int yearly = 0;
  int64_t within_seconds = 0;
  std::vector<std::string> keep_tags;

  // True when no rule is set (all counts 0, within_seconds <= 0, no tags).
  bool empty() const;
};

struct RetentionDecision {
  std::string id;
  int64_t time = 0;
  bool keep = false;
  // Every rule that keeps the snapshot, in this order: "last", "hourly",
  // "daily", "weekly", "monthly", "yearly", "within <D>" (D as FormatDuration
  // prints it), "tag:<t>" for each matching tag in keep_tags order. Empty for
  // removed snapshots; {"empty policy"} when the policy is empty.
  std::vector<std::string> reasons;
};

// Decides every snapshot; returns one decision per input, newest first (ties
// in time ordered by id, ascending; the earlier id counts as the newer one for
// the rules). An EMPTY policy keeps every snapshot: a missing policy must
// never delete a whole repository (the CLI also refuses an empty policy).
std::vector<RetentionDecision> ApplyRetention(std::vector<SnapshotInfo> snaps,
                                              const RetentionPolicy& p, int64_t now);

// Parses a duration of one or more <number><unit> parts, units from largest to
// smallest and each at most once: y (365 days), m (30 days), w (7 days),
// d (days), h (hours). "7d", "2w", "1y6m", "36h" -> seconds. Anything else
// (empty, no unit, unknown unit, sign, spaces, overflow) is kInvalidArgument
// with a message naming the input and the accepted form.
Result<int64_t> ParseDuration(std::string_view s);

// The inverse for display: largest units first from y, m, d, h, then s for a
// remainder ("1y6m", "14d", "36h" -> "1d12h"); "0s" for 0. Never prints w, so
// ParseDuration(FormatDuration(x)) == x for any multiple of an hour.
std::string FormatDuration(int64_t seconds);

}  // namespace casulo::repo

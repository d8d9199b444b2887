#include "repo/retention.h"

#include <algorithm>
#include <chrono>
#include <optional>

namespace casulo::repo {

namespace {

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 24 * kHour;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// The rules with a count, in the order their reasons are listed.
enum class Period { kLast, kHour, kDay, kWeek, kMonth, kYear };

// A key that is equal for two times exactly when they fall in the same UTC
// period. kLast has one period per snapshot: its position in the sorted list.
int64_t BucketOf(Period p, int64_t t, size_t index) {
  using namespace std::chrono;
  const sys_days day = floor<days>(sys_seconds(seconds(t)));
  switch (p) {
    case Period::kLast:
      return static_cast<int64_t>(index);
    case Period::kHour:
      return FloorDiv(t, kHour);
    case Period::kDay:
      return day.time_since_epoch().count();
    case Period::kWeek: {
      // The ISO week is named by its Monday; iso_encoding() is 1 for Monday.
      // Naming it by (ISO year, week number) would be the same partition.
      const unsigned iso = weekday(day).iso_encoding();
      return day.time_since_epoch().count() - static_cast<int64_t>(iso - 1);
    }
    case Period::kMonth: {
      const year_month_day ymd(day);
      return int64_t{int(ymd.year())} * 12 + int64_t{unsigned(ymd.month())} - 1;
    }
    case Period::kYear:
      return int(year_month_day(day).year());
  }
  return 0;
}

struct Rule {
  Period period;
  int count;  // < 0: unlimited
  const char* reason;
};

bool HasTag(const SnapshotInfo& s, const std::string& tag) {
  return std::find(s.tags.begin(), s.tags.end(), tag) != s.tags.end();
}

}  // namespace

bool RetentionPolicy::empty() const {
  return last == 0 && hourly == 0 && daily == 0 && weekly == 0 && monthly == 0 && yearly == 0 &&
         within_seconds <= 0 && keep_tags.empty();
}

std::vector<RetentionDecision> ApplyRetention(std::vector<SnapshotInfo> snaps,
                                              const RetentionPolicy& p, int64_t now) {
  std::sort(snaps.begin(), snaps.end(), [](const SnapshotInfo& a, const SnapshotInfo& b) {
    if (a.time != b.time) return a.time > b.time;
    if (a.time_nanos != b.time_nanos) return a.time_nanos > b.time_nanos;
    return a.id < b.id;
  });

  std::vector<RetentionDecision> out;
  out.reserve(snaps.size());
  for (const SnapshotInfo& s : snaps) out.push_back({s.id, s.time, false, {}});

  if (p.empty()) {
    for (RetentionDecision& d : out) {
      d.keep = true;
      d.reasons = {"empty policy"};
    }
    return out;
  }

  // Walking newest first, the first snapshot seen in a period is that
  // period's newest; it is kept while the rule still has periods to give.
  // Periods with no snapshot are never seen, so they do not use up the count.
  const Rule rules[] = {
      {Period::kLast, p.last, "last"},        {Period::kHour, p.hourly, "hourly"},
      {Period::kDay, p.daily, "daily"},       {Period::kWeek, p.weekly, "weekly"},
      {Period::kMonth, p.monthly, "monthly"}, {Period::kYear, p.yearly, "yearly"},
  };
  for (const Rule& rule : rules) {
    int remaining = rule.count;
    std::optional<int64_t> current;
    for (size_t i = 0; i < snaps.size() && remaining != 0; ++i) {
      const int64_t bucket = BucketOf(rule.period, snaps[i].time, i);
      if (current == bucket) continue;
      current = bucket;
      out[i].keep = true;
      out[i].reasons.push_back(rule.reason);
      if (remaining > 0) --remaining;
    }
  }

  if (p.within_seconds > 0) {
    int64_t cutoff;
    if (__builtin_sub_overflow(now, p.within_seconds, &cutoff)) cutoff = INT64_MIN;
    const std::string reason = "within " + FormatDuration(p.within_seconds);
    for (size_t i = 0; i < snaps.size(); ++i) {
      if (snaps[i].time < cutoff) break;  // sorted newest first
      out[i].keep = true;
      out[i].reasons.push_back(reason);
    }
  }

  for (size_t t = 0; t < p.keep_tags.size(); ++t) {
    const std::string& tag = p.keep_tags[t];
    // A tag listed twice gives one reason.
    if (std::find(p.keep_tags.begin(), p.keep_tags.begin() + t, tag) != p.keep_tags.begin() + t)
      continue;
    for (size_t i = 0; i < snaps.size(); ++i) {
      if (!HasTag(snaps[i], tag)) continue;
      out[i].keep = true;
      out[i].reasons.push_back("tag:" + tag);
    }
  }
  return out;
}

Result<int64_t> ParseDuration(std::string_view s) {
  static constexpr struct {
    char unit;
    int64_t seconds;
  } kUnits[] = {{'y', 365 * kDay}, {'m', 30 * kDay}, {'w', 7 * kDay}, {'d', kDay}, {'h', kHour}};
  constexpr size_t kNumUnits = sizeof kUnits / sizeof kUnits[0];
  auto fail = [&](std::string_view why) -> Status {
    return Error(Code::kInvalidArgument,
                 "invalid duration '{}': {}; expected <number><unit>... with units from largest "
                 "to smallest among y (365d), m (30d), w, d, h, e.g. 7d, 2w, 1y6m, 36h",
                 s, why);
  };
  if (s.empty()) return fail("empty");

  int64_t total = 0;
  size_t next_unit = 0;  // the units before this one were used or skipped
  size_t pos = 0;
  while (pos < s.size()) {
    if (s[pos] < '0' || s[pos] > '9')
      return fail(fmt::format("expected a digit at '{}'", s.substr(pos)));
    int64_t n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, s[pos] - '0', &n))
        return fail("too large");
      ++pos;
    }
    if (pos == s.size()) return fail("number without a unit");
    const char unit = s[pos++];
    size_t u = 0;
    while (u < kNumUnits && kUnits[u].unit != unit) ++u;
    if (u == kNumUnits) return fail(fmt::format("unknown unit '{}'", unit));
    if (u < next_unit) return fail(fmt::format("unit '{}' repeated or out of order", unit));
    next_unit = u + 1;
    int64_t part;
    if (__builtin_mul_overflow(n, kUnits[u].seconds, &part) ||
        __builtin_add_overflow(total, part, &total))
      return fail("too large");
  }
  return total;
}

std::string FormatDuration(int64_t seconds) {
  if (seconds == 0) return "0s";
  std::string out;
  uint64_t left = static_cast<uint64_t>(seconds);
  if (seconds < 0) {
    out = "-";
    left = 0 - left;  // well defined for INT64_MIN too
  }
  static constexpr struct {
    char unit;
    uint64_t seconds;
  } kUnits[] = {{'y', 365 * kDay}, {'m', 30 * kDay}, {'d', kDay}, {'h', kHour}, {'s', 1}};
  for (const auto& u : kUnits) {
    if (left < u.seconds) continue;
    out += fmt::format("{}{}", left / u.seconds, u.unit);
    left %= u.seconds;
  }
  return out;
}

}  // namespace casulo::repo

#include "repo/retention.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <sstream>

#include "core/file.h"

namespace casulo::repo {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kGoldenDir = CASULO_SOURCE_DIR "/tests/golden/retention";

// "2024-12-31T12:00:00Z" <-> unix seconds, UTC.
int64_t ParseIso(const std::string& s) {
  int y, mo, d, h, mi, sec;
  char z = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d%c", &y, &mo, &d, &h, &mi, &sec, &z) != 7 ||
      z != 'Z') {
    ADD_FAILURE() << "bad time '" << s << "'";
    return 0;
  }
  using namespace std::chrono;
  const sys_days day = year(y) / month(mo) / d;
  return day.time_since_epoch().count() * 86400 + h * 3600 + mi * 60 + sec;
}

std::string FormatIso(int64_t t) {
  using namespace std::chrono;
  const sys_seconds tp{seconds(t)};
  const sys_days day = floor<days>(tp);
  const year_month_day ymd(day);
  const int64_t s = (tp - day).count();
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", int(ymd.year()), unsigned(ymd.month()),
                     unsigned(ymd.day()), s / 3600, s / 60 % 60, s % 60);
}

std::vector<std::string> Lines(const std::string& path) {
  auto data = ReadFile(path);
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  if (!data.ok()) return {};
  std::vector<std::string> out;
  std::istringstream in{std::string(AsChars(*data))};
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') out.push_back(line);
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep))
    if (!cur.empty()) out.push_back(cur);
  return out;
}

std::vector<SnapshotInfo> LoadSnapshots() {
  std::vector<SnapshotInfo> out;
  for (const std::string& line : Lines(kGoldenDir + "/snapshots.txt")) {
    std::vector<std::string> f = Split(line, ' ');
    if (f.size() < 2 || f.size() > 3) {
      ADD_FAILURE() << "bad snapshot line: " << line;
      continue;
    }
    out.push_back(
        {f[0], ParseIso(f[1]), f.size() == 3 ? Split(f[2], ',') : std::vector<std::string>{}});
  }
  return out;
}

struct Case {
  std::string name;
  RetentionPolicy policy;
  int64_t now = ParseIso("2024-12-31T12:00:00Z");
};

std::vector<Case> LoadCases() {
  std::vector<Case> out;
  for (const std::string& line : Lines(kGoldenDir + "/cases.txt")) {
    std::vector<std::string> f = Split(line, ' ');
    Case c;
    c.name = f[0];
    RetentionPolicy& p = c.policy;
    const std::map<std::string, int*> counts = {{"last", &p.last},       {"hourly", &p.hourly},
                                                {"daily", &p.daily},     {"weekly", &p.weekly},
                                                {"monthly", &p.monthly}, {"yearly", &p.yearly}};
    for (size_t i = 1; i < f.size(); ++i) {
      const size_t eq = f[i].find('=');
      const std::string key = f[i].substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : f[i].substr(eq + 1);
      if (auto it = counts.find(key); it != counts.end()) {
        *it->second = std::atoi(value.c_str());
      } else if (key == "now") {
        c.now = ParseIso(value);
      } else if (key == "tag") {
        p.keep_tags.push_back(value);
      } else if (key == "within") {
        auto d = ParseDuration(value);
        EXPECT_TRUE(d.ok()) << c.name << ": " << d.status().ToString();
        if (d.ok()) p.within_seconds = *d;
      } else {
        ADD_FAILURE() << c.name << ": bad field " << f[i];
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string Render(const std::vector<RetentionDecision>& ds) {
  std::string out;
  for (const RetentionDecision& d : ds) {
    out += fmt::format("{} {}", d.keep ? "keep" : "remove", FormatIso(d.time));
    if (!d.reasons.empty()) out += fmt::format(" {}", fmt::join(d.reasons, ","));
    out += "\n";
  }
  return out;
}

TEST(RetentionGolden, AllCases) {
  const bool update = [] {
    const char* v = std::getenv("CASULO_UPDATE_GOLDEN");
    return v && std::string(v) == "1";
  }();
  const std::vector<SnapshotInfo> snaps = LoadSnapshots();
  ASSERT_EQ(snaps.size(), 41u);
  const std::vector<Case> cases = LoadCases();
  ASSERT_GE(cases.size(), 15u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string got = Render(ApplyRetention(snaps, c.policy, c.now));
    const std::string path = kGoldenDir + "/expected/" + c.name + ".txt";
    if (update) {
      Status s = WriteFileAtomic(path, AsBytes(got));
      EXPECT_TRUE(s.ok()) << s.ToString();
      continue;
    }
    auto want = ReadFile(path);
    ASSERT_TRUE(want.ok()) << want.status().ToString()
                           << " (run with CASULO_UPDATE_GOLDEN=1 to create it)";
    EXPECT_EQ(got, AsChars(*want))
        << "golden mismatch for " << path << "; if intended, rerun with CASULO_UPDATE_GOLDEN=1";
  }
}

// The hand-checked facts behind a few golden files, so a regenerated file that
// is wrong fails here too.
std::vector<std::string> KeptTimes(const std::vector<RetentionDecision>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds)
    if (d.keep) out.push_back(FormatIso(d.time));
  return out;
}

TEST(RetentionGolden, DailyKeepsLastOfEachOfSevenDaysWithSnapshots) {
  RetentionPolicy p;
  p.daily = 7;
  // 2024-12-25 has no snapshot, so the seventh day is the 24th; 23:59:59 on
  // the 28th is that day's last, 00:00:00 belongs to the 29th.
  EXPECT_THAT(KeptTimes(ApplyRetention(LoadSnapshots(), p, 0)),
              ElementsAre("2024-12-31T11:59:00Z", "2024-12-30T07:10:00Z", "2024-12-29T12:00:00Z",
                          "2024-12-28T23:59:59Z", "2024-12-27T06:00:00Z", "2024-12-26T06:00:00Z",
                          "2024-12-24T18:00:00Z"));
}

TEST(RetentionGolden, WeeklyUsesIsoWeeksAcrossTheYearEnd) {
  RetentionPolicy p;
  p.weekly = 4;
  // Mon 2024-12-30 starts 2025-W01; Sun 2024-12-29 ends 2024-W52.
  EXPECT_THAT(KeptTimes(ApplyRetention(LoadSnapshots(), p, 0)),
              ElementsAre("2024-12-31T11:59:00Z", "2024-12-29T12:00:00Z", "2024-12-22T06:00:00Z",
                          "2024-12-15T06:00:00Z"));
}

TEST(RetentionGolden, YearlyKeepsLastOfEachYear) {
  RetentionPolicy p;
  p.yearly = 3;  // only two years have snapshots
  EXPECT_THAT(KeptTimes(ApplyRetention(LoadSnapshots(), p, 0)),
              ElementsAre("2024-12-31T11:59:00Z", "2023-12-31T23:00:00Z"));
}

TEST(Retention, EmptyPolicyKeepsEverything) {
  RetentionPolicy p;
  EXPECT_TRUE(p.empty());
  auto ds = ApplyRetention({{"a", 10, {}}, {"b", 20, {}}}, p, 100);
  ASSERT_EQ(ds.size(), 2u);
  for (const auto& d : ds) {
    EXPECT_TRUE(d.keep);
    EXPECT_THAT(d.reasons, ElementsAre("empty policy"));
  }
  p.within_seconds = -5;  // a non-positive window is no rule
  EXPECT_TRUE(p.empty());
  p.keep_tags = {"x"};
  EXPECT_FALSE(p.empty());
}

TEST(Retention, NoSnapshots) {
  RetentionPolicy p;
  p.last = 3;
  EXPECT_TRUE(ApplyRetention({}, p, 0).empty());
}

TEST(Retention, OutputIsNewestFirstWithTiesById) {
  RetentionPolicy p;
  p.last = 1;
  auto ds = ApplyRetention({{"c", 5, {}}, {"b", 9, {}}, {"a", 9, {}}, {"d", 1, {}}}, p, 0);
  ASSERT_EQ(ds.size(), 4u);
  EXPECT_EQ(ds[0].id, "a");
  EXPECT_TRUE(ds[0].keep);
  EXPECT_EQ(ds[1].id, "b");
  EXPECT_FALSE(ds[1].keep);
  EXPECT_EQ(ds[2].id, "c");
  EXPECT_EQ(ds[3].id, "d");
}

TEST(Retention, InputOrderDoesNotMatter) {
  std::vector<SnapshotInfo> snaps = LoadSnapshots();
  RetentionPolicy p;
  p.daily = 5;
  p.monthly = 3;
  p.keep_tags = {"pinned"};
  const std::string want = Render(ApplyRetention(snaps, p, 0));
  std::mt19937 rng(42);
  for (int i = 0; i < 5; ++i) {
    std::shuffle(snaps.begin(), snaps.end(), rng);
    EXPECT_EQ(Render(ApplyRetention(snaps, p, 0)), want);
  }
}

TEST(Retention, ListsEveryReasonInOrder) {
  RetentionPolicy p;
  p.last = 1;
  p.hourly = 1;
  p.daily = 1;
  p.weekly = 1;
  p.monthly = 1;
  p.yearly = 1;
  p.within_seconds = 7 * 86400;
  p.keep_tags = {"pinned", "x", "pinned"};
  auto ds = ApplyRetention({{"a", 1000, {"x", "pinned"}}, {"b", 500, {}}}, p, 1000);
  EXPECT_THAT(ds[0].reasons, ElementsAre("last", "hourly", "daily", "weekly", "monthly", "yearly",
                                         "within 7d", "tag:pinned", "tag:x"));
  EXPECT_THAT(ds[1].reasons, ElementsAre("within 7d"));
}

TEST(Retention, WithinIsInclusiveAtTheBoundary) {
  RetentionPolicy p;
  p.within_seconds = 100;
  auto ds = ApplyRetention({{"a", 900, {}}, {"b", 899, {}}, {"future", 5000, {}}}, p, 1000);
  EXPECT_EQ(ds[0].id, "future");
  EXPECT_TRUE(ds[0].keep);
  EXPECT_TRUE(ds[1].keep);       // a: exactly now - D
  EXPECT_FALSE(ds[2].keep);      // b
  p.within_seconds = INT64_MAX;  // must not overflow
  EXPECT_TRUE(ApplyRetention({{"old", INT64_MIN / 2, {}}}, p, -1000)[0].keep);
}

TEST(Retention, NegativeCountIsUnlimited) {
  RetentionPolicy p;
  p.hourly = -1;
  auto ds = ApplyRetention({{"a", 3600 * 5 + 1, {}},
                            {"b", 3600 * 5, {}},
                            {"c", 3599, {}},
                            {"d", -1, {}},
                            {"e", -3600, {}},
                            {"f", -3601, {}}},
                           p, 0);
  // Hours are floored, also before 1970: d and e share hour -1.
  std::vector<bool> keep;
  for (const auto& d : ds) keep.push_back(d.keep);
  EXPECT_THAT(keep, ElementsAre(true, false, true, true, false, true));
}

TEST(RetentionParseDuration, Accepts) {
  EXPECT_EQ(*ParseDuration("7d"), 7 * 86400);
  EXPECT_EQ(*ParseDuration("2w"), 14 * 86400);
  EXPECT_EQ(*ParseDuration("1y6m"), (365 + 180) * 86400);
  EXPECT_EQ(*ParseDuration("36h"), 36 * 3600);
  EXPECT_EQ(*ParseDuration("1y2m3w4d5h"), (365 + 60 + 21 + 4) * 86400 + 5 * 3600);
  EXPECT_EQ(*ParseDuration("0d"), 0);
  EXPECT_EQ(*ParseDuration("007d"), 7 * 86400);
}

TEST(RetentionParseDuration, Rejects) {
  for (const char* bad : {"", "7", "d", "7x", "7D", "-7d", "+7d", " 7d", "7d ", "7 d", "1d1y",
                          "1d1d", "1.5d", "7d3", "99999999999999999999d", "999999999999y"}) {
    auto r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << "'" << bad << "'";
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(fmt::format("'{}'", bad)));
    EXPECT_THAT(r.status().message(), HasSubstr("e.g. 7d"));
  }
  EXPECT_THAT(ParseDuration("7x").status().message(), HasSubstr("unknown unit 'x'"));
  EXPECT_THAT(ParseDuration("7").status().message(), HasSubstr("without a unit"));
  EXPECT_THAT(ParseDuration("1d1y").status().message(), HasSubstr("out of order"));
  EXPECT_THAT(ParseDuration("999999999999y").status().message(), HasSubstr("too large"));
}

TEST(RetentionParseDuration, FormatRoundTrips) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(7 * 86400), "7d");
  EXPECT_EQ(FormatDuration(14 * 86400), "14d");
  EXPECT_EQ(FormatDuration(36 * 3600), "1d12h");
  EXPECT_EQ(FormatDuration(90061), "1d1h61s");  // no minutes: m is months
  EXPECT_EQ(FormatDuration(-3600), "-1h");
  for (const char* s : {"7d", "1y6m", "36h", "2w", "1y2m3w4d5h"}) {
    const int64_t v = *ParseDuration(s);
    EXPECT_EQ(*ParseDuration(FormatDuration(v)), v) << s;
  }
}

TEST(Retention, SubSecondTimesOrderSnapshotsOfOneSecond) {
  // Three backups within one second: keep-last 1 must keep the newest by its
  // sub-second time, whatever the ids.
  std::vector<SnapshotInfo> snaps = {{"aaa", 1000, {}, 900}, {"bbb", 1000, {}, 100},
                                     {"ccc", 1000, {}, 500}};
  RetentionPolicy p;
  p.last = 1;
  auto d = ApplyRetention(snaps, p, 2000);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].id, "aaa");
  EXPECT_TRUE(d[0].keep);
  EXPECT_FALSE(d[1].keep);
  EXPECT_FALSE(d[2].keep);
}

}  // namespace
}  // namespace casulo::repo

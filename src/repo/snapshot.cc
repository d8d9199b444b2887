#include "repo/snapshot.h"

#include <ctime>
#include <nlohmann/json.hpp>

namespace casulo::repo {

using nlohmann::json;

std::string FormatTime(int64_t t) {
  std::time_t tt = t;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<int64_t> ParseTime(std::string_view s) {
  std::tm tm{};
  std::string str(s);
  const char* end = strptime(str.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end != '\0') return Error(Code::kInvalidArgument, "bad time '{}'", s);
  return int64_t(timegm(&tm));
}

std::string FormatTimeNanos(int64_t t, uint32_t nanos) {
  std::string out = FormatTime(t);
  if (nanos) out.insert(out.size() - 1, fmt::format(".{:09d}", nanos));
  return out;
}

Result<std::pair<int64_t, uint32_t>> ParseTimeNanos(std::string_view s) {
  size_t dot = s.find('.');
  if (dot == std::string_view::npos) {
    ASSIGN_OR_RETURN(int64_t t, ParseTime(s));
    return std::pair<int64_t, uint32_t>(t, 0);
  }
  std::string whole = std::string(s.substr(0, dot)) + "Z";
  std::string_view frac = s.substr(dot + 1);
  if (frac.empty() || frac.size() > 10 || frac.back() != 'Z')
    return Error(Code::kInvalidArgument, "bad time '{}'", s);
  frac.remove_suffix(1);
  uint32_t nanos = 0;
  for (size_t i = 0; i < 9; ++i) {
    char c = i < frac.size() ? frac[i] : '0';
    if (c < '0' || c > '9') return Error(Code::kInvalidArgument, "bad time '{}'", s);
    nanos = nanos * 10 + uint32_t(c - '0');
  }
  if (frac.size() > 9) return Error(Code::kInvalidArgument, "bad time '{}'", s);
  ASSIGN_OR_RETURN(int64_t t, ParseTime(whole));
  return std::pair<int64_t, uint32_t>(t, nanos);
}

static json StatsToJson(const SnapshotStats& st) {
  return {{"chunks", st.chunks},           {"zero_chunks", st.zero_chunks},
          {"reused_chunks", st.reused_chunks}, {"read_bytes", st.read_bytes},
          {"new_chunks", st.new_chunks},   {"new_bytes", st.new_bytes},
          {"stored_bytes", st.stored_bytes}, {"seconds", st.seconds}};
}

std::string SnapshotStatsJson(const SnapshotStats& stats) { return StatsToJson(stats).dump(); }

namespace {

json TreeToJson(const TreeRoot& t) {
  return {{"root", t.root.Hex()}, {"height", t.height}, {"count", t.count}};
}

Result<TreeRoot> TreeFromJson(const json& t) {
  TreeRoot out;
  ASSIGN_OR_RETURN(out.root, Hash256::FromHexString(t.at("root").get<std::string>()));
  out.height = t.at("height").get<uint32_t>();
  out.count = t.at("count").get<uint64_t>();
  return out;
}

SnapshotStats StatsFromJson(const json& st) {
  SnapshotStats s;
  s.chunks = st.value("chunks", uint64_t(0));
  s.zero_chunks = st.value("zero_chunks", uint64_t(0));
  s.reused_chunks = st.value("reused_chunks", uint64_t(0));
  s.read_bytes = st.value("read_bytes", uint64_t(0));
  s.new_chunks = st.value("new_chunks", uint64_t(0));
  s.new_bytes = st.value("new_bytes", uint64_t(0));
  s.stored_bytes = st.value("stored_bytes", uint64_t(0));
  s.seconds = st.value("seconds", 0.0);
  return s;
}

// The shape rules every image (main or disk) obeys.
Status CheckImage(std::string_view what, uint64_t size, uint32_t chunk_size, const TreeRoot& tree) {
  if (tree.height == 0 || tree.height > 8)
    return Error(Code::kCorruption, "{} tree height {}", what, tree.height);
  if (chunk_size == 0 && size != 0) return Error(Code::kCorruption, "{} chunk_size 0", what);
  if (chunk_size && (size + chunk_size - 1) / chunk_size != tree.count)
    return Error(Code::kCorruption, "{} of {} bytes has {} chunks", what, size, tree.count);
  return OkStatus();
}

}  // namespace

Bytes EncodeSnapshot(const Snapshot& s) {
  json j = {
      {"version", s.disks.empty() ? s.version : std::max<uint32_t>(s.version, 2)},
      {"kind", s.kind},
      {"source", s.source},
      {"hostname", s.hostname},
      {"time", FormatTimeNanos(s.time, s.time_nanos)},
      {"tags", s.tags},
      {"parent", s.parent ? json(*s.parent) : json(nullptr)},
      {"size", s.size},
      {"chunk_size", s.chunk_size},
      {"tree", TreeToJson(s.tree)},
      {"stats", StatsToJson(s.stats)},
      {"labels", s.labels},
  };
  if (!s.disks.empty()) {
    json disks = json::array();
    for (const auto& d : s.disks)
      disks.push_back({{"key", d.key},
                       {"name", d.name},
                       {"size", d.size},
                       {"chunk_size", d.chunk_size},
                       {"tree", TreeToJson(d.tree)},
                       {"stats", StatsToJson(d.stats)},
                       {"labels", d.labels}});
    j["disks"] = std::move(disks);
  }
  std::string text = j.dump();
  return Bytes(text.begin(), text.end());
}

Result<Snapshot> DecodeSnapshot(ByteSpan bytes) {
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Error(Code::kCorruption, "snapshot is not a JSON object");
  Snapshot s;
  try {
    s.version = j.at("version").get<uint32_t>();
    if (s.version != 1 && s.version != 2)
      return Error(Code::kUnsupported, "snapshot version {}", s.version);
    s.kind = j.at("kind").get<std::string>();
    s.source = j.at("source").get<std::string>();
    s.hostname = j.value("hostname", "");
    ASSIGN_OR_RETURN(auto when, ParseTimeNanos(j.at("time").get<std::string>()));
    s.time = when.first;
    s.time_nanos = when.second;
    s.tags = j.value("tags", std::vector<std::string>{});
    if (j.contains("parent") && !j["parent"].is_null()) s.parent = j["parent"].get<std::string>();
    s.size = j.at("size").get<uint64_t>();
    s.chunk_size = j.at("chunk_size").get<uint32_t>();
    ASSIGN_OR_RETURN(s.tree, TreeFromJson(j.at("tree")));
    if (j.contains("stats")) s.stats = StatsFromJson(j["stats"]);
    s.labels = j.value("labels", std::map<std::string, std::string>{});
    if (j.contains("disks")) {
      if (s.version < 2) return Error(Code::kCorruption, "snapshot version 1 with disks");
      for (const json& dj : j.at("disks")) {
        SnapshotDisk d;
        d.key = dj.at("key").get<std::string>();
        d.name = dj.value("name", "");
        d.size = dj.at("size").get<uint64_t>();
        d.chunk_size = dj.at("chunk_size").get<uint32_t>();
        ASSIGN_OR_RETURN(d.tree, TreeFromJson(dj.at("tree")));
        if (dj.contains("stats")) d.stats = StatsFromJson(dj["stats"]);
        d.labels = dj.value("labels", std::map<std::string, std::string>{});
        s.disks.push_back(std::move(d));
      }
    }
  } catch (const json::exception& e) {
    return Error(Code::kCorruption, "snapshot JSON: {}", e.what());
  }
  RETURN_IF_ERROR(CheckImage("snapshot", s.size, s.chunk_size, s.tree));
  for (size_t i = 0; i < s.disks.size(); ++i) {
    const SnapshotDisk& d = s.disks[i];
    RETURN_IF_ERROR(CheckImage(fmt::format("snapshot disk {}", d.key), d.size, d.chunk_size, d.tree));
    for (size_t k = 0; k < i; ++k)
      if (s.disks[k].key == d.key) return Error(Code::kCorruption, "snapshot disk {} twice", d.key);
  }
  return s;
}

}  // namespace casulo::repo

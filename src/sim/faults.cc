#include "sim/faults.h"

#include <algorithm>
#include <charconv>

namespace casulo::sim {
namespace {

Status Bad(std::string_view spec, std::string_view why) {
  return Error(Code::kInvalidArgument, "fault '{}': {}", spec, why);
}

std::vector<std::string_view> Split(std::string_view s, char sep, size_t max_parts) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < max_parts) {
    size_t at = s.find(sep);
    if (at == std::string_view::npos) break;
    out.push_back(s.substr(0, at));
    s.remove_prefix(at + 1);
  }
  out.push_back(s);
  return out;
}

std::optional<uint64_t> Number(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// A byte count with an optional binary suffix: 4096, 64K, 1M, 2G.
std::optional<uint64_t> Bytes(std::string_view s) {
  uint64_t mult = 1;
  if (!s.empty()) {
    switch (s.back()) {
      case 'K': mult = 1ull << 10; break;
      case 'M': mult = 1ull << 20; break;
      case 'G': mult = 1ull << 30; break;
      default: break;
    }
    if (mult != 1) s.remove_suffix(1);
  }
  auto v = Number(s);
  if (!v) return std::nullopt;
  return *v * mult;
}

// "3s", "500ms", or bare seconds.
std::optional<std::chrono::milliseconds> Duration(std::string_view s) {
  if (s.ends_with("ms")) {
    auto v = Number(s.substr(0, s.size() - 2));
    if (v) return std::chrono::milliseconds(*v);
    return std::nullopt;
  }
  if (s.ends_with("s")) s.remove_suffix(1);
  auto v = Number(s);
  if (!v) return std::nullopt;
  return std::chrono::milliseconds(*v * 1000);
}

bool PathMatches(std::string_view fault_path, std::string_view handler) {
  return HandlerPath(fault_path) == handler;
}

}  // namespace

std::string HandlerPath(std::string_view p) {
  p = p.substr(0, p.find('?'));
  // XAPI matches handlers by longest prefix (§3.1), and its clients add a
  // trailing slash or a file name: /export/, /export_raw_vdi/x.vhd.
  static constexpr std::string_view kHandlers[] = {
      "/export_raw_vdi", "/import_raw_vdi", "/export_metadata", "/import_metadata", "/export",
      "/import",         "/pool/xmldbdump", "/host_backup",     "/host_restore"};
  for (std::string_view h : kHandlers)
    if (p == h || (p.starts_with(h) && p[h.size()] == '/')) return std::string(h);
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  return std::string(p);
}

struct Faults::Parsed {
  std::optional<ErrorFault> error;
  std::optional<TransferFault> transfer;
  bool expire_sessions = false;
  std::optional<std::chrono::milliseconds> vdi_in_use;
};

Result<Faults::Parsed> Faults::Parse(std::string_view spec) {
  Parsed p;
  std::vector<std::string_view> f = Split(spec, ':', 4);
  std::string_view kind = f[0];
  if (kind == "expire-sessions" && f.size() == 1) {
    p.expire_sessions = true;
    return p;
  }
  if (kind == "snapshot-fails" && f.size() <= 2) {
    // SM's SRNoSpace (XE_SR_ERRORCODES.xml code 44) as xapi's sm_exec.ml
    // turns an SM fault into SR_BACKEND_FAILURE_<code> ["", reason, stderr].
    auto k = f.size() == 2 ? Number(f[1]) : std::optional<uint64_t>(1);
    if (!k || *k == 0) return Bad(spec, "the count must be a positive integer");
    p.error = ErrorFault{"VM.snapshot", int(*k),
                         {"SR_BACKEND_FAILURE_44", "", "There is insufficient space", ""}};
    return p;
  }
  if (kind == "vdi-in-use" && f.size() == 2) {
    auto d = Duration(f[1]);
    if (!d) return Bad(spec, "expected a duration such as 3s or 500ms");
    p.vdi_in_use = *d;
    return p;
  }
  if (kind == "error") {
    if (f.size() != 4) return Bad(spec, "expected error:METHOD:COUNT:CODE[,PARAM...]");
    auto k = Number(f[2]);
    if (!k || *k == 0) return Bad(spec, "the count must be a positive integer");
    std::string_view method = f[1];
    if (method.starts_with("Async.")) method.remove_prefix(6);
    if (method.empty() || f[3].empty()) return Bad(spec, "method and error code are required");
    ErrorFault e{std::string(method), int(*k), {}};
    for (std::string_view part : Split(f[3], ',', std::string_view::npos))
      e.error.emplace_back(part);
    p.error = std::move(e);
    return p;
  }
  if (kind == "drop" || kind == "slow") {
    if (f.size() < 3 || f[1].empty() || f[1][0] != '/')
      return Bad(spec, "expected " + std::string(kind) + ":/PATH:BYTES[:COUNT]");
    std::vector<std::string_view> rest(f.begin() + 2, f.end());
    auto v = Bytes(rest[0]);
    if (!v || (kind == "slow" && *v == 0)) return Bad(spec, "bad byte count '" + std::string(rest[0]) + "'");
    int count = kind == "drop" ? 1 : -1;
    if (rest.size() == 2) {
      auto c = Number(rest[1]);  // "1M:2:3" fails here: too many fields
      if (!c || *c == 0) return Bad(spec, "the count must be a positive integer");
      count = int(*c);
    }
    p.transfer = TransferFault{kind == "drop" ? TransferFault::kDrop : TransferFault::kSlow,
                               HandlerPath(f[1]), *v, count};
    return p;
  }
  return Bad(spec, "unknown fault (error, snapshot-fails, drop, slow, expire-sessions, vdi-in-use)");
}

void Faults::Arm(Parsed p) {
  if (p.error) errors_.push_back(std::move(*p.error));
  if (p.transfer) transfers_.push_back(std::move(*p.transfer));
  if (p.expire_sessions) expire_sessions_ = true;
  if (p.vdi_in_use) vdi_in_use_ = *p.vdi_in_use;
}

Status Faults::Add(std::string_view spec) {
  ASSIGN_OR_RETURN(Parsed p, Parse(spec));
  std::lock_guard lock(mu_);
  Arm(std::move(p));
  return OkStatus();
}

Status Faults::AddLines(std::string_view text) {
  std::vector<Parsed> all;
  for (std::string_view line : Split(text, '\n', std::string_view::npos)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (line.empty() || line[0] == '#') continue;
    ASSIGN_OR_RETURN(Parsed p, Parse(line));
    all.push_back(std::move(p));
  }
  std::lock_guard lock(mu_);
  for (auto& p : all) Arm(std::move(p));
  return OkStatus();
}

void Faults::Clear() {
  std::lock_guard lock(mu_);
  errors_.clear();
  transfers_.clear();
  expire_sessions_ = false;
  vdi_in_use_ = std::chrono::milliseconds(0);
}

std::vector<std::string> Faults::List() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& e : errors_) {
    std::string line = "error:" + e.method + ":" + std::to_string(e.remaining) + ":";
    for (size_t i = 0; i < e.error.size(); ++i) line += (i ? "," : "") + e.error[i];
    out.push_back(std::move(line));
  }
  for (const auto& t : transfers_) {
    std::string line = std::string(t.kind == TransferFault::kDrop ? "drop:" : "slow:") + t.path +
                       ":" + std::to_string(t.value);
    if (t.remaining >= 0) line += ":" + std::to_string(t.remaining);
    out.push_back(std::move(line));
  }
  if (expire_sessions_) out.push_back("expire-sessions");
  if (vdi_in_use_.count() > 0) out.push_back("vdi-in-use:" + std::to_string(vdi_in_use_.count()) + "ms");
  return out;
}

std::optional<std::vector<std::string>> Faults::TakeError(std::string_view method) {
  std::lock_guard lock(mu_);
  for (auto it = errors_.begin(); it != errors_.end(); ++it) {
    if (it->method != method) continue;
    std::vector<std::string> error = it->error;
    if (--it->remaining <= 0) errors_.erase(it);
    return error;
  }
  return std::nullopt;
}

bool Faults::TakeExpireSessions() {
  std::lock_guard lock(mu_);
  return std::exchange(expire_sessions_, false);
}

std::chrono::milliseconds Faults::VdiInUseLinger() const {
  std::lock_guard lock(mu_);
  return vdi_in_use_;
}

TransferFaults Faults::TakeTransfer(std::string_view path) {
  std::string handler = HandlerPath(path);
  std::lock_guard lock(mu_);
  TransferFaults out;
  bool took_drop = false, took_slow = false;
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    bool drop = it->kind == TransferFault::kDrop;
    if (!PathMatches(it->path, handler) || (drop ? took_drop : took_slow)) {
      ++it;
      continue;
    }
    (drop ? out.drop_after : out.bytes_per_second) = it->value;
    (drop ? took_drop : took_slow) = true;
    if (it->remaining > 0 && --it->remaining == 0) {
      it = transfers_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

void Stats::CountCall(std::string_view method) {
  std::lock_guard lock(mu_);
  auto it = calls_.find(method);
  if (it == calls_.end()) it = calls_.emplace(std::string(method), 0).first;
  ++it->second;
}

void Stats::CountRequest(std::string_view path) {
  std::lock_guard lock(mu_);
  ++http_[HandlerPath(path)].requests;
}

void Stats::CountBytes(std::string_view path, uint64_t sent, uint64_t received) {
  std::lock_guard lock(mu_);
  Http& h = http_[HandlerPath(path)];
  h.sent += sent;
  h.received += received;
}

void Stats::Gauge(std::string_view name, int64_t value) {
  std::lock_guard lock(mu_);
  auto it = gauges_.find(name);
  if (it == gauges_.end()) it = gauges_.emplace(std::string(name), GaugeValue{value, value}).first;
  it->second.now = value;
  it->second.max = std::max(it->second.max, value);
}

void Stats::Clear() {
  std::lock_guard lock(mu_);
  calls_.clear();
  http_.clear();
  for (auto& [name, g] : gauges_) g.max = g.now;
}

Json Stats::ToJson() const {
  std::lock_guard lock(mu_);
  Json j = {{"calls", Json::object()}, {"http", Json::object()}};
  for (const auto& [m, n] : calls_) j["calls"][m] = n;
  for (const auto& [p, h] : http_)
    j["http"][p] = {{"requests", h.requests}, {"bytes_sent", h.sent}, {"bytes_received", h.received}};
  j["gauges"] = Json::object();
  for (const auto& [n, g] : gauges_) j["gauges"][n] = {{"now", g.now}, {"max", g.max}};
  return j;
}

}  // namespace casulo::sim

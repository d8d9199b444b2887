// Guest writes: a simulator-only stand-in for a running guest changing its
// disks, so CBT and delta exports have something to find. Exposed as
// POST /casulo-sim/guest-write (unauthenticated; no XAPI host has it) and
// driven by `casulo-sim write` (write_cmd.cc).
#include <fcntl.h>

#include <algorithm>
#include <random>
#include <set>

#include "core/file.h"
#include "sim/cbt.h"
#include "sim/disks.h"
#include "sim/http.h"

namespace casulo::sim {
namespace {

constexpr size_t kMaxBody = 64 * 1024;

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ uint8_t(c)) * 0x100000001b3ull;
  return h;
}

// The VM named by uuid, ref or name_label (guests only: no snapshots,
// templates or control domains).
Result<std::string> FindVm(const Store& st, const std::string& name) {
  if (auto ref = st.RefOfUuid("VM", name)) return *ref;
  if (st.Find("VM", name) != nullptr) return name;
  std::vector<std::string> hits;
  for (const auto& [ref, obj] : st.Objects("VM")) {
    const XmlRpcValue& r = obj.record;
    if (r.Find("name_label")->str() == name && !r.Find("is_a_snapshot")->b() &&
        !r.Find("is_a_template")->b() && !r.Find("is_control_domain")->b())
      hits.push_back(ref);
  }
  if (hits.size() > 1) return Error(Code::kInvalidArgument, "several VMs are named '{}'", name);
  if (hits.empty()) return Error(Code::kNotFound, "no VM '{}'", name);
  return hits[0];
}

// Blocks holding data now (any SEEK_DATA range touching them).
Result<std::set<uint64_t>> AllocatedBlocks(const File& f) {
  ASSIGN_OR_RETURN(std::vector<formats::ByteRange> ranges, DataRanges(f));
  std::set<uint64_t> out;
  for (const auto& r : ranges)
    for (uint64_t b = r.offset / kCbtBlockSize; b * kCbtBlockSize < r.offset + r.length; ++b)
      out.insert(b);
  return out;
}

// About 60% of the blocks rewrite data already there, the rest land in
// holes as short runs (1-8 blocks), as a guest extending files would.
std::vector<uint64_t> ChooseBlocks(std::mt19937_64& rng, uint64_t nblocks, uint64_t count,
                                   const std::set<uint64_t>& allocated) {
  std::set<uint64_t> chosen;
  std::vector<uint64_t> alloc(allocated.begin(), allocated.end());
  uint64_t holes = nblocks - alloc.size();
  uint64_t from_alloc = std::min<uint64_t>(alloc.size(), (count * 3 + 4) / 5);
  if (count - from_alloc > holes) from_alloc = std::min<uint64_t>(alloc.size(), count - holes);
  for (uint64_t i = 0; i < from_alloc; ++i) {  // partial Fisher-Yates
    size_t j = i + size_t(rng() % (alloc.size() - i));
    std::swap(alloc[i], alloc[j]);
    chosen.insert(alloc[i]);
  }
  uint64_t want = std::min(count, from_alloc + holes);
  while (chosen.size() < want) {
    uint64_t start = rng() % nblocks, run = 1 + rng() % 8;
    for (uint64_t b = start; b < nblocks && b < start + run && chosen.size() < want; ++b)
      if (!allocated.count(b)) chosen.insert(b);
  }
  return {chosen.begin(), chosen.end()};
}

Result<Json> WriteDisk(const std::string& dir, const std::string& vdi_ref, const XmlRpcValue& vdi,
                       const std::string& userdevice, uint64_t count, uint64_t seed,
                       std::optional<uint64_t> offset) {
  std::string uuid = UuidOf(vdi);
  uint64_t size = uint64_t(vdi.Find("virtual_size")->i());
  uint64_t nblocks = (size + kCbtBlockSize - 1) / kCbtBlockSize;
  ASSIGN_OR_RETURN(File f, OpenDiskForWrite(DiskPath(dir, uuid), O_RDWR));
  ASSIGN_OR_RETURN(std::set<uint64_t> allocated, AllocatedBlocks(f));
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull ^ Fnv1a(uuid));
  std::vector<uint64_t> blocks;
  if (offset) {
    uint64_t first = *offset / kCbtBlockSize;
    if (first >= nblocks)
      return Error(Code::kInvalidArgument, "offset {} is past the end of VDI {}", *offset, uuid);
    for (uint64_t b = first; b < nblocks && b < first + count; ++b) blocks.push_back(b);
  } else {
    blocks = ChooseBlocks(rng, nblocks, std::min(count, nblocks), allocated);
  }
  Bytes data(kCbtBlockSize);
  uint64_t bytes = 0, fresh = 0;
  for (uint64_t b : blocks) {
    for (size_t i = 0; i < data.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(data.data() + i, &v, 8);
    }
    uint64_t len = std::min<uint64_t>(kCbtBlockSize, size - b * kCbtBlockSize);
    RETURN_IF_ERROR(f.PWrite(b * kCbtBlockSize, ByteSpan(data.data(), size_t(len))));
    bytes += len;
    fresh += allocated.count(b) ? 0 : 1;
  }
  RETURN_IF_ERROR(CbtMarkWritten(dir, uuid, size, blocks));
  return Json{{"vdi", uuid},          {"vdi_ref", vdi_ref},      {"userdevice", userdevice},
              {"blocks", blocks},     {"count", blocks.size()},  {"bytes", bytes},
              {"new_blocks", fresh},  {"cbt", vdi.Find("cbt_enabled")->b()}};
}

}  // namespace

Result<Json> GuestWrite(Sim& sim, const Json& req) {
  if (!req.is_object() || !req.contains("vm") || !req["vm"].is_string())
    return Error(Code::kInvalidArgument, "the body needs \"vm\": uuid or name_label");
  auto number = [&](const char* key, uint64_t def) -> Result<uint64_t> {
    if (!req.contains(key)) return def;
    const Json& v = req[key];
    if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0))
      return Error(Code::kInvalidArgument, "\"{}\" must be a non-negative integer", key);
    return v.get<uint64_t>();
  };
  ASSIGN_OR_RETURN(uint64_t count, number("blocks", 16));
  ASSIGN_OR_RETURN(uint64_t seed, number("seed", 1));
  std::optional<uint64_t> offset;
  if (req.contains("offset")) {
    ASSIGN_OR_RETURN(offset, number("offset", 0));
  }
  std::string disk;
  if (req.contains("disk")) {
    if (req["disk"].is_string()) disk = req["disk"].get<std::string>();
    else if (req["disk"].is_number_integer()) disk = std::to_string(req["disk"].get<int64_t>());
    else return Error(Code::kInvalidArgument, "\"disk\" must be a userdevice");
  }
  if (sim.state_dir().empty()) return Error(Code::kUnsupported, "the simulator has no disk data");
  Json out;
  Status st = sim.Update([&](Store& store) -> Status {
    ASSIGN_OR_RETURN(std::string vm, FindVm(store, req["vm"].get<std::string>()));
    const XmlRpcValue& rec = *store.Find("VM", vm);
    const std::string& power = rec.Find("power_state")->str();
    if (power != "Running")
      return Error(Code::kUnsupported, "VM '{}' is {}: guest writes need a Running VM",
                   rec.Find("name_label")->str(), power);
    Json disks = Json::array();
    for (const auto& vbd_ref : rec.Find("VBDs")->array()) {
      const XmlRpcValue* vbd = store.Find("VBD", vbd_ref.str());
      if (vbd == nullptr || vbd->Find("type")->str() != "Disk" || vbd->Find("mode")->str() != "RW")
        continue;
      const std::string& dev = vbd->Find("userdevice")->str();
      const std::string& vdi_ref = vbd->Find("VDI")->str();
      const XmlRpcValue* vdi = store.Find("VDI", vdi_ref);
      if (vdi == nullptr || (!disk.empty() && dev != disk)) continue;
      ASSIGN_OR_RETURN(Json one, WriteDisk(sim.state_dir(), vdi_ref, *vdi, dev, count, seed, offset));
      disks.push_back(std::move(one));
    }
    if (disks.empty())
      return Error(Code::kNotFound, "VM '{}' has no writable disk{}", rec.Find("name_label")->str(),
                   disk.empty() ? "" : " with userdevice " + disk);
    out = {{"vm", rec.Find("uuid")->str()}, {"vm_ref", vm}, {"disks", std::move(disks)}};
    return OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

void AddGuestRoutes(httplib::Server& svr, Sim& sim) {
  // A content-reader route: httplib tries those before plain POST routes, so
  // a plain one would lose to the catch-all XML-RPC route (server.cc).
  svr.Post("/casulo-sim/guest-write", [&sim](const httplib::Request&, httplib::Response& res,
                                            const httplib::ContentReader& read) {
    auto fail = [&](int status, const std::string& msg) {
      res.status = status;
      res.set_content(Json{{"error", msg}}.dump() + "\n", "application/json");
    };
    std::string text;
    bool small = read([&](const char* data, size_t len) {
      text.append(data, len);
      return text.size() <= kMaxBody;
    });
    if (!small) return fail(413, "body too large");
    Json body = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) return fail(400, "the body is not JSON");
    Result<Json> r = GuestWrite(sim, body);
    if (!r.ok()) {
      Code c = r.status().code();
      int status = c == Code::kNotFound ? 404 : c == Code::kInvalidArgument ? 400
                 : c == Code::kUnsupported ? 409 : 500;
      return fail(status, r.status().message());
    }
    res.set_content(r->dump(1) + "\n", "application/json");
  });
}

}  // namespace casulo::sim

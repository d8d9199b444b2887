// casulo inspect: what an image holds, read through once so that every
// checksum and structure is verified on the way.
#include <ctime>

#include "convert_internal.h"

namespace casulo::engine {
namespace {

using internal::OpenedImage;
using nlohmann::json;
using namespace formats;

std::string FourCcText(uint32_t v) {
  std::string s;
  for (int i = 3; i >= 0; --i) {
    char c = char(v >> (8 * i));
    s += (c >= 0x20 && c < 0x7f) ? c : '.';
  }
  return s;
}

std::string IsoTime(int64_t unix_seconds) {
  time_t t = time_t(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Reads every extent; returns the bytes they hold.
Result<uint64_t> Drain(ExtentReader& r) {
  uint64_t bytes = 0;
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<Extent> e, r.Next());
    if (!e) return bytes;
    bytes += e->data.size();
  }
}

json VhdImageJson(const VhdImage& im) {
  const VhdFooter& f = im.footer();
  json j = {{"type", std::string(VhdDiskTypeName(f.disk_type))},
            {"uuid", f.unique_id.ToString()},
            {"current_size", f.current_size},
            {"original_size", f.original_size},
            {"created", IsoTime(VhdTimeToUnix(f.timestamp))},
            {"creator", FourCcText(f.creator_app)},
            {"creator_version", fmt::format("{}.{}", f.creator_version >> 16, f.creator_version & 0xffff)},
            {"geometry", fmt::format("{}/{}/{}", f.geometry.cylinders, f.geometry.heads,
                                     f.geometry.sectors_per_track)},
            {"hidden", f.hidden != 0}};
  if (im.header()) {
    const VhdHeader& h = *im.header();
    j["block_size"] = h.block_size;
    j["max_table_entries"] = h.max_table_entries;
    j["table_offset"] = h.table_offset;
    auto blocks = im.AllocatedBlocks();
    j["allocated_blocks"] = blocks.size();
    j["allocated_bytes"] = uint64_t(blocks.size()) * h.block_size;
    if (f.disk_type == VhdDiskType::kDifferencing) {
      json p = {{"uuid", h.parent_id.ToString()},
                {"name", Utf16ToUtf8(h.parent_name)},
                {"modified", IsoTime(VhdTimeToUnix(h.parent_timestamp))}};
      auto locs = im.ParentLocators();
      if (locs.ok()) {
        json l = json::array();
        for (const auto& loc : *locs)
          l.push_back({{"platform", FourCcText(loc.platform_code)}, {"path", loc.path}});
        p["locators"] = l;
      } else {
        p["locators_error"] = locs.status().ToString();
      }
      j["parent"] = p;
    }
  }
  if (!im.warning().empty()) j["warning"] = im.warning();
  return j;
}

Status InspectVhd(OpenedImage& img, bool verify, json& out) {
  if (img.chain) {
    out["vhd"] = VhdImageJson(img.chain->image(0));
    if (img.chain->depth() > 1) {
      json chain = json::array();
      for (size_t i = 1; i < img.chain->depth(); ++i) chain.push_back(VhdImageJson(img.chain->image(i)));
      out["parents"] = chain;
    }
  }
  const DiskInfo& info = img.reader->info();
  out["virtual_size"] = info.virtual_size;
  out["kind"] = info.kind == DiskKind::kDelta ? "delta" : "full";
  if (info.kind == DiskKind::kDelta) out["parent_uuid"] = info.parent_id;
  if (verify) {
    ASSIGN_OR_RETURN(uint64_t bytes, Drain(*img.reader));
    out["data_bytes"] = bytes;
    out["verified"] = true;
  }
  return OkStatus();
}

json VmJson(const OvaObject& o) {
  auto text = [&](std::string_view k) -> json {
    const XmlRpcValue* v = o.snapshot.Find(k);
    if (!v) return nullptr;
    if (v->is_string()) return v->str();
    if (v->type() == XmlRpcValue::Type::kInt) return v->i();
    if (v->type() == XmlRpcValue::Type::kBool) return v->b();
    return nullptr;
  };
  return {{"id", o.id},
          {"uuid", text("uuid")},
          {"name", text("name_label")},
          {"power_state", text("power_state")},
          {"is_a_template", text("is_a_template")},
          {"is_a_snapshot", text("is_a_snapshot")},
          {"memory_static_max", text("memory_static_max")},
          {"vcpus", text("VCPUs_at_startup")}};
}

Status InspectXva(OpenedImage& img, bool verify, json& out) {
  out["compression"] = std::string(CompressionName(img.xva->compression()));
  const OvaVersion& v = img.ova->version;
  out["exported_by"] = {{"product", fmt::format("{} {}", v.product_brand, v.product_version)},
                        {"build", v.build_number},
                        {"xapi", fmt::format("{}.{}", v.xapi_major, v.xapi_minor)},
                        {"export_vsn", v.export_vsn},
                        {"hostname", v.hostname},
                        {"date", v.date}};
  json vms = json::array();
  for (const OvaObject* vm : Vms(*img.ova)) vms.push_back(VmJson(*vm));
  out["vms"] = vms;
  ASSIGN_OR_RETURN(auto vdis, StreamedVdis(*img.ova));
  json disks = json::array();
  for (const auto& d : vdis)
    disks.push_back({{"id", d.id}, {"uuid", d.uuid}, {"name", d.name_label},
                     {"virtual_size", d.virtual_size}, {"type", d.type}});
  out["disks"] = disks;
  if (!verify) return OkStatus();
  // Read every chunk: the reader checks each against its checksum member.
  for (;;) {
    ASSIGN_OR_RETURN(XvaDiskReader * d, img.xva->NextDisk());
    if (!d) break;
    ASSIGN_OR_RETURN(uint64_t bytes, Drain(*d).With(d->id()));
    const XvaDiskStats& s = d->stats();
    json stats = {{"chunks", s.chunks},
                  {"keep_alives", s.keep_alives},
                  {"data_bytes", bytes},
                  {"checksum", s.checksum ? std::string(ChunkChecksumSuffix(*s.checksum)) : "none"},
                  {"verified", s.verified},
                  {"unverified", s.unverified}};
    bool found = false;
    for (auto& j : out["disks"]) {
      if (j["id"] == d->id()) {
        j["stream"] = stats;
        found = true;
      }
    }
    if (!found) out["disks"].push_back({{"id", d->id()}, {"stream", stats}});
  }
  out["verified"] = true;
  return OkStatus();
}

}  // namespace

Result<json> InspectImage(const InspectOptions& opts, json* partial) {
  json out;
  Status s = [&]() -> Status {
    internal::OpenImageOptions oo;
    oo.from = opts.from;
    oo.verify = opts.verify;
    ASSIGN_OR_RETURN(auto img, internal::OpenImage(opts.input, oo));
    out["file"] = img->name;
    out["format"] = std::string(ImageFormatName(img->format));
    if (img->regular) out["file_size"] = img->file_size;
    switch (img->format) {
      case ImageFormat::kVhd: return InspectVhd(*img, opts.verify, out);
      case ImageFormat::kXva: return InspectXva(*img, opts.verify, out);
      case ImageFormat::kRaw: {
        ASSIGN_OR_RETURN(uint64_t bytes, Drain(*img->reader));
        out["virtual_size"] = img->reader->info().virtual_size;
        out["data_bytes"] = bytes;  // non-zero 64 KiB pieces
        return OkStatus();
      }
    }
    return OkStatus();
  }();
  if (!s.ok()) {
    if (partial) *partial = out;
    return s;
  }
  return out;
}

}  // namespace casulo::engine

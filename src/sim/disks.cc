#include "sim/disks.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <random>

namespace casulo::sim {

std::string DiskPath(const std::string& state_dir, std::string_view vdi_uuid) {
  if (state_dir.empty()) return "";
  return state_dir + "/vdi/" + std::string(vdi_uuid) + ".img";
}

std::string UuidOf(const XmlRpcValue& record) {
  const XmlRpcValue* u = record.Find("uuid");
  return u != nullptr && u->is_string() ? u->str() : "";
}

Status CreateDisk(const std::string& path, uint64_t size) {
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));
  ASSIGN_OR_RETURN(File f, OpenDiskForWrite(path, O_RDWR | O_CREAT));
  return f.Truncate(size);
}

Status ShareDisk(const std::string& src, const std::string& dst) {
  size_t slash = dst.rfind('/');
  if (slash != std::string::npos) RETURN_IF_ERROR(MakeDirs(dst.substr(0, slash)));
  (void)::unlink(dst.c_str());
  if (::link(src.c_str(), dst.c_str()) == 0) return OkStatus();
  return CloneDisk(src, dst);  // another file system, or too many links
}

Status UnshareDisk(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || st.st_nlink <= 1) return OkStatus();
  std::string tmp = path + ".unshare";
  Status s = CloneDisk(path, tmp);
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0)
    s = Error(Code::kIoError, "rename {}: {}", tmp, std::strerror(errno));
  if (!s.ok()) (void)::unlink(tmp.c_str());
  return s.With("unsharing " + path);
}

Result<File> OpenDiskForWrite(const std::string& path, int flags) {
  RETURN_IF_ERROR(UnshareDisk(path));
  return File::Open(path, flags, 0644);
}

Result<std::vector<formats::ByteRange>> DataRanges(const File& file) {
  ASSIGN_OR_RETURN(uint64_t size, file.Size());
  std::vector<formats::ByteRange> out;
  uint64_t pos = 0;
  while (pos < size) {
    ASSIGN_OR_RETURN(std::optional<uint64_t> data, file.NextData(pos));
    if (!data || *data >= size) break;
    ASSIGN_OR_RETURN(uint64_t hole, file.NextHole(*data));
    hole = std::min(hole, size);
    out.push_back({*data, hole - *data});
    pos = hole;
  }
  return out;
}

Status CloneDisk(const std::string& src, const std::string& dst) {
  ASSIGN_OR_RETURN(File in, File::OpenRead(src));
  ASSIGN_OR_RETURN(uint64_t size, in.Size());
  size_t slash = dst.rfind('/');
  if (slash != std::string::npos) RETURN_IF_ERROR(MakeDirs(dst.substr(0, slash)));
  ASSIGN_OR_RETURN(File out, File::Open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644));
  if (ioctl(out.fd(), FICLONE, in.fd()) == 0) return OkStatus();  // reflink: done
  ASSIGN_OR_RETURN(std::vector<formats::ByteRange> ranges, DataRanges(in));
  Bytes buf(1 << 20);
  for (const auto& r : ranges) {
    for (uint64_t off = r.offset; off < r.offset + r.length;) {
      size_t n = size_t(std::min<uint64_t>(buf.size(), r.offset + r.length - off));
      MutableByteSpan chunk(buf.data(), n);
      RETURN_IF_ERROR(in.PReadFull(off, chunk));
      // Zero runs inside data ranges stay holes (--sparse=always).
      bool zero = true;
      for (size_t i = 0; i < n && zero; ++i) zero = buf[i] == 0;
      if (!zero) RETURN_IF_ERROR(out.PWrite(off, ByteSpan(buf.data(), n)));
      off += n;
    }
  }
  return out.Truncate(size);
}

Status FillDemoDisk(const std::string& path, uint64_t size, uint64_t seed) {
  RETURN_IF_ERROR(CreateDisk(path, size));
  ASSIGN_OR_RETURN(File f, File::Open(path, O_RDWR));
  std::mt19937_64 rng(seed);
  auto text = [&](uint64_t off, uint64_t len) -> Status {
    std::string s;
    while (s.size() < len)
      s += "casulo-sim demo disk " + std::to_string(seed) + " offset " +
           std::to_string(off + s.size()) + ": the quick brown fox jumps over the lazy dog\n";
    s.resize(size_t(len));
    return f.PWrite(off, AsBytes(s));
  };
  auto random = [&](uint64_t off, uint64_t len) -> Status {
    Bytes b(static_cast<size_t>(len));
    for (size_t i = 0; i + 8 <= b.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(b.data() + i, &v, 8);
    }
    return f.PWrite(off, b);
  };
  constexpr uint64_t kMiB = 1 << 20;
  // A boot sector with a signature, then data spread over the disk.
  RETURN_IF_ERROR(text(0, 446));
  uint8_t sig[2] = {0x55, 0xAA};
  RETURN_IF_ERROR(f.PWrite(510, ByteSpan(sig, 2)));
  struct Piece {
    uint64_t off, len;
    bool random;
  };
  const Piece pieces[] = {{kMiB, kMiB, false},          {size / 4, 2 * kMiB, true},
                          {size / 2, kMiB / 2, false},  {size / 2 + 3 * kMiB, 192 * 1024, true},
                          {size - 2 * kMiB, 64 * 1024, true}};
  for (const auto& p : pieces) {
    if (p.off + p.len > size) continue;
    RETURN_IF_ERROR(p.random ? random(p.off, p.len) : text(p.off, p.len));
  }
  return OkStatus();
}

namespace {

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (char c : s) h = (h ^ uint8_t(c)) * 1099511628211ull;
  return h;
}

std::string Field(const XmlRpcValue& rec, std::string_view f) {
  const XmlRpcValue* v = rec.Find(f);
  return v != nullptr && v->is_string() ? v->str() : "";
}

struct Content {
  bool fill = false, windows = false, root = false;
};

}  // namespace

Status CreateDemoDisks(Store& store, const std::string& state_dir) {
  if (state_dir.empty()) return OkStatus();
  // VDIs attached to a guest that is not a template get content.
  std::map<std::string, Content, std::less<>> content;
  for (const auto& [ref, obj] : store.Objects("VBD")) {
    const XmlRpcValue* vm = store.Find("VM", Field(obj.record, "VM"));
    std::string vdi = Field(obj.record, "VDI");
    if (vm == nullptr || vdi.empty()) continue;
    const XmlRpcValue* platform = vm->Find("platform");
    const XmlRpcValue* viridian = platform != nullptr ? platform->Find("viridian") : nullptr;
    content[vdi] = {!vm->Find("is_a_template")->b(),
                    viridian != nullptr && viridian->is_string() && viridian->str() == "true",
                    Field(obj.record, "userdevice") == "0"};
  }
  std::map<std::string, std::pair<int64_t, int64_t>> per_sr;  // physical, virtual
  std::vector<std::pair<std::string, int64_t>> used;
  for (const auto& [ref, obj] : store.Objects("VDI")) {
    std::string path = DiskPath(state_dir, UuidOf(obj.record));
    uint64_t size = uint64_t(obj.record.Find("virtual_size")->i());
    ASSIGN_OR_RETURN(bool exists, PathExists(path));
    if (!exists) {
      Content c = content.count(ref) != 0 ? content[ref] : Content{};
      uint64_t seed = Fnv1a(Field(obj.record, "name_label"));
      if (!c.fill)
        RETURN_IF_ERROR(CreateDisk(path, size));
      else if (c.windows)
        RETURN_IF_ERROR(FillNtfsLikeDisk(path, size, seed));
      else
        RETURN_IF_ERROR(FillExt4Disk(path, size, seed, c.root, c.root ? "root" : "data"));
    }
    ASSIGN_OR_RETURN(uint64_t allocated, AllocatedBytes(path));
    used.emplace_back(ref, int64_t(allocated));
    auto& sr = per_sr[Field(obj.record, "SR")];
    sr.first += int64_t(allocated);
    sr.second += int64_t(size);
  }
  for (const auto& [ref, bytes] : used) store.Mutate("VDI", ref)->Set("physical_utilisation", bytes);
  for (const auto& [sr, sums] : per_sr) {
    XmlRpcValue* rec = store.Mutate("SR", sr);
    if (rec == nullptr) continue;
    rec->Set("physical_utilisation", sums.first);
    rec->Set("virtual_allocation", sums.second);
  }
  return OkStatus();
}

}  // namespace casulo::sim

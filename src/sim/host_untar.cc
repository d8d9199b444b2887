// Tar extraction for /host_restore (sim/host_backup.h): what GNU tar -x
// does with the host-backup tarball, onto the simulated backup partition.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <vector>

#include "core/file.h"
#include "sim/host_backup.h"

namespace casulo::sim {
namespace {

constexpr size_t kBlock = 512;
using Block = std::array<uint8_t, kBlock>;

std::string Field(const Block& b, size_t at, size_t len) {
  size_t n = 0;
  while (n < len && b[at + n] != 0) ++n;
  return std::string(reinterpret_cast<const char*>(b.data() + at), n);
}

Result<uint64_t> Num(const Block& b, size_t at, size_t len) {
  if (b[at] & 0x80) {  // GNU base-256
    uint64_t v = b[at] & 0x3f;
    for (size_t i = 1; i < len; ++i) v = (v << 8) | b[at + i];
    return v;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < len && b[at + i] == ' ') ++i;
  for (; i < len && b[at + i] >= '0' && b[at + i] <= '7'; ++i) v = v * 8 + (b[at + i] - '0');
  if (i < len && b[at + i] != 0 && b[at + i] != ' ') return Error(Code::kCorruption, "tar: bad number");
  return v;
}

Status ReadBlock(Source& in, Block& b) { return ReadExact(in, {b.data(), b.size()}, "tar block"); }

Result<std::string> ReadData(Source& in, uint64_t size) {
  if (size > (16 << 20)) return Error(Code::kCorruption, "tar: metadata member of {} bytes", size);
  std::string s(size_t((size + kBlock - 1) / kBlock * kBlock), '\0');
  RETURN_IF_ERROR(ReadExact(in, {reinterpret_cast<uint8_t*>(s.data()), s.size()}, "tar member"));
  s.resize(size_t(size));
  return s;
}

// pax records "LEN key=value\n": path, linkpath and size are honoured.
void ParsePax(const std::string& data, std::string* path, std::string* link, uint64_t* size) {
  size_t pos = 0;
  while (pos < data.size()) {
    size_t sp = data.find(' ', pos);
    if (sp == std::string::npos) return;
    size_t len = std::strtoull(data.c_str() + pos, nullptr, 10);
    if (len == 0 || pos + len > data.size()) return;
    std::string rec = data.substr(sp + 1, pos + len - sp - 2);
    size_t eq = rec.find('=');
    std::string key = rec.substr(0, eq), value = eq == std::string::npos ? "" : rec.substr(eq + 1);
    if (key == "path") *path = value;
    if (key == "linkpath") *link = value;
    if (key == "size") *size = std::strtoull(value.c_str(), nullptr, 10);
    pos += len;
  }
}

// The member's path under dest; "" for the archive root ("./").
Result<std::string> Clean(const std::string& name) {
  if (!name.empty() && name[0] == '/') return Error(Code::kCorruption, "tar: absolute name {}", name);
  std::string out;
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t end = name.find('/', pos);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(pos, end - pos);
    if (part == "..") return Error(Code::kCorruption, "tar: name {} leaves the destination", name);
    if (!part.empty() && part != ".") out += (out.empty() ? "" : "/") + part;
    pos = end + 1;
  }
  return out;
}

Status Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? OkStatus() : MakeDirs(path.substr(0, slash));
}

struct Meta {
  uint32_t mode = 0;
  uint64_t uid = 0, gid = 0;
  int64_t mtime = 0;
};

void Own(const std::string& path, const Meta& m) {
  if (geteuid() == 0) (void)lchown(path.c_str(), uid_t(m.uid), gid_t(m.gid));  // best effort
}
void Times(const std::string& path, const Meta& m) {
  struct timespec ts[2] = {{m.mtime, 0}, {m.mtime, 0}};
  (void)utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

// Data of a regular member ('0') or of an old-GNU sparse one ('S', whose
// map is in the header and extension blocks).
Status ExtractFile(Source& in, const Block& h, char type, uint64_t size, const std::string& path,
                   const Meta& m) {
  std::vector<std::pair<uint64_t, uint64_t>> map;
  uint64_t real = size;
  if (type == 'S') {
    auto add = [&](const Block& b, size_t at) -> Status {
      ASSIGN_OR_RETURN(uint64_t off, Num(b, at, 12));
      ASSIGN_OR_RETURN(uint64_t len, Num(b, at + 12, 12));
      if (off != 0 || len != 0 || map.empty()) map.emplace_back(off, len);
      return OkStatus();
    };
    for (size_t i = 0; i < 4 && h[386 + 24 * i] != 0; ++i) RETURN_IF_ERROR(add(h, 386 + 24 * i));
    bool more = h[482] != 0;
    while (more) {
      Block ext;
      RETURN_IF_ERROR(ReadBlock(in, ext));
      for (size_t j = 0; j < 21 && ext[24 * j] != 0; ++j) RETURN_IF_ERROR(add(ext, 24 * j));
      more = ext[504] != 0;
    }
    ASSIGN_OR_RETURN(real, Num(h, 483, 12));
  } else {
    map.emplace_back(0, size);
  }
  (void)unlink(path.c_str());
  ASSIGN_OR_RETURN(File f, File::Open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  Bytes buf(1 << 20);
  uint64_t consumed = 0;
  for (auto [off, len] : map) {
    while (len > 0) {
      size_t n = size_t(std::min<uint64_t>(len, buf.size()));
      RETURN_IF_ERROR(ReadExact(in, {buf.data(), n}, "tar member data"));
      RETURN_IF_ERROR(f.PWrite(off, {buf.data(), n}));
      off += n;
      len -= n;
      consumed += n;
    }
  }
  if (consumed != size) return Error(Code::kCorruption, "tar: sparse map of {} disagrees with its size", path);
  RETURN_IF_ERROR(f.Truncate(real));
  RETURN_IF_ERROR(in.Skip((kBlock - size % kBlock) % kBlock, "tar padding"));
  RETURN_IF_ERROR(f.Close());
  if (chmod(path.c_str(), m.mode & 07777) != 0) return ErrnoStatus(errno, "chmod", path);
  Own(path, m);
  Times(path, m);
  return OkStatus();
}

}  // namespace

Status ExtractTar(Source& in, const std::string& dest) {
  RETURN_IF_ERROR(MakeDirs(dest));
  std::vector<std::pair<std::string, Meta>> dirs;  // modes and times applied last
  std::string long_name, long_link;
  uint64_t pax_size = 0;
  bool have_pax_size = false;
  for (;;) {
    Block h;
    RETURN_IF_ERROR(ReadBlock(in, h));
    bool zero = true;
    for (uint8_t c : h) zero = zero && c == 0;
    if (zero) break;  // the end (a second zero block may follow; not needed)
    unsigned sum = 0;
    for (size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? ' ' : h[i];
    ASSIGN_OR_RETURN(uint64_t stored_sum, Num(h, 148, 8));
    if (stored_sum != sum) return Error(Code::kCorruption, "tar: bad header checksum");
    char type = char(h[156]);
    ASSIGN_OR_RETURN(uint64_t size, Num(h, 124, 12));
    if (have_pax_size) size = pax_size;
    if (type == 'L' || type == 'K') {
      ASSIGN_OR_RETURN(std::string v, ReadData(in, size));
      (type == 'L' ? long_name : long_link) = v.c_str();
      continue;
    }
    if (type == 'x' || type == 'g') {
      ASSIGN_OR_RETURN(std::string v, ReadData(in, size));
      if (type == 'x') {
        pax_size = UINT64_MAX;
        ParsePax(v, &long_name, &long_link, &pax_size);
        have_pax_size = pax_size != UINT64_MAX;
      }
      continue;
    }
    std::string name = long_name.empty() ? Field(h, 0, 100) : long_name;
    if (long_name.empty() && Field(h, 257, 6) == "ustar" && h[345] != 0)
      name = Field(h, 345, 155) + "/" + name;  // POSIX prefix
    std::string link = long_link.empty() ? Field(h, 157, 100) : long_link;
    long_name.clear();
    long_link.clear();
    have_pax_size = false;
    Meta m;
    ASSIGN_OR_RETURN(uint64_t mode, Num(h, 100, 8));
    ASSIGN_OR_RETURN(m.uid, Num(h, 108, 8));
    ASSIGN_OR_RETURN(m.gid, Num(h, 116, 8));
    ASSIGN_OR_RETURN(uint64_t mtime, Num(h, 136, 12));
    m.mode = uint32_t(mode);
    m.mtime = int64_t(mtime);
    ASSIGN_OR_RETURN(std::string rel, Clean(name));
    std::string path = rel.empty() ? dest : dest + "/" + rel;
    if (type == '5') {
      RETURN_IF_ERROR(MakeDirs(path));
      dirs.emplace_back(path, m);
      continue;
    }
    RETURN_IF_ERROR(Parent(path));
    if (type == '2') {
      (void)unlink(path.c_str());
      if (symlink(link.c_str(), path.c_str()) != 0) return ErrnoStatus(errno, "symlink", path);
      Own(path, m);
      Times(path, m);
    } else if (type == '1') {
      ASSIGN_OR_RETURN(std::string target, Clean(link));
      (void)unlink(path.c_str());
      if (::link((dest + "/" + target).c_str(), path.c_str()) != 0) return ErrnoStatus(errno, "link", path);
    } else if (type == '0' || type == '\0' || type == '7' || type == 'S') {
      RETURN_IF_ERROR(ExtractFile(in, h, type, size, path, m));
    } else {  // devices, fifos: a dom0 backup has none worth restoring here
      RETURN_IF_ERROR(in.Skip((size + kBlock - 1) / kBlock * kBlock, "tar member"));
    }
  }
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    if (chmod(it->first.c_str(), it->second.mode & 07777) != 0) return ErrnoStatus(errno, "chmod", it->first);
    Own(it->first, it->second);
    Times(it->first, it->second);
  }
  return OkStatus();
}

}  // namespace casulo::sim

// GNU tar writing and extraction for host backups (sim/host_backup.h). The
// formats layer's tar writer produces XAPI's V7 XVA headers only (no type,
// owner or link fields), so the old-GNU layout GNU tar itself writes is
// encoded here: magic "ustar  ", 'L' long names, 'S' sparse maps.
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "core/file.h"
#include "sim/disks.h"
#include "sim/host_backup.h"

namespace casulo::sim {
namespace {

constexpr size_t kBlock = 512;
using Block = std::array<uint8_t, kBlock>;

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

void Put(Block& b, size_t at, size_t len, std::string_view s) {
  std::memcpy(b.data() + at, s.data(), std::min(len, s.size()));
}
// Octal, zero-padded, NUL-terminated in `len` bytes; base-256 when too big.
void PutNum(Block& b, size_t at, size_t len, uint64_t v) {
  if (v >> (3 * (len - 1)) != 0) {
    b[at] = 0x80;
    for (size_t i = len - 1; i > 0; --i, v >>= 8) b[at + i] = uint8_t(v & 0xff);
    return;
  }
  for (size_t i = len - 1; i-- > 0; v >>= 3) b[at + i] = uint8_t('0' + (v & 7));
  b[at + len - 1] = 0;
}
void Checksum(Block& b) {
  std::memset(b.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (uint8_t c : b) sum += c;
  PutNum(b, 148, 7, sum);
  b[155] = ' ';
}

// Owner names as the dom0 knows them would come from its own /etc/passwd;
// only root is named, other owners travel as numbers (GNU tar falls back to
// the ids when a name is unknown at extraction).
std::string OwnerName(unsigned id) { return id == 0 ? "root" : ""; }

Status WriteBlock(Sink& out, const Block& b) { return out.Write({b.data(), b.size()}); }

// A GNU header; a name or link target over 100 bytes goes first in a
// ././@LongLink member ('L' / 'K').
Status WriteHeader(Sink& out, const std::string& name, const struct stat& st, char type,
                   uint64_t size, const std::string& link, Block* extra_fields = nullptr) {
  auto long_member = [&](char t, const std::string& value) -> Status {
    Block h{};
    Put(h, 0, 100, "././@LongLink");
    PutNum(h, 100, 8, 0);
    PutNum(h, 108, 8, 0);
    PutNum(h, 116, 8, 0);
    PutNum(h, 124, 12, value.size() + 1);
    PutNum(h, 136, 12, 0);
    h[156] = uint8_t(t);
    Put(h, 257, 8, std::string_view("ustar  \0", 8));
    Put(h, 265, 32, "root");
    Put(h, 297, 32, "root");
    Checksum(h);
    RETURN_IF_ERROR(WriteBlock(out, h));
    std::string data = value + '\0';
    data.resize((data.size() + kBlock - 1) / kBlock * kBlock, '\0');
    return out.Write(AsBytes(data));
  };
  if (link.size() >= 100) RETURN_IF_ERROR(long_member('K', link));
  if (name.size() >= 100) RETURN_IF_ERROR(long_member('L', name));
  Block h = extra_fields != nullptr ? *extra_fields : Block{};
  Put(h, 0, 99, name);
  PutNum(h, 100, 8, st.st_mode & 07777);
  PutNum(h, 108, 8, st.st_uid);
  PutNum(h, 116, 8, st.st_gid);
  PutNum(h, 124, 12, size);
  PutNum(h, 136, 12, uint64_t(st.st_mtime));
  h[156] = uint8_t(type);
  Put(h, 157, 99, link);
  Put(h, 257, 8, std::string_view("ustar  \0", 8));
  Put(h, 265, 31, OwnerName(st.st_uid));
  Put(h, 297, 31, OwnerName(st.st_gid));
  Checksum(h);
  return WriteBlock(out, h);
}

Status Pad(Sink& out, uint64_t size) {
  return WriteZeros(out, (kBlock - size % kBlock) % kBlock);
}

Status CopyRange(Sink& out, const File& f, uint64_t offset, uint64_t length) {
  Bytes buf(1 << 20);
  while (length > 0) {
    size_t n = size_t(std::min<uint64_t>(length, buf.size()));
    RETURN_IF_ERROR(f.PReadFull(offset, {buf.data(), n}));
    RETURN_IF_ERROR(out.Write({buf.data(), n}));
    offset += n;
    length -= n;
  }
  return OkStatus();
}

// A regular file; with holes, an old-GNU sparse member: the map of data
// ranges in the header (4 entries) and extension blocks (21 each), then
// only the data. The map always ends at the file size, as GNU tar's does.
Status WriteFile(Sink& out, const std::string& path, const std::string& name, const struct stat& st) {
  ASSIGN_OR_RETURN(File f, File::OpenRead(path));
  uint64_t size = uint64_t(st.st_size);
  ASSIGN_OR_RETURN(std::vector<formats::ByteRange> ranges, DataRanges(f));
  uint64_t stored = 0;
  for (const auto& r : ranges) stored += r.length;
  if (stored == size) {
    RETURN_IF_ERROR(WriteHeader(out, name, st, '0', size, ""));
    RETURN_IF_ERROR(CopyRange(out, f, 0, size));
    return Pad(out, size);
  }
  std::vector<formats::ByteRange> map = ranges;
  if (map.empty() || map.back().offset + map.back().length < size) map.push_back({size, 0});
  Block fields{};
  for (size_t i = 0; i < map.size() && i < 4; ++i) {
    PutNum(fields, 386 + 24 * i, 12, map[i].offset);
    PutNum(fields, 398 + 24 * i, 12, map[i].length);
  }
  fields[482] = map.size() > 4 ? 1 : 0;
  PutNum(fields, 483, 12, size);
  RETURN_IF_ERROR(WriteHeader(out, name, st, 'S', stored, "", &fields));
  for (size_t i = 4; i < map.size(); i += 21) {
    Block ext{};
    for (size_t j = 0; j < 21 && i + j < map.size(); ++j) {
      PutNum(ext, 24 * j, 12, map[i + j].offset);
      PutNum(ext, 12 + 24 * j, 12, map[i + j].length);
    }
    ext[504] = i + 21 < map.size() ? 1 : 0;
    RETURN_IF_ERROR(WriteBlock(out, ext));
  }
  for (const auto& r : ranges) RETURN_IF_ERROR(CopyRange(out, f, r.offset, r.length));
  return Pad(out, stored);
}

// Writes `rel` (below root; "" = root) and what it holds. `skip` names a
// directory written as an empty mount point (boot/efi: --one-file-system).
Status WriteTree(Sink& out, const std::string& root, const std::string& rel,
                 const std::string& prefix, const std::string& skip) {
  std::string path = rel.empty() ? root : root + "/" + rel;
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "lstat", path);
  std::string name = prefix + rel;
  if (S_ISLNK(st.st_mode)) {
    std::string target(4096, '\0');
    ssize_t n = readlink(path.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoStatus(errno, "readlink", path);
    target.resize(size_t(n));
    return WriteHeader(out, name, st, '2', 0, target);
  }
  if (S_ISREG(st.st_mode)) return WriteFile(out, path, name, st);
  if (!S_ISDIR(st.st_mode)) return OkStatus();  // no devices or fifos in the simulated tree
  if (!name.empty() && name.back() != '/') name += '/';
  RETURN_IF_ERROR(WriteHeader(out, name.empty() ? "./" : name, st, '5', 0, ""));
  if (rel == skip) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(path));
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string child = rel.empty() ? n : rel + "/" + n;
    if (ExcludedFromHostBackup(child)) continue;
    RETURN_IF_ERROR(WriteTree(out, root, child, prefix, skip));
  }
  return OkStatus();
}

}  // namespace

bool ExcludedFromHostBackup(std::string_view rel) {
  std::string path(rel);
  if (path.rfind("var/xapi/", 0) == 0 && IsUuid(path.substr(9))) return true;
  static const char* const kPatterns[] = {"tmp/*", "var/crash/*", "var/log/audit*", "var/xsconfig/*"};
  // Unanchored, as GNU tar's --exclude: the pattern may match from any
  // component on.
  for (size_t at = 0; at != std::string::npos;) {
    const char* tail = path.c_str() + at;
    for (const char* p : kPatterns)
      if (fnmatch(p, tail, 0) == 0) return true;
    at = path.find('/', at);
    if (at != std::string::npos) ++at;
  }
  return false;
}

Status WriteHostTar(const std::string& root, Sink& out) {
  RETURN_IF_ERROR(WriteTree(out, root, "", "./", "boot/efi"));
  ASSIGN_OR_RETURN(bool efi, PathExists(root + "/boot/efi"));
  if (efi) RETURN_IF_ERROR(WriteTree(out, root, "boot/efi", "", ""));
  Block zero{};
  RETURN_IF_ERROR(WriteBlock(out, zero));
  return WriteBlock(out, zero);
}

std::string InventoryValue(std::string_view inventory, std::string_view key) {
  size_t pos = 0;
  while (pos < inventory.size()) {
    size_t end = inventory.find('\n', pos);
    if (end == std::string_view::npos) end = inventory.size();
    std::string_view line = inventory.substr(pos, end - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == '=') {
      std::string_view v = line.substr(key.size() + 1);
      if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"') && v.back() == v.front())
        v = v.substr(1, v.size() - 2);
      return std::string(v);
    }
    pos = end + 1;
  }
  return "";
}

}  // namespace casulo::sim

// --demo disk content: Linux guests get real ext4 file systems built by
// mke2fs -d (e2fsprogs) from a generated tree, the Windows guest a large
// sparse disk with an NTFS-like layout. Content is a function of the seed;
// file times are fixed and mke2fs runs with E2FSPROGS_FAKE_TIME and seeded
// UUIDs so images repeat as far as mke2fs allows.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <random>

#include "sim/disks.h"

extern char** environ;

namespace casulo::sim {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMiB = 1 << 20;
constexpr time_t kFixedTime = 1700000000;  // 2023-11-14T22:13:20Z

const char* const kWords[] = {"backup", "pool", "storage", "network", "volume", "snapshot",
                              "the",    "a",    "of",      "and",     "to",     "report",
                              "quarterly", "server", "data", "user",  "invoice", "kernel",
                              "package", "release", "notes", "meeting", "budget", "disk"};

std::string Text(std::mt19937_64& rng, size_t len) {
  std::string s;
  while (s.size() < len) {
    s += kWords[rng() % std::size(kWords)];
    s += rng() % 12 == 0 ? ".\n" : " ";
  }
  s.resize(len);
  return s;
}

std::string Random(std::mt19937_64& rng, size_t len) {
  std::string s(len, '\0');
  for (size_t i = 0; i + 8 <= len; i += 8) {
    uint64_t v = rng();
    std::memcpy(s.data() + i, &v, 8);
  }
  return s;
}

Status Put(const fs::path& p, const std::string& data) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  if (ec) return Error(Code::kIoError, "{}: {}", p.parent_path().string(), ec.message());
  return WriteFileAtomic(p.string(), AsBytes(data));
}

std::string Uuid(std::mt19937_64& rng) {
  uint64_t hi = rng(), lo = rng();
  return fmt::format("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", hi >> 32, (hi >> 16) & 0xFFFF,
                     hi & 0xFFF, lo >> 52, lo & 0xFFFFFFFFFFFFull);
}

// A guest's files: /etc, /home/user documents, a few hundred small package
// docs, and random binaries worth about an eighth of the disk (at most 6 MiB).
Status BuildTree(const fs::path& root, uint64_t size, uint64_t seed, const std::string& label) {
  std::mt19937_64 rng(seed);
  std::string host = fmt::format("{}-{}", label, seed % 1000);
  RETURN_IF_ERROR(Put(root / "etc/hostname", host + "\n"));
  RETURN_IF_ERROR(Put(root / "etc/hosts", "127.0.0.1 localhost\n127.0.1.1 " + host + "\n"));
  RETURN_IF_ERROR(Put(root / "etc/fstab", "LABEL=" + label + " / ext4 errors=remount-ro 0 1\n"));
  RETURN_IF_ERROR(Put(root / "etc/os-release",
                      "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"));
  RETURN_IF_ERROR(Put(root / "etc/passwd",
                      "root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000:User:/home/user:/bin/bash\n"));
  RETURN_IF_ERROR(Put(root / "etc/group", "root:x:0:\nuser:x:1000:\n"));
  RETURN_IF_ERROR(Put(root / "etc/motd", fmt::format("casulo-sim demo disk {} ({})\n", seed, label)));
  RETURN_IF_ERROR(Put(root / "etc/ssh/sshd_config", "PermitRootLogin no\nPasswordAuthentication no\n"));
  RETURN_IF_ERROR(Put(root / "home/user/.bashrc", "export PATH=$HOME/bin:$PATH\nalias ll='ls -l'\n"));
  for (int i = 0; i < 12; ++i)
    RETURN_IF_ERROR(Put(root / fmt::format("home/user/docs/report-{:02}.txt", i),
                        Text(rng, 2048 + rng() % (14 * 1024))));
  for (int i = 0; i < 300; ++i)
    RETURN_IF_ERROR(Put(root / fmt::format("usr/share/doc/pkg-{:03}/{}", i / 5,
                                           i % 5 == 0 ? "copyright" : fmt::format("NEWS.{}", i % 5)),
                        Text(rng, 100 + rng() % 1400)));
  uint64_t binary = std::clamp<uint64_t>(size / 8, kMiB / 2, 6 * kMiB);
  for (int i = 0; i < 4; ++i)
    RETURN_IF_ERROR(Put(root / fmt::format("var/lib/app/blob-{}.bin", i), Random(rng, binary / 4)));
  // Fixed times (children before their directories, whose mtime they bump).
  std::vector<fs::path> all;
  for (const auto& e : fs::recursive_directory_iterator(root)) all.push_back(e.path());
  all.push_back(root);
  std::sort(all.begin(), all.end(), [](const fs::path& a, const fs::path& b) {
    return a.string().size() > b.string().size();
  });
  struct timespec ts[2] = {{kFixedTime, 0}, {kFixedTime, 0}};
  for (const auto& p : all) utimensat(AT_FDCWD, p.c_str(), ts, 0);
  return OkStatus();
}

std::string FindTool(const char* name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    std::string p = std::string(dir) + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return name;
}

Status Run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_s = {fmt::format("E2FSPROGS_FAKE_TIME={}", kFixedTime)};
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "E2FSPROGS_FAKE_TIME=", 20) != 0) env_s.emplace_back(*e);
  std::vector<char*> env;
  for (auto& e : env_s) env.push_back(e.data());
  env.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  // Our stdout may be a pipe nobody reads any more: keep the tool off it.
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Error(Code::kIoError, "cannot run {}: {}", argv[0], std::strerror(rc));
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(Code::kIoError, "{} failed (status {})", argv[0], status);
  return OkStatus();
}

void PutLe(std::string& s, size_t off, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s[off + i] = char((v >> (8 * i)) & 0xFF);
}

// A one-partition MBR: the partition starts at 1 MiB and runs to the end.
std::string Mbr(uint64_t disk_size, uint8_t type, uint32_t disk_signature) {
  std::string s(512, '\0');
  PutLe(s, 440, disk_signature, 4);
  s[446] = char(0x80);
  s[447] = char(0xFE), s[448] = char(0xFF), s[449] = char(0xFF);
  s[450] = char(type);
  s[451] = char(0xFE), s[452] = char(0xFF), s[453] = char(0xFF);
  PutLe(s, 454, 2048, 4);
  PutLe(s, 458, std::min<uint64_t>(disk_size / 512 - 2048, 0xFFFFFFFF), 4);
  s[510] = char(0x55), s[511] = char(0xAA);
  return s;
}

}  // namespace

Result<uint64_t> AllocatedBytes(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0)
    return Error(Code::kIoError, "{}: {}", path, std::strerror(errno));
  return uint64_t(st.st_blocks) * 512;
}

Status FillExt4Disk(const std::string& path, uint64_t size, uint64_t seed, bool partitioned,
                    const std::string& label) {
  RETURN_IF_ERROR(CreateDisk(path, size));
  fs::path tree = path + ".tree";
  std::error_code ec;
  fs::remove_all(tree, ec);
  RETURN_IF_ERROR(BuildTree(tree, size, seed, label));
  std::mt19937_64 rng(seed ^ 0x5eed);
  uint64_t offset = partitioned ? kMiB : 0;
  // Lazy init: inode tables and journal stay holes (zeros either way).
  std::string opts = fmt::format(
      "root_owner=0:0,nodiscard,lazy_itable_init=1,lazy_journal_init=1,hash_seed={}", Uuid(rng));
  if (partitioned) opts += fmt::format(",offset={}", offset);
  Status made = Run({FindTool("mke2fs"), "-q", "-t", "ext4", "-F", "-d", tree.string(), "-L", label,
                     "-U", Uuid(rng), "-E", opts, path, fmt::format("{}k", (size - offset) / 1024)});
  fs::remove_all(tree, ec);
  RETURN_IF_ERROR(made);
  if (!partitioned) return OkStatus();
  ASSIGN_OR_RETURN(File f, File::Open(path, O_RDWR));
  return f.PWrite(0, AsBytes(Mbr(size, 0x83, uint32_t(seed * 2654435761u))));
}

Status FillNtfsLikeDisk(const std::string& path, uint64_t size, uint64_t seed) {
  RETURN_IF_ERROR(CreateDisk(path, size));
  ASSIGN_OR_RETURN(File f, File::Open(path, O_RDWR));
  std::mt19937_64 rng(seed);
  RETURN_IF_ERROR(f.PWrite(0, AsBytes(Mbr(size, 0x07, uint32_t(rng())))));
  const uint64_t part = kMiB, sectors = size / 512 - 2048, cluster = 4096;
  const uint64_t mft_lcn = 786432;  // 3 GiB into the volume, where Windows puts it
  std::string boot(512, '\0');
  boot[0] = char(0xEB), boot[1] = char(0x52), boot[2] = char(0x90);
  std::memcpy(boot.data() + 3, "NTFS    ", 8);
  PutLe(boot, 11, 512, 2);
  boot[13] = 8;  // sectors per cluster
  boot[21] = char(0xF8);
  PutLe(boot, 24, 63, 2);
  PutLe(boot, 26, 255, 2);
  PutLe(boot, 28, 2048, 4);
  PutLe(boot, 40, sectors - 1, 8);
  PutLe(boot, 48, mft_lcn, 8);
  PutLe(boot, 56, 2, 8);  // $MFTMirr
  boot[64] = char(0xF6);  // 2^10-byte file records
  boot[68] = 1;
  PutLe(boot, 72, rng(), 8);
  boot[510] = char(0x55), boot[511] = char(0xAA);
  RETURN_IF_ERROR(f.PWrite(part, AsBytes(boot)));
  RETURN_IF_ERROR(f.PWrite(part + (sectors - 1) * 512, AsBytes(boot)));  // backup boot sector
  // File records ("FILE0" + the name in UTF-16LE) for the system files and a
  // few user paths; the first four are mirrored in $MFTMirr.
  const char* names[] = {"$MFT",     "$MFTMirr", "$LogFile",     "$Volume",      "$AttrDef",
                         ".",        "$Bitmap",  "$Boot",        "$BadClus",     "$Secure",
                         "$UpCase",  "$Extend",  "pagefile.sys", "Windows",      "Users",
                         "Program Files", "ProgramData", "System Volume Information"};
  std::string mft;
  for (const char* n : names) {
    std::string rec(1024, '\0');
    std::memcpy(rec.data(), "FILE0", 5);
    for (size_t i = 0; n[i] != '\0'; ++i) rec[0x98 + 2 * i] = n[i];
    mft += rec;
  }
  RETURN_IF_ERROR(f.PWrite(part + mft_lcn * cluster, AsBytes(mft)));
  RETURN_IF_ERROR(f.PWrite(part + 2 * cluster, AsBytes(mft.substr(0, 4096))));
  struct Region {
    uint64_t off, len;
    bool text;
  };
  const Region regions[] = {{1ull << 30, 2 * kMiB, false}, {7ull << 30, kMiB, false},
                            {12ull << 30, kMiB / 2, true}, {size / 2, kMiB, false},
                            {size - 64 * kMiB, kMiB / 2, true}};
  for (const auto& r : regions) {
    if (r.off + r.len > size) continue;
    std::string data = r.text ? Text(rng, r.len) : Random(rng, r.len);
    RETURN_IF_ERROR(f.PWrite(r.off, AsBytes(data)));
  }
  return OkStatus();
}

}  // namespace casulo::sim

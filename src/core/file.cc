#include "core/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace casulo {

Status ErrnoStatus(int err, std::string_view call, std::string_view path) {
  Code code = Code::kIoError;
  if (err == ENOENT) code = Code::kNotFound;
  if (err == EEXIST) code = Code::kAlreadyExists;
  return Error(code, "{} {}: {}", call, path, std::strerror(err));
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}
File::File(File&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

Result<File> File::OpenRead(const std::string& path) { return Open(path, O_RDONLY); }

Result<File> File::Open(const std::string& path, int flags, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  return File(fd, path);
}

File File::FromFd(int fd, std::string name) { return File(fd, std::move(name)); }

Result<size_t> File::PRead(uint64_t offset, MutableByteSpan out) const {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, off_t(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "pread", path_);
    }
    if (n == 0) break;
    done += size_t(n);
  }
  return done;
}

Status File::PReadFull(uint64_t offset, MutableByteSpan out) const {
  ASSIGN_OR_RETURN(size_t n, PRead(offset, out));
  if (n != out.size())
    return Error(Code::kCorruption, "{}: short read at offset {}: wanted {} bytes, got {}", path_,
                 offset, out.size(), n);
  return OkStatus();
}

Status File::PWrite(uint64_t offset, ByteSpan data) const {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, off_t(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "pwrite", path_);
    }
    done += size_t(n);
  }
  return OkStatus();
}

Result<size_t> File::Read(MutableByteSpan out) const {
  for (;;) {
    ssize_t n = ::read(fd_, out.data(), out.size());
    if (n >= 0) return size_t(n);
    if (errno != EINTR) return ErrnoStatus(errno, "read", path_);
  }
}

Result<size_t> File::ReadFull(MutableByteSpan out) const {
  size_t done = 0;
  while (done < out.size()) {
    ASSIGN_OR_RETURN(size_t n, Read(out.subspan(done)));
    if (n == 0) break;
    done += n;
  }
  return done;
}

Status File::WriteAll(ByteSpan data) const {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", path_);
    }
    done += size_t(n);
  }
  return OkStatus();
}

Result<uint64_t> File::Size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return ErrnoStatus(errno, "fstat", path_);
  if (S_ISBLK(st.st_mode)) {
    // An ioctl, not lseek(SEEK_END): the descriptor's offset must not move
    // (a caller may be about to read the device from its start).
    uint64_t bytes = 0;
    if (::ioctl(fd_, BLKGETSIZE64, &bytes) != 0) return ErrnoStatus(errno, "ioctl(BLKGETSIZE64)", path_);
    return bytes;
  }
  return uint64_t(st.st_size);
}

Status File::Truncate(uint64_t size) const {
  if (::ftruncate(fd_, off_t(size)) != 0) return ErrnoStatus(errno, "ftruncate", path_);
  return OkStatus();
}

Status File::Sync() const {
  if (::fsync(fd_) != 0) return ErrnoStatus(errno, "fsync", path_);
  return OkStatus();
}

Result<std::optional<uint64_t>> File::NextData(uint64_t from) const {
  off_t r = ::lseek(fd_, off_t(from), SEEK_DATA);
  if (r >= 0) return std::optional<uint64_t>(uint64_t(r));
  if (errno == ENXIO) return std::optional<uint64_t>();
  if (errno == EINVAL || errno == EOPNOTSUPP) return std::optional<uint64_t>(from);
  return ErrnoStatus(errno, "lseek(SEEK_DATA)", path_);
}

Result<uint64_t> File::NextHole(uint64_t from) const {
  off_t r = ::lseek(fd_, off_t(from), SEEK_HOLE);
  if (r >= 0) return uint64_t(r);
  if (errno == EINVAL || errno == EOPNOTSUPP || errno == ENXIO) return Size();
  return ErrnoStatus(errno, "lseek(SEEK_HOLE)", path_);
}

Status File::Close() {
  if (fd_ < 0) return OkStatus();
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return ErrnoStatus(errno, "close", path_);
  return OkStatus();
}

Result<Bytes> ReadFile(const std::string& path) {
  ASSIGN_OR_RETURN(File f, File::OpenRead(path));
  ASSIGN_OR_RETURN(uint64_t size, f.Size());
  Bytes out(size);
  RETURN_IF_ERROR(f.PReadFull(0, out));
  return out;
}

static std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteFileAtomic(const std::string& path, ByteSpan data, mode_t mode) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string tmp = fmt::format("{}.tmp-{:016x}", path, rng());
  {
    ASSIGN_OR_RETURN(File f, File::Open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode));
    Status s = f.PWrite(0, data);
    if (s.ok()) s = f.Sync();
    if (s.ok()) s = f.Close();
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = ErrnoStatus(errno, "rename", path);
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDir(DirName(path));
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", dir);
  int r = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (r != 0) return ErrnoStatus(err, "fsync", dir);
  return OkStatus();
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return OkStatus();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return OkStatus();
    return Error(Code::kAlreadyExists, "{} exists and is not a directory", path);
  }
  std::string parent = DirName(path);
  if (parent != path) RETURN_IF_ERROR(MakeDirs(parent, mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return ErrnoStatus(errno, "mkdir", path);
  return OkStatus();
}

Result<bool> PathExists(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return ErrnoStatus(errno, "stat", path);
}

Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "unlink", path);
  return OkStatus();
}

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return ErrnoStatus(errno, "opendir", dir);
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(std::move(name));
  }
  ::closedir(d);
  return out;
}

}  // namespace casulo

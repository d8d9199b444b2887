// POSIX file access with Status errors that name the path and the call.
// Everything that touches the local file system goes through here, so the
// durability rules (fsync the file, rename, fsync the directory) live in one
// place.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"

namespace casulo {

// An owned file descriptor. Not thread-safe for seeks; PRead/PWrite are safe
// from several threads at once.
class File {
 public:
  File() = default;
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~File();
  File(File&& o) noexcept;
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  static Result<File> OpenRead(const std::string& path);
  // flags: O_WRONLY/O_RDWR plus O_CREAT/O_TRUNC/O_EXCL as wanted.
  static Result<File> Open(const std::string& path, int flags, mode_t mode = 0644);
  // Takes ownership of `fd`; call Release() first to leave it open (stdout).
  static File FromFd(int fd, std::string name);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Reads up to out.size() bytes at offset; returns the count (short at EOF).
  Result<size_t> PRead(uint64_t offset, MutableByteSpan out) const;
  Status PReadFull(uint64_t offset, MutableByteSpan out) const;  // kCorruption if short
  Status PWrite(uint64_t offset, ByteSpan data) const;
  // Stream I/O for pipes: Read returns 0 at EOF.
  Result<size_t> Read(MutableByteSpan out) const;
  Result<size_t> ReadFull(MutableByteSpan out) const;  // loops until full or EOF
  Status WriteAll(ByteSpan data) const;
  Result<uint64_t> Size() const;
  Status Truncate(uint64_t size) const;
  Status Sync() const;
  // Next data offset at or after `from` (SEEK_DATA); nullopt when only a hole
  // remains. Files systems without SEEK_DATA report everything as data.
  Result<std::optional<uint64_t>> NextData(uint64_t from) const;
  Result<uint64_t> NextHole(uint64_t from) const;  // SEEK_HOLE; size at the end
  Status Close();
  void Release() { fd_ = -1; }

 private:
  int fd_ = -1;
  std::string path_;
};

Result<Bytes> ReadFile(const std::string& path);
// Writes `data` to a temporary name in the same directory, fsyncs it, renames
// it over `path` and fsyncs the directory: readers see the old or the new
// content, never a mixture, and the new one survives a crash once this returns.
Status WriteFileAtomic(const std::string& path, ByteSpan data, mode_t mode = 0644);
Status SyncDir(const std::string& dir);
Status MakeDirs(const std::string& path, mode_t mode = 0755);
Result<bool> PathExists(const std::string& path);
Status RemoveFile(const std::string& path);
Result<std::vector<std::string>> ListDir(const std::string& dir);  // names, no . or ..

// Status for a failed system call: kNotFound for ENOENT, kAlreadyExists for
// EEXIST, kIoError otherwise; the message names the call, the path and errno.
Status ErrnoStatus(int err, std::string_view call, std::string_view path);

}  // namespace casulo

// Backend: where repository files live. A handful of calls over whole named
// files, so local directories, S3 and in-memory stores, and the decorators
// (retry, fault injection, dry-run) all fit behind it.
//
// Contract for every implementation:
// - Save is atomic: a reader sees no file or the whole file, never a part,
//   and once Save returns OK the file survives a crash (durable).
// - Files are immutable: Save of an existing name fails with kAlreadyExists,
//   except for kLock (refreshed in place) and kConfig.
// - All methods are safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"

namespace casulo::repo {

enum class FileType { kConfig, kKey, kPack, kIndex, kSnapshot, kLock };

std::string_view FileTypeName(FileType t);  // "config", "keys", "data", ...

class Backend {
 public:
  virtual ~Backend() = default;

  // Human-readable location ("/srv/backup", "s3://bucket/prefix").
  virtual std::string Location() const = 0;

  // Creates an empty repository layout; fails kAlreadyExists if a config is there.
  virtual Status Create() = 0;

  // Writes a whole file atomically and durably. For kLock, an existing file is
  // replaced (refresh); for every other type it fails with kAlreadyExists.
  virtual Status Save(FileType type, std::string_view name, ByteSpan data) = 0;

  // Reads `length` bytes at `offset`; length 0 reads to the end. kNotFound when
  // the file does not exist, kCorruption when it is shorter than asked.
  virtual Result<Bytes> Load(FileType type, std::string_view name, uint64_t offset = 0,
                             uint64_t length = 0) = 0;

  virtual Result<uint64_t> Size(FileType type, std::string_view name) = 0;
  virtual Status Remove(FileType type, std::string_view name) = 0;

  // Names of all files of a type (complete ones only: never a temporary).
  virtual Result<std::vector<std::string>> List(FileType type) = 0;
};

// A repository in a local directory (docs/format/repository.md, "Layout").
std::unique_ptr<Backend> NewLocalBackend(std::string root);

}  // namespace casulo::repo

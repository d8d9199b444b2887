#include <sys/stat.h>

#include "core/file.h"
#include "repo/backend.h"

namespace casulo::repo {

std::string_view FileTypeName(FileType t) {
  switch (t) {
    case FileType::kConfig: return "config";
    case FileType::kKey: return "keys";
    case FileType::kPack: return "data";
    case FileType::kIndex: return "index";
    case FileType::kSnapshot: return "snapshots";
    case FileType::kLock: return "locks";
  }
  return "?";
}

namespace {

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '_')) return false;
  return true;
}

// Packs are fanned out over 256 subdirectories by the first two hex digits,
// so no directory holds more than ~1/256 of them.
class LocalBackend final : public Backend {
 public:
  explicit LocalBackend(std::string root) : root_(std::move(root)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  }

  std::string Location() const override { return root_; }

  Status Create() override {
    ASSIGN_OR_RETURN(bool exists, PathExists(root_ + "/config"));
    if (exists) return Error(Code::kAlreadyExists, "{} already holds a repository", root_);
    RETURN_IF_ERROR(MakeDirs(root_, 0700));
    for (auto t : {FileType::kKey, FileType::kIndex, FileType::kSnapshot, FileType::kLock})
      RETURN_IF_ERROR(MakeDirs(root_ + "/" + std::string(FileTypeName(t)), 0700));
    for (int i = 0; i < 256; ++i)
      RETURN_IF_ERROR(MakeDirs(fmt::format("{}/data/{:02x}", root_, i), 0700));
    return SyncDir(root_);
  }

  Status Save(FileType type, std::string_view name, ByteSpan data) override {
    ASSIGN_OR_RETURN(std::string path, PathOf(type, name));
    if (type != FileType::kLock && type != FileType::kConfig) {
      ASSIGN_OR_RETURN(bool exists, PathExists(path));
      if (exists) return Error(Code::kAlreadyExists, "{} exists; repository files are immutable", path);
    }
    return WriteFileAtomic(path, data, 0600);
  }

  Result<Bytes> Load(FileType type, std::string_view name, uint64_t offset,
                     uint64_t length) override {
    ASSIGN_OR_RETURN(std::string path, PathOf(type, name));
    ASSIGN_OR_RETURN(File f, File::OpenRead(path));
    if (length == 0) {
      ASSIGN_OR_RETURN(uint64_t size, f.Size());
      if (offset > size)
        return Error(Code::kCorruption, "{}: offset {} beyond size {}", path, offset, size);
      length = size - offset;
    }
    Bytes out(length);
    RETURN_IF_ERROR(f.PReadFull(offset, out));
    return out;
  }

  Result<uint64_t> Size(FileType type, std::string_view name) override {
    ASSIGN_OR_RETURN(std::string path, PathOf(type, name));
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
    return uint64_t(st.st_size);
  }

  Status Remove(FileType type, std::string_view name) override {
    ASSIGN_OR_RETURN(std::string path, PathOf(type, name));
    return RemoveFile(path);
  }

  Result<std::vector<std::string>> List(FileType type) override {
    std::vector<std::string> out;
    if (type == FileType::kConfig) {
      ASSIGN_OR_RETURN(bool exists, PathExists(root_ + "/config"));
      if (exists) out.push_back("config");
      return out;
    }
    std::string dir = root_ + "/" + std::string(FileTypeName(type));
    std::vector<std::string> dirs = {dir};
    if (type == FileType::kPack) {
      ASSIGN_OR_RETURN(auto subs, ListDir(dir));
      dirs.clear();
      for (auto& s : subs) dirs.push_back(dir + "/" + s);
    }
    for (auto& d : dirs) {
      ASSIGN_OR_RETURN(auto names, ListDir(d));
      for (auto& n : names)
        if (ValidName(n)) out.push_back(std::move(n));  // skips "x.tmp-..." leftovers
    }
    return out;
  }

 private:
  Result<std::string> PathOf(FileType type, std::string_view name) const {
    if (type == FileType::kConfig) return root_ + "/config";
    if (!ValidName(name)) return Error(Code::kInvalidArgument, "invalid file name '{}'", name);
    if (type == FileType::kPack) {
      if (name.size() < 2) return Error(Code::kInvalidArgument, "pack name '{}' too short", name);
      return fmt::format("{}/data/{}/{}", root_, name.substr(0, 2), name);
    }
    return fmt::format("{}/{}/{}", root_, FileTypeName(type), name);
  }

  std::string root_;
};

}  // namespace

std::unique_ptr<Backend> NewLocalBackend(std::string root) {
  return std::make_unique<LocalBackend>(std::move(root));
}

}  // namespace casulo::repo

// CBT change logs: storage (DIR/vdi/<uuid>.cbt, or memory without a state
// dir) and the chain operations SM performs on snapshot and delete
// (SM:drivers/VDI.py _cbt_snapshot, delete).
#include <openssl/evp.h>

#include <map>
#include <mutex>

#include "core/file.h"
#include "sim/cbt.h"
#include "sim/value_json.h"

namespace casulo::sim {
namespace {

constexpr std::string_view kFormat = "casulo-sim-cbt";

// Logs of simulators without a state dir (dispatcher tests); uuids are
// unique, so one map serves every Sim of the process.
std::mutex g_mem_mu;
std::map<std::string, CbtLog, std::less<>> g_mem;

std::string Base64(const std::vector<uint8_t>& in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), in.data(),
                          static_cast<int>(in.size()));
  out.resize(size_t(n));
  return out;
}

Result<std::vector<uint8_t>> Unbase64(const std::string& in) {
  if (in.size() % 4 != 0) return Error(Code::kCorruption, "bad base64 length {}", in.size());
  std::vector<uint8_t> out(3 * in.size() / 4);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return Error(Code::kCorruption, "bad base64");
  size_t pad = 0;
  for (size_t i = in.size(); i > 0 && in[i - 1] == '=' && pad < 2; --i) ++pad;
  out.resize(size_t(n) - pad);
  return out;
}

void Grow(CbtLog& log, uint64_t size) {
  if (size <= log.size) return;
  log.size = size;
  log.bitmap.resize(size_t((log.blocks() + 7) / 8), 0);
}

}  // namespace

std::string CbtBase64(const std::vector<uint8_t>& bytes) { return Base64(bytes); }

CbtLog CbtLog::Empty(uint64_t size) {
  CbtLog log;
  Grow(log, size);
  return log;
}

void CbtLog::Mark(uint64_t block) {
  if (block < blocks()) bitmap[size_t(block / 8)] |= uint8_t(0x80u >> (block % 8));
}

bool CbtLog::Test(uint64_t block) const {
  return block < blocks() && (bitmap[size_t(block / 8)] & (0x80u >> (block % 8))) != 0;
}

std::string CbtLogPath(const std::string& state_dir, std::string_view uuid) {
  if (state_dir.empty()) return "";
  return state_dir + "/vdi/" + std::string(uuid) + ".cbt";
}

Result<std::optional<CbtLog>> LoadCbtLog(const std::string& state_dir, std::string_view uuid) {
  if (uuid.empty()) return std::optional<CbtLog>();
  if (state_dir.empty()) {
    std::lock_guard l(g_mem_mu);
    auto it = g_mem.find(uuid);
    if (it == g_mem.end()) return std::optional<CbtLog>();
    return std::optional<CbtLog>(it->second);
  }
  std::string path = CbtLogPath(state_dir, uuid);
  ASSIGN_OR_RETURN(bool exists, PathExists(path));
  if (!exists) return std::optional<CbtLog>();
  ASSIGN_OR_RETURN(Bytes bytes, ReadFile(path));
  Json j = Json::parse(AsChars(bytes), nullptr, /*allow_exceptions=*/false);
  auto bad = [&] { return Error(Code::kCorruption, "{}: not a casulo-sim CBT log", path); };
  if (!j.is_object() || j.value("format", "") != kFormat || j.value("version", 0) != 1 ||
      j.value("block_size", uint64_t{0}) != kCbtBlockSize || !j["size"].is_number_unsigned() ||
      !j["parent"].is_string() || !j["child"].is_string() || !j["bitmap"].is_string())
    return bad();
  CbtLog log;
  log.size = j["size"].get<uint64_t>();
  log.parent = j["parent"].get<std::string>();
  log.child = j["child"].get<std::string>();
  ASSIGN_OR_RETURN(log.bitmap, Unbase64(j["bitmap"].get<std::string>()).With(path));
  if (log.bitmap.size() != (log.blocks() + 7) / 8) return bad();
  return std::optional<CbtLog>(std::move(log));
}

Status SaveCbtLog(const std::string& state_dir, std::string_view uuid, const CbtLog& log) {
  if (state_dir.empty()) {
    std::lock_guard l(g_mem_mu);
    g_mem[std::string(uuid)] = log;
    return OkStatus();
  }
  Json j = {{"format", kFormat},     {"version", 1},       {"block_size", kCbtBlockSize},
            {"size", log.size},      {"parent", log.parent}, {"child", log.child},
            {"bitmap", Base64(log.bitmap)}};
  std::string path = CbtLogPath(state_dir, uuid);
  RETURN_IF_ERROR(MakeDirs(path.substr(0, path.rfind('/'))));
  std::string text = j.dump() + "\n";
  return WriteFileAtomic(path, AsBytes(text));
}

Status RemoveCbtLog(const std::string& state_dir, std::string_view uuid) {
  if (state_dir.empty()) {
    std::lock_guard l(g_mem_mu);
    g_mem.erase(std::string(uuid));
    return OkStatus();
  }
  Status s = RemoveFile(CbtLogPath(state_dir, uuid));
  return s.code() == Code::kNotFound ? OkStatus() : s;
}

Status CbtOnSnapshot(const std::string& state_dir, const std::string& leaf_uuid,
                     const std::string& snap_uuid, uint64_t leaf_size) {
  ASSIGN_OR_RETURN(std::optional<CbtLog> log, LoadCbtLog(state_dir, leaf_uuid));
  if (!log) return OkStatus();
  CbtLog leaf = CbtLog::Empty(leaf_size);
  leaf.parent = snap_uuid;
  leaf.child = log->child;
  log->child = leaf_uuid;
  RETURN_IF_ERROR(SaveCbtLog(state_dir, snap_uuid, *log));
  RETURN_IF_ERROR(SaveCbtLog(state_dir, leaf_uuid, leaf));
  ASSIGN_OR_RETURN(std::optional<CbtLog> parent, LoadCbtLog(state_dir, log->parent));
  if (!parent) return OkStatus();
  parent->child = snap_uuid;
  return SaveCbtLog(state_dir, log->parent, *parent);
}

Status CbtOnDestroy(const std::string& state_dir, const std::string& uuid) {
  ASSIGN_OR_RETURN(std::optional<CbtLog> log, LoadCbtLog(state_dir, uuid));
  if (!log) return OkStatus();
  ASSIGN_OR_RETURN(std::optional<CbtLog> parent, LoadCbtLog(state_dir, log->parent));
  if (parent) {
    parent->child = log->child;
    RETURN_IF_ERROR(SaveCbtLog(state_dir, log->parent, *parent));
  }
  ASSIGN_OR_RETURN(std::optional<CbtLog> child, LoadCbtLog(state_dir, log->child));
  if (child) {
    // cbtutil coalesce_bitmap: the child now covers both intervals.
    child->parent = log->parent;
    Grow(*child, log->size);
    for (size_t i = 0; i < log->bitmap.size(); ++i) child->bitmap[i] |= log->bitmap[i];
    RETURN_IF_ERROR(SaveCbtLog(state_dir, log->child, *child));
  }
  return RemoveCbtLog(state_dir, uuid);
}

Status CbtMarkWritten(const std::string& state_dir, const std::string& uuid, uint64_t vdi_size,
                      const std::vector<uint64_t>& blocks) {
  ASSIGN_OR_RETURN(std::optional<CbtLog> log, LoadCbtLog(state_dir, uuid));
  if (!log) return OkStatus();
  Grow(*log, vdi_size);
  for (uint64_t b : blocks) log->Mark(b);
  return SaveCbtLog(state_dir, uuid, *log);
}

}  // namespace casulo::sim

// The repository side of a VM restore: the metadata document parsed back,
// and a disk's tree turned into the dynamic VHD /import_raw_vdi takes
// (xapi-protocol.md §3.2: with format=vhd only the blocks in the BAT are
// written, so holes need not be sent; the VDI is new, hence all zeros), or
// into chunked pieces of chosen blocks for a differential restore.
#include <nlohmann/json.hpp>

#include "core/cancel.h"
#include "engine/vm_restore.h"
#include "vm_restore_internal.h"
#include "formats/vhd_writer.h"
#include "tree_read.h"

namespace casulo::engine {

namespace {

Result<Bytes> ReadTree(repo::Repository& repo, const repo::TreeRoot& root, uint64_t size,
                       uint32_t chunk_size) {
  repo::TreeReader tree(root, [&repo](const Hash256& id) { return repo.LoadBlob(id); });
  Bytes out;
  out.reserve(size);
  for (uint64_t i = 0; i < tree.count(); ++i) {
    ASSIGN_OR_RETURN(Hash256 id, tree.At(i));
    uint64_t len = std::min<uint64_t>(chunk_size, size - i * chunk_size);
    if (id.IsZero()) {
      out.resize(out.size() + len, 0);
      continue;
    }
    ASSIGN_OR_RETURN(Bytes data, repo.LoadBlob(id));
    if (data.size() != len)
      return Error(Code::kCorruption, "chunk {} has {} bytes, expected {}", id.ShortHex(), data.size(), len);
    out.insert(out.end(), data.begin(), data.end());
  }
  return out;
}

Result<formats::XmlRpcValue> ParseRecord(const nlohmann::json& text, const std::string& what) {
  if (!text.is_string()) return Error(Code::kCorruption, "VM metadata: {} is not XML-RPC text", what);
  auto v = formats::ParseXmlRpcValue(text.get<std::string>());
  if (!v.ok()) return std::move(v).status().With("VM metadata: " + what);
  return std::move(*v);
}

Status ParseMap(const nlohmann::json& doc, const char* key,
                std::map<std::string, formats::XmlRpcValue>& out) {
  if (!doc.contains(key)) return OkStatus();
  if (!doc[key].is_object()) return Error(Code::kCorruption, "VM metadata: '{}' is not an object", key);
  for (const auto& [ref, text] : doc[key].items()) {
    ASSIGN_OR_RETURN(out[ref], ParseRecord(text, std::string(key) + " " + ref));
  }
  return OkStatus();
}

}  // namespace

Result<VmMetadata> LoadVmMetadata(repo::Repository& repo, const repo::Snapshot& point) {
  if (point.kind != "vm")
    return Error(Code::kInvalidArgument, "not a VM recovery point (kind {})", point.kind);
  ASSIGN_OR_RETURN(Bytes bytes, ReadTree(repo, point.tree, point.size, point.chunk_size));
  nlohmann::json doc = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (!doc.is_object() || !doc.contains("vm"))
    return Error(Code::kCorruption, "VM metadata: not a JSON object with a 'vm' record");
  VmMetadata m;
  ASSIGN_OR_RETURN(m.vm, ParseRecord(doc["vm"], "vm"));
  if (doc.contains("vm_ref") && doc["vm_ref"].is_string()) m.vm_ref = doc["vm_ref"];
  RETURN_IF_ERROR(ParseMap(doc, "vbds", m.vbds));
  RETURN_IF_ERROR(ParseMap(doc, "vdis", m.vdis));
  RETURN_IF_ERROR(ParseMap(doc, "vifs", m.vifs));
  RETURN_IF_ERROR(ParseMap(doc, "srs", m.srs));
  if (doc.contains("networks") && doc["networks"].is_object()) {
    for (const auto& [ref, n] : doc["networks"].items()) {
      if (!n.is_object() || !n.contains("record"))
        return Error(Code::kCorruption, "VM metadata: network {} has no record", ref);
      VmNetworkMeta meta;
      ASSIGN_OR_RETURN(meta.record, ParseRecord(n["record"], "network " + ref));
      if (n.contains("vlan") && n["vlan"].is_number_integer()) meta.vlan = n["vlan"];
      m.networks[ref] = std::move(meta);
    }
  }
  return m;
}

Result<DiskVhdPlan> PlanDiskVhd(repo::Repository& repo, const repo::SnapshotDisk& disk) {
  if (disk.size % formats::kVhdSectorSize != 0 || disk.size > formats::kVhdMaxWriteSize)
    return Error(Code::kInvalidArgument, "disk {} of {} bytes cannot be sent as a VHD", disk.key, disk.size);
  repo::TreeReader tree(disk.tree, [&repo](const Hash256& id) { return repo.LoadBlob(id); });
  std::vector<uint32_t> blocks;
  const uint64_t bs = formats::kVhdDefaultBlockSize;
  for (uint64_t i = 0; i < tree.count(); ++i) {
    ASSIGN_OR_RETURN(Hash256 id, tree.At(i));
    if (id.IsZero()) continue;
    uint64_t first = i * disk.chunk_size / bs;
    uint64_t last = (std::min(disk.size, (i + 1) * disk.chunk_size) - 1) / bs;
    for (uint64_t b = first; b <= last; ++b)
      if (blocks.empty() || blocks.back() < b) blocks.push_back(uint32_t(b));
  }
  DiskVhdPlan plan;
  plan.encoded_size = formats::VhdWriter::EncodedSize(disk.size, blocks.size());
  plan.blocks = std::move(blocks);
  return plan;
}

Status WriteDiskExtents(repo::Repository& repo, const repo::SnapshotDisk& disk, formats::ExtentWriter& w) {
  TreeVisitor v;
  v.data = [&](uint64_t off, ByteSpan data) { return w.Write({off, data}); };
  return ReadTreeInOrder(repo, disk.tree, disk.size, disk.chunk_size, 0, v);
}

Status WriteDiskVhd(repo::Repository& repo, const repo::SnapshotDisk& disk, const DiskVhdPlan& plan,
                    Sink& sink) {
  formats::VhdWriteOptions o;
  o.virtual_size = disk.size;
  ASSIGN_OR_RETURN(auto w, formats::VhdWriter::Create(sink, o, plan.blocks));
  RETURN_IF_ERROR(WriteDiskExtents(repo, disk, *w));
  return w->Finish();
}

namespace vm {

BlockBody PlanBlockBody(const repo::SnapshotDisk& d, const std::vector<uint64_t>& blocks) {
  constexpr uint64_t kMaxPiece = 4 << 20, kHeader = 12;
  BlockBody body;
  for (uint64_t b : blocks) {
    uint64_t off = b * kCbtBlock;
    if (off >= d.size) continue;
    uint64_t len = std::min(kCbtBlock, d.size - off);
    if (!body.pieces.empty()) {
      auto& last = body.pieces.back();
      if (last.first + last.second == off && last.second + len <= kMaxPiece) {
        last.second += len;
        continue;
      }
    }
    body.pieces.emplace_back(off, len);
  }
  body.length = kHeader;  // the end header
  for (const auto& [off, len] : body.pieces) body.length += kHeader + len;
  return body;
}

Status WriteBlockBody(repo::Repository& repo, const repo::SnapshotDisk& d, const BlockBody& body, Sink& sink) {
  repo::TreeReader tree(d.tree, [&repo](const Hash256& id) { return repo.LoadBlob(id); });
  auto header = [&](uint64_t off, uint64_t len) {
    uint8_t h[12];
    for (int i = 0; i < 8; ++i) h[i] = uint8_t(off >> (8 * i));
    for (int i = 0; i < 4; ++i) h[8 + i] = uint8_t(len >> (8 * i));
    return sink.Write(ByteSpan(h, sizeof h));
  };
  uint64_t cached = UINT64_MAX;  // the chunk index held in `chunk`
  Bytes chunk;
  for (auto [off, len] : body.pieces) {
    if (CancelRequested()) return Status(Code::kCancelled, "interrupted");
    RETURN_IF_ERROR(header(off, len));
    const uint64_t end = off + len;
    while (off < end) {
      uint64_t i = off / d.chunk_size;
      if (i != cached) {
        ASSIGN_OR_RETURN(Hash256 id, tree.At(i));
        uint64_t clen = std::min<uint64_t>(d.chunk_size, d.size - i * d.chunk_size);
        if (id.IsZero()) {
          chunk.assign(clen, 0);
        } else {
          ASSIGN_OR_RETURN(chunk, repo.LoadBlob(id));
          if (chunk.size() != clen)
            return Error(Code::kCorruption, "disk {}: chunk {} has {} bytes, expected {}", d.key, id.ShortHex(),
                         chunk.size(), clen);
        }
        cached = i;
      }
      uint64_t at = off - i * d.chunk_size, take = std::min(end - off, chunk.size() - at);
      RETURN_IF_ERROR(sink.Write(ByteSpan(chunk).subspan(at, take)));
      off += take;
    }
  }
  return header(0, 0);
}

}  // namespace vm

}  // namespace casulo::engine

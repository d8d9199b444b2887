#include "formats/xva_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace casulo::formats {

namespace {

constexpr size_t kMaxChecksumMember = 128;  // the text is 16 or 40 bytes

std::string_view StripDotSlash(std::string_view n) {
  while (n.starts_with("./")) n.remove_prefix(2);
  return n;
}

// `<prefix>/<digits>` (a chunk) or that plus ".checksum"/".xxhash". Views
// point into the name given.
struct MemberName {
  std::string_view prefix;  // the disk id
  std::string_view stem;    // prefix/digits
  uint64_t number = 0;
  std::optional<ChunkChecksum> checksum;  // set for checksum members
};

std::optional<MemberName> ParseMemberName(std::string_view name) {
  MemberName m;
  name = StripDotSlash(name);
  m.checksum = ChunkChecksumFromName(name);
  m.stem =
      m.checksum ? name.substr(0, name.size() - ChunkChecksumSuffix(*m.checksum).size()) : name;
  const size_t slash = m.stem.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  m.prefix = m.stem.substr(0, slash);
  const std::string_view digits = m.stem.substr(slash + 1);
  if (digits.empty() || digits.size() > 20) return std::nullopt;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    if (m.number > (uint64_t(INT64_MAX) - 9) / 10) return std::nullopt;
    m.number = m.number * 10 + uint64_t(c - '0');
  }
  return m;
}

std::string Describe(const TarMember* m) {
  return m ? fmt::format("member '{}'", m->name) : std::string("the end of the archive");
}

}  // namespace

// --- XvaReader -------------------------------------------------------------

XvaReader::XvaReader(std::unique_ptr<Source> stream, Compression c, XvaReaderOptions options)
    : stream_(std::move(stream)), tar_(*stream_), compression_(c), options_(std::move(options)) {}
XvaReader::~XvaReader() = default;

Result<std::unique_ptr<XvaReader>> XvaReader::Open(Source& src, XvaReaderOptions options) {
  Compression c = Compression::kNone;
  ASSIGN_OR_RETURN(std::unique_ptr<Source> stream, OpenMaybeCompressed(src, &c));
  std::unique_ptr<XvaReader> r(new XvaReader(std::move(stream), c, std::move(options)));
  for (;;) {
    ASSIGN_OR_RETURN(const TarMember* m, std::move(r->tar_.Next()).With("reading an XVA stream"));
    if (!m) return Error(Code::kCorruption, "not an XVA stream: the archive holds no ova.xml");
    if (!m->IsRegularFile()) continue;  // a leading "./" directory entry
    if (StripDotSlash(m->name) != "ova.xml")
      return Error(Code::kCorruption, "not an XVA stream: the first member is '{}', not ova.xml",
                   m->name);
    if (m->size > r->options_.max_ova_xml_size)
      return Error(Code::kUnsupported, "ova.xml of {} bytes exceeds the limit of {}", m->size,
                   r->options_.max_ova_xml_size);
    r->ova_xml_.resize(size_t(m->size));
    RETURN_IF_ERROR(r->tar_.ReadExact(
        MutableByteSpan(reinterpret_cast<uint8_t*>(r->ova_xml_.data()), r->ova_xml_.size())));
    if (r->options_.parse_ova_xml) {
      ASSIGN_OR_RETURN(OvaXml ova, std::move(ParseOvaXml(r->ova_xml_)).With("XVA ova.xml"));
      r->ova_ = std::move(ova);
    }
    return r;
  }
}

Result<const TarMember*> XvaReader::Peek() {
  if (!peeked_) {
    ASSIGN_OR_RETURN(pending_, tar_.Next());
    peeked_ = true;
  }
  return pending_;
}

Result<XvaDiskReader*> XvaReader::NextDisk() {
  if (failed_) return Error(Code::kInvalidArgument, "xva reader: NextDisk after an earlier error");
  Result<XvaDiskReader*> d = NextDiskImpl();
  if (!d.ok()) failed_ = true;
  return d;
}

Result<XvaDiskReader*> XvaReader::NextDiskImpl() {
  if (disk_ && !disk_->done_) {
    for (;;) {
      ASSIGN_OR_RETURN(std::optional<Extent> e, disk_->Next());
      if (!e) break;
    }
  }
  for (;;) {
    ASSIGN_OR_RETURN(const TarMember* m, Peek());
    if (!m) {
      disk_.reset();
      RETURN_IF_ERROR(CheckAllDisksSeen());
      return nullptr;
    }
    std::optional<MemberName> n;
    if (m->IsRegularFile()) n = ParseMemberName(m->name);
    if (!n || n->checksum) {  // directories, stray checksums, trailing members
      Consume();
      continue;
    }
    if (seen_.contains(n->prefix)) {
      if (disk_ && disk_->id_ == n->prefix)
        return Error(Code::kCorruption, "member '{}' lies beyond the virtual size {} of disk {}",
                     m->name, disk_->info_.virtual_size, disk_->id_);
      return Error(Code::kCorruption,
                   "disk {} appears again at member '{}' after another disk's members", n->prefix,
                   m->name);
    }
    const OvaObject* vdi = ova_ ? FindOvaObject(*ova_, n->prefix) : nullptr;
    if (vdi && vdi->cls != "VDI")
      return Error(Code::kCorruption,
                   "disk {} (member '{}') names a {} object in ova.xml, not a VDI", n->prefix,
                   m->name, vdi->cls);
    uint64_t size = 0;
    if (auto given = options_.disk_sizes.find(n->prefix); given != options_.disk_sizes.end()) {
      size = given->second;
    } else if (vdi) {
      // Only virtual_size is needed, so other missing fields do not matter.
      const XmlRpcValue* v = vdi->snapshot.Find("virtual_size");
      if (!v) return Error(Code::kCorruption, "ova.xml VDI {} has no virtual_size", n->prefix);
      ASSIGN_OR_RETURN(int64_t s, v->AsInt(fmt::format("ova.xml VDI {} virtual_size", n->prefix)));
      if (s < 0)
        return Error(Code::kCorruption, "ova.xml VDI {}: negative virtual_size", n->prefix);
      size = uint64_t(s);
    } else {
      return Error(Code::kCorruption, "disk {} (member '{}') has no VDI record giving its size",
                   n->prefix, m->name);
    }
    seen_.emplace(n->prefix);
    disk_.reset(new XvaDiskReader(*this, std::string(n->prefix), size, vdi));
    return disk_.get();
  }
}

Status XvaReader::CheckAllDisksSeen() const {
  if (!ova_ || !options_.require_all_disks) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<OvaVdi> streamed, StreamedVdis(*ova_));
  for (const OvaVdi& v : streamed)
    if (!seen_.contains(v.id) && v.virtual_size > 0)
      return Error(Code::kCorruption,
                   "the archive ends without disk {}, which ova.xml says is streamed (truncated "
                   "stream?)",
                   v.id);
  return OkStatus();
}

// --- XvaDiskReader ---------------------------------------------------------

XvaDiskReader::XvaDiskReader(XvaReader& r, std::string id, uint64_t virtual_size,
                             const OvaObject* vdi)
    : r_(r), id_(std::move(id)), vdi_(vdi) {
  info_.virtual_size = virtual_size;
  info_.kind = DiskKind::kFull;
}

Result<std::optional<Extent>> XvaDiskReader::Next() {
  if (r_.failed_)
    return Error(Code::kInvalidArgument, "xva reader: disk {} read after an earlier error", id_);
  Result<std::optional<Extent>> e = NextImpl();
  if (!e.ok()) r_.failed_ = true;
  return e;
}

Result<std::optional<Extent>> XvaDiskReader::NextImpl() {
  const uint64_t size = info_.virtual_size;
  while (!done_) {
    if (offset_ >= size) {
      done_ = true;
      break;
    }
    ASSIGN_OR_RETURN(const TarMember* m, r_.Peek());
    if (m && !m->IsRegularFile()) {
      r_.Consume();
      continue;
    }
    std::optional<MemberName> n;
    if (m) n = ParseMemberName(m->name);
    if (!n || n->prefix != id_)
      return Error(Code::kCorruption,
                   "disk {} ends at offset {}, before its virtual size {}, at {} (its last chunk "
                   "is missing or the stream is truncated)",
                   id_, offset_, size, Describe(m));
    if (n->checksum)
      return Error(Code::kCorruption, "checksum member '{}' follows no chunk", m->name);
    if (int64_t(n->number) <= last_number_)
      return Error(Code::kCorruption, "member '{}' is numbered {} after {}: numbers must increase",
                   m->name, n->number, last_number_);
    if (m->size > r_.options_.max_chunk_size)
      return Error(Code::kUnsupported, "chunk member '{}' of {} bytes exceeds the limit of {}",
                   m->name, m->size, r_.options_.max_chunk_size);
    const uint64_t gap = n->number - uint64_t(last_number_ + 1);
    // XAPI takes the unit from the first member of the stream; a lone chunk
    // of a disk leaves it open for the next disk's first chunk.
    bool set_unit = false;
    if ((!r_.unit_known_ || (r_.unit_provisional_ && !has_data_)) && (m->size > 0 || gap > 0)) {
      r_.unit_ = m->size;
      r_.unit_known_ = true;
      r_.unit_provisional_ = false;
      set_unit = true;
    }
    if (gap > 0 && r_.unit_ > 0) {
      if (gap > (size - offset_ - 1) / r_.unit_)
        return Error(Code::kCorruption,
                     "member '{}' lies beyond the virtual size {} of disk {} ({} missing chunks "
                     "of {} bytes before it)",
                     m->name, size, id_, gap, r_.unit_);
      offset_ += gap * r_.unit_;
    }
    const std::string stem(n->stem);
    const uint64_t len = m->size;
    if (r_.chunk_.size() < len) r_.chunk_.resize(std::max<uint64_t>(len, 1 << 20));
    const ByteSpan data(r_.chunk_.data(), size_t(len));
    RETURN_IF_ERROR(r_.tar_.ReadExact(MutableByteSpan(r_.chunk_.data(), size_t(len))));
    r_.Consume();
    RETURN_IF_ERROR(VerifyChecksum(stem, data));
    const uint64_t start = offset_;
    offset_ += len;
    last_number_ = int64_t(n->number);
    if (set_unit && n->number == 0 && offset_ >= size) r_.unit_provisional_ = true;
    if (len == 0) {
      ++stats_.keep_alives;
      continue;
    }
    has_data_ = true;
    ++stats_.chunks;
    const uint64_t emit = std::min(len, size - start);  // XO pads the last chunk
    stats_.data_bytes += emit;
    return std::optional<Extent>(Extent{start, data.first(size_t(emit))});
  }
  return std::optional<Extent>();
}

Status XvaDiskReader::VerifyChecksum(std::string_view stem, ByteSpan data) {
  ASSIGN_OR_RETURN(const TarMember* c, r_.Peek());
  std::optional<ChunkChecksum> kind;
  if (c && c->IsRegularFile()) {
    std::optional<MemberName> n = ParseMemberName(c->name);
    if (n && n->checksum && n->stem == stem) kind = n->checksum;
  }
  if (!kind) {
    if (r_.options_.verify)
      return Error(Code::kCorruption,
                   "chunk member '{}' is not followed by its .checksum or .xxhash member "
                   "(found {})",
                   stem, Describe(c));
    ++stats_.unverified;
    return OkStatus();
  }
  if (!stats_.checksum) stats_.checksum = kind;
  if (*stats_.checksum != *kind) stats_.mixed_checksums = true;
  if (!r_.options_.verify) {  // its data is skipped with the next header read
    r_.Consume();
    ++stats_.unverified;
    return OkStatus();
  }
  if (c->size > kMaxChecksumMember)
    return Error(Code::kCorruption, "checksum member '{}' has {} bytes, not a digest", c->name,
                 c->size);
  std::array<char, kMaxChecksumMember> buf;
  RETURN_IF_ERROR(
      r_.tar_.ReadExact(MutableByteSpan(reinterpret_cast<uint8_t*>(buf.data()), size_t(c->size))));
  const std::string_view stored(buf.data(), size_t(c->size));
  const std::string computed = ChunkChecksumText(*kind, data);
  if (!ChunkChecksumMatches(stored, computed))
    return Error(Code::kCorruption,
                 "checksum mismatch in member '{}': it holds '{}', the chunk's digest is {}",
                 c->name, stored, computed);
  r_.Consume();
  ++stats_.verified;
  return OkStatus();
}

}  // namespace casulo::formats

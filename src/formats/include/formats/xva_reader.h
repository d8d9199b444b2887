// Reads an XVA stream (docs/format/xva.md, "Reading"): detects gzip/zstd,
// takes `ova.xml` (which must be the first member), then yields the disks in
// the order their members appear, each as a forward ExtentReader. Nothing is
// materialised: memory is one chunk buffer (<= max_chunk_size) plus ova.xml.
//
// Disk reconstruction follows XAPI's importer: a chunk member's number is a
// sequence counter, not an offset. For each member, gap = number - previous
// number - 1; the disk position advances by gap * unit (those bytes are
// zeros and are not emitted), the member's bytes are placed at the position,
// and the position advances by the member's length. unit is the length of
// the first chunk of the stream, as XAPI takes it, except that a disk's lone
// chunk (a first disk smaller than 1 MiB) does not fix it: the next disk's
// first chunk does. Zero-length members (keep-alives) consume a number only.
// A disk is complete once the position reaches its virtual size; bytes of
// the last chunk beyond it are dropped (XO pads the last chunk).
//
// Tolerances beyond XAPI: ustar/GNU/pax headers, a leading "./" in names,
// directory entries, chunk numbers of any width, checksum text in either
// case or with trailing whitespace, trailing members after the last disk.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "core/bytes.h"
#include "core/status.h"
#include "core/stream.h"
#include "formats/checksum.h"
#include "formats/compress.h"
#include "formats/disk.h"
#include "formats/ova.h"
#include "formats/tar.h"

namespace casulo::formats {

struct XvaReaderOptions {
  // Check every chunk against the `.checksum` / `.xxhash` member that must
  // follow it (a missing or wrong one fails with kCorruption). When false,
  // checksum members are skipped unread and may be absent.
  bool verify = true;
  uint64_t max_ova_xml_size = 64 << 20;  // larger: kUnsupported
  uint64_t max_chunk_size = 1 << 20;     // larger chunk members: kUnsupported
  // Parse ova.xml at Open (a malformed one fails Open with kCorruption); each
  // disk's virtual size is then its VDI record's. When false, ova() is null,
  // ova.xml stays opaque bytes and sizes come from disk_sizes only.
  bool parse_ova_xml = true;
  // At the end of the archive, require every VDI that XAPI would stream
  // (StreamedVdis, ova.h) to have appeared: catches a stream cut at a disk
  // boundary. Needs parse_ova_xml.
  bool require_all_disks = true;
  // Virtual sizes by disk id, preferred over ova.xml's VDI records. A disk
  // with a size from neither fails with kCorruption when it is reached.
  std::map<std::string, uint64_t, std::less<>> disk_sizes;
};

struct XvaDiskStats {
  uint64_t chunks = 0;                    // non-empty chunk members
  uint64_t keep_alives = 0;               // zero-length chunk members
  uint64_t data_bytes = 0;                // bytes emitted (inside the virtual size)
  uint64_t verified = 0;                  // members whose checksum matched
  uint64_t unverified = 0;                // members read without a checksum check
  std::optional<ChunkChecksum> checksum;  // kind of the first checksum member
  bool mixed_checksums = false;           // both kinds seen
};

class XvaReader;

// One disk of the stream; owned by its XvaReader and valid until the next
// NextDisk(). Extents are whole chunks (they may contain zeros), ascending.
class XvaDiskReader final : public ExtentReader {
 public:
  const std::string& id() const { return id_; }
  // Its VDI object in ova.xml, or null (ova.xml not parsed, or the size came
  // from XvaReaderOptions::disk_sizes for an id ova.xml lacks).
  const OvaObject* vdi() const { return vdi_; }
  const XvaDiskStats& stats() const { return stats_; }
  const DiskInfo& info() const override { return info_; }
  Result<std::optional<Extent>> Next() override;

 private:
  friend class XvaReader;
  XvaDiskReader(XvaReader& r, std::string id, uint64_t virtual_size, const OvaObject* vdi);
  Result<std::optional<Extent>> NextImpl();
  Status VerifyChecksum(std::string_view chunk_name, ByteSpan data);

  XvaReader& r_;
  std::string id_;
  const OvaObject* vdi_;
  DiskInfo info_;
  XvaDiskStats stats_;
  uint64_t offset_ = 0;       // disk position after the last member
  int64_t last_number_ = -1;  // number of the last member, -1 before the first
  bool has_data_ = false;     // a non-empty member was read
  bool done_ = false;
};

class XvaReader {
 public:
  // Reads up to and including ova.xml. Fails with kCorruption when the
  // stream is not a (possibly compressed) tar or its first file is not
  // ova.xml.
  static Result<std::unique_ptr<XvaReader>> Open(Source& src, XvaReaderOptions options = {});
  ~XvaReader();

  Compression compression() const { return compression_; }
  // The ova.xml member as stored.
  const std::string& ova_xml() const { return ova_xml_; }
  // Its parsed model, or null when XvaReaderOptions::parse_ova_xml is false.
  const OvaXml* ova() const { return ova_ ? &*ova_ : nullptr; }

  // The next disk, or nullptr after the last (after checking, with
  // require_all_disks, that no streamed VDI is missing). Reads (and verifies) whatever
  // the caller left unread of the previous disk first. A disk whose members
  // are split by another disk's fails with kCorruption. After any error of
  // the reader or its disks, further calls fail.
  Result<XvaDiskReader*> NextDisk();

  // The gap unit in use (0 before the first chunk).
  uint64_t chunk_unit() const { return unit_; }

 private:
  friend class XvaDiskReader;
  XvaReader(std::unique_ptr<Source> stream, Compression c, XvaReaderOptions options);
  // The member at the head of the stream, read on demand and kept until
  // Consume(); nullptr at the end of the archive.
  Result<const TarMember*> Peek();
  Result<XvaDiskReader*> NextDiskImpl();
  Status CheckAllDisksSeen() const;
  void Consume() {
    pending_ = nullptr;
    peeked_ = false;
  }

  std::unique_ptr<Source> stream_;
  TarReader tar_;
  Compression compression_;
  XvaReaderOptions options_;
  std::string ova_xml_;
  std::optional<OvaXml> ova_;
  const TarMember* pending_ = nullptr;
  bool peeked_ = false;
  Bytes chunk_;
  uint64_t unit_ = 0;
  bool unit_known_ = false;
  bool unit_provisional_ = false;  // set by a disk's lone chunk
  std::set<std::string, std::less<>> seen_;
  std::unique_ptr<XvaDiskReader> disk_;
  bool failed_ = false;  // an error left the stream at an unknown member
};

}  // namespace casulo::formats

// Writes an XVA stream the way XAPI does (docs/format/xva.md, "Writing"):
// V7 tar; `ova.xml` first; then each disk under its ova.xml id, ids in
// byte-wise order (`Ref:10` before `Ref:9`); 1 MiB chunks named
// `<id>/%08d` by chunk index, all-zero chunks left out except the first and
// the last, the last chunk holding only the remainder of the virtual size;
// every chunk followed by its `.xxhash` (default) or `.checksum` member; two
// zero blocks at the end. Compression is the Sink's business: wrap it with
// OpenCompressingSink (compress.h).
//
// Usage: WriteOvaXml, then for each disk BeginDisk and its ExtentWriter
// (Write extents ascending, Finish), then Finish. Calls out of this order
// fail with kInvalidArgument; after any error the writer refuses further
// calls (the stream is unusable).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"
#include "core/stream.h"
#include "formats/checksum.h"
#include "formats/disk.h"

namespace casulo::formats {

struct XvaWriterOptions {
  // .xxhash for Citrix Hypervisor 8.1 / XCP-ng 8.1 and later; .checksum
  // (SHA-1) for older hosts and for xva-img 1.4.
  ChunkChecksum checksum = ChunkChecksum::kXxh64;
  // The mtime of the ova.xml member (XAPI stamps the export time); chunk
  // members always have mtime 0.
  uint64_t ova_xml_mtime = 0;
};

struct XvaWriteStats {
  uint64_t chunks_written = 0;       // chunk members, over all disks
  uint64_t zero_chunks_skipped = 0;  // all-zero chunks left out
  uint64_t data_bytes = 0;           // chunk bytes written
};

class XvaWriter {
 public:
  static constexpr uint64_t kChunkSize = 1 << 20;

  explicit XvaWriter(Sink& out, XvaWriterOptions options = {});
  ~XvaWriter();
  XvaWriter(const XvaWriter&) = delete;
  XvaWriter& operator=(const XvaWriter&) = delete;

  // The first member. Written as given (XAPI prints one line of bare
  // XML-RPC, no XML declaration).
  Status WriteOvaXml(std::string_view xml);

  // Starts the disk whose ova.xml VDI object has id `id` (1..80 bytes, no
  // NUL, not ending in '/'). Ids must come in strictly increasing byte-wise
  // order, so each appears once. The returned writer takes the disk's extents
  // (ascending, inside [0, virtual_size); bytes in no extent are zeros) and
  // must be finished before the next BeginDisk or Finish; it is owned by
  // this XvaWriter and destroyed by the next successful BeginDisk or Finish.
  // A disk of virtual size 0 writes no member at all.
  Result<ExtentWriter*> BeginDisk(std::string_view id, uint64_t virtual_size);

  // Writes the two zero blocks that end the archive, then finishes the Sink.
  Status Finish();

  const XvaWriteStats& stats() const { return stats_; }

 private:
  class DiskWriter;
  friend class DiskWriter;

  Status Check(bool ok, std::string_view what);
  // One chunk member and its checksum member. `known_zero` spares the zero
  // test for chunks made of nothing but a gap.
  Status EmitChunk(std::string_view id, uint64_t index, bool keep_if_zero, ByteSpan data,
                   bool known_zero);

  Sink& out_;
  XvaWriterOptions options_;
  enum class Phase { kStart, kDisks, kInDisk, kDone, kFailed } phase_ = Phase::kStart;
  std::string last_id_;
  bool any_disk_ = false;
  // Length of the first chunk of the stream. XAPI's importer uses it as the
  // size of every skipped chunk of every disk, so when it is short (a first
  // disk below 1 MiB) later disks are written without zero skipping.
  uint64_t stream_unit_ = 0;
  std::unique_ptr<DiskWriter> disk_;
  Bytes chunk_;  // assembles chunks that do not arrive whole in one extent
  XvaWriteStats stats_;
};

}  // namespace casulo::formats

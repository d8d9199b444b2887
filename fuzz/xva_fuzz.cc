// Fuzz target: the XVA reader (and under it the tar reader, the gzip/zstd
// decoders and the ova.xml parser) on arbitrary bytes. Each input is read
// three ways: with ova.xml parsed and checksums verified; with checksums
// skipped; and with ova.xml kept opaque and caller-given sizes for Ref:1 to
// Ref:3, so the chunk logic is reached even when ova.xml is garbage. Every
// disk is drained; errors are expected and ignored, crashes, hangs and huge
// allocations are the bugs.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/stream.h"
#include "formats/xva_reader.h"

namespace {

using casulo::formats::XvaReader;
using casulo::formats::XvaReaderOptions;

void ReadAll(casulo::ByteSpan data, XvaReaderOptions options) {
  casulo::MemorySource src(data);
  auto r = XvaReader::Open(src, std::move(options));
  if (!r.ok()) return;
  for (;;) {
    auto d = (*r)->NextDisk();
    if (!d.ok() || !*d) return;
    for (;;) {
      auto e = (*d)->Next();
      if (!e.ok()) return;
      if (!*e) break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const casulo::ByteSpan bytes(data, size);
  ReadAll(bytes, {});
  XvaReaderOptions lax;
  lax.verify = false;
  lax.require_all_disks = false;
  ReadAll(bytes, lax);
  XvaReaderOptions opaque;
  opaque.parse_ova_xml = false;
  opaque.disk_sizes = {{"Ref:1", 4096}, {"Ref:2", 1536}, {"Ref:3", 3 << 20}};
  ReadAll(bytes, opaque);
  return 0;
}

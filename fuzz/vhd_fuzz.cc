// Fuzz target: the VHD readers on arbitrary bytes. Runs the stream reader
// (with and without a known length) and the random-access reader, pulls
// every extent, and reads locators and a few ranges; errors are expected and
// ignored, crashes, hangs and huge allocations are the bugs.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "core/stream.h"
#include "formats/vhd_reader.h"

namespace {

using casulo::ByteSpan;
using casulo::formats::ExtentReader;

void Drain(ExtentReader& r) {
  for (;;) {
    auto e = r.Next();
    if (!e.ok() || !*e) return;
  }
}

void Stream(ByteSpan data, uint64_t total_length) {
  casulo::MemorySource src(data);
  auto r = casulo::formats::OpenVhdStream(src, {.total_length = total_length});
  if (r.ok()) Drain(**r);
}

void Random(ByteSpan data) {
  casulo::MemoryRandomSource src(data);
  auto img = casulo::formats::OpenVhdImage(src);
  if (!img.ok()) return;
  Drain(*(*img)->Extents());
  (void)(*img)->ParentLocators();
  const uint64_t size = (*img)->virtual_size();
  uint8_t buf[1536];
  for (uint64_t at : {uint64_t(0), size / 3 + 1, size > sizeof buf ? size - sizeof buf : 0}) {
    const size_t n = size_t(std::min<uint64_t>(sizeof buf, size - std::min(at, size)));
    (void)(*img)->ReadAt(at, casulo::MutableByteSpan(buf, n));
  }
  std::vector<std::unique_ptr<casulo::formats::VhdImage>> one;
  one.push_back(std::move(*img));
  auto chain = casulo::formats::OpenVhdChain(std::move(one));
  if (chain.ok()) Drain(*(*chain)->Extents());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteSpan in(data, size);
  Stream(in, 0);
  Stream(in, size);
  Random(in);
  return 0;
}

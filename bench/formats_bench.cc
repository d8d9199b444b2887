// Per-core pass-through of allocated disk data through the format codecs,
// checksums included: what `casulo convert`, and the engine's XVA/VHD
// transports, cost per byte on top of I/O. The target is >= 2 GB/s per core.
// Rates are per CPU-second of the one thread, i.e. per core, so a busy
// machine does not distort them. Run: build/release/bench/formats_bench
#include <benchmark/benchmark.h>

#include <random>

#include "core/stream.h"
#include "formats/ova.h"
#include "formats/vhd_reader.h"
#include "formats/vhd_writer.h"
#include "formats/xva_reader.h"
#include "formats/xva_writer.h"

namespace casulo::formats {
namespace {

constexpr uint64_t kDisk = 256ull << 20;  // every byte allocated, random

const Bytes& Data() {
  static const Bytes d = [] {
    Bytes b(kDisk);
    std::mt19937_64 rng(11);
    for (size_t i = 0; i + 8 <= b.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(&b[i], &v, 8);
    }
    return b;
  }();
  return d;
}

// Discards bytes (a socket we never wait on).
class NullSink final : public Sink {
 public:
  Status Write(ByteSpan d) override {
    pos_ += d.size();
    benchmark::DoNotOptimize(d.data());
    return OkStatus();
  }
  uint64_t position() const override { return pos_; }

 private:
  uint64_t pos_ = 0;
};

Status WriteXva(Sink& sink, ChunkChecksum c, ByteSpan disk) {
  XvaWriterOptions o;
  o.checksum = c;
  XvaWriter w(sink, o);
  OvaSpec spec;
  spec.vm.name_label = "bench";
  spec.vm.memory = 1 << 30;
  DiskSpec ds;
  ds.virtual_size = int64_t(disk.size());
  ds.userdevice = "0";
  spec.disks.push_back(ds);
  ASSIGN_OR_RETURN(BuiltOva built, BuildOvaXml(spec));
  RETURN_IF_ERROR(w.WriteOvaXml(PrintOvaXml(built.ova)));
  ASSIGN_OR_RETURN(ExtentWriter * d, w.BeginDisk(built.disk_vdi_ids[0], disk.size()));
  for (uint64_t off = 0; off < disk.size(); off += 4 << 20)
    RETURN_IF_ERROR(d->Write({off, disk.subspan(off, 4 << 20)}));
  RETURN_IF_ERROR(d->Finish());
  return w.Finish();
}

void BM_XvaWrite(benchmark::State& st) {
  auto c = ChunkChecksum(st.range(0));
  Data();  // generated outside the timed loop
  for (auto _ : st) {
    NullSink sink;
    Status s = WriteXva(sink, c, Data());
    if (!s.ok()) return st.SkipWithError(s.ToString().c_str());
  }
  st.SetBytesProcessed(int64_t(st.iterations() * kDisk));
  st.SetLabel(c == ChunkChecksum::kXxh64 ? "xxhash" : "sha1");
}

void BM_XvaRead(benchmark::State& st) {
  auto c = ChunkChecksum(st.range(0));
  Bytes xva;
  BytesSink sink(&xva);
  if (!WriteXva(sink, c, Data()).ok()) return st.SkipWithError("setup failed");
  for (auto _ : st) {
    MemorySource src(xva);
    auto r = XvaReader::Open(src);
    if (!r.ok()) return st.SkipWithError(r.status().ToString().c_str());
    auto d = (*r)->NextDisk();
    if (!d.ok() || !*d) return st.SkipWithError("no disk");
    for (;;) {
      auto e = (*d)->Next();
      if (!e.ok()) return st.SkipWithError(e.status().ToString().c_str());
      if (!*e) break;
      benchmark::DoNotOptimize((*e)->data.data());
    }
  }
  st.SetBytesProcessed(int64_t(st.iterations() * kDisk));
  st.SetLabel(c == ChunkChecksum::kXxh64 ? "xxhash" : "sha1");
}

// `piece`: extent size. Whole 2 MiB blocks go out without a copy; smaller
// extents (64 KiB, as the repository hands them out) are assembled first.
Status WriteVhd(Sink& sink, ByteSpan disk, uint64_t piece = 4 << 20) {
  std::vector<uint32_t> blocks(disk.size() / kVhdDefaultBlockSize);
  for (uint32_t i = 0; i < blocks.size(); ++i) blocks[i] = i;
  VhdWriteOptions o;
  o.virtual_size = disk.size();
  ASSIGN_OR_RETURN(auto w, VhdWriter::Create(sink, o, blocks));
  for (uint64_t off = 0; off < disk.size(); off += piece)
    RETURN_IF_ERROR(w->Write({off, disk.subspan(off, piece)}));
  return w->Finish();
}

void BM_VhdWrite(benchmark::State& st) {
  Data();
  for (auto _ : st) {
    NullSink sink;
    Status s = WriteVhd(sink, Data(), uint64_t(st.range(0)));
    if (!s.ok()) return st.SkipWithError(s.ToString().c_str());
  }
  st.SetBytesProcessed(int64_t(st.iterations() * kDisk));
}

void BM_VhdStreamRead(benchmark::State& st) {
  Bytes vhd;
  BytesSink sink(&vhd);
  if (!WriteVhd(sink, Data()).ok()) return st.SkipWithError("setup failed");
  for (auto _ : st) {
    MemorySource src(vhd);
    auto r = OpenVhdStream(src);
    if (!r.ok()) return st.SkipWithError(r.status().ToString().c_str());
    for (;;) {
      auto e = (*r)->Next();
      if (!e.ok()) return st.SkipWithError(e.status().ToString().c_str());
      if (!*e) break;
      benchmark::DoNotOptimize((*e)->data.data());
    }
  }
  st.SetBytesProcessed(int64_t(st.iterations() * kDisk));
}

BENCHMARK(BM_XvaWrite)->Arg(int(ChunkChecksum::kXxh64))->Arg(int(ChunkChecksum::kSha1));
BENCHMARK(BM_XvaRead)->Arg(int(ChunkChecksum::kXxh64))->Arg(int(ChunkChecksum::kSha1));
BENCHMARK(BM_VhdWrite)->Arg(4 << 20)->Arg(64 << 10);
BENCHMARK(BM_VhdStreamRead);

}  // namespace
}  // namespace casulo::formats

BENCHMARK_MAIN();

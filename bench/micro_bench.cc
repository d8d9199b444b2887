// Per-core throughput of what every backed-up byte goes through: the zero
// test, the chunk id, sealing a 2 MiB frame (zstd + AES-256-GCM), opening it.
// Run: build/release/bench/micro_bench
#include <benchmark/benchmark.h>

#include <random>

#include "core/blake3.h"
#include "repo/envelope.h"
#include "repo/pack.h"

namespace casulo {
namespace {

// Disk-like data: text and structure with some randomness, ~3:1 with zstd.
Bytes DiskLike(size_t n) {
  std::mt19937 rng(7);
  static const char* kWords[] = {"usr", "lib", "share", "doc", "copyright", "GNU", "General",
                                 "Public", "License", "\n", " ", "0x7f", "ELF", "\0\0\0\0"};
  Bytes out;
  while (out.size() < n) {
    if (rng() % 8 == 0) {
      out.push_back(uint8_t(rng()));
      continue;
    }
    const char* w = kWords[rng() % 14];
    out.insert(out.end(), w, w + std::max<size_t>(1, strlen(w)));
  }
  out.resize(n);
  return out;
}

repo::Sealer MakeSealer(int level) {
  repo::MasterKey k;
  for (size_t i = 0; i < 32; ++i) k.enc_key[i] = uint8_t(i), k.id_key[i] = uint8_t(i * 3);
  return repo::Sealer(k, level);
}

void BM_IsAllZero(benchmark::State& st) {
  Bytes z(64 * 1024, 0);
  for (auto _ : st) benchmark::DoNotOptimize(IsAllZero(z));
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(z.size()));
}
BENCHMARK(BM_IsAllZero);

void BM_ChunkIdKeyed(benchmark::State& st) {
  Bytes d = DiskLike(64 * 1024);
  repo::Sealer s = MakeSealer(3);
  for (auto _ : st) benchmark::DoNotOptimize(s.ChunkId(d));
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(d.size()));
}
BENCHMARK(BM_ChunkIdKeyed);

void BM_SealFrame(benchmark::State& st) {
  Bytes d = DiskLike(repo::kFrameTarget);
  repo::Sealer s = MakeSealer(int(st.range(0)));
  for (auto _ : st) benchmark::DoNotOptimize(s.Seal(repo::ObjectType::kData, {}, d));
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(d.size()));
}
BENCHMARK(BM_SealFrame)->Arg(0)->Arg(1)->Arg(3);

void BM_OpenFrame(benchmark::State& st) {
  Bytes d = DiskLike(repo::kFrameTarget);
  repo::Sealer s = MakeSealer(3);
  Bytes sealed = s.Seal(repo::ObjectType::kData, {}, d);
  for (auto _ : st) benchmark::DoNotOptimize(s.Open(repo::ObjectType::kData, {}, sealed));
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(d.size()));
}
BENCHMARK(BM_OpenFrame);

}  // namespace
}  // namespace casulo

BENCHMARK_MAIN();

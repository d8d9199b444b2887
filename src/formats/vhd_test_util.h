// Helpers for the VHD tests: temp dirs, running external tools, pattern
// data, flattening extent streams, and a builder for hand-made VHD layouts.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/stream.h"
#include "formats/disk.h"
#include "formats/vhd.h"

namespace casulo::formats::vhd_testing {

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/casulo-vhd-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    EXPECT_NE(p, nullptr);
    path_ = p ? p : "/tmp";
  }
  ~TempDir() {
    std::error_code ec;
    if (path_ != "/tmp") std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when the command could not be started
  std::string output;  // stdout and stderr
};

// Runs `cmd` through /bin/sh; a missing tool gives exit code 127, which the
// tests assert against, so they fail (not skip) without the tool.
inline CommandResult RunCommand(const std::string& cmd) {
  CommandResult r;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.output.append(buf, n);
  const int st = ::pclose(f);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline void WriteBytes(const std::string& path, ByteSpan data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline Bytes ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Deterministic non-zero-ish bytes; `seed` tells regions apart.
inline void Fill(MutableByteSpan out, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = uint8_t(x >> 24) | 1;
  }
}

// Applies every extent of `r` onto `disk` (resized to the virtual size);
// checks the ExtentReader contract on the way.
inline Status ApplyExtents(ExtentReader& r, Bytes* disk) {
  disk->resize(r.info().virtual_size);
  uint64_t last_end = 0;
  bool first = true;
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<Extent> e, r.Next());
    if (!e) return OkStatus();
    if (e->data.empty()) return Error(Code::kInternal, "empty extent at {}", e->offset);
    if (!first && e->offset < last_end)
      return Error(Code::kInternal, "extent at {} not after {}", e->offset, last_end);
    if (e->offset + e->data.size() > disk->size())
      return Error(Code::kInternal, "extent at {} past the end", e->offset);
    std::copy(e->data.begin(), e->data.end(), disk->begin() + ptrdiff_t(e->offset));
    last_end = e->offset + e->data.size();
    first = false;
  }
}

// Everything of `r` over a zero disk.
inline Result<Bytes> Flatten(ExtentReader& r) {
  Bytes disk;
  RETURN_IF_ERROR(ApplyExtents(r, &disk));
  return disk;
}

// A hand-made VHD: footer copy at 0, header at footer.data_offset, BAT at
// header.table_offset (entries from `blocks`), blocks and extra byte runs
// where placed, trailing footer after the last byte (rounded to a sector).
struct HandVhd {
  struct Block {
    uint32_t index = 0;
    uint64_t offset = 0;  // file offset of the bitmap
    Bytes bitmap;         // padded to VhdBitmapBytes
    Bytes data;           // block_size bytes
  };
  VhdFooter footer;
  VhdHeader header;
  std::vector<Block> blocks;
  std::map<uint64_t, Bytes> extra;
  bool footer_copy = true;

  HandVhd(uint64_t size, uint32_t block_size, VhdDiskType type = VhdDiskType::kDynamic) {
    footer.current_size = footer.original_size = size;
    footer.disk_type = type;
    footer.geometry = VhdChsForSize(size);
    footer.unique_id = VhdUuid::Random();
    header.block_size = block_size;
    header.table_offset = 1536;
    header.max_table_entries = uint32_t((size + block_size - 1) / block_size);
  }
  // A block whose bitmap is all ones (or `bits` sector runs) and data seeded.
  Block& Add(uint32_t index, uint64_t offset, uint64_t seed,
             std::vector<std::pair<uint32_t, uint32_t>> runs = {}) {
    Block b{index, offset, Bytes(VhdBitmapBytes(header.block_size), 0), Bytes(header.block_size)};
    Fill(b.data, seed);
    if (runs.empty()) runs.push_back({0, header.block_size / 512});
    for (auto [first, count] : runs)
      for (uint32_t s = first; s < first + count; ++s) b.bitmap[s / 8] |= uint8_t(0x80 >> (s % 8));
    blocks.push_back(std::move(b));
    return blocks.back();
  }
  // The disk content this file describes, over `base` (zeros when empty).
  Bytes Expected(Bytes base = {}) const {
    base.resize(footer.current_size);
    for (const Block& b : blocks)
      for (uint32_t s = 0; s < header.block_size / 512; ++s) {
        const uint64_t at = uint64_t(b.index) * header.block_size + uint64_t(s) * 512;
        if (at >= base.size() || !(b.bitmap[s / 8] & (0x80 >> (s % 8)))) continue;
        std::copy_n(b.data.begin() + ptrdiff_t(s) * 512, 512, base.begin() + ptrdiff_t(at));
      }
    return base;
  }
  Bytes Build() const {
    Bytes f(512 + 1024);
    auto put = [&f](uint64_t at, ByteSpan b) {
      if (f.size() < at + b.size()) f.resize(at + b.size());
      std::copy(b.begin(), b.end(), f.begin() + ptrdiff_t(at));
    };
    const auto foot = EncodeVhdFooter(footer);
    if (footer_copy) put(0, foot);
    put(footer.data_offset, EncodeVhdHeader(header));
    Bytes bat((uint64_t(header.max_table_entries) * 4 + 511) / 512 * 512, 0xFF);
    for (const Block& b : blocks)
      for (int i = 0; i < 4; ++i) bat[4 * b.index + i] = uint8_t((b.offset / 512) >> (24 - 8 * i));
    put(header.table_offset, bat);
    for (const Block& b : blocks) {
      put(b.offset, b.bitmap);
      put(b.offset + b.bitmap.size(), b.data);
    }
    for (const auto& [at, bytes] : extra) put(at, bytes);
    f.resize((f.size() + 511) / 512 * 512);
    put(f.size(), foot);
    return f;
  }
};

}  // namespace casulo::formats::vhd_testing

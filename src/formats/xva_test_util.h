// Helpers shared by the tar, compression, checksum and XVA tests: a scratch
// directory, running the reference tools, building tar streams by hand and
// flattening an XVA disk back into bytes.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "core/bytes.h"
#include "core/stream.h"
#include "formats/checksum.h"
#include "formats/ova.h"
#include "formats/tar.h"
#include "formats/xva_reader.h"

namespace casulo::formats::xva_testing {

// A fresh directory under $TMPDIR, removed with everything in it (members
// extracted from an XVA are mode 0400, so permissions are restored first).
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "casulo-xva-XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    if (path_.empty()) return;
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Runs `cmd` with /bin/sh; returns its exit code (-1 when it did not exit).
inline int Shell(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The tests that use a reference tool fail (not skip) without it.
inline bool HaveTool(const std::string& name) {
  return Shell("command -v " + name + " >/dev/null 2>&1") == 0;
}
#define REQUIRE_TOOL(name) \
  ASSERT_TRUE(::casulo::formats::xva_testing::HaveTool(name)) << "missing tool: " << (name)

inline Bytes ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
inline void WriteAll(const std::string& path, ByteSpan data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline Bytes RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (size_t i = 0; i < n; i += 4) {
    const uint32_t v = rng();
    std::memcpy(b.data() + i, &v, std::min<size_t>(4, n - i));
  }
  return b;
}

// A parseable ova.xml whose only objects are VDIs with these ids and
// virtual sizes (no VBDs, so StreamedVdis expects nothing).
inline std::string Ova(const std::map<std::string, uint64_t>& vdis) {
  OvaXml ova;
  for (const auto& [id, size] : vdis) {
    XmlRpcStruct rec = {{"uuid", "00000000-0000-0000-0000-" + fmt::format("{:012d}", size)},
                        {"name_label", id},
                        {"type", "user"},
                        {"SR", std::string(kOvaNullRef)},
                        {"virtual_size", std::to_string(size)}};
    ova.objects.push_back(OvaObject{"VDI", id, XmlRpcValue(std::move(rec))});
  }
  return PrintOvaXml(ova);
}

// Appends V7 members to a byte vector: tar streams made by hand.
class TarBuilder {
 public:
  TarBuilder& Member(std::string_view name, ByteSpan data, uint64_t mtime = 0) {
    BytesSink sink(&out_);
    EXPECT_TRUE(WriteTarMember(sink, name, data, mtime).ok()) << name;
    return *this;
  }
  TarBuilder& Member(std::string_view name, std::string_view text) {
    return Member(name, AsBytes(text));
  }
  // A chunk and its checksum member (text as given, or the right one).
  TarBuilder& Chunk(std::string_view name, ByteSpan data,
                    ChunkChecksum kind = ChunkChecksum::kXxh64,
                    std::optional<std::string> text = std::nullopt) {
    Member(name, data);
    const std::string t = text ? *text : ChunkChecksumText(kind, data);
    return Member(std::string(name) + std::string(ChunkChecksumSuffix(kind)), t);
  }
  TarBuilder& End() {
    out_.resize(out_.size() + 2 * kTarBlock, 0);
    return *this;
  }
  const Bytes& bytes() const { return out_; }

 private:
  Bytes out_;
};

// Every disk of an XVA flattened to bytes (virtual size each); fails the
// test on any error.
struct ReadBack {
  std::map<std::string, Bytes> disks;
  std::vector<std::string> order;
  std::map<std::string, XvaDiskStats> stats;
  std::string ova_xml;
};
inline Result<ReadBack> ReadXva(ByteSpan xva, XvaReaderOptions options) {
  MemorySource src(xva);
  ASSIGN_OR_RETURN(std::unique_ptr<XvaReader> r, XvaReader::Open(src, std::move(options)));
  ReadBack out;
  out.ova_xml = r->ova_xml();
  for (;;) {
    ASSIGN_OR_RETURN(XvaDiskReader * d, r->NextDisk());
    if (!d) break;
    Bytes disk(d->info().virtual_size);
    uint64_t last_end = 0;
    for (;;) {
      ASSIGN_OR_RETURN(std::optional<Extent> e, d->Next());
      if (!e) break;
      if (e->offset < last_end || e->offset + e->data.size() > disk.size())
        return Error(Code::kInternal, "extent [{}, +{}) out of order or range", e->offset,
                     e->data.size());
      std::memcpy(disk.data() + e->offset, e->data.data(), e->data.size());
      last_end = e->offset + e->data.size();
    }
    out.order.push_back(d->id());
    out.stats[d->id()] = d->stats();
    out.disks[d->id()] = std::move(disk);
  }
  return out;
}

}  // namespace casulo::formats::xva_testing

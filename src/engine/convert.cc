// casulo convert: reader -> CopyExtents -> writer, with the output made to
// appear only when complete.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "convert_internal.h"
#include "formats/raw.h"
#include "formats/vhd_writer.h"
#include "formats/xva_writer.h"

namespace casulo::engine {
namespace {

using internal::OpenedImage;
using namespace formats;

// The output: stdout, or a temporary file beside the target renamed over it
// by Commit(). A destroyed, uncommitted output removes its temporary file.
class Output {
 public:
  static Result<Output> Create(const std::string& path, bool overwrite) {
    Output o;
    o.path_ = path;
    if (path == "-") {
      o.file_ = File::FromFd(1, "stdout");
      return o;
    }
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
      // Renaming over a device node, pipe or link would replace it with a
      // regular file (--overwrite on /dev/sdb must not delete the node).
      if (!S_ISREG(st.st_mode))
        return Error(Code::kInvalidArgument,
                     "{} is not a regular file; write to stdout (-) and redirect or pipe to it",
                     path);
      if (!overwrite)
        return Error(Code::kAlreadyExists, "{} exists; pass --overwrite to replace it", path);
    } else if (errno != ENOENT) {
      return ErrnoStatus(errno, "lstat", path);
    }
    o.temp_ = fmt::format("{}.casulo-tmp-{}", path, ::getpid());
    ASSIGN_OR_RETURN(o.file_, File::Open(o.temp_, O_WRONLY | O_CREAT | O_EXCL, 0644));
    return o;
  }
  Output() = default;
  Output(Output&&) = default;
  Output& operator=(Output&&) = default;
  ~Output() {
    if (!temp_.empty() && !committed_) ::unlink(temp_.c_str());
    if (path_ == "-") file_.Release();
  }
  const File& file() const { return file_; }
  bool is_stdout() const { return path_ == "-"; }
  Status Commit() {
    if (is_stdout()) return OkStatus();
    RETURN_IF_ERROR(file_.Sync());
    if (::rename(temp_.c_str(), path_.c_str()) != 0) return ErrnoStatus(errno, "rename", path_);
    committed_ = true;
    return OkStatus();
  }

 private:
  std::string path_, temp_;
  File file_;
  bool committed_ = false;
};

// A raw image as a sparse regular file: extents pwritten, gaps left as holes.
class SparseFileWriter final : public ExtentWriter {
 public:
  SparseFileWriter(const File& f, const DiskInfo& info) : f_(f), info_(info) {}
  Status Write(const Extent& e) override {
    bytes_ += e.data.size();
    return f_.PWrite(e.offset, e.data);
  }
  Status Finish() override { return f_.Truncate(info_.virtual_size); }
  uint64_t bytes() const { return bytes_; }

 private:
  const File& f_;
  const DiskInfo& info_;
  uint64_t bytes_ = 0;
};

// Counts what passes through, for the report.
class CountingWriter final : public ExtentWriter {
 public:
  explicit CountingWriter(ExtentWriter& inner) : inner_(inner) {}
  Status Write(const Extent& e) override {
    bytes += e.data.size();
    return inner_.Write(e);
  }
  Status Finish() override { return inner_.Finish(); }
  uint64_t bytes = 0;

 private:
  ExtentWriter& inner_;
};

std::string BaseName(const std::string& path) {
  std::string b = path.substr(path.find_last_of('/') + 1);
  auto dot = b.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? b : b.substr(0, dot);
}

uint64_t RoundUp512(uint64_t n) { return (n + 511) & ~uint64_t(511); }

Status RefuseDelta(const OpenedImage& img, ImageFormat to) {
  if (img.reader->info().kind != DiskKind::kDelta) return OkStatus();
  return Error(Code::kInvalidArgument,
               "{} is a differencing VHD (parent {}); to write it as {} flatten it with "
               "--parent PARENT.vhd (nearest first)",
               img.name, img.reader->info().parent_id, ImageFormatName(to));
}

Status CheckVhdSize(uint64_t size) {
  if (RoundUp512(size) > kVhdMaxWriteSize)
    return Error(Code::kInvalidArgument,
                 "a VHD holds at most 2040 GiB (XenServer's limit); this disk is {} bytes", size);
  return OkStatus();
}

Result<VhdWriteOptions> VhdOptionsFor(const DiskInfo& info, ConvertReport& rep) {
  RETURN_IF_ERROR(CheckVhdSize(info.virtual_size));
  VhdWriteOptions o;
  o.virtual_size = RoundUp512(info.virtual_size);
  if (o.virtual_size != info.virtual_size)
    rep.notes.push_back(fmt::format("size {} rounded up to {} (VHD sizes are whole sectors)",
                                    info.virtual_size, o.virtual_size));
  if (info.kind == DiskKind::kDelta) {
    o.type = VhdDiskType::kDifferencing;
    ASSIGN_OR_RETURN(o.parent_id, VhdUuid::FromString(info.parent_id).With("parent id"));
  }
  return o;
}

// VHD output when the block list is not known up front: extents are spooled
// to an unlinked temporary file (only their bytes), then replayed.
Status WriteVhdSpooled(OpenedImage& img, Sink& sink, const ConvertOptions& opts,
                       ConvertReport& rep) {
  std::string dir = opts.temp_dir;
  if (dir.empty()) dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  std::string tmpl = dir + "/casulo-spool-XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return ErrnoStatus(errno, "mkstemp", tmpl);
  ::unlink(tmpl.c_str());
  File spool = File::FromFd(fd, tmpl);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // virtual offset, length
  uint64_t spool_pos = 0;
  const bool full = img.reader->info().kind == DiskKind::kFull;
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<Extent> e, img.reader->Next());
    if (!e) break;
    if (full && IsAllZero(e->data)) continue;  // zeros need no block in a full disk
    // A raw stream's size is known only at its end: stop as soon as it is too big.
    RETURN_IF_ERROR(CheckVhdSize(e->offset + e->data.size()));
    RETURN_IF_ERROR(spool.PWrite(spool_pos, e->data));
    if (!ranges.empty() && ranges.back().first + ranges.back().second == e->offset &&
        ranges.back().second + e->data.size() <= (8u << 20))
      ranges.back().second += e->data.size();  // keep the list short
    else
      ranges.emplace_back(e->offset, e->data.size());
    spool_pos += e->data.size();
  }
  rep.spooled = true;
  ASSIGN_OR_RETURN(VhdWriteOptions vo, VhdOptionsFor(img.reader->info(), rep));
  ASSIGN_OR_RETURN(auto w, VhdWriter::Create(sink, vo, VhdBlocksOfRanges(ranges)));
  Bytes buf;
  spool_pos = 0;
  for (auto [off, len] : ranges) {
    buf.resize(len);
    RETURN_IF_ERROR(spool.PReadFull(spool_pos, buf));
    RETURN_IF_ERROR(w->Write({off, buf}));
    spool_pos += len;
    rep.data_bytes += len;
  }
  return w->Finish();
}

// A raw regular file can be read twice instead of spooled: a first pass finds
// the blocks holding non-zero data.
Status FindRawBlocks(OpenedImage& img) {
  ASSIGN_OR_RETURN(auto scan, OpenRawImage(*img.random, img.data_ranges));
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<Extent> e, scan->Next());
    if (!e) break;
    ranges.emplace_back(e->offset, e->data.size());
  }
  img.vhd_blocks = VhdBlocksOfRanges(ranges);
  return OkStatus();
}

Status WriteVhd(OpenedImage& img, Sink& sink, const ConvertOptions& opts, ConvertReport& rep) {
  RETURN_IF_ERROR(CheckVhdSize(img.reader->info().virtual_size));
  if (!img.vhd_blocks && img.format == ImageFormat::kRaw && img.regular)
    RETURN_IF_ERROR(FindRawBlocks(img));
  if (!img.vhd_blocks) return WriteVhdSpooled(img, sink, opts, rep);
  ASSIGN_OR_RETURN(VhdWriteOptions vo, VhdOptionsFor(img.reader->info(), rep));
  ASSIGN_OR_RETURN(auto w, VhdWriter::Create(sink, vo, *img.vhd_blocks));
  CountingWriter c(*w);
  RETURN_IF_ERROR(CopyExtents(*img.reader, c));
  rep.data_bytes = c.bytes;
  return OkStatus();
}

Status WriteXva(OpenedImage& img, Sink& sink, const ConvertOptions& opts, ConvertReport& rep) {
  XvaWriterOptions xo;
  xo.checksum = opts.checksum;
  xo.ova_xml_mtime = uint64_t(::time(nullptr));
  ASSIGN_OR_RETURN(auto compressed, OpenCompressingSink(sink, opts.compression));
  XvaWriter w(*compressed, xo);
  if (img.format == ImageFormat::kXva) {
    // A whole VM re-packed: ova.xml re-emitted with a version block old hosts
    // accept, every disk copied.
    RETURN_IF_ERROR(w.WriteOvaXml(ReemitOvaXml(*img.ova)));
    for (;;) {
      ASSIGN_OR_RETURN(XvaDiskReader * d, img.xva->NextDisk());
      if (!d) break;
      ASSIGN_OR_RETURN(ExtentWriter * dw, w.BeginDisk(d->id(), d->info().virtual_size));
      CountingWriter c(*dw);
      RETURN_IF_ERROR(CopyExtents(*d, c).With(d->id()));
      rep.data_bytes += c.bytes;
      rep.virtual_size += d->info().virtual_size;
    }
    return w.Finish();
  }
  uint64_t size = img.reader->info().virtual_size;
  if (!img.regular && img.format == ImageFormat::kRaw) {
    if (!opts.size)
      return Error(Code::kInvalidArgument,
                   "an XVA states the disk size before the data: give --size for raw input "
                   "on a pipe");
    size = *opts.size;
  }
  OvaSpec spec;
  char today[16];
  time_t now = ::time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(today, sizeof today, "%Y-%m-%d", &tm);
  spec.version.date = today;
  spec.vm.name_label = opts.vm_name.empty() ? BaseName(img.name) : opts.vm_name;
  spec.vm.name_description = fmt::format("converted by casulo from {}", img.name);
  spec.vm.memory = int64_t(1) << 30;
  DiskSpec disk;
  disk.name_label = BaseName(img.name);
  disk.virtual_size = int64_t(RoundUp512(size));
  disk.userdevice = "0";
  disk.bootable = true;
  spec.disks.push_back(disk);
  ASSIGN_OR_RETURN(BuiltOva built, BuildOvaXml(spec));
  rep.notes.push_back(fmt::format("VM '{}' with 1 vCPU and 1 GiB of memory wraps the disk; "
                                  "adjust it after import",
                                  spec.vm.name_label));
  RETURN_IF_ERROR(w.WriteOvaXml(PrintOvaXml(built.ova)));
  ASSIGN_OR_RETURN(ExtentWriter * dw, w.BeginDisk(built.disk_vdi_ids[0], RoundUp512(size)));
  CountingWriter c(*dw);
  RETURN_IF_ERROR(CopyExtents(*img.reader, c));
  rep.data_bytes = c.bytes;
  return w.Finish();
}

}  // namespace

Result<ConvertReport> ConvertImage(const ConvertOptions& opts) {
  internal::OpenImageOptions oo;
  oo.from = opts.from;
  oo.parents = opts.parents;
  oo.verify = opts.verify;
  oo.raw_size = opts.size;
  ASSIGN_OR_RETURN(auto img, internal::OpenImage(opts.input, oo));
  ConvertReport rep;
  rep.from = img->format;
  rep.to = opts.to;
  if (img->format == ImageFormat::kXva && opts.to != ImageFormat::kXva)
    RETURN_IF_ERROR(internal::SelectXvaDisk(*img, opts.disk));
  else if (!opts.disk.empty() && img->format != ImageFormat::kXva)
    return Error(Code::kInvalidArgument, "--disk chooses a disk of an XVA; {} is {}", img->name,
                 ImageFormatName(img->format));
  else if (!opts.disk.empty())
    return Error(Code::kInvalidArgument,
                 "--disk chooses the disk to extract; XVA to XVA copies the whole VM");
  rep.notes = img->warnings;
  if (img->reader && opts.to != ImageFormat::kVhd) RETURN_IF_ERROR(RefuseDelta(*img, opts.to));

  ASSIGN_OR_RETURN(Output out, Output::Create(opts.output, opts.overwrite));
  FileSink sink(&out.file());
  switch (opts.to) {
    case ImageFormat::kRaw:
      if (out.is_stdout()) {
        auto w = NewRawStreamWriter(sink, img->reader->info());
        CountingWriter c(*w);
        RETURN_IF_ERROR(CopyExtents(*img->reader, c));
        rep.data_bytes = c.bytes;
      } else {
        SparseFileWriter w(out.file(), img->reader->info());
        RETURN_IF_ERROR(CopyExtents(*img->reader, w));
        rep.data_bytes = w.bytes();
      }
      break;
    case ImageFormat::kVhd:
      RETURN_IF_ERROR(WriteVhd(*img, sink, opts, rep));
      break;
    case ImageFormat::kXva:
      RETURN_IF_ERROR(WriteXva(*img, sink, opts, rep));
      break;
  }
  RETURN_IF_ERROR(sink.Finish());
  if (img->reader && img->format != ImageFormat::kXva) rep.virtual_size = img->reader->info().virtual_size;
  if (img->reader && img->format == ImageFormat::kXva && opts.to != ImageFormat::kXva)
    rep.virtual_size = img->reader->info().virtual_size;
  rep.output_bytes = opts.to == ImageFormat::kRaw && !out.is_stdout() ? rep.virtual_size
                                                                        : sink.position();
  RETURN_IF_ERROR(out.Commit());
  return rep;
}

}  // namespace casulo::engine

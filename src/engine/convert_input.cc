#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>

#include "convert_internal.h"
#include "formats/raw.h"

namespace casulo::engine {

std::string_view ImageFormatName(ImageFormat f) {
  switch (f) {
    case ImageFormat::kRaw: return "raw";
    case ImageFormat::kVhd: return "vhd";
    case ImageFormat::kXva: return "xva";
  }
  return "?";
}

Result<ImageFormat> ParseImageFormat(std::string_view name) {
  if (name == "raw" || name == "img") return ImageFormat::kRaw;
  if (name == "vhd" || name == "vpc") return ImageFormat::kVhd;
  if (name == "xva") return ImageFormat::kXva;
  return Error(Code::kInvalidArgument, "unknown image format '{}' (raw, vhd or xva)", name);
}

ImageFormat DetectImageFormat(ByteSpan head, ByteSpan tail) {
  auto starts = [](ByteSpan b, std::string_view s) {
    return b.size() >= s.size() && std::memcmp(b.data(), s.data(), s.size()) == 0;
  };
  if (starts(head, "conectix")) return ImageFormat::kVhd;
  if (formats::DetectCompression(head) != formats::Compression::kNone) return ImageFormat::kXva;
  // A tar whose first member is ova.xml (name field, NUL-terminated).
  if (head.size() >= 512 && (starts(head, std::string_view("ova.xml\0", 8)) ||
                             starts(head, std::string_view("./ova.xml\0", 10))))
    return ImageFormat::kXva;
  // Any other tar (ustar magic): an XVA the reader will judge, e.g. one made
  // by GNU tar with a leading "./" directory entry.
  if (head.size() >= 512 && starts(head.subspan(257), "ustar")) return ImageFormat::kXva;
  if (tail.size() == 512 && starts(tail, "conectix")) return ImageFormat::kVhd;  // fixed
  return ImageFormat::kRaw;
}

namespace internal {
namespace {

// SEEK_DATA ranges of a sparse file: what a raw reader needs to read.
Result<std::vector<formats::ByteRange>> DataRanges(const File& f, uint64_t size) {
  std::vector<formats::ByteRange> out;
  uint64_t pos = 0;
  while (pos < size) {
    ASSIGN_OR_RETURN(std::optional<uint64_t> data, f.NextData(pos));
    if (!data || *data >= size) break;
    ASSIGN_OR_RETURN(uint64_t hole, f.NextHole(*data));
    hole = std::min(hole, size);
    out.push_back({*data, hole - *data});
    pos = hole;
  }
  if (out.empty()) out.push_back({0, 0});
  return out;
}

Status OpenVhd(OpenedImage& img, const OpenImageOptions& opts) {
  using namespace formats;
  if (!img.regular) {
    if (!opts.parents.empty())
      return Error(Code::kInvalidArgument,
                   "a differencing VHD is flattened only from a file, not from a pipe");
    ASSIGN_OR_RETURN(img.owned_reader, OpenVhdStream(*img.peek, {}));
    img.reader = img.owned_reader.get();
    return OkStatus();
  }
  std::vector<std::unique_ptr<VhdImage>> chain;
  ASSIGN_OR_RETURN(auto child, OpenVhdImage(*img.random).With(img.name));
  chain.push_back(std::move(child));
  for (const auto& p : opts.parents) {
    ASSIGN_OR_RETURN(File f, File::OpenRead(p));
    ASSIGN_OR_RETURN(FileRandomSource rs, FileRandomSource::Open(&img.parent_files.emplace_back(std::move(f))));
    img.parent_sources.push_back(std::make_unique<FileRandomSource>(rs));
    ASSIGN_OR_RETURN(auto parent, OpenVhdImage(*img.parent_sources.back()).With(p));
    chain.push_back(std::move(parent));
  }
  ASSIGN_OR_RETURN(img.chain, OpenVhdChain(std::move(chain)));
  img.owned_reader = img.chain->Extents();
  img.reader = img.owned_reader.get();
  for (size_t i = 0; i < img.chain->depth(); ++i) {
    const VhdImage& im = img.chain->image(i);
    if (!im.warning().empty())
      img.warnings.push_back(fmt::format("{}: {}", i == 0 ? img.name : opts.parents[i - 1], im.warning()));
  }
  // The blocks any image of the chain holds: what a VHD of the result needs.
  // A fixed image holds every block, zeros included; its data must be read
  // to know which blocks matter, so the list stays unknown.
  std::vector<uint32_t> blocks;
  for (size_t i = 0; i < img.chain->depth(); ++i) {
    const VhdImage& im = img.chain->image(i);
    if (im.block_size() != kVhdDefaultBlockSize || im.type() == VhdDiskType::kFixed)
      return OkStatus();  // leave unknown
    auto b = im.AllocatedBlocks();
    blocks.insert(blocks.end(), b.begin(), b.end());
  }
  std::sort(blocks.begin(), blocks.end());
  blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  img.vhd_blocks = std::move(blocks);
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<OpenedImage>> OpenImage(const std::string& path,
                                               const OpenImageOptions& opts) {
  auto img = std::make_unique<OpenedImage>();
  if (path == "-") {
    img->file = File::FromFd(0, "stdin");
    img->name = "stdin";
  } else {
    ASSIGN_OR_RETURN(img->file, File::OpenRead(path));
    img->name = path;
  }
  struct stat st;
  if (::fstat(img->file.fd(), &st) != 0) return ErrnoStatus(errno, "fstat", img->name);
  if (S_ISDIR(st.st_mode)) return Error(Code::kInvalidArgument, "{} is a directory", img->name);
  img->regular = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
  if (img->regular) {
    ASSIGN_OR_RETURN(img->file_size, img->file.Size());
    img->random = std::make_unique<FileRandomSource>(&img->file, img->file_size);
  }
  img->stream = std::make_unique<FileSource>(&img->file);
  img->peek = std::make_unique<PeekableSource>(*img->stream);

  ASSIGN_OR_RETURN(ByteSpan head, img->peek->Peek(512));
  Bytes head_copy(head.begin(), head.end()), tail;
  // A fixed VHD is sectors of data plus a 512-byte footer.
  if (img->regular && img->file_size >= 512 && img->file_size % 512 == 0) {
    tail.resize(512);
    RETURN_IF_ERROR(ReadAtExact(*img->random, img->file_size - 512, tail, "last sector"));
  }
  img->format = opts.from ? *opts.from : DetectImageFormat(head_copy, tail);
  if (!opts.parents.empty() && img->format != ImageFormat::kVhd)
    return Error(Code::kInvalidArgument, "--parent applies to differencing VHDs; {} is {}",
                 img->name, ImageFormatName(img->format));

  switch (img->format) {
    case ImageFormat::kVhd:
      RETURN_IF_ERROR(OpenVhd(*img, opts));
      break;
    case ImageFormat::kXva: {
      formats::XvaReaderOptions xo;
      xo.verify = opts.verify;
      ASSIGN_OR_RETURN(img->xva, formats::XvaReader::Open(*img->peek, xo).With(img->name));
      img->ova = img->xva->ova();  // parsed and checked by Open
      break;
    }
    case ImageFormat::kRaw:
      if (img->regular) {
        if (opts.raw_size && *opts.raw_size != img->file_size)
          return Error(Code::kInvalidArgument, "--size {} contradicts the size of {} ({} bytes)",
                       *opts.raw_size, img->name, img->file_size);
        ASSIGN_OR_RETURN(img->data_ranges, DataRanges(img->file, img->file_size));
        ASSIGN_OR_RETURN(img->owned_reader, formats::OpenRawImage(*img->random, img->data_ranges));
      } else {
        formats::RawReadOptions ro;
        ro.size = opts.raw_size;
        ASSIGN_OR_RETURN(img->owned_reader, formats::OpenRawStream(*img->peek, ro));
      }
      img->reader = img->owned_reader.get();
      break;
  }
  return img;
}

Status SelectXvaDisk(OpenedImage& img, const std::string& which) {
  ASSIGN_OR_RETURN(auto vdis, formats::StreamedVdis(*img.ova));
  auto list = [&] {
    std::string s;
    for (const auto& v : vdis)
      s += fmt::format("\n  {}  uuid {}  '{}'  {} bytes", v.id, v.uuid, v.name_label, v.virtual_size);
    return s;
  };
  if (vdis.empty()) return Error(Code::kNotFound, "{} holds no disk", img.name);
  const formats::OvaVdi* chosen = nullptr;
  if (which.empty()) {
    if (vdis.size() > 1)
      return Error(Code::kInvalidArgument, "{} holds {} disks; choose one with --disk:{}",
                   img.name, vdis.size(), list());
    chosen = &vdis[0];
  } else {
    for (const auto& v : vdis) {
      if (v.id == which || v.uuid == which || v.name_label == which) {
        if (chosen)
          return Error(Code::kInvalidArgument, "--disk '{}' matches several disks:{}", which, list());
        chosen = &v;
      }
    }
    if (!chosen) return Error(Code::kNotFound, "no disk '{}' in {}; it holds:{}", which, img.name, list());
  }
  for (;;) {
    ASSIGN_OR_RETURN(formats::XvaDiskReader * d, img.xva->NextDisk());
    if (!d) {
      if (chosen->virtual_size == 0)
        return Error(Code::kInvalidArgument, "disk {} of {} is empty (virtual size 0)",
                     chosen->id, img.name);
      return Error(Code::kCorruption, "{}: disk {} is named in ova.xml but has no data", img.name,
                   chosen->id);
    }
    if (d->id() == chosen->id) {
      img.reader = d;
      return OkStatus();
    }
  }
}

}  // namespace internal
}  // namespace casulo::engine

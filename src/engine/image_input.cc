#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/image.h"

namespace casulo::engine {

Result<ImageInput> OpenImageInput(const std::string& path) {
  ImageInput in;
  if (path == "-") {
    in.file = File::FromFd(dup(STDIN_FILENO), "<stdin>");
  } else {
    ASSIGN_OR_RETURN(in.file, File::OpenRead(path));
  }
  struct stat st;
  if (fstat(in.file.fd(), &st) != 0) return ErrnoStatus(errno, "fstat", path);
  if (S_ISDIR(st.st_mode)) return Error(Code::kInvalidArgument, "{} is a directory", path);
  in.seekable = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
  if (in.seekable) {
    ASSIGN_OR_RETURN(in.size, in.file.Size());
  }
  // The whole image is read once, in order: tell the kernel to read ahead,
  // and read aligned runs with O_DIRECT where possible (design section 11).
  if (in.seekable) {
    posix_fadvise(in.file.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
    if (!getenv("CASULO_NO_DIRECT_IO")) {
      auto d = File::Open(path, O_RDONLY | O_DIRECT);
      if (d.ok()) in.direct = std::move(*d);
    }
  }
  return in;
}

static bool IsBase64Char(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=';
}

static Result<Bytes> DecodeBase64(ByteSpan text) {
  static const auto kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[uint8_t(a[i])] = int8_t(i);
    return t;
  }();
  Bytes out;
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (uint8_t c : text) {
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    if (padding || kTable[c] < 0)
      return Error(Code::kInvalidArgument, "changed-block bitmap: invalid base64");
    acc = acc << 6 | uint32_t(kTable[c]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(uint8_t(acc >> bits));
    }
  }
  return out;
}

Result<Bytes> ParseChangedBlocks(ByteSpan file, std::string_view format, uint64_t image_size) {
  uint64_t blocks = (image_size + kCbtBlockSize - 1) / kCbtBlockSize;
  uint64_t need = (blocks + 7) / 8;
  bool base64 = format == "base64";
  if (format == "auto") {
    size_t chars = 0;
    bool all = !file.empty();
    for (uint8_t c : file) {
      if (c == '\n' || c == '\r') continue;
      if (!IsBase64Char(c)) {
        all = false;
        break;
      }
      ++chars;
    }
    // Raw bitmaps are exactly `need` bytes; base64 text is 4/3 of that.
    base64 = all && file.size() != need && chars % 4 == 0 && chars / 4 * 3 >= need;
  } else if (format != "raw" && format != "base64") {
    return Error(Code::kInvalidArgument, "bitmap format '{}' is not raw, base64 or auto", format);
  }
  Bytes bitmap;
  if (base64) {
    ASSIGN_OR_RETURN(bitmap, DecodeBase64(file));
  } else {
    bitmap.assign(file.begin(), file.end());
  }
  if (bitmap.size() < need)
    return Error(Code::kInvalidArgument,
                 "changed-block bitmap has {} bytes ({} blocks of 64 KiB); the image needs {} "
                 "bytes ({} blocks)",
                 bitmap.size(), bitmap.size() * 8, need, blocks);
  for (uint64_t i = blocks; i < bitmap.size() * 8; ++i)
    if (bitmap[i / 8] & (0x80 >> (i % 8)))
      return Error(Code::kInvalidArgument,
                   "changed-block bitmap marks block {} changed, beyond the image's {} blocks", i,
                   blocks);
  return bitmap;
}

}  // namespace casulo::engine

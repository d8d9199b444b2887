#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

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

// XenAPI's base64 (standard alphabet, padded), through libsodium; line
// breaks and spaces are ignored.
static Result<Bytes> DecodeBase64(ByteSpan text) {
  Bytes out(text.size() / 4 * 3 + 3);
  size_t len = 0;
  if (sodium_base642bin(out.data(), out.size(), reinterpret_cast<const char*>(text.data()),
                        text.size(), " \t\r\n", &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0)
    return Error(Code::kInvalidArgument, "changed-block bitmap: invalid base64");
  out.resize(len);
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

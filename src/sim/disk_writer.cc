#include "sim/disk_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "sim/disks.h"

namespace casulo::sim {

void DiskWriter::FreeAligned::operator()(uint8_t* p) const { std::free(p); }

Result<DiskWriter> DiskWriter::Open(const std::string& path) {
  DiskWriter w;
  ASSIGN_OR_RETURN(w.buffered_, OpenDiskForWrite(path, O_WRONLY));
  int fd = ::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  if (fd >= 0) w.direct_ = File(fd, path);
  return w;
}

Status DiskWriter::PWrite(uint64_t offset, ByteSpan data) {
  if (!direct_.valid() || offset % kAlign != 0 || data.size() % kAlign != 0 || data.empty())
    return buffered_.PWrite(offset, data);
  if (bounce_size_ < data.size()) {
    void* p = nullptr;
    if (posix_memalign(&p, kAlign, data.size()) != 0) return buffered_.PWrite(offset, data);
    bounce_.reset(static_cast<uint8_t*>(p));
    bounce_size_ = data.size();
  }
  std::memcpy(bounce_.get(), data.data(), data.size());
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(direct_.fd(), bounce_.get() + done, data.size() - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL && done == 0) {
      // The file system takes O_DIRECT opens but not these writes.
      (void)direct_.Close();
      return buffered_.PWrite(offset, data);
    }
    if (n <= 0) return ErrnoStatus(n < 0 ? errno : EIO, "pwrite", direct_.path());
    done += size_t(n);
    if (done % kAlign != 0 && done < data.size())  // a short write left us unaligned
      return buffered_.PWrite(offset + done, data.subspan(done));
  }
  return OkStatus();
}

}  // namespace casulo::sim

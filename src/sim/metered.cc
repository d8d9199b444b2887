// TransferMeter and the Metered wrappers (http.h): statistics and the drop
// and slow faults of the data plane.
#include <dirent.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "sim/http.h"

namespace casulo::sim {
namespace {

int PortOf(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

// The descriptor of this process's TCP connection between local_port and
// remote_addr:remote_port, or -1. httplib hands handlers no socket, so the
// connection is found by its addresses (only when a drop fires).
int FindSocket(const std::string& remote_addr, int remote_port, int local_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (dirent* e = readdir(dir)) {
    int fd = std::atoi(e->d_name);
    if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(dir)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t llen = sizeof local, plen = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) != 0) continue;
    if (PortOf(local) != local_port) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) continue;
    if (PortOf(peer) != remote_port) continue;
    char host[NI_MAXHOST] = {};
    if (getnameinfo(reinterpret_cast<sockaddr*>(&peer), plen, host, sizeof host, nullptr, 0,
                    NI_NUMERICHOST) != 0 || remote_addr != host)
      continue;
    found = fd;
    break;
  }
  closedir(dir);
  return found;
}

// Aborts the connection with a RST and leaves the descriptor open (httplib
// closes it): connect(AF_UNSPEC) on a TCP socket runs tcp_disconnect, which
// sends a reset from ESTABLISHED and drops queued data.
void ResetConnection(int fd) {
  sockaddr sa{};
  sa.sa_family = AF_UNSPEC;
  (void)connect(fd, &sa, sizeof sa);
}

}  // namespace

TransferMeter::TransferMeter(Sim& sim, const httplib::Request& req, bool sending)
    : sim_(sim),
      path_(HandlerPath(req.path)),
      remote_addr_(req.remote_addr),
      remote_port_(req.remote_port),
      local_port_(req.local_port),
      sending_(sending),
      start_(std::chrono::steady_clock::now()) {
  sim.stats().CountRequest(path_);
}

size_t TransferMeter::Allow(size_t len) {
  if (!armed_) {
    // Taken at the first byte, not when the route starts: a request the
    // handler answers with a 302 (or refuses) moves no body and must not
    // use up a fault meant for the transfer.
    armed_ = true;
    faults_ = sim_.faults().TakeTransfer(path_);
    start_ = std::chrono::steady_clock::now();
  }
  if (dropped_) return 0;
  if (moved_ >= faults_.drop_after) {
    Moved(0);
    return 0;
  }
  len = static_cast<size_t>(std::min<uint64_t>(len, faults_.drop_after - moved_));
  if (faults_.bytes_per_second > 0) {
    // Pieces of 1/20 s at the rate, each sent when the average allows it.
    len = static_cast<size_t>(std::clamp<uint64_t>(faults_.bytes_per_second / 20, 1, len));
    auto due = start_ + std::chrono::microseconds(moved_ * 1000000 / faults_.bytes_per_second);
    std::this_thread::sleep_until(due);
  }
  return len;
}

void TransferMeter::Moved(size_t n) {
  moved_ += n;
  sim_.stats().CountBytes(path_, sending_ ? n : 0, sending_ ? 0 : n);
  if (moved_ >= faults_.drop_after && !dropped_) {
    dropped_ = true;
    int fd = FindSocket(remote_addr_, remote_port_, local_port_);
    if (fd >= 0) ResetConnection(fd);
    // Not found: the handler's failure still makes httplib close it (FIN).
  }
}

httplib::ContentProviderWithoutLength Metered(Sim& sim, const httplib::Request& req,
                                              httplib::ContentProviderWithoutLength provider) {
  auto meter = std::make_shared<TransferMeter>(sim, req, /*sending=*/true);
  return [meter, inner = std::move(provider)](size_t offset, httplib::DataSink& sink) {
    httplib::DataSink wrapped;
    wrapped.write = [&](const char* data, size_t len) {
      while (len > 0) {
        size_t n = meter->Allow(len);
        if (n == 0 || !sink.write(data, n)) return false;
        meter->Moved(n);
        data += n;
        len -= n;
      }
      return !meter->dropped();
    };
    wrapped.done = [&] { sink.done(); };
    wrapped.is_writable = [&] { return !meter->dropped() && sink.is_writable(); };
    return inner(offset, wrapped);
  };
}

httplib::ContentReader Metered(Sim& sim, const httplib::Request& req,
                               const httplib::ContentReader& reader) {
  auto meter = std::make_shared<TransferMeter>(sim, req, /*sending=*/false);
  return httplib::ContentReader(
      [meter, reader](httplib::ContentReceiver receiver) {
        return reader([&](const char* data, size_t len) {
          while (len > 0) {
            size_t n = meter->Allow(len);
            if (n == 0 || !receiver(data, n)) return false;
            meter->Moved(n);
            data += n;
            len -= n;
          }
          return !meter->dropped();
        });
      },
      reader.multipart_reader_);
}

}  // namespace casulo::sim

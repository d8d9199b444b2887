#include "sim/buffered_server.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace casulo::sim {
namespace {

// poll() for `events` with a timeout, retried on EINTR: >0 ready, 0 timed
// out, <0 failed.
int PollFor(int fd, short events, time_t sec, time_t usec) {
  pollfd p{fd, events, 0};
  int ms = static_cast<int>(sec * 1000 + usec / 1000);
  int r;
  do r = poll(&p, 1, ms);
  while (r < 0 && errno == EINTR);
  return r;
}

// Numeric host and port of a socket address, as httplib fills
// Request::remote_addr / local_addr (getnameinfo NI_NUMERICHOST).
void AddressOf(const sockaddr_storage& a, socklen_t len, std::string& ip, int& port) {
  if (a.ss_family == AF_INET)
    port = ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  else if (a.ss_family == AF_INET6)
    port = ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  else
    return;
  char host[NI_MAXHOST] = {};
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, host, sizeof host, nullptr, 0,
                  NI_NUMERICHOST) == 0)
    ip = host;
}

// A plain TCP connection as an httplib::Stream. Reads go through one
// kReadBuffer buffer; writes go straight to the socket. Timeouts and the
// liveness check before a write are those of httplib's SocketStream, so a
// client that went away still fails the next write of a response body.
class BufferedSocketStream final : public httplib::Stream {
 public:
  BufferedSocketStream(socket_t sock, time_t read_sec, time_t read_usec, time_t write_sec,
                       time_t write_usec)
      : sock_(sock),
        read_sec_(read_sec),
        read_usec_(read_usec),
        write_sec_(write_sec),
        write_usec_(write_usec),
        buf_(new char[BufferedServer::kReadBuffer]) {}

  bool buffered() const { return off_ < end_; }

  bool is_readable() const override {
    return buffered() || PollFor(sock_, POLLIN, read_sec_, read_usec_) > 0;
  }

  bool is_writable() const override {
    return PollFor(sock_, POLLOUT, write_sec_, write_usec_) > 0 && Alive();
  }

  // Up to `size` bytes: from the buffer while it holds any, else one recv()
  // (into the buffer, or straight into `ptr` when the caller asks for at
  // least a buffer's worth). 0 at EOF, -1 on timeout or error.
  ssize_t read(char* ptr, size_t size) override {
    if (!buffered()) {
      if (!is_readable()) return -1;
      if (size >= BufferedServer::kReadBuffer) return Recv(ptr, size);
      ssize_t n = Recv(buf_.get(), BufferedServer::kReadBuffer);
      if (n <= 0) return n;
      off_ = 0;
      end_ = static_cast<size_t>(n);
    }
    size_t take = std::min(size, end_ - off_);
    std::memcpy(ptr, buf_.get() + off_, take);
    off_ += take;
    return static_cast<ssize_t>(take);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do n = send(sock_, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (getpeername(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) AddressOf(a, len, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) AddressOf(a, len, ip, port);
  }

  socket_t socket() const override { return sock_; }

 private:
  ssize_t Recv(char* ptr, size_t size) {
    ssize_t n;
    do n = recv(sock_, ptr, size, 0);
    while (n < 0 && errno == EINTR);
    return n;
  }

  // The peer has not closed its end: nothing to read, or at least a byte
  // (peeked, so it stays for the next read).
  bool Alive() const {
    int r = PollFor(sock_, POLLIN, 0, 0);
    if (r == 0) return true;
    if (r < 0) return errno != EBADF;
    char c;
    return recv(sock_, &c, 1, MSG_PEEK) > 0;
  }

  socket_t sock_;
  time_t read_sec_, read_usec_, write_sec_, write_usec_;
  std::unique_ptr<char[]> buf_;
  size_t off_ = 0, end_ = 0;  // unread bytes are buf_[off_, end_)
};

}  // namespace

bool BufferedServer::process_and_close_socket(socket_t sock) {
  BufferedSocketStream strm(sock, read_timeout_sec_, read_timeout_usec_, write_timeout_sec_,
                            write_timeout_usec_);
  // The next request has started: bytes read ahead, or the socket readable
  // within the keep-alive timeout. Waits in slices so a stopped server is
  // noticed (stop() invalidates svr_sock_).
  auto next_request = [&] {
    if (strm.buffered()) return true;
    constexpr time_t kSliceMs = 50;
    for (time_t waited = 0; svr_sock_ != INVALID_SOCKET; waited += kSliceMs) {
      int r = PollFor(sock, POLLIN, 0, kSliceMs * 1000);
      if (r != 0) return r > 0;
      if (waited >= keep_alive_timeout_sec_ * 1000) return false;
    }
    return false;
  };
  bool ok = false;
  for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET && next_request();
       --left) {
    bool connection_closed = false;
    ok = process_request(strm, /*close_connection=*/left == 1, connection_closed, nullptr);
    if (!ok || connection_closed) break;
  }
  shutdown(sock, SHUT_RDWR);
  close(sock);
  return ok;
}

}  // namespace casulo::sim

// An httplib::Server that reads request bodies from the socket in large
// reads (docs/design/simulator.md, "HTTP server").
//
// Why: cpp-httplib 0.11 (Debian's shared library) reads a body through
// SocketStream, whose read buffer is 4 KiB, and polls the socket before
// every refill, so a PUT costs a poll and a recv per 4 KiB; that capped
// /import and /import_raw_vdi below 1 GB/s on loopback (docs/benchmarks.md,
// issue 4). httplib still hands bodies to content receivers in pieces of
// at most CPPHTTPLIB_RECV_BUFSIZ (4 KiB, fixed when the library was built),
// but with this server those pieces are served from a 256 KiB buffer, so
// the socket is read once per 256 KiB.
//
// What stays httplib's: request parsing, routing, Content-Length and
// chunked bodies, Expect: 100-continue, responses and the server's
// timeouts; this class only replaces the per-connection loop and the stream
// it reads and writes through. Plain HTTP only: SSLServer overrides the same
// hook with its own TLS stream, and TLS listeners keep httplib's path.
#pragma once

#include <httplib.h>

#include <cstddef>

namespace casulo::sim {

class BufferedServer : public httplib::Server {
 public:
  // Bytes asked of each recv() on a connection; one buffer of this size per
  // open connection.
  static constexpr size_t kReadBuffer = 256 << 10;

 private:
  // httplib's per-connection loop (process_server_socket in 0.11): up to
  // keep_alive_max_count_ requests while the client keeps the connection
  // open, each waiting at most keep_alive_timeout_sec_ for its first byte;
  // the last one is answered with "Connection: close". One stream serves the
  // whole connection, so bytes read ahead belong to the next request.
  // Closes `sock`. Overrides a private virtual of httplib::Server, which
  // calls it from its worker threads for every accepted connection.
  bool process_and_close_socket(socket_t sock) override;
};

}  // namespace casulo::sim

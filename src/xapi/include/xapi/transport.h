// How the client reaches a pool: RPC POSTs and streamed HTTP transfers of
// the data handlers (reference §1.1, §3.1). The interface is small so that
// sessions and tasks are tested against a scripted fake; the only real
// implementation is libcurl (curl_transport.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/cancel.h"
#include "core/status.h"
#include "core/stream.h"

namespace casulo::xapi {

// Posts RPC bodies to one server. Returns the body of a 2xx answer; any
// other HTTP status is HttpError() (kRemote, kAuth for 401/403); connection
// and TLS failures are kIoError.
class RpcTransport {
 public:
  virtual ~RpcTransport() = default;
  virtual Result<std::string> Post(std::string_view path, std::string_view content_type,
                                   std::string_view body) = 0;
  // The server this transport talks to ("https://host:port"), for messages.
  virtual std::string url() const = 0;
};

// How the server's certificate is verified. Never silently off:
// - pin set: the server's public key must match it (peer and host-name
//   checks are off, as XenServer's certificates are self-signed and often
//   name an IP the client does not use);
// - else ca_file set: normal verification against that CA bundle;
// - else: normal verification against the system store.
// Plain http:// URLs do no TLS at all; callers allow them only when the user
// wrote http:// (loopback tests, the simulator).
struct TlsOptions {
  std::string pinned_public_key;  // "sha256//<base64 SPKI SHA-256>", as FetchServerPin returns
  std::string ca_file;
};

struct Endpoint {
  std::string url;  // "https://host[:port]" without a path, or "http://..."
  TlsOptions tls;
};

// The endpoint for a pool member named by a bare address (HOST_IS_SLAVE's
// parameter, host.address): same scheme, port and TLS settings, IPv6
// addresses bracketed.
Endpoint EndpointForHost(const Endpoint& base, std::string_view address);

// A libcurl RPC transport (one connection reused across calls).
Result<std::unique_ptr<RpcTransport>> NewCurlRpcTransport(Endpoint endpoint);

// --- Streamed transfers of the data handlers --------------------------------

struct TransferOptions {
  // Bytes per second in the transfer's direction; 0 = unlimited.
  int64_t max_bytes_per_second = 0;
  // Polled during the transfer; when set the transfer stops with kCancelled.
  const std::atomic<bool>* cancel = &CancelFlag();
  // 302 answers followed (XAPI redirects to the host that sees the SR).
  int max_redirects = 3;
  // When set, receives the URL of every redirect followed (the last one
  // stays), whether or not the transfer then succeeds: a PUT probe learns
  // where the handler lives even when the empty body is refused there.
  std::string* redirected_to = nullptr;
  // Seconds with no progress before failing; 0 = never.
  long stall_timeout_seconds = 300;
};

struct TransferReply {
  int http_status = 0;
  std::string task_id;  // the `task-id` response header, "" if absent
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  uint64_t bytes = 0;       // body bytes moved
  std::string final_url;    // after redirects
};

// GET base.url + path_query into `sink` until EOF (XAPI sends no
// Content-Length). Fails with HttpError for a non-2xx final status (the body
// is not written to the sink), kRemote if a 200 body itself begins with
// "HTTP/" (an embedded error page), the sink's own Status if it refuses
// bytes. The sink is not Finish()ed: the caller owns it.
Result<TransferReply> HttpGet(const Endpoint& endpoint, std::string_view path_query, Sink& sink,
                              const TransferOptions& options = {});

// PUT exactly `content_length` bytes from `source` with a Content-Length
// header (never chunked: XAPI refuses chunked uploads). A 302 answered before
// any byte was read from the source is re-issued to Location; one answered
// later fails with kRemote (the source cannot rewind), so callers that
// expect redirects probe first with an empty PUT, as XO does. A source that
// ends early fails with kCorruption.
Result<TransferReply> HttpPut(const Endpoint& endpoint, std::string_view path_query, Source& source,
                              uint64_t content_length, const TransferOptions& options = {});

// Connects to an https:// URL without verifying it and returns the
// certificate's public-key pin, "sha256//<base64 of SHA-256 of the DER
// SubjectPublicKeyInfo>", for the user to confirm (as SSH shows host keys)
// and for TlsOptions::pinned_public_key. Same value as
// `openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256 | base64`.
Result<std::string> FetchServerPin(std::string_view url);

}  // namespace casulo::xapi

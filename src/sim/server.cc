#include "sim/server.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <limits>
#include <optional>
#include <memory>

#include "core/file.h"
#include "sim/http.h"

namespace casulo::sim {

// XAPI refuses RPC bodies over 300 KiB (constants.ml http_limit_max_rpc_size).
constexpr size_t kMaxRpcBody = 300 * 1024;

struct Server::Impl {
  std::unique_ptr<httplib::Server> http;
  std::atomic<bool> stop_requested{false};
};

Server::Server(Sim& sim) : sim_(sim), impl_(new Impl) {}
Server::~Server() { delete impl_; }

void Server::Stop() {
  impl_->stop_requested = true;
  if (impl_->http) impl_->http->stop();
}

Status Server::Run(const ServerOptions& opts, const std::function<void(int)>& on_listening) {
  if (opts.tls)
    impl_->http = std::make_unique<httplib::SSLServer>(opts.cert_file.c_str(), opts.key_file.c_str());
  else
    impl_->http = std::make_unique<httplib::Server>();
  httplib::Server& svr = *impl_->http;
  if (!svr.is_valid()) return Error(Code::kInvalidArgument, "TLS: cannot load {} / {}", opts.cert_file, opts.key_file);
  // httplib's body limit is server-wide and also stops content readers, so
  // it is lifted and the RPC routes enforce kMaxRpcBody themselves (413 as
  // httplib would answer); the data-plane PUTs stream unbounded bodies.
  svr.set_payload_max_length(std::numeric_limits<size_t>::max());
  svr.set_default_headers({{"Access-Control-Allow-Origin", "*"}});
  // One request per connection. httplib keeps a connection open after a
  // response for the next request (5 s) even when the handler said
  // "Connection: close", and a streamed body without Content-Length ends
  // only when the connection closes: every export would stall 5 s. XAPI
  // closes after each data-handler request too.
  svr.set_keep_alive_max_count(1);
  auto reply = [](httplib::Response& res, HttpReply r) {
    res.status = r.status;
    res.set_content(std::move(r.body), r.content_type.c_str());
  };
  // The RPC body, or nullopt (413 set) when it exceeds kMaxRpcBody.
  auto read_rpc = [](const httplib::Request&, httplib::Response& res,
                     const httplib::ContentReader& reader) -> std::optional<std::string> {
    std::string body;
    bool ok = reader([&](const char* data, size_t len) {
      if (body.size() + len > kMaxRpcBody) return false;
      body.append(data, len);
      return true;
    });
    if (!ok) {
      res.status = 413;
      return std::nullopt;
    }
    return body;
  };
  svr.Post("/jsonrpc", [&, read_rpc](const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& reader) {
    if (auto body = read_rpc(req, res, reader)) reply(res, sim_.HandleJsonRpc(*body));
  });
  AddExportRoutes(svr, sim_);
  AddImportRoutes(svr, sim_);
  AddRawVdiRoutes(svr, sim_);
  AddMetadataRoutes(svr, sim_);
  AddXmlDbRoutes(svr, sim_);
  AddHostBackupRoutes(svr, sim_);
  AddControlRoutes(svr, sim_);
  AddGuestRoutes(svr, sim_);
  svr.Post(".*", [&, read_rpc](const httplib::Request& req, httplib::Response& res,
                               const httplib::ContentReader& reader) {
    if (auto body = read_rpc(req, res, reader)) reply(res, sim_.HandleXmlRpc(*body));
  });
  svr.Options(".*", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Access-Control-Allow-Methods", "POST, GET, PUT, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", "content-type");
    res.status = 200;
  });
  int port = opts.port;
  if (port == 0) {
    port = svr.bind_to_any_port(opts.host.c_str());
    if (port < 0) return Error(Code::kIoError, "cannot bind {}", opts.host);
  } else if (!svr.bind_to_port(opts.host.c_str(), port)) {
    return Error(Code::kIoError, "cannot bind {}:{}", opts.host, port);
  }
  on_listening(port);
  if (impl_->stop_requested) return OkStatus();
  if (!svr.listen_after_bind() && !impl_->stop_requested)
    return Error(Code::kIoError, "server on {}:{} failed", opts.host, port);
  return OkStatus();
}

Status EnsureSelfSignedCert(const std::string& cert_file, const std::string& key_file,
                            const std::string& common_name) {
  ASSIGN_OR_RETURN(bool have_cert, PathExists(cert_file));
  ASSIGN_OR_RETURN(bool have_key, PathExists(key_file));
  if (have_cert && have_key) return OkStatus();
  auto fail = [](std::string_view what) { return Error(Code::kInternal, "OpenSSL: {} failed", what); };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), EVP_PKEY_free);
  if (!key) return fail("EVP_RSA_gen");
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  if (!x) return fail("X509_new");
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(x.get(), key.get());
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  if (X509_sign(x.get(), key.get(), EVP_sha256()) == 0) return fail("X509_sign");
  auto pem = [](auto write) -> Result<std::string> {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    if (!bio || write(bio.get()) != 1) return Error(Code::kInternal, "OpenSSL: PEM write failed");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, size_t(n));
  };
  ASSIGN_OR_RETURN(std::string key_pem, pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  }));
  ASSIGN_OR_RETURN(std::string cert_pem, pem([&](BIO* b) { return PEM_write_bio_X509(b, x.get()); }));
  RETURN_IF_ERROR(WriteFileAtomic(key_file, AsBytes(key_pem), 0600));
  return WriteFileAtomic(cert_file, AsBytes(cert_pem));
}

}  // namespace casulo::sim

#include "sim/server.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "core/file.h"
#include "sim/buffered_server.h"
#include "sim/http.h"

namespace casulo::sim {
namespace {

// XAPI refuses RPC bodies over 300 KiB (constants.ml http_limit_max_rpc_size).
constexpr size_t kMaxRpcBody = 300 * 1024;

// httplib's default sets SO_REUSEPORT, which lets a second process bind an
// address:port already listening (the kernel then shares the connections
// between them); plain SO_REUSEADDR makes such a bind fail, which the
// same-port search below relies on.
void ReuseAddrOnly(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

// The routes of one listener; `host` is the host ref it plays ("" = master).
void AddRoutes(httplib::Server& svr, Sim& sim, const std::string& host) {
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
  svr.set_socket_options(ReuseAddrOnly);
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
  svr.Post("/jsonrpc", [&sim, host, reply, read_rpc](const httplib::Request& req, httplib::Response& res,
                                                     const httplib::ContentReader& reader) {
    if (auto body = read_rpc(req, res, reader)) reply(res, sim.HandleJsonRpc(*body, host));
  });
  AddExportRoutes(svr, sim);
  AddImportRoutes(svr, sim);
  AddRawVdiRoutes(svr, sim);
  AddMetadataRoutes(svr, sim);
  AddXmlDbRoutes(svr, sim);
  AddHostBackupRoutes(svr, sim);
  AddControlRoutes(svr, sim);
  AddGuestRoutes(svr, sim);
  svr.Post(".*", [&sim, host, reply, read_rpc](const httplib::Request& req, httplib::Response& res,
                                               const httplib::ContentReader& reader) {
    if (auto body = read_rpc(req, res, reader)) reply(res, sim.HandleXmlRpc(*body, host));
  });
  svr.Options(".*", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Access-Control-Allow-Methods", "POST, GET, PUT, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", "content-type");
    res.status = 200;
  });
}

bool IsLoopback4(const std::string& address, in_addr* out = nullptr) {
  in_addr a{};
  if (inet_pton(AF_INET, address.c_str(), &a) != 1) return false;
  if (out != nullptr) *out = a;
  return (ntohl(a.s_addr) >> 24) == 127;
}

}  // namespace

std::vector<std::string> LoopbackHostAddresses(const std::string& listen, int count) {
  in_addr a{};
  if (!IsLoopback4(listen, &a)) return {};
  uint32_t base = ntohl(a.s_addr);
  if ((base & 0xff) == 0 || (base & 0xff) + uint32_t(count) - 1 > 254) return {};
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    in_addr h{htonl(base + uint32_t(i))};
    char buf[INET_ADDRSTRLEN];
    out.emplace_back(inet_ntop(AF_INET, &h, buf, sizeof buf));
  }
  return out;
}

std::vector<HostAddress> PoolListeners(const Store& store) {
  const auto& pools = store.Objects("pool");
  if (pools.empty()) return {};
  const XmlRpcValue* master = pools.begin()->second.record.Find("master");
  std::vector<HostAddress> out;
  for (const auto& [ref, obj] : store.Objects("host")) {
    const XmlRpcValue* addr = obj.record.Find("address");
    if (addr == nullptr || !addr->is_string() || !IsLoopback4(addr->str())) return {};
    bool is_master = master != nullptr && master->is_string() && master->str() == ref;
    out.insert(is_master ? out.begin() : out.end(), HostAddress{addr->str(), ref});
  }
  return out;
}

struct Server::Impl {
  std::mutex mu;
  std::condition_variable cv;
  bool stop_requested = false;
};

Server::Server(Sim& sim) : sim_(sim), impl_(new Impl) {}
Server::~Server() { delete impl_; }

void Server::Stop() {
  std::lock_guard lock(impl_->mu);
  impl_->stop_requested = true;
  impl_->cv.notify_all();
}

Status Server::Run(const ServerOptions& opts, const std::function<void(int)>& on_listening) {
  std::vector<HostAddress> listeners = opts.hosts;
  if (listeners.empty()) listeners.push_back({opts.host, ""});
  auto make = [&]() -> std::unique_ptr<httplib::Server> {
    if (opts.tls) return std::make_unique<httplib::SSLServer>(opts.cert_file.c_str(), opts.key_file.c_str());
    // Plain HTTP reads bodies in 256 KiB socket reads (buffered_server.h);
    // TLS keeps httplib's own stream.
    return std::make_unique<BufferedServer>();
  };
  // Port 0: the master takes any free port and the others the same one;
  // when another process holds it on one of their addresses, start again.
  constexpr int kTries = 8;
  std::vector<std::unique_ptr<httplib::Server>> servers;
  int port = opts.port;
  for (int attempt = 0;; ++attempt) {
    servers.clear();
    port = opts.port;
    std::string failed;
    for (const auto& l : listeners) {
      auto svr = make();
      if (!svr->is_valid())
        return Error(Code::kInvalidArgument, "TLS: cannot load {} / {}", opts.cert_file, opts.key_file);
      AddRoutes(*svr, sim_, l.host);
      if (port == 0) {
        port = svr->bind_to_any_port(l.address.c_str());
        if (port < 0) return Error(Code::kIoError, "cannot bind {}", l.address);
      } else if (!svr->bind_to_port(l.address.c_str(), port)) {
        failed = l.address;
        break;
      }
      servers.push_back(std::move(svr));
    }
    if (failed.empty()) break;
    if (opts.port != 0 || attempt + 1 == kTries)
      return Error(Code::kIoError, "cannot bind {}:{}", failed, port);
  }
  on_listening(port);
  // Each listener serves on its own thread; this one waits for Stop() or a
  // listener that ends by itself (a failure), then stops them all. httplib
  // ignores a stop before the listener entered its loop and asserts on a
  // second one, so each is stopped once, when running.
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<std::atomic<bool>>> done;
  bool failed = false;
  for (auto& svr : servers) {
    done.push_back(std::make_unique<std::atomic<bool>>(false));
    threads.emplace_back([this, &svr, flag = done.back().get(), &failed] {
      bool ok = svr->listen_after_bind();
      std::lock_guard lock(impl_->mu);
      if (!ok && !impl_->stop_requested) failed = true;
      flag->store(true);
      impl_->cv.notify_all();
    });
  }
  {
    std::unique_lock lock(impl_->mu);
    impl_->cv.wait(lock, [&] {
      if (impl_->stop_requested) return true;
      for (auto& d : done)
        if (*d) return true;
      return false;
    });
  }
  for (size_t i = 0; i < servers.size(); ++i) {
    bool stopped = false;
    while (!*done[i]) {
      if (!stopped && servers[i]->is_running()) {
        servers[i]->stop();
        stopped = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    threads[i].join();
  }
  if (failed) return Error(Code::kIoError, "a server on port {} failed", port);
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

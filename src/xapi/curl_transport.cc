// libcurl behind RpcTransport and the streamed transfers. TLS follows
// TlsOptions' rules (pin, else CA file, else system store; never off).
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "xapi/rpc.h"
#include "xapi/transport.h"

namespace casulo::xapi {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

bool IsHttps(std::string_view url) { return url.starts_with("https://"); }

Status ApplyCommon(CURL* c, const Endpoint& ep, char* errbuf) {
  if (!IsHttps(ep.url) && !ep.url.starts_with("http://")) {
    return Error(Code::kInvalidArgument, "pool URL must start with https:// or http://: {}", ep.url);
  }
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // redirects handled by us
  if (IsHttps(ep.url)) {
    if (!ep.tls.pinned_public_key.empty()) {
      // The pin is the verification: XenServer certificates are self-signed
      // and name whatever the installer chose, so chain and name checks
      // would always fail. libcurl checks the pin even with these off.
      curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, ep.tls.pinned_public_key.c_str());
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
      if (!ep.tls.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ep.tls.ca_file.c_str());
    }
  }
  return OkStatus();
}

Status CurlError(CURLcode rc, const char* errbuf, std::string_view what) {
  std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return Error(Code::kAuth, "{}: the server's public key does not match the pinned key ({})", what,
                   detail);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return Error(Code::kAuth, "{}: the server's certificate is not trusted ({}); pin its key", what,
                   detail);
    case CURLE_ABORTED_BY_CALLBACK: return Error(Code::kCancelled, "{}: cancelled", what);
    default: return Error(Code::kIoError, "{}: {}", what, detail);
  }
}

size_t AppendToString(char* p, size_t size, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, size * n);
  return size * n;
}

class CurlRpcTransport final : public RpcTransport {
 public:
  CurlRpcTransport(Endpoint ep, Easy easy) : ep_(std::move(ep)), easy_(std::move(easy)) {}

  Result<std::string> Post(std::string_view path, std::string_view content_type,
                           std::string_view body) override {
    CURL* c = easy_.get();
    std::string url = ep_.url + std::string(path);
    std::string reply;
    Slist headers(curl_slist_append(nullptr, ("Content-Type: " + std::string(content_type)).c_str()));
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendToString);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
    errbuf_[0] = 0;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
    if (rc != CURLE_OK) return CurlError(rc, errbuf_, "POST " + url);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) return HttpError(static_cast<int>(status), reply).With("POST " + url);
    return reply;
  }
  std::string url() const override { return ep_.url; }
  char* errbuf() { return errbuf_; }

 private:
  Endpoint ep_;
  Easy easy_;
  char errbuf_[CURL_ERROR_SIZE] = {};
};

// --- Transfers ----------------------------------------------------------------

struct Xfer {
  Sink* sink = nullptr;
  Source* source = nullptr;
  uint64_t remaining = 0;  // PUT bytes still to send
  uint64_t source_read = 0;
  const std::atomic<bool>* cancel = nullptr;
  Status error;  // set by a callback that aborted the transfer
  TransferReply reply;
  std::string prefix;  // first bytes of a GET body, checked for "HTTP/"
  bool prefix_done = false;
  std::string err_body;  // body of a non-2xx answer (capped)
};

bool Is2xx(int s) { return s >= 200 && s <= 299; }

size_t OnHeader(char* p, size_t size, size_t n, void* ud) {
  auto* x = static_cast<Xfer*>(ud);
  std::string_view line(p, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {  // a new response (after 100 Continue, say)
    x->reply.headers.clear();
    size_t sp = line.find(' ');
    x->reply.http_status = sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (name == "task-id") x->reply.task_id = std::string(value);
  x->reply.headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

bool FlushPrefix(Xfer* x) {
  x->prefix_done = true;
  if (x->prefix.starts_with("HTTP/")) {
    // XAPI can write an error response after its 200 headers (XO's
    // checkVdiExport, xen-api #4603): never store it as data.
    x->error = Status(Code::kRemote, "the server sent an HTTP response inside the body: " +
                                         x->prefix.substr(0, x->prefix.find('\r')));
    return false;
  }
  if (!x->prefix.empty()) {
    if (Status s = x->sink->Write(AsBytes(x->prefix)); !s.ok()) {
      x->error = std::move(s);
      return false;
    }
    x->reply.bytes += x->prefix.size();
  }
  x->prefix.clear();
  return true;
}

size_t OnWrite(char* p, size_t size, size_t n, void* ud) {
  auto* x = static_cast<Xfer*>(ud);
  size_t len = size * n;
  if (!Is2xx(x->reply.http_status)) {
    if (x->err_body.size() < 4096) x->err_body.append(p, std::min<size_t>(len, 4096));
    return len;
  }
  std::string_view data(p, len);
  if (!x->prefix_done) {
    size_t take = std::min<size_t>(len, 16 - x->prefix.size());
    x->prefix.append(data.substr(0, take));
    data.remove_prefix(take);
    if (x->prefix.size() < 16) return len;
    if (!FlushPrefix(x)) return 0;
  }
  if (!data.empty()) {
    if (Status s = x->sink->Write(AsBytes(data)); !s.ok()) {
      x->error = std::move(s);
      return 0;
    }
    x->reply.bytes += data.size();
  }
  return len;
}

size_t OnRead(char* p, size_t size, size_t n, void* ud) {
  auto* x = static_cast<Xfer*>(ud);
  if (x->cancel && x->cancel->load(std::memory_order_relaxed)) return CURL_READFUNC_ABORT;
  size_t want = static_cast<size_t>(std::min<uint64_t>(size * n, x->remaining));
  if (want == 0) return 0;
  auto got = x->source->Read(MutableByteSpan(reinterpret_cast<uint8_t*>(p), want));
  if (!got.ok()) {
    x->error = std::move(got).status();
    return CURL_READFUNC_ABORT;
  }
  if (*got == 0) {
    x->error = Error(Code::kCorruption, "upload source ended {} bytes early", x->remaining);
    return CURL_READFUNC_ABORT;
  }
  x->remaining -= *got;
  x->source_read += *got;
  x->reply.bytes += *got;
  return *got;
}

int OnProgress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* x = static_cast<Xfer*>(ud);
  return (x->cancel && x->cancel->load(std::memory_order_relaxed)) ? 1 : 0;
}

// Splits an absolute URL into "scheme://authority" and "/path?query".
std::pair<std::string, std::string> SplitUrl(std::string_view url) {
  size_t scheme = url.find("://");
  size_t slash = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  if (slash == std::string_view::npos) return {std::string(url), "/"};
  return {std::string(url.substr(0, slash)), std::string(url.substr(slash))};
}

Result<TransferReply> Transfer(const Endpoint& endpoint, std::string_view path_query, Sink* sink,
                               Source* source, uint64_t content_length, const TransferOptions& opt) {
  GlobalInit();
  Endpoint ep = endpoint;
  std::string pq(path_query);
  for (int hop = 0;; ++hop) {
    Easy easy(curl_easy_init());
    if (!easy) return Status(Code::kInternal, "curl_easy_init failed");
    CURL* c = easy.get();
    char errbuf[CURL_ERROR_SIZE] = {};
    RETURN_IF_ERROR(ApplyCommon(c, ep, errbuf));
    std::string url = ep.url + pq;
    const char* verb = source ? "PUT" : "GET";
    Xfer x;
    x.sink = sink;
    x.source = source;
    x.remaining = content_length;
    x.cancel = opt.cancel;
    Slist headers(curl_slist_append(nullptr, "Expect:"));  // no 100-continue wait
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnWrite);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    if (opt.stall_timeout_seconds > 0) {
      curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
      curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, opt.stall_timeout_seconds);
    }
    if (source) {
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(content_length));
      curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
      curl_easy_setopt(c, CURLOPT_READDATA, &x);
      if (opt.max_bytes_per_second > 0)
        curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, static_cast<curl_off_t>(opt.max_bytes_per_second));
    } else if (opt.max_bytes_per_second > 0) {
      curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, static_cast<curl_off_t>(opt.max_bytes_per_second));
    }
    CURLcode rc = curl_easy_perform(c);
    std::string what = std::string(verb) + " " + ep.url + pq.substr(0, pq.find('?'));
    if (!x.error.ok()) return std::move(x.error).With(what);
    if (rc != CURLE_OK) {
      // A handler that fails mid-stream closes the connection: the caller
      // checks the task for the real reason.
      return CurlError(rc, errbuf, what);
    }
    int status = x.reply.http_status;
    if (status == 301 || status == 302 || status == 303 || status == 307) {
      std::string location;
      for (const auto& [k, v] : x.reply.headers)
        if (k == "location") location = v;
      if (location.empty()) return Error(Code::kRemote, "{}: HTTP {} without Location", what, status);
      if (hop >= opt.max_redirects) return Error(Code::kRemote, "{}: too many redirects", what);
      if (source && x.source_read > 0) {
        return Error(Code::kRemote, "{}: redirected to {} after the upload began", what, location);
      }
      auto [base, new_pq] = SplitUrl(location);
      if (!location.starts_with("http")) base = ep.url, new_pq = location;  // relative
      // XAPI keeps path and query; if a server drops the query, keep ours
      // (session_id and task_id travel there, cookies are not copied).
      if (new_pq.find('?') == std::string::npos && pq.find('?') != std::string::npos)
        new_pq += pq.substr(pq.find('?'));
      ep.url = base;
      pq = new_pq;
      if (opt.redirected_to != nullptr) *opt.redirected_to = ep.url + pq;
      continue;
    }
    if (!Is2xx(status)) return HttpError(status, x.err_body).With(what);
    if (sink && !x.prefix_done && !FlushPrefix(&x)) return std::move(x.error).With(what);
    if (source && x.remaining > 0) {
      return Error(Code::kRemote, "{}: server closed after {} of {} bytes", what, x.source_read,
                   content_length);
    }
    x.reply.final_url = ep.url + pq;
    return std::move(x.reply);
  }
}

std::string Base64(const unsigned char* p, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(len);
  return out;
}

}  // namespace

Endpoint EndpointForHost(const Endpoint& base, std::string_view address) {
  std::string_view url = base.url;
  size_t scheme_end = url.find("://");
  std::string scheme(scheme_end == std::string_view::npos ? "https" : url.substr(0, scheme_end));
  std::string_view authority = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find('/'));
  std::string port;
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket) &&
      authority.find(':') == colon) {
    port = std::string(authority.substr(colon));
  } else if (bracket != std::string_view::npos && colon == bracket + 1) {
    port = std::string(authority.substr(colon));
  }
  std::string host(address);
  if (host.find(':') != std::string::npos && !host.starts_with("[")) host = "[" + host + "]";
  return Endpoint{scheme + "://" + host + port, base.tls};
}

Result<std::unique_ptr<RpcTransport>> NewCurlRpcTransport(Endpoint endpoint) {
  GlobalInit();
  Easy easy(curl_easy_init());
  if (!easy) return Status(Code::kInternal, "curl_easy_init failed");
  CURL* c = easy.get();
  auto t = std::make_unique<CurlRpcTransport>(endpoint, std::move(easy));
  // The handle keeps the error buffer's address: it lives in the transport.
  RETURN_IF_ERROR(ApplyCommon(c, endpoint, t->errbuf()));
  return std::unique_ptr<RpcTransport>(std::move(t));
}

Result<TransferReply> HttpGet(const Endpoint& endpoint, std::string_view path_query, Sink& sink,
                              const TransferOptions& options) {
  return Transfer(endpoint, path_query, &sink, nullptr, 0, options);
}

Result<TransferReply> HttpPut(const Endpoint& endpoint, std::string_view path_query, Source& source,
                              uint64_t content_length, const TransferOptions& options) {
  return Transfer(endpoint, path_query, nullptr, &source, content_length, options);
}

Result<std::string> FetchServerPin(std::string_view url) {
  if (!IsHttps(url)) return Error(Code::kInvalidArgument, "a key pin needs an https:// URL: {}", url);
  GlobalInit();
  Easy easy(curl_easy_init());
  if (!easy) return Status(Code::kInternal, "curl_easy_init failed");
  CURL* c = easy.get();
  char errbuf[CURL_ERROR_SIZE] = {};
  std::string u(url);
  curl_easy_setopt(c, CURLOPT_URL, u.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
  // Unverified on purpose: this only reads the key so that the user can
  // compare it and pin it; nothing is sent.
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return CurlError(rc, errbuf, "connecting to " + u);
  curl_certinfo* info = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CERTINFO, &info) != CURLE_OK || info == nullptr || info->num_of_certs < 1) {
    return Error(Code::kRemote, "{} presented no certificate", u);
  }
  std::string pem;
  for (curl_slist* l = info->certinfo[0]; l; l = l->next) {
    std::string_view s(l->data);
    if (s.starts_with("Cert:")) pem = s.substr(5);
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return Error(Code::kRemote, "{}: cannot parse the server certificate", u);
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
  if (len <= 0) return Error(Code::kRemote, "{}: cannot encode the server public key", u);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<size_t>(len), digest);
  OPENSSL_free(der);
  return "sha256//" + Base64(digest, sizeof digest);
}

}  // namespace casulo::xapi

#include "xapi/nbd.h"

#include <libnbd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/file.h"
#include "xapi/rpc.h"

namespace casulo::xapi {
namespace {

// libnbd answers one request of at most 64 MiB; stay well below.
constexpr uint64_t kMaxRead = 8 << 20;
constexpr uint64_t kMaxStatus = 1ull << 30;

Status NbdError(Code code, const std::string& where, std::string_view what) {
  const char* e = nbd_get_error();
  return Status(code, fmt::format("NBD {} at {}: {}", what, where, e != nullptr ? e : "failed"));
}

// A private directory holding only ca-cert.pem, removed on destruction.
class PinDir {
 public:
  ~PinDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  Status Create(const std::string& pem) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/casulo-nbd-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr)
      return Status(Code::kIoError, fmt::format("mkdtemp {}: {}", templ, std::strerror(errno)));
    path_ = templ;  // mkdtemp makes it 0700
    return WriteFileAtomic(path_ + "/ca-cert.pem", AsBytes(pem), 0600);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Result<std::string> Field(const XmlRpcValue& rec, std::string_view name) {
  const XmlRpcValue* v = rec.Find(name);
  if (v == nullptr || !v->is_string())
    return Status(Code::kRemote, fmt::format("vdi_nbd_server_info without string {}", name));
  return v->str();
}

}  // namespace

Result<std::vector<NbdInfo>> ParseNbdInfo(const XmlRpcValue& v) {
  if (!v.is_array()) return Status(Code::kRemote, "get_nbd_info did not return a set");
  std::vector<NbdInfo> out;
  for (const auto& rec : v.array()) {
    if (!rec.is_struct()) return Status(Code::kRemote, "get_nbd_info entry is not a struct");
    NbdInfo i;
    ASSIGN_OR_RETURN(i.exportname, Field(rec, "exportname"));
    ASSIGN_OR_RETURN(i.address, Field(rec, "address"));
    ASSIGN_OR_RETURN(i.cert, Field(rec, "cert"));
    ASSIGN_OR_RETURN(i.subject, Field(rec, "subject"));
    const XmlRpcValue* port = rec.Find("port");
    if (port == nullptr) return Status(Code::kRemote, "vdi_nbd_server_info without port");
    ASSIGN_OR_RETURN(i.port, port->AsInt("port"));
    out.push_back(std::move(i));
  }
  return out;
}

Result<std::vector<NbdInfo>> GetNbdInfo(Session& session, const std::string& vdi_ref) {
  ASSIGN_OR_RETURN(XmlRpcValue v, session.Call("VDI.get_nbd_info", {XmlRpcValue(vdi_ref)}));
  return ParseNbdInfo(v);
}

Result<std::unique_ptr<NbdReader>> NbdReader::Connect(const NbdInfo& info,
                                                      const NbdConnectOptions& opts) {
  std::unique_ptr<NbdReader> r(new NbdReader());
  bool v6 = info.address.find(':') != std::string::npos;
  r->where_ = v6 ? fmt::format("[{}]:{}", info.address, info.port)
                 : fmt::format("{}:{}", info.address, info.port);
  r->h_ = nbd_create();
  if (r->h_ == nullptr) return NbdError(Code::kInternal, r->where_, "nbd_create");
  nbd_handle* h = r->h_;
  if (nbd_set_export_name(h, info.exportname.c_str()) == -1 ||
      nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1)
    return NbdError(Code::kInternal, r->where_, "setup");
  PinDir pin;
  bool tls = !info.cert.empty() && !opts.insecure_nbd;
  if (tls) {
    RETURN_IF_ERROR(pin.Create(info.cert));
    if (nbd_set_tls(h, LIBNBD_TLS_REQUIRE) == -1 ||
        nbd_set_tls_certificates(h, pin.path().c_str()) == -1 ||
        nbd_set_tls_verify_peer(h, true) == -1)
      return NbdError(Code::kUnsupported, r->where_, "TLS setup (libnbd without GnuTLS?)");
  }
  if (nbd_connect_tcp(h, info.address.c_str(), std::to_string(info.port).c_str()) == -1) {
    std::string e = nbd_get_error() != nullptr ? nbd_get_error() : "";
    if (e.find("opt_go") != std::string::npos || e.find("export") != std::string::npos)
      return NbdError(Code::kAuth, r->where_, "server refused the export (session not valid or VDI unknown)");
    if (tls && (e.find("certificate") != std::string::npos || e.find("verif") != std::string::npos))
      return NbdError(Code::kAuth, r->where_, "server certificate does not match the pinned one");
    return NbdError(Code::kIoError, r->where_, "connect");
  }
  int64_t size = nbd_get_size(h);
  if (size < 0) return NbdError(Code::kIoError, r->where_, "get_size");
  r->size_ = uint64_t(size);
  return r;
}

NbdReader::~NbdReader() {
  if (h_ == nullptr) return;
  if (nbd_aio_is_ready(h_) == 1) nbd_shutdown(h_, 0);
  nbd_close(h_);
}

Status NbdReader::Read(uint64_t offset, std::span<uint8_t> buffer) {
  if (offset > size_ || buffer.size() > size_ - offset)
    return Status(Code::kInvalidArgument,
                  fmt::format("NBD read {}+{} beyond the disk's {} bytes", offset, buffer.size(), size_));
  for (size_t done = 0; done < buffer.size();) {
    size_t n = size_t(std::min<uint64_t>(kMaxRead, buffer.size() - done));
    if (nbd_pread(h_, buffer.data() + done, n, offset + done, 0) == -1)
      return NbdError(Code::kIoError, where_, fmt::format("read at {}", offset + done));
    done += n;
  }
  return OkStatus();
}

Result<std::vector<formats::ByteRange>> NbdReader::AllocatedExtents() {
  std::vector<formats::ByteRange> out;
  if (nbd_can_meta_context(h_, LIBNBD_CONTEXT_BASE_ALLOCATION) != 1) {
    if (size_ > 0) out.push_back({0, size_});
    return out;
  }
  struct Acc {
    std::vector<formats::ByteRange>* out;
    uint64_t pos;
  };
  for (uint64_t pos = 0; pos < size_;) {
    Acc acc{&out, pos};
    nbd_extent_callback cb{};
    cb.user_data = &acc;
    cb.callback = [](void* user, const char* ctx, uint64_t, uint32_t* entries, size_t n,
                     int*) -> int {
      auto* a = static_cast<Acc*>(user);
      if (std::string_view(ctx) != LIBNBD_CONTEXT_BASE_ALLOCATION) return 0;
      for (size_t i = 0; i + 1 < n; i += 2) {
        uint64_t len = entries[i];
        if ((entries[i + 1] & LIBNBD_STATE_HOLE) == 0) {
          if (!a->out->empty() && a->out->back().offset + a->out->back().length == a->pos)
            a->out->back().length += len;
          else
            a->out->push_back({a->pos, len});
        }
        a->pos += len;
      }
      return 0;
    };
    uint64_t count = std::min(kMaxStatus, size_ - pos);
    if (nbd_block_status(h_, count, pos, cb, 0) == -1)
      return NbdError(Code::kIoError, where_, fmt::format("block status at {}", pos));
    if (acc.pos <= pos) return Status(Code::kRemote, fmt::format("NBD server at {} made no block status progress", where_));
    pos = acc.pos;
  }
  if (!out.empty() && out.back().offset + out.back().length > size_)
    out.back().length = size_ - out.back().offset;
  return out;
}

Result<std::unique_ptr<MultiNbdReader>> MultiNbdReader::Connect(const std::vector<NbdInfo>& entries,
                                                                int connections,
                                                                const NbdConnectOptions& opts) {
  if (entries.empty()) return Status(Code::kNotFound, "no NBD server for this VDI (get_nbd_info gave [])");
  std::unique_ptr<MultiNbdReader> m(new MultiNbdReader());
  std::vector<bool> dead(entries.size(), false);
  Status last;
  size_t alive = entries.size();
  for (size_t i = 0; int(m->conns_.size()) < std::max(connections, 1) && alive > 0; ++i) {
    size_t e = i % entries.size();
    if (dead[e]) continue;
    auto c = NbdReader::Connect(entries[e], opts);
    if (c.ok()) {
      m->conns_.push_back(std::move(*c));
      continue;
    }
    if (c.status().code() != Code::kIoError) return c.status();
    last = c.status();
    dead[e] = true;
    --alive;
  }
  if (m->conns_.empty()) return last.With("no NBD server of the VDI reachable");
  return m;
}

Status MultiNbdReader::Read(uint64_t offset, std::span<uint8_t> buffer) {
  size_t n = conns_.size();
  if (n == 1 || buffer.size() <= kBlock) {
    uint64_t block = offset / kBlock;
    if (offset % kBlock + buffer.size() <= kBlock) return conns_[block % n]->Read(offset, buffer);
  }
  // Connection k reads the pieces of the blocks i with i % n == k.
  std::vector<Status> results(n);
  std::vector<std::thread> workers;
  for (size_t k = 0; k < n; ++k)
    workers.emplace_back([&, k] {
      uint64_t end = offset + buffer.size();
      for (uint64_t b = offset / kBlock; b * kBlock < end; ++b) {
        if (b % n != k) continue;
        uint64_t from = std::max(offset, b * kBlock), to = std::min(end, (b + 1) * kBlock);
        Status s = conns_[k]->Read(from, buffer.subspan(from - offset, to - from));
        if (!s.ok()) {
          results[k] = s;
          return;
        }
      }
    });
  for (auto& w : workers) w.join();
  for (auto& s : results) RETURN_IF_ERROR(s);
  return OkStatus();
}

}  // namespace casulo::xapi

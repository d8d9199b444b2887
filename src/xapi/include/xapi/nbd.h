// Reading VDIs over NBD (xapi-protocol.md §2.4 get_nbd_info, §4.4 the
// server, §7.4 how XO uses it), with libnbd.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "formats/raw.h"
#include "formats/xmlrpc.h"
#include "xapi/session.h"

struct nbd_handle;  // libnbd

namespace casulo::xapi {

// One vdi_nbd_server_info record.
struct NbdInfo {
  std::string exportname;  // "/<vdi-uuid>?session_id=<ref>", used verbatim
  std::string address;     // IPv4 or IPv6
  int64_t port = 10809;
  std::string cert;        // PEM of the host's certificate ("" = none)
  std::string subject;     // DNS name from it, else the host name
};

// Parses get_nbd_info's answer (a set of structs); a missing or mistyped
// field is kRemote.
Result<std::vector<NbdInfo>> ParseNbdInfo(const XmlRpcValue& v);
// VDI.get_nbd_info(vdi); [] means no NBD network (XO: NO_NBD_AVAILABLE).
// MESSAGE_METHOD_UNKNOWN (before 7.3) is returned as is.
Result<std::vector<NbdInfo>> GetNbdInfo(Session& session, const std::string& vdi_ref);

struct NbdConnectOptions {
  // XAPI gives the certificate whatever the network purpose; only the caller
  // knows the network is `insecure_nbd` (plaintext server). Set this, and
  // only then, to connect without TLS to a record that has a certificate.
  bool insecure_nbd = false;
};

// One NBD connection to one record's server, read-only. Thread-safe (libnbd
// handles are).
//
// TLS (when the record has a certificate and insecure_nbd is off) is
// required and verified against that certificate alone: it is written as
// ca-cert.pem into a private temporary directory for libnbd, which checks
// the chain and that the certificate names the address dialled (libnbd
// 1.14 has no way to check the chain without the name). Errors: TCP or TLS
// failures are kIoError naming address:port, except a certificate that does
// not verify, kAuth; a refused export (session not valid, VDI unknown:
// nbdkit and xapi-nbd do not tell them apart) is kAuth.
class NbdReader {
 public:
  static Result<std::unique_ptr<NbdReader>> Connect(const NbdInfo& info,
                                                    const NbdConnectOptions& opts = {});
  ~NbdReader();
  NbdReader(const NbdReader&) = delete;
  NbdReader& operator=(const NbdReader&) = delete;

  uint64_t Size() const { return size_; }
  // Reads exactly buffer.size() bytes at offset (REQUIRES within Size()).
  Status Read(uint64_t offset, std::span<uint8_t> buffer);
  // The allocated (non-hole) ranges, merged, from base:allocation block
  // status; the whole disk as one range when the server does not offer it.
  Result<std::vector<formats::ByteRange>> AllocatedExtents();
  const std::string& where() const { return where_; }  // "address:port"

 private:
  NbdReader() = default;
  ::nbd_handle* h_ = nullptr;
  uint64_t size_ = 0;
  std::string where_;
};

// Up to N connections, as XO's MultiNbdClient (§4.4): opened one after the
// other (parallel opens race in xapi-nbd), walking the records in turn and
// skipping addresses that cannot be reached (kIoError); an auth failure
// stops at once. Reads are striped in 2 MiB blocks, block i on connection
// i % N, the connections working in parallel.
class MultiNbdReader {
 public:
  static constexpr uint64_t kBlock = 2 << 20;
  static Result<std::unique_ptr<MultiNbdReader>> Connect(const std::vector<NbdInfo>& entries,
                                                         int connections,
                                                         const NbdConnectOptions& opts = {});
  uint64_t Size() const { return conns_[0]->Size(); }
  int connections() const { return int(conns_.size()); }
  Status Read(uint64_t offset, std::span<uint8_t> buffer);
  Result<std::vector<formats::ByteRange>> AllocatedExtents() { return conns_[0]->AllocatedExtents(); }

 private:
  std::vector<std::unique_ptr<NbdReader>> conns_;
};

}  // namespace casulo::xapi

// Pieces shared by casulo-sim's HTTP data-plane handlers (xapi-protocol.md
// §3.1): authentication by session_id, the task each transfer runs in, and
// adapters between cpp-httplib's push-style bodies and core's Sink/Source.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "core/stream.h"
#include "sim/sim.h"

namespace casulo::sim {

// The transfer's task: the caller's task_id when it names a task, else one
// of our own (named after the handler, as XAPI's are).
struct HttpTask {
  std::string ref;
  // Created by the handler (no task_id given): as in XAPI's
  // Server_helpers.exec_with_new_task, it is destroyed when the handler
  // ends, so a request without task_id leaves no task behind.
  bool own = false;
};

// Checks session_id (cookie first, then query). On failure answers 401 with
// WWW-Authenticate, fails the caller's task_id if any with
// SESSION_AUTHENTICATION_FAILED, and returns false.
bool Authenticate(Sim& sim, const httplib::Request& req, httplib::Response& res);

// Picks or creates the task and sets the response headers every handler
// sends (task-id, Cache-Control, Connection: close).
HttpTask BeginTask(Sim& sim, const httplib::Request& req, httplib::Response& res,
                   std::string_view label);
// Records the outcome: success with `result` printed as bare XML-RPC text,
// or failure with the error's ErrorDescription.
void FinishTask(Sim& sim, const HttpTask& task, const Result<XmlRpcValue>& result);

// A query parameter, else a cookie of that name, else "".
std::string Param(const httplib::Request& req, const std::string& name);

// Buffers writes into 1 MiB pieces and hands them to the client; Write fails
// with `gone` once the client has gone (handlers pass the error XAPI records
// in the task then: VDI_IO_ERROR for /export_raw_vdi, CLIENT_ERROR for /export).
class DataSinkAdapter final : public Sink {
 public:
  explicit DataSinkAdapter(httplib::DataSink& sink,
                           Status gone = Status(Code::kIoError, "the client closed the connection"))
      : sink_(sink), gone_(std::move(gone)) {
    buf_.reserve(kBuffer);
  }
  Status Write(ByteSpan data) override;
  Status Finish() override;
  uint64_t position() const override { return pos_; }

 private:
  static constexpr size_t kBuffer = 1 << 20;
  Status Flush();
  httplib::DataSink& sink_;
  Status gone_;
  Bytes buf_;
  uint64_t pos_ = 0;
};

// A bounded pipe from httplib's ContentReader callback (the producer,
// the request thread) to a Source read by a worker thread.
//
// httplib hands the body over 4 KiB at a time. The producer gathers those
// fragments into a 1 MiB piece of its own without taking the lock, and
// hands a piece over whole (moved, not copied) when it is full; the reader
// takes whole pieces the same way and copies out of its current piece
// without the lock. Emptied pieces go back to the producer for reuse, so a
// transfer allocates at most kQueued + 2 pieces: memory is bounded by
// (kQueued + 2) MiB whatever the body's size.
class PipeSource final : public Source {
 public:
  // Producer side, one thread. Blocks while kQueued pieces wait; false once
  // the reader has given up (Abandon), so the producer stops reading the
  // socket.
  bool Push(const char* data, size_t len);
  void Close();    // end of the body: hands over the partial piece
  // Reader side (any thread): the reader is done (finished or failed).
  void Abandon();
  // Reader side, one thread: up to out.size() bytes of the current piece.
  Result<size_t> Read(MutableByteSpan out) override;
  uint64_t position() const override { return pos_; }

 private:
  static constexpr size_t kPiece = 1 << 20;
  static constexpr size_t kQueued = 8;
  // Moves fill_ into full_, waiting for room; false once abandoned.
  bool HandOver();

  // Producer only.
  Bytes fill_;
  // Reader only.
  Bytes drain_;
  size_t head_ = 0;  // consumed bytes of drain_
  uint64_t pos_ = 0;
  // Shared, under mu_.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Bytes> full_;    // filled pieces, in body order
  std::vector<Bytes> spare_;  // emptied pieces, capacity kept
  bool closed_ = false;
  std::atomic<bool> abandoned_{false};  // also read by Push without mu_
};

// One transfer's statistics and data-plane faults (faults.h): counts the
// body bytes per handler path for /casulo-sim/stats, paces them when a slow
// fault applies, and once a drop fault's byte count has moved resets the TCP
// connection (RST: the peer sees ECONNRESET, as when a network path fails
// mid-transfer; no FIN, so the cut is never mistaken for the end of a body
// read until EOF).
class TransferMeter {
 public:
  TransferMeter(Sim& sim, const httplib::Request& req, bool sending);
  // How many of `len` bytes may move now, after the pause a slow fault
  // needs; 0 once the connection has been dropped.
  size_t Allow(size_t len);
  // Records `n` bytes moved; drops the connection at the drop point.
  void Moved(size_t n);
  bool dropped() const { return dropped_; }

 private:
  Sim& sim_;
  std::string path_, remote_addr_;
  int remote_port_ = -1, local_port_ = -1;
  bool sending_;
  TransferFaults faults_;
  bool armed_ = false;  // faults_ taken (at the first byte)
  uint64_t moved_ = 0;
  bool dropped_ = false;
  std::chrono::steady_clock::time_point start_;
};

// What every data-plane handler wraps its body in, so stats and faults see
// it: GET handlers their content provider, PUT handlers their reader.
httplib::ContentProviderWithoutLength Metered(Sim& sim, const httplib::Request& req,
                                              httplib::ContentProviderWithoutLength provider);
httplib::ContentReader Metered(Sim& sim, const httplib::Request& req,
                               const httplib::ContentReader& reader);

// The host whose address received `req` (its local address), else the
// master this endpoint plays (store.this_host). redirect.cc.
std::string ReceivingHost(const Store& store, const httplib::Request& req);
// §3.1: when the host that received `req` cannot see the SR(s) it involves
// (a local SR whose PBD is on another host; shared SRs are seen by all),
// answers 302 with Location <scheme>://<address of a host that sees them>
// :<port><same path>?<same query> and returns true. The SRs: /export's VM
// disks, /export_raw_vdi's and /import_raw_vdi's VDI (or sr_id|sr_uuid),
// /import's sr_id|sr_uuid (else the pool's default SR); /host_backup and
// /host_restore go to the host named by `host=` (a simulator extension:
// XAPI backs up whichever host receives the request). Requests without a
// valid session are left to the handler (401 there). redirect.cc.
bool RedirectToSrHost(Sim& sim, const httplib::Request& req, httplib::Response& res);

// Routes of the data-plane handlers (export.cc, import.cc, raw_vdi.cc).
void AddExportRoutes(httplib::Server& svr, Sim& sim);
void AddImportRoutes(httplib::Server& svr, Sim& sim);
void AddRawVdiRoutes(httplib::Server& svr, Sim& sim);
void AddMetadataRoutes(httplib::Server& svr, Sim& sim);    // export_metadata.cc
void AddXmlDbRoutes(httplib::Server& svr, Sim& sim);       // xmldb.cc: /pool/xmldbdump
void AddHostBackupRoutes(httplib::Server& svr, Sim& sim);  // host_backup.cc
void AddControlRoutes(httplib::Server& svr, Sim& sim);     // control.cc: faults, stats
void AddGuestRoutes(httplib::Server& svr, Sim& sim);       // guest.cc: guest writes

}  // namespace casulo::sim

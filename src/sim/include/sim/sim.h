// casulo-sim's dispatcher: a XAPI method call in, a result or a XAPI error
// out, plus the XML-RPC and JSON-RPC envelopes around it. Pure (no sockets):
// the HTTP server (server.h) only routes bodies here, so tests drive the
// whole protocol as request body -> response body.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sim/faults.h"
#include "sim/store.h"

namespace casulo::sim {

// A XAPI error as our Status: kRemote whose remote() is XAPI's
// ErrorDescription, [code, params...].
Status XapiError(std::vector<std::string> description);
// The XAPI form of any Status: remote() when set, else INTERNAL_ERROR [text].
std::vector<std::string> ErrorDescription(const Status& s);

// Removes every session, as XAPI's session GC does with expired ones: later
// calls with them get SESSION_INVALID (the expire-sessions fault; callers
// hold the store lock).
void ExpireSessions(Store& store);

// Current UTC time as XAPI prints datetimes: 20250319T04:16:24Z.
XmlRpcValue NowDate();

struct HttpReply {
  int status = 200;
  std::string content_type;
  std::string body;
};

using Args = std::span<const XmlRpcValue>;  // a call's params after the session

class Sim;
struct CallContext {
  Sim& sim;
  Store& store;
  std::string session;  // the caller's session ref ("" for session-less methods)
  // The held store lock; event.from releases it while it waits.
  std::unique_lock<std::mutex>* lock = nullptr;
  // The host whose address received the call ("" = this_host, the master).
  std::string host;
};

// A resolved method: how many params it takes after the session (min..max,
// min = those without defaults, as XAPI counts them in
// MESSAGE_PARAMETER_COUNT_MISMATCH), whether it takes a session first, and
// whether an Async. form exists. `available`, when set, says whether the
// product the store plays has the method at all (else MESSAGE_METHOD_UNKNOWN,
// as on a release before the method's; e.g. CBT before 7.3).
struct MethodSpec {
  int min_args = 0;
  int max_args = 0;
  bool session = true;
  bool async = false;
  Result<XmlRpcValue> (*fn)(CallContext& ctx, std::string_view method, Args args) = nullptr;
  bool (*available)(const Store& store) = nullptr;
};

class Sim {
 public:
  // `state_dir` empty: memory only (tests). Otherwise loads DIR/db.json and
  // DIR/users.json ({"user": "password", ...}) when present.
  static Result<std::unique_ptr<Sim>> Open(std::string state_dir);

  // Thread-safe: every call runs under one mutex; a call that changed the
  // store saves db.json before it returns.
  // `host`: the host ref whose address received the request ("" = master).
  Result<XmlRpcValue> Call(std::string_view method, const XmlRpcArray& params,
                           std::string_view host = {});
  HttpReply HandleXmlRpc(std::string_view body, std::string_view host = {});
  HttpReply HandleJsonRpc(std::string_view body, std::string_view host = {});

  // Runs fn on the store under the lock (HTTP handlers); saves and wakes
  // event.from waiters when the store changed.
  Status Update(const std::function<Status(Store&)>& fn);
  // Releases the call's lock until the store's generation passes `seen` or
  // `deadline` comes; returns with the lock held again.
  void WaitForChange(CallContext& ctx, uint64_t seen,
                     std::chrono::steady_clock::time_point deadline);

  // Setup, before serving (not synchronised).
  Store& store() { return store_; }
  void SetUser(std::string name, std::string password) { users_[std::move(name)] = std::move(password); }
  Status SaveUsers();
  Status Save();  // DIR/db.json, atomically; no-op without a state dir
  const std::string& state_dir() const { return dir_; }
  Faults& faults() { return faults_; }
  Stats& stats() { return stats_; }  // thread-safe (faults.h)
  bool Authenticate(std::string_view user, std::string_view password) const;

 private:
  Result<XmlRpcValue> CallLocked(std::string_view method, const XmlRpcArray& params,
                                 std::unique_lock<std::mutex>& lock, std::string_view host);

  // Saves when the generation moved past `before` and wakes waiters.
  Status Committed(uint64_t before);

  std::mutex mu_;
  std::condition_variable changed_;
  std::string dir_;
  Store store_;
  std::map<std::string, std::string, std::less<>> users_;
  Faults faults_;
  Stats stats_;
};

// Method tables (methods.cc, generic.cc). Resolve* return nullopt-like
// (fn == nullptr) for unknown methods.
struct SpecialMethod {
  std::string_view name;
  MethodSpec spec;
};
// The tables of methods with behaviour of their own, one per file.
std::span<const SpecialMethod> EventMethods();  // events.cc
std::span<const SpecialMethod> VmMethods();     // vm.cc
std::span<const SpecialMethod> VdiMethods();    // vdi.cc
std::span<const SpecialMethod> CbtMethods();    // cbt.cc: enable/disable_cbt, list_changed_blocks, data_destroy
std::span<const SpecialMethod> NbdMethods();    // nbd_methods.cc: VDI.get_nbd_info
std::span<const SpecialMethod> VmLifecycleMethods();   // vm_lifecycle.cc: create, start, shutdown...
std::span<const SpecialMethod> VmCheckpointMethods();  // vm_checkpoint.cc: checkpoint, snapshot_with_quiesce
std::span<const SpecialMethod> VdiOpsMethods();        // vdi_ops.cc: VDI.create/clone/resize/copy
std::span<const SpecialMethod> VbdVifMethods();        // vbd_vif.cc: VBD/VIF create, destroy, plug
std::span<const SpecialMethod> VmCloneMethods();       // vm_clone.cc: VM.clone
MethodSpec ResolveSpecial(std::string_view method);

// Shared by VM.snapshot and VDI.snapshot (vdi.cc): a snapshot VDI of `vdi`
// (record copy with is_a_snapshot, snapshot_of, snapshot_time, CBT flag
// inherited) and a sparse copy of its data. Returns the new ref.
Result<std::string> SnapshotVdi(CallContext& ctx, const std::string& vdi);
// What VDI.clone makes (vdi.cc): a new independent VDI in the same SR with a
// copy of the data, no CBT, not a snapshot. Used by VM.clone.
Result<std::string> CloneVdi(CallContext& ctx, const std::string& vdi);
// Gives snapshot VM `snap` copies of `vm`'s VBDs (over snapshot VDIs of its
// disks, except those in `ignore`) and VIFs, with back-references (vm.cc;
// VM.snapshot and VM.checkpoint).
Status CopyDevicesToSnapshot(CallContext& ctx, const std::string& vm, const std::string& snap,
                             const std::vector<std::string>& ignore);
// The string of a ref argument (non-strings printed, so errors can name them).
std::string RefArg(const XmlRpcValue& v);
MethodSpec ResolveGeneric(std::string_view method);
// `rec` (of class `cls`) as the release this store plays serves it: without
// the fields XAPI added later (VDI.cbt_enabled, network.purpose before 7.3).
XmlRpcValue RecordForRelease(const Store& st, std::string_view cls, const XmlRpcValue& rec);
std::vector<std::string> ListGenericMethods();
std::vector<std::string> ListMethods();  // system.listMethods: specials + generic

}  // namespace casulo::sim

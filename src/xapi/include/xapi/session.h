// A XenAPI session: login with the fallbacks real servers need, calls that
// carry the session reference, one re-login on SESSION_INVALID, logout
// (reference §1.4). Not thread-safe: one Session per thread, or a lock
// around it (sessions are pool-wide, so several may coexist).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "xapi/rpc.h"
#include "xapi/transport.h"

namespace casulo::xapi {

// Builds a transport to a pool member named by a bare address (the
// HOST_IS_SLAVE parameter). Without one, HOST_IS_SLAVE is returned as is.
using TransportFactory =
    std::function<Result<std::unique_ptr<RpcTransport>>(std::string_view address)>;

struct SessionOptions {
  Protocol protocol = Protocol::kXmlRpc;
  // Sessions are capped at 500 per originator (oldest destroyed), so ours
  // name us; "" means "casulo/<version>".
  std::string originator;
  TransportFactory connect_to_host;
};

class Session {
 public:
  Session(std::unique_ptr<RpcTransport> transport, SessionOptions options);
  ~Session();  // best-effort Logout()
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // session.login_with_password(user, password, "1.1", originator); on
  // MESSAGE_PARAMETER_COUNT_MISMATCH retries with 3 then 2 parameters (servers
  // before 6.2, before 5.0). On HOST_IS_SLAVE [master] reconnects to the
  // master through connect_to_host and retries once. Wrong credentials are
  // kAuth. The password is kept in memory for re-login and never logged.
  Status Login(std::string user, std::string password);

  // Calls `method` with the session reference prepended. On SESSION_INVALID
  // (expired, logged out by the 500-session cap) logs in again once and
  // retries. REQUIRES: a successful Login.
  Result<XmlRpcValue> Call(std::string_view method, XmlRpcArray params = {});
  // Calls without a session argument (session.*, system.listMethods).
  Result<XmlRpcValue> CallRaw(std::string_view method, const XmlRpcArray& params);

  // session.logout; the session is forgotten even if the call fails.
  Status Logout();

  bool logged_in() const { return !ref_.empty(); }
  const std::string& ref() const { return ref_; }
  // The server we talk to (changes when HOST_IS_SLAVE sent us to the master).
  std::string url() const { return transport_->url(); }
  // How many login parameters the server accepted (4, 3 or 2).
  int login_params() const { return login_params_; }

 private:
  Status LoginOnce();

  std::unique_ptr<RpcTransport> transport_;
  SessionOptions options_;
  std::string user_;
  std::string password_;
  std::string ref_;
  int login_params_ = 4;
  int64_t next_id_ = 1;
};

}  // namespace casulo::xapi

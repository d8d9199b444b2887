#include "xapi/session.h"

#include <utility>

namespace casulo::xapi {

#ifndef CASULO_VERSION
#define CASULO_VERSION "dev"
#endif

Session::Session(std::unique_ptr<RpcTransport> transport, SessionOptions options)
    : transport_(std::move(transport)), options_(std::move(options)) {
  if (options_.originator.empty()) options_.originator = "casulo/" CASULO_VERSION;
}

Session::~Session() {
  if (logged_in()) (void)Logout();  // best effort: XAPI expires it after 24 h anyway
}

Result<XmlRpcValue> Session::CallRaw(std::string_view method, const XmlRpcArray& params) {
  EncodedCall call = EncodeCall(options_.protocol, method, params, next_id_++);
  ASSIGN_OR_RETURN(std::string body, transport_->Post(call.path, call.content_type, call.body));
  return DecodeResponse(options_.protocol, body);
}

Status Session::LoginOnce() {
  // Start from the count that last worked: a re-login after SESSION_INVALID
  // does not walk the fallbacks again.
  for (int n = login_params_; n >= 2; --n) {
    XmlRpcArray params{XmlRpcValue(user_), XmlRpcValue(password_)};
    if (n >= 3) params.emplace_back("1.1");
    if (n >= 4) params.emplace_back(options_.originator);
    auto r = CallRaw("session.login_with_password", params);
    if (r.ok()) {
      if (!r->is_string() || r->str().empty()) {
        return Status(Code::kRemote, "session.login_with_password returned no session reference");
      }
      ref_ = r->str();
      login_params_ = n;
      return OkStatus();
    }
    if (!IsXapiError(r.status(), "MESSAGE_PARAMETER_COUNT_MISMATCH")) return r.status();
  }
  return Status(Code::kRemote, "session.login_with_password refused 4, 3 and 2 parameters");
}

Status Session::Login(std::string user, std::string password) {
  user_ = std::move(user);
  password_ = std::move(password);
  Status s = LoginOnce();
  if (IsXapiError(s, "HOST_IS_SLAVE") && s.remote().size() >= 2 && options_.connect_to_host) {
    std::string master = s.remote()[1];
    auto t = options_.connect_to_host(master);
    if (!t.ok()) return std::move(t).status().With("connecting to pool master " + master);
    transport_ = std::move(t).value();
    s = LoginOnce();  // once: a second HOST_IS_SLAVE is returned as is
  }
  if (!s.ok()) return std::move(s).With("logging in to " + transport_->url() + " as " + user_);
  return OkStatus();
}

Result<XmlRpcValue> Session::Call(std::string_view method, XmlRpcArray params) {
  if (!logged_in()) return Error(Code::kInternal, "{} called without a session", method);
  params.insert(params.begin(), XmlRpcValue(ref_));
  auto r = CallRaw(method, params);
  if (!IsXapiError(r.status(), "SESSION_INVALID")) return r;
  ref_.clear();
  RETURN_IF_ERROR(LoginOnce().With("logging in again after SESSION_INVALID"));
  params[0] = XmlRpcValue(ref_);
  return CallRaw(method, params);
}

Status Session::Logout() {
  if (!logged_in()) return OkStatus();
  std::string ref = std::move(ref_);
  ref_.clear();
  auto r = CallRaw("session.logout", {XmlRpcValue(ref)});
  // An already expired session is logged out: nothing to report.
  if (!r.ok() && !IsXapiError(r.status(), "SESSION_INVALID")) return std::move(r).status();
  return OkStatus();
}

}  // namespace casulo::xapi

// Status and Result<T>: the one error model of Casulo.
//
// A Status is OK or carries a Code from a small enum, a message, and a chain
// of context strings added as the error travels up ("pack 3fa1...", "backup
// image disk.img"). Callers branch on the code, never on the text. Codes map
// one to one to the CLI's exit codes (docs/cli-exit-codes.md).
//
// No exceptions cross a module boundary; they are reserved for bugs and
// bad_alloc.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

namespace casulo {

// Never renumber: the values are part of the exit-code contract.
enum class Code : int {
  kOk = 0,
  kInvalidArgument = 1,  // bad input from the user or caller
  kNotFound = 2,         // a named object, file or snapshot does not exist
  kAlreadyExists = 3,    // would overwrite something that must not be
  kCorruption = 4,       // stored data fails a check (MAC, hash, format)
  kIoError = 5,          // the OS refused a read, write, sync or rename
  kAuth = 6,             // wrong password or key
  kLocked = 7,           // a conflicting repository lock is held
  kUnsupported = 8,      // a format version or feature we do not handle
  kCancelled = 9,        // interrupted by the user or a signal
  kRemote = 10,          // a remote peer (XAPI, S3) answered with an error
  kInternal = 11,        // a bug: an invariant of our own was broken
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::vector<std::string>& context() const { return context_; }

  // Adds an outer context ("while X"); returns *this for chaining.
  Status& With(std::string context) &;
  Status&& With(std::string context) &&;

  // "context2: context1: message" (outermost first), without the code name.
  std::string ToString() const;

  // For kRemote: the peer's own error, code first then parameters, as it sent
  // them (XAPI's ErrorDescription, e.g. {"VDI_IN_USE", "OpaqueRef:..."}), so
  // callers can branch on the peer's code without parsing the message.
  const std::vector<std::string>& remote() const { return remote_; }
  Status& WithRemote(std::vector<std::string> remote) & {
    remote_ = std::move(remote);
    return *this;
  }
  Status&& WithRemote(std::vector<std::string> remote) && {
    remote_ = std::move(remote);
    return std::move(*this);
  }
  // The remote error code ("" when none).
  std::string_view remote_code() const {
    return remote_.empty() ? std::string_view() : std::string_view(remote_[0]);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::vector<std::string> context_;  // innermost first
  std::vector<std::string> remote_;
};

inline Status OkStatus() { return Status(); }

template <typename... Args>
Status Error(Code code, fmt::format_string<Args...> f, Args&&... args) {
  return Status(code, fmt::format(f, std::forward<Args>(args)...));
}

// Result<T> holds a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const& {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  Status status() && { return ok() ? Status() : std::get<Status>(std::move(v_)); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  Result& With(std::string context) & {
    if (!ok()) std::get<Status>(v_).With(std::move(context));
    return *this;
  }
  Result&& With(std::string context) && {
    if (!ok()) std::get<Status>(v_).With(std::move(context));
    return std::move(*this);
  }

 private:
  std::variant<Status, T> v_;
};

namespace internal {
inline Status AsStatus(const Status& s) { return s; }
inline Status AsStatus(Status&& s) { return std::move(s); }
template <typename T>
Status AsStatus(const Result<T>& r) { return r.status(); }
template <typename T>
Status AsStatus(Result<T>&& r) { return std::move(r).status(); }
}  // namespace internal

}  // namespace casulo

#define CASULO_CONCAT_INNER(a, b) a##b
#define CASULO_CONCAT(a, b) CASULO_CONCAT_INNER(a, b)

// Returns the Status of `expr` (a Status or Result) from the enclosing function
// when it is not OK.
#define RETURN_IF_ERROR(expr)                                              \
  do {                                                                     \
    if (auto _casulo_s = ::casulo::internal::AsStatus(expr); !_casulo_s.ok()) \
      return _casulo_s;                                                    \
  } while (0)

// Evaluates a Result<T>; returns its Status when not OK, else assigns or
// declares `lhs` with the value: ASSIGN_OR_RETURN(auto x, F());
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(CASULO_CONCAT(_casulo_r, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()

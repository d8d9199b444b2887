#include "core/status.h"

namespace casulo {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kAlreadyExists: return "already exists";
    case Code::kCorruption: return "corruption";
    case Code::kIoError: return "I/O error";
    case Code::kAuth: return "authentication failed";
    case Code::kLocked: return "locked";
    case Code::kUnsupported: return "unsupported";
    case Code::kCancelled: return "cancelled";
    case Code::kRemote: return "remote error";
    case Code::kInternal: return "internal error";
  }
  return "unknown";
}

Status& Status::With(std::string context) & {
  if (!ok()) context_.push_back(std::move(context));
  return *this;
}

Status&& Status::With(std::string context) && {
  if (!ok()) context_.push_back(std::move(context));
  return std::move(*this);
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out;
  for (auto it = context_.rbegin(); it != context_.rend(); ++it) {
    out += *it;
    out += ": ";
  }
  out += message_;
  return out;
}

}  // namespace casulo

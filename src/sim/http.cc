#include "sim/http.h"

#include <algorithm>
#include <cstring>

namespace casulo::sim {

std::string Param(const httplib::Request& req, const std::string& name) {
  if (req.has_param(name.c_str())) return req.get_param_value(name.c_str());
  std::string cookies = req.get_header_value("Cookie");
  size_t pos = 0;
  while (pos < cookies.size()) {
    size_t end = cookies.find(';', pos);
    if (end == std::string::npos) end = cookies.size();
    std::string item = cookies.substr(pos, end - pos);
    size_t start = item.find_first_not_of(' ');
    if (start != std::string::npos) item = item.substr(start);
    if (item.rfind(name + "=", 0) == 0) return item.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

bool Authenticate(Sim& sim, const httplib::Request& req, httplib::Response& res) {
  // Cookie first, then query (xapi_http.ml); Param looks the other way, so
  // look at the cookie explicitly.
  httplib::Request cookie_only;
  cookie_only.headers = req.headers;
  std::string session = Param(cookie_only, "session_id");
  if (session.empty()) session = Param(req, "session_id");
  std::string task = Param(req, "task_id");
  bool ok = false;
  (void)sim.Update([&](Store& st) {
    if (sim.faults().TakeExpireSessions()) ExpireSessions(st);
    ok = !session.empty() && st.Find("session", session) != nullptr;
    if (!ok && st.Find("task", task) != nullptr) {
      XmlRpcValue* t = st.Mutate("task", task);
      t->Set("status", "failure");
      t->Set("finished", NowDate());
      t->Set("error_info", XmlRpcValue(XmlRpcArray{XmlRpcValue("SESSION_AUTHENTICATION_FAILED"),
                                                   XmlRpcValue(""), XmlRpcValue("")}));
    }
    return OkStatus();
  });
  if (!ok) {
    res.status = 401;
    res.set_header("WWW-Authenticate", "Basic realm=\"xapi\"");
    res.set_content("<html><h1>401 Unauthorised</h1></html>", "text/html");
  }
  return ok;
}

HttpTask BeginTask(Sim& sim, const httplib::Request& req, httplib::Response& res,
                   std::string_view label) {
  std::string given = Param(req, "task_id");
  HttpTask task;
  (void)sim.Update([&](Store& st) {
    if (!given.empty() && st.Find("task", given) != nullptr) {
      task.ref = given;
      st.Mutate("task", given)->Set("progress", 0.0);
    } else {
      task.ref = st.Create("task", {{"name_label", XmlRpcValue(std::string(label))},
                                    {"created", NowDate()},
                                    {"resident_on", XmlRpcValue(st.this_host)}});
      task.own = true;
    }
    return OkStatus();
  });
  res.set_header("task-id", task.ref);
  res.set_header("Cache-Control", "no-cache, no-store");
  res.set_header("Connection", "close");
  return task;
}

void FinishTask(Sim& sim, const HttpTask& task, const Result<XmlRpcValue>& result) {
  (void)sim.Update([&](Store& st) {
    XmlRpcValue* t = st.Mutate("task", task.ref);
    if (t == nullptr) return OkStatus();  // destroyed by the client meanwhile
    t->Set("finished", NowDate());
    if (result.ok()) {
      t->Set("status", "success");
      t->Set("progress", 1.0);
      t->Set("result", formats::PrintXmlRpcValue(*result, formats::XmlRpcStyle::kBare));
    } else {
      t->Set("status", "failure");
      XmlRpcArray info;
      for (auto& d : ErrorDescription(result.status())) info.emplace_back(std::move(d));
      t->Set("error_info", XmlRpcValue(std::move(info)));
    }
    if (task.own) st.Remove("task", task.ref);
    return OkStatus();
  });
}

Status DataSinkAdapter::Flush() {
  if (buf_.empty()) return OkStatus();
  bool ok = sink_.write(reinterpret_cast<const char*>(buf_.data()), buf_.size());
  buf_.clear();
  return ok ? OkStatus() : gone_;
}

Status DataSinkAdapter::Write(ByteSpan data) {
  pos_ += data.size();
  if (buf_.size() + data.size() > kBuffer) RETURN_IF_ERROR(Flush());
  if (data.size() >= kBuffer) {
    bool ok = sink_.write(reinterpret_cast<const char*>(data.data()), data.size());
    return ok ? OkStatus() : gone_;
  }
  buf_.insert(buf_.end(), data.begin(), data.end());
  return OkStatus();
}

Status DataSinkAdapter::Finish() { return Flush(); }

bool PipeSource::HandOver() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return abandoned_ || full_.size() < kQueued; });
  if (abandoned_) return false;
  full_.push_back(std::move(fill_));
  fill_ = Bytes();
  if (!spare_.empty()) {
    fill_ = std::move(spare_.back());
    spare_.pop_back();
  }
  cv_.notify_all();
  return true;
}

bool PipeSource::Push(const char* data, size_t len) {
  if (abandoned_) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(data);
  while (len > 0) {
    if (fill_.size() == kPiece && !HandOver()) return false;
    if (fill_.capacity() < kPiece) fill_.reserve(kPiece);
    size_t take = std::min(len, kPiece - fill_.size());
    fill_.insert(fill_.end(), p, p + take);
    p += take;
    len -= take;
  }
  return true;
}

void PipeSource::Close() {
  std::lock_guard lock(mu_);
  if (!fill_.empty()) full_.push_back(std::move(fill_));
  closed_ = true;
  cv_.notify_all();
}

void PipeSource::Abandon() {
  std::lock_guard lock(mu_);
  abandoned_ = true;
  cv_.notify_all();
}

Result<size_t> PipeSource::Read(MutableByteSpan out) {
  if (head_ == drain_.size()) {
    std::unique_lock lock(mu_);
    if (drain_.capacity() > 0) {
      drain_.clear();
      spare_.push_back(std::move(drain_));
    }
    drain_ = Bytes();
    head_ = 0;
    cv_.wait(lock, [&] { return closed_ || !full_.empty(); });
    if (full_.empty()) return size_t{0};  // closed and drained
    drain_ = std::move(full_.front());
    full_.pop_front();
    cv_.notify_all();  // room for the producer
  }
  size_t n = std::min(out.size(), drain_.size() - head_);
  std::memcpy(out.data(), drain_.data() + head_, n);
  head_ += n;
  pos_ += n;
  return n;
}

}  // namespace casulo::sim

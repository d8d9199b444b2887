#include "core/pipe.h"

#include <algorithm>
#include <cstring>

namespace casulo {

namespace {
constexpr size_t kPiece = 1 << 20;
}  // namespace

void Pipe::CloseWrite(Status status) {
  std::lock_guard lock(mu_);
  write_closed_ = true;
  write_status_ = std::move(status);
  cv_.notify_all();
}

void Pipe::CloseRead() {
  std::lock_guard lock(mu_);
  read_closed_ = true;
  cv_.notify_all();
}

Status Pipe::Write(ByteSpan data) {
  std::unique_lock lock(mu_);
  while (!data.empty()) {
    cv_.wait(lock, [&] { return read_closed_ || queued_ < bound_; });
    if (read_closed_) return Status(Code::kCancelled, "the reader of the pipe has stopped");
    if (q_.empty() || q_.back().size() >= kPiece) {
      q_.emplace_back();
      q_.back().reserve(kPiece);
    }
    Bytes& tail = q_.back();
    size_t take = std::min(data.size(), kPiece - tail.size());
    tail.insert(tail.end(), data.begin(), data.begin() + take);
    data = data.subspan(take);
    queued_ += take;
    written_ += take;
    cv_.notify_all();
  }
  return OkStatus();
}

Result<size_t> Pipe::Read(MutableByteSpan out) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return queued_ > 0 || write_closed_; });
  if (queued_ == 0) {
    if (!write_status_.ok()) return write_status_;
    return size_t(0);
  }
  size_t n = 0;
  while (n < out.size() && !q_.empty()) {
    Bytes& front = q_.front();
    size_t take = std::min(out.size() - n, front.size() - head_);
    if (take == 0) break;  // the writer's tail, empty for now
    std::memcpy(out.data() + n, front.data() + head_, take);
    n += take;
    head_ += take;
    queued_ -= take;
    if (head_ == front.size() && (q_.size() > 1 || front.size() >= kPiece)) {
      q_.pop_front();
      head_ = 0;
    }
  }
  read_ += n;
  cv_.notify_all();
  return n;
}

}  // namespace casulo

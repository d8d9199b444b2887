// VmScheduler and BackupVms (engine/vm_schedule.h): the limits, the worker
// threads with a session each, and the in-order hand-back of results.
#include "engine/vm_schedule.h"

#include <algorithm>
#include <thread>

#include "core/cancel.h"
#include "vm_internal.h"

namespace casulo::engine {

using namespace vm;

VmPlacement PlaceVm(xapi::Session& s, const std::string& vm_uuid) {
  VmPlacement p;
  auto ref = Call(s, "VM.get_by_uuid", {XmlRpcValue(vm_uuid)});
  if (!ref.ok()) return p;
  auto rec = Call(s, "VM.get_record", {*ref});
  if (!rec.ok()) return p;
  for (const auto& vbd : Refs(*rec, "VBDs")) {
    auto vbd_rec = Call(s, "VBD.get_record", {XmlRpcValue(vbd)});
    if (!vbd_rec.ok() || Str(*vbd_rec, "type") != "Disk") continue;
    std::string vdi = Str(*vbd_rec, "VDI");
    if (xapi::IsNullRef(vdi)) continue;
    auto vdi_rec = Call(s, "VDI.get_record", {XmlRpcValue(vdi)});
    if (!vdi_rec.ok() || xapi::IsNullRef(Str(*vdi_rec, "SR"))) continue;
    p.srs.push_back(Str(*vdi_rec, "SR"));
  }
  std::sort(p.srs.begin(), p.srs.end());
  p.srs.erase(std::unique(p.srs.begin(), p.srs.end()), p.srs.end());
  if (std::string host = Str(*rec, "resident_on"); !xapi::IsNullRef(host)) {
    p.host = host;
    return p;
  }
  // Halted: a disk on a local SR can only be read by the host that has it
  // plugged, and XAPI sends the snapshot and the exports there.
  for (const auto& sr : p.srs) {
    auto sr_rec = Call(s, "SR.get_record", {XmlRpcValue(sr)});
    if (!sr_rec.ok() || Bool(*sr_rec, "shared")) continue;
    for (const auto& pbd : Refs(*sr_rec, "PBDs")) {
      auto pbd_rec = Call(s, "PBD.get_record", {XmlRpcValue(pbd)});
      if (pbd_rec.ok() && !xapi::IsNullRef(Str(*pbd_rec, "host"))) {
        p.host = Str(*pbd_rec, "host");
        return p;
      }
    }
  }
  return p;
}

VmScheduler::VmScheduler(std::vector<VmPlacement> vms, ConcurrencyLimits limits)
    : vms_(std::move(vms)), limits_(limits), started_(vms_.size(), false) {
  limits_.total = std::max(1, limits_.total);
}

bool VmScheduler::FitsLocked(size_t i) const {
  if (running_ >= limits_.total) return false;
  const VmPlacement& p = vms_[i];
  if (limits_.per_host > 0 && !p.host.empty()) {
    auto it = by_host_.find(p.host);
    if (it != by_host_.end() && it->second >= limits_.per_host) return false;
  }
  if (limits_.per_sr > 0)
    for (const auto& sr : p.srs) {
      auto it = by_sr_.find(sr);
      if (it != by_sr_.end() && it->second >= limits_.per_sr) return false;
    }
  return true;
}

void VmScheduler::ClaimLocked(size_t i, int delta) {
  const VmPlacement& p = vms_[i];
  running_ += delta;
  if (!p.host.empty()) by_host_[p.host] += delta;
  for (const auto& sr : p.srs) by_sr_[sr] += delta;
  max_running_ = std::max(max_running_, running_);
}

std::optional<size_t> VmScheduler::Next(const std::function<bool()>& stop, std::chrono::milliseconds poll) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (stop && stop()) return std::nullopt;
    bool left = false;
    for (size_t i = 0; i < vms_.size(); ++i) {
      if (started_[i]) continue;
      left = true;
      if (!FitsLocked(i)) continue;
      started_[i] = true;
      ClaimLocked(i, +1);
      return i;
    }
    if (!left) return std::nullopt;
    cv_.wait_for(lock, poll);
  }
}

void VmScheduler::Done(size_t i) {
  {
    std::lock_guard lock(mu_);
    ClaimLocked(i, -1);
  }
  cv_.notify_all();
}

int VmScheduler::max_running() const {
  std::lock_guard lock(mu_);
  return max_running_;
}

void BackupVms(const std::vector<xapi::Session*>& sessions, const xapi::Endpoint& endpoint,
               repo::Repository& repo, const std::vector<std::string>& vm_uuids,
               const std::vector<VmPlacement>& placements, const VmBatchOptions& options) {
  const size_t n = vm_uuids.size();
  std::vector<VmBackupOptions> opts(n);
  for (size_t i = 0; i < n; ++i)
    if (options.options_for) opts[i] = options.options_for(i);
  std::vector<VmPlacement> places = placements;
  places.resize(n);
  VmScheduler sched(std::move(places), options.limits);

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result<VmBackupReport>>> results(n);  // GUARDED_BY(mu)
  size_t ended = 0;                                                // GUARDED_BY(mu): workers
  auto worker = [&](xapi::Session* s) {
    // SIGINT/SIGTERM: no new VM starts; the running ones see the same flag,
    // undo their pool changes and end with kCancelled.
    while (auto i = sched.Next([] { return CancelRequested(); })) {
      if (options.on_start) options.on_start(*i);
      Result<VmBackupReport> r = BackupVm(*s, endpoint, repo, vm_uuids[*i], opts[*i]);
      sched.Done(*i);
      std::lock_guard lock(mu);
      results[*i] = std::move(r);
      cv.notify_all();
    }
    std::lock_guard lock(mu);
    ++ended;
    cv.notify_all();
  };
  std::vector<std::thread> threads;
  for (xapi::Session* s : sessions) threads.emplace_back(worker, s);

  size_t next = 0;  // the first VM not yet handed back
  std::unique_lock lock(mu);
  for (;;) {
    while (next < n && results[next]) {
      Result<VmBackupReport> r = std::move(*results[next]);
      lock.unlock();
      if (options.on_result) options.on_result(next, std::move(r));
      lock.lock();
      ++next;
    }
    if (next == n || ended == threads.size()) break;
    cv.wait_for(lock, options.tick);
    if (options.on_tick) {
      lock.unlock();
      options.on_tick();
      lock.lock();
    }
  }
  lock.unlock();
  for (auto& t : threads) t.join();
  // Every worker has ended: what has no result never started.
  for (; next < n; ++next) {
    Result<VmBackupReport> r = results[next] ? std::move(*results[next])
                                             : Result<VmBackupReport>(Status(Code::kCancelled, "interrupted before it started"));
    if (options.on_result) options.on_result(next, std::move(r));
  }
}

}  // namespace casulo::engine

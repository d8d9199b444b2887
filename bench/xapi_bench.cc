// Loopback throughput of the XAPI data plane, both ends ours: casulo-sim
// serving and our client (xapi::Download/Upload over libcurl) moving an
// allocated disk of SIZE MiB through /import (XVA), /export (XVA),
// /export_raw_vdi (raw and VHD) and /import_raw_vdi (raw). Reports wall
// time, GB/s, and the peak RSS of both processes, so a run at two sizes
// shows whether memory grows with the disk (it must not).
//
// Usage: xapi_bench SIM_BIN CASULO_BIN [SIZE_MIB=2048] [WORKDIR=/tmp]
//
// The first two rows are the file system's own rate for a new file of 1.5
// times the disk (see WriteNewFile): an import cannot beat it.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "core/file.h"
#include "core/stream.h"
#include "xapi/session.h"
#include "xapi/transfer.h"

namespace {

using namespace casulo;
using Clock = std::chrono::steady_clock;

class CountingSink final : public Sink {
 public:
  Status Write(ByteSpan data) override {
    pos_ += data.size();
    return OkStatus();
  }
  uint64_t position() const override { return pos_; }

 private:
  uint64_t pos_ = 0;
};

long PeakRssKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "xapi_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

// SIZE MiB: 7 of every 8 MiB random bytes, the 8th a hole, so both data and
// sparse paths are exercised and compression cannot help.
void MakeImage(const std::string& path, uint64_t mib) {
  auto f = File::Open(path, O_WRONLY | O_CREAT | O_TRUNC);
  if (!f.ok()) Die(path, f.status());
  std::mt19937_64 rng(42);
  Bytes buf(1 << 20);
  for (uint64_t i = 0; i < mib; ++i) {
    if (i % 8 == 7) continue;
    auto* w = reinterpret_cast<uint64_t*>(buf.data());
    for (size_t k = 0; k < buf.size() / 8; ++k) w[k] = rng();
    if (pwrite(f->fd(), buf.data(), buf.size(), off_t(i << 20)) != ssize_t(buf.size()))
      Die("pwrite", ErrnoStatus(errno, "pwrite", path));
  }
  if (ftruncate(f->fd(), off_t(mib << 20)) != 0) Die("ftruncate", ErrnoStatus(errno, "ftruncate", path));
}

// Writes `mib` MiB into a new file beside the state (as `dd` would) and
// deletes it; returns the wall time. The first run after boot or after
// other processes freed memory is bound by the guest's first touch of its
// pages (tmpfs here: 0.37 GB/s on first touch, 2.5 GB/s on reuse), which
// is not the simulator's rate; the imports that follow are measured after
// two of these, so they land on pages the kernel hands back quickly, and
// the rows show the file system's own rate beside the imports'.
Clock::duration WriteNewFile(const std::string& path, uint64_t mib) {
  auto f = File::Open(path, O_WRONLY | O_CREAT | O_TRUNC);
  if (!f.ok()) Die(path, f.status());
  Bytes buf(1 << 20, 0x5a);
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < mib; ++i)
    if (write(f->fd(), buf.data(), buf.size()) != ssize_t(buf.size())) Die("write", ErrnoStatus(errno, "write", path));
  auto d = Clock::now() - t0;
  *f = File();
  std::filesystem::remove(path);
  return d;
}

struct Sim {
  pid_t pid = -1;
  int port = 0;
};

Sim StartSim(const std::string& bin, const std::string& state) {
  int fds[2];
  if (pipe(fds) != 0) std::exit(1);
  Sim s;
  s.pid = fork();
  if (s.pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    execl(bin.c_str(), bin.c_str(), "--state", state.c_str(), "--listen", "127.0.0.1:0", "--demo",
          nullptr);
    _exit(127);
  }
  close(fds[1]);
  FILE* out = fdopen(fds[0], "r");
  char line[256] = {};
  if (fgets(line, sizeof line, out) != nullptr) {
    std::string t(line);
    s.port = std::atoi(t.substr(t.rfind(':') + 1).c_str());
  }
  fclose(out);
  if (s.port <= 0) Die("casulo-sim", Status(Code::kIoError, "did not start"));
  return s;
}

void Report(const char* step, uint64_t bytes, Clock::duration d) {
  double s = std::chrono::duration<double>(d).count();
  std::printf("| %-28s | %8.1f MiB | %6.2f s | %6.2f GB/s |\n", step, bytes / 1048576.0, s,
              bytes / s / 1e9);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: xapi_bench SIM_BIN CASULO_BIN [SIZE_MIB] [WORKDIR]\n");
    return 2;
  }
  std::string sim_bin = argv[1], casulo_bin = argv[2];
  uint64_t mib = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 2048;
  std::string work = std::string(argc > 4 ? argv[4] : "/tmp") + "/casulo-xapi-bench";
  std::filesystem::remove_all(work);
  std::filesystem::create_directories(work);
  std::string img = work + "/disk.raw", xva = work + "/disk.xva";
  MakeImage(img, mib);
  std::string cmd = casulo_bin + " convert " + img + " " + xva + " --to xva >/dev/null";
  if (std::system(cmd.c_str()) != 0) Die("casulo convert", Status(Code::kInternal, cmd));
  uint64_t xva_size = std::filesystem::file_size(xva);

  Sim sim = StartSim(sim_bin, work + "/state");
  xapi::Endpoint ep{"http://127.0.0.1:" + std::to_string(sim.port), {}};
  auto transport = xapi::NewCurlRpcTransport(ep);
  if (!transport.ok()) Die("transport", transport.status());
  xapi::Session session(std::move(*transport), {});
  if (Status s = session.Login("root", "casulo"); !s.ok()) Die("login", s);
  xapi::HandlerOptions opt;
  opt.wait.poll_interval = std::chrono::milliseconds(10);
  opt.wait.use_events = true;

  std::printf("disk %llu MiB (7/8 allocated, random), XVA %.1f MiB\n\n", (unsigned long long)mib,
              xva_size / 1048576.0);
  std::printf("| step | bytes | wall | rate |\n|---|---|---|---|\n");
  // The imports allocate about the disk's size: two rounds of 1.5 times it.
  uint64_t scratch = mib + mib / 2;
  Report("new file on WORKDIR, 1st", scratch << 20, WriteNewFile(work + "/scratch", scratch));
  Report("new file on WORKDIR, 2nd", scratch << 20, WriteNewFile(work + "/scratch", scratch));
  auto xf = File::OpenRead(xva);
  if (!xf.ok()) Die(xva, xf.status());
  FileSource xsrc(&*xf);
  auto t0 = Clock::now();
  auto imported = xapi::Upload(session, ep, {"/import", {}}, xsrc, xva_size, opt);
  if (!imported.ok()) Die("import", imported.status());
  Report("PUT /import (XVA)", xva_size, Clock::now() - t0);
  std::string vm = imported->task_result.is_array() ? imported->task_result.array()[0].str()
                                                    : imported->task_result.str();

  auto vbds = session.Call("VM.get_VBDs", {formats::XmlRpcValue(vm)});
  if (!vbds.ok() || vbds->array().empty()) Die("VM.get_VBDs", vbds.status());
  auto vdi = session.Call("VBD.get_VDI", {vbds->array()[0]});
  if (!vdi.ok()) Die("VBD.get_VDI", vdi.status());

  CountingSink c1;
  t0 = Clock::now();
  auto e1 = xapi::Download(session, ep, {"/export", {{"ref", vm}}}, c1, opt);
  if (!e1.ok()) Die("export", e1.status());
  Report("GET /export (XVA)", c1.position(), Clock::now() - t0);

  CountingSink c2;
  t0 = Clock::now();
  auto e2 = xapi::Download(session, ep, {"/export_raw_vdi", {{"vdi", vdi->str()}, {"format", "raw"}}}, c2, opt);
  if (!e2.ok()) Die("export_raw_vdi raw", e2.status());
  Report("GET /export_raw_vdi raw", c2.position(), Clock::now() - t0);

  CountingSink c3;
  t0 = Clock::now();
  auto e3 = xapi::Download(session, ep, {"/export_raw_vdi", {{"vdi", vdi->str()}, {"format", "vhd"}}}, c3, opt);
  if (!e3.ok()) Die("export_raw_vdi vhd", e3.status());
  Report("GET /export_raw_vdi vhd", c3.position(), Clock::now() - t0);

  auto rf = File::OpenRead(img);
  if (!rf.ok()) Die(img, rf.status());
  FileSource rsrc(&*rf);
  t0 = Clock::now();
  auto u = xapi::Upload(session, ep, {"/import_raw_vdi", {{"vdi", vdi->str()}, {"format", "raw"}}}, rsrc,
                        mib << 20, opt);
  if (!u.ok()) Die("import_raw_vdi", u.status());
  Report("PUT /import_raw_vdi raw", mib << 20, Clock::now() - t0);

  std::printf("\npeak RSS: casulo-sim %ld KiB, client %ld KiB\n", PeakRssKb(sim.pid), PeakRssKb(getpid()));
  (void)session.Logout();
  kill(sim.pid, SIGTERM);
  waitpid(sim.pid, nullptr, 0);
  std::filesystem::remove_all(work);
  return 0;
}

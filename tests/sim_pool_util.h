// Reading casulo-sim's state and statistics from a CLI test: what a VM
// backup must not leave in the pool, and the control endpoint's JSON.
// Shared by cli_vm_faults_test.cc and cli_vm_concurrency_test.cc.
// Header-only, test code only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace casulo::testing {

// Everything in the simulator's state (db.json, saved after every mutating
// call) that a finished backup must not leave: snapshot VMs, snapshot VDIs
// other than the CBT bases the repository's latest points record (which
// must be cbt_metadata), VBDs of snapshot VMs or snapshot VDIs, tasks, and
// blocked operations with our reason. One line per leftover.
inline std::vector<std::string> Leftovers(const nlohmann::json& db, const std::set<std::string>& bases) {
  std::vector<std::string> out;
  const nlohmann::json& o = db["objects"];
  auto all = [&](const char* cls) { return o.contains(cls) ? o[cls] : nlohmann::json::object(); };
  const nlohmann::json vms = all("VM"), vdis = all("VDI"), vbds = all("VBD"), tasks = all("task");
  for (const auto& [ref, vm] : vms.items()) {
    if (vm["is_a_snapshot"] == true)
      out.push_back("snapshot VM " + vm["name_label"].get<std::string>());
    const nlohmann::json& blocked = vm["blocked_operations"];
    for (const auto& [op, why] : blocked.items())
      if (why == "casulo backup running")
        out.push_back("blocked " + op + " on " + vm["name_label"].get<std::string>());
  }
  for (const auto& [ref, vdi] : vdis.items()) {
    std::string uuid = vdi["uuid"], type = vdi["type"];
    bool base = bases.count(uuid) > 0;
    if (base && type != "cbt_metadata")
      out.push_back("base VDI " + uuid + " still holds data (" + type + ")");
    else if (!base && (vdi["is_a_snapshot"] == true || type == "cbt_metadata"))
      out.push_back("snapshot VDI " + uuid + " (" + type + ")");
  }
  for (const auto& [ref, vbd] : vbds.items()) {
    std::string vm = vbd["VM"], vdi = vbd["VDI"];
    if (!vms.contains(vm) || vms[vm]["is_a_snapshot"] == true)
      out.push_back("VBD " + ref + " of a snapshot VM");
    else if (vdis.contains(vdi) && vdis[vdi]["is_a_snapshot"] == true)
      out.push_back("VBD " + ref + " on a snapshot VDI");
  }
  for (const auto& [ref, task] : tasks.items())
    out.push_back("task " + task["name_label"].get<std::string>() + " " +
                  task["status"].get<std::string>());
  return out;
}

// GET of a simulator control path over plain HTTP/1.0 (the body runs to
// EOF); "" on any failure.
inline std::string HttpGetBody(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string resp;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, req.data(), req.size()) == ssize_t(req.size())) {
      char buf[8192];
      for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) resp.append(buf, size_t(n));
    }
  }
  close(fd);
  size_t body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

}  // namespace casulo::testing

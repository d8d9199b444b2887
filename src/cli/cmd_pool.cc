// casulo pool add / list (show: cmd_pool_show.cc). Secrets rule: the pool
// password comes from a file, is copied to a 0600 file in the config
// directory, and is never put on a command line, in a message or in the
// JSON entry.
#include "cmd_pool.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "xapi/probe.h"
#include "xapi/transport.h"

namespace casulo::cli {

namespace {

using nlohmann::json;

std::string PoolsDir(const std::string& config) { return config + "/pools"; }
std::string EntryPath(const std::string& config, const std::string& name) {
  return PoolsDir(config) + "/" + name + ".json";
}
std::string PasswordPath(const std::string& config, const std::string& name) {
  return PoolsDir(config) + "/" + name + ".password";
}

std::string NowUtc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "https://host[:port]" with no path; a lone trailing '/' is dropped.
Result<std::string> NormalizeUrl(std::string url) {
  bool https = url.rfind("https://", 0) == 0, http = url.rfind("http://", 0) == 0;
  if (!https && !http)
    return Error(Code::kInvalidArgument, "pool URL '{}' must start with https:// or http://", url);
  if (!url.empty() && url.back() == '/') url.pop_back();
  size_t host = url.find("//") + 2;
  if (host >= url.size() || url.find('/', host) != std::string::npos ||
      url.find('@') != std::string::npos)
    return Error(Code::kInvalidArgument,
                 "pool URL '{}' must be scheme://host[:port], with no path and no credentials",
                 url);
  return url;
}

json EntryJson(const PoolEntry& e) {
  json j = {{"name", e.name}, {"url", e.url}, {"user", e.user}, {"added", e.added},
            {"product", e.product}, {"api_version", e.api_version}};
  if (!e.pin.empty()) j["pin"] = e.pin;
  if (!e.ca_file.empty()) j["ca_file"] = e.ca_file;
  return j;
}

// Creates `dir` with mode 0700, or tightens it if we find it looser: it
// holds passwords.
Status PrivateDir(const std::string& dir) {
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  if (::chmod(dir.c_str(), 0700) != 0) return ErrnoStatus(errno, "chmod", dir);
  return OkStatus();
}

// Asks on the terminal whether to trust `pin`. Only called when stdin is one.
bool ConfirmPin(const std::string& url) {
  std::fprintf(stderr, "Trust this key for %s? [y/N] ", url.c_str());
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

struct AddArgs {
  std::string name, url, user, password_file, ca_file, pin;
  bool yes = false, replace = false;
};

Status RunPoolAdd(const GlobalOptions& g, const AddArgs& a) {
  RETURN_IF_ERROR(CheckPoolName(a.name));
  ASSIGN_OR_RETURN(std::string config, ConfigDir());
  ASSIGN_OR_RETURN(bool exists, PathExists(EntryPath(config, a.name)));
  if (exists && !a.replace)
    return Error(Code::kAlreadyExists, "pool '{}' is already configured (use --replace)", a.name);
  PoolEntry e;
  e.name = a.name;
  ASSIGN_OR_RETURN(e.url, NormalizeUrl(a.url));
  e.user = a.user;
  if (e.user.empty()) return Error(Code::kInvalidArgument, "--user must not be empty");
  ASSIGN_OR_RETURN(std::string password, ReadSecretFile(a.password_file));
  if (!a.pin.empty() && !a.ca_file.empty())
    return Error(Code::kInvalidArgument, "give --pin or --ca-file, not both");

  bool https = e.url.rfind("https://", 0) == 0;
  if (!https) {
    if (!a.pin.empty() || !a.ca_file.empty())
      return Error(Code::kInvalidArgument, "--pin and --ca-file need an https:// URL");
    std::fprintf(stderr,
                 "warning: %s is plain http: the password and all data travel unencrypted\n",
                 e.url.c_str());
  } else if (!a.ca_file.empty()) {
    std::error_code ec;
    e.ca_file = std::filesystem::absolute(a.ca_file, ec).string();
  } else if (!a.pin.empty()) {
    if (a.pin.rfind("sha256//", 0) != 0 || a.pin.size() != 8 + 44)
      return Error(Code::kInvalidArgument, "--pin must be sha256//<44 base64 characters>");
    e.pin = a.pin;  // checked by the TLS handshake of the login below
  } else {
    // Trust on first use, shown as SSH shows a host key: the user compares
    // it with `openssl x509 -pubkey ...` on the host, or accepts it.
    ASSIGN_OR_RETURN(e.pin, xapi::FetchServerPin(e.url).With("fetching the server key"));
    std::fprintf(stderr, "The server %s presents the public key\n  %s\n", e.url.c_str(),
                 e.pin.c_str());
    if (!a.yes) {
      if (!isatty(STDIN_FILENO))
        return Error(Code::kInvalidArgument,
                     "not a terminal, so the key cannot be confirmed: check it and pass "
                     "--pin {} (or --yes to trust it as shown)",
                     e.pin);
      if (!ConfirmPin(e.url)) return Error(Code::kCancelled, "key not trusted");
    }
  }

  ASSIGN_OR_RETURN(auto session, ConnectPool(e, password).With("pool " + e.url));
  ASSIGN_OR_RETURN(xapi::ProbeResult probe, xapi::Probe(*session));
  (void)session->Logout();  // best effort: the check is done
  e.product = probe.caps.ProductText();
  e.api_version = probe.caps.api.ToString();
  e.added = NowUtc();

  // The password first: an entry never exists without its password.
  RETURN_IF_ERROR(PrivateDir(config));
  RETURN_IF_ERROR(PrivateDir(PoolsDir(config)));
  RETURN_IF_ERROR(WriteFileAtomic(PasswordPath(config, e.name),
AsBytes(password), 0600));
  std::string text = EntryJson(e).dump(2) + "\n";
  RETURN_IF_ERROR(WriteFileAtomic(EntryPath(config, e.name),
AsBytes(text), 0600));
  if (g.json) {
    std::printf("%s\n", EntryJson(e).dump().c_str());
  } else {
    std::printf("added pool %s: %s, %s as %s\n", e.name.c_str(), e.product.c_str(), e.url.c_str(),
                e.user.c_str());
  }
  return OkStatus();
}

Status RunPoolList(const GlobalOptions& g) {
  ASSIGN_OR_RETURN(std::string config, ConfigDir());
  std::vector<std::string> names;
  ASSIGN_OR_RETURN(bool have_dir, PathExists(PoolsDir(config)));
  if (have_dir) {
    ASSIGN_OR_RETURN(auto files, ListDir(PoolsDir(config)));
    for (const auto& f : files)
      if (f.size() > 5 && f.ends_with(".json")) names.push_back(f.substr(0, f.size() - 5));
  }
  std::sort(names.begin(), names.end());
  json arr = json::array();
  for (const auto& n : names) {
    if (!CheckPoolName(n).ok()) continue;
    ASSIGN_OR_RETURN(PoolEntry e, LoadPoolEntry(config, n));
    if (g.json) {
      arr.push_back(EntryJson(e));
    } else {
      std::printf("%-16s %-32s %-10s API %-6s %s\n", e.name.c_str(), e.url.c_str(),
                  e.user.c_str(), e.api_version.c_str(), e.product.c_str());
    }
  }
  if (g.json) std::printf("%s\n", arr.dump().c_str());
  else if (names.empty()) std::printf("no pools configured (casulo pool add NAME URL ...)\n");
  return OkStatus();
}

}  // namespace

Result<std::string> ConfigDir() {
  if (const char* d = std::getenv("CASULO_CONFIG_DIR"); d && *d) return std::string(d);
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0')
    return Error(Code::kInvalidArgument, "no config directory: set CASULO_CONFIG_DIR or HOME");
  return std::string(home) + "/.config/casulo";
}

Status CheckPoolName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.';
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok)
    return Error(Code::kInvalidArgument,
                 "pool name '{}': use 1-64 letters, digits, '.', '_' or '-', not starting with '.'",
                 name);
  return OkStatus();
}

Result<PoolEntry> LoadPoolEntry(const std::string& config, const std::string& name) {
  RETURN_IF_ERROR(CheckPoolName(name));
  std::string path = EntryPath(config, name);
  ASSIGN_OR_RETURN(bool exists, PathExists(path));
  if (!exists) return Error(Code::kNotFound, "no pool '{}' (see casulo pool list)", name);
  ASSIGN_OR_RETURN(Bytes b, ReadFile(path));
  json j = json::parse(b.begin(), b.end(), nullptr, false);
  auto field = [&](const char* k) {
    return j.is_object() && j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "";
  };
  PoolEntry e{name,          field("url"),   field("user"),    field("pin"),
              field("ca_file"), field("added"), field("product"), field("api_version")};
  if (e.url.empty() || e.user.empty())
    return Error(Code::kCorruption, "{}: not a pool entry (url and user required)", path);
  return e;
}

Result<std::string> LoadPoolPassword(const std::string& config, const std::string& name) {
  std::string path = PasswordPath(config, name);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  if ((st.st_mode & 077) != 0)
    return Error(Code::kInvalidArgument, "{} is readable by others (mode {:04o}): chmod 600 it",
                 path, st.st_mode & 07777);
  return ReadSecretFile(path);
}

Result<std::string> ReadSecretFile(const std::string& path) {
  if (path.empty()) return Error(Code::kInvalidArgument, "no password file given");
  ASSIGN_OR_RETURN(Bytes b, ReadFile(path).With("password file"));
  std::string s(b.begin(), b.end());
  if (size_t nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  if (!s.empty() && s.back() == '\r') s.pop_back();
  if (s.empty()) return Error(Code::kInvalidArgument, "password file {} is empty", path);
  return s;
}

Result<std::unique_ptr<xapi::Session>> ConnectPool(const PoolEntry& entry,
                                                   const std::string& password) {
  xapi::Endpoint ep{entry.url, {entry.pin, entry.ca_file}};
  ASSIGN_OR_RETURN(auto transport, xapi::NewCurlRpcTransport(ep));
  xapi::SessionOptions o;
  // Pool members share the master's TLS settings for now (per-host pins are
  // a next slice of the client, docs/design/xapi-client.md).
  o.connect_to_host = [ep](std::string_view address) {
    return xapi::NewCurlRpcTransport(xapi::EndpointForHost(ep, address));
  };
  auto session = std::make_unique<xapi::Session>(std::move(transport), std::move(o));
  RETURN_IF_ERROR(session->Login(entry.user, password).With("login as " + entry.user));
  return session;
}

void AddPoolCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* pool = app.add_subcommand("pool", "XenServer / XCP-ng pools: add, list, show");
  pool->require_subcommand(1);

  auto a = std::make_shared<AddArgs>();
  auto* add = pool->add_subcommand("add", "add a pool: check the login, store URL, user and key");
  add->add_option("NAME", a->name, "a short name for the pool")->required();
  add->add_option("URL", a->url, "https://master[:port] (http:// only for tests)")->required();
  add->add_option("--user", a->user, "XenAPI user (e.g. root)")->required();
  add->add_option("--password-file", a->password_file,
                  "file whose first line is the password (copied, mode 0600)")
      ->required();
  add->add_option("--ca-file", a->ca_file, "verify the server against this CA instead of a pin");
  add->add_option("--pin", a->pin, "the server's key, sha256//..., as checked out of band");
  add->add_flag("--yes", a->yes, "trust the server's key as shown, without asking");
  add->add_flag("--replace", a->replace, "replace an existing pool of that name");
  add->callback([&g, &action, a] { action = [&g, a] { return RunPoolAdd(g, *a); }; });

  pool->add_subcommand("list", "list the configured pools")->callback([&g, &action] {
    action = [&g] { return RunPoolList(g); };
  });

  auto name = std::make_shared<std::string>();
  auto* show = pool->add_subcommand("show", "connect and show hosts, SRs, networks and VMs");
  show->add_option("NAME", *name, "pool name")->required();
  show->callback([&g, &action, name] { action = [&g, name] { return RunPoolShow(g, *name); }; });
}

}  // namespace casulo::cli

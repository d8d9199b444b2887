// The `casulo pool` commands' shared pieces: the pool entries of the config
// directory and the connection to a pool (cmd_pool.cc, cmd_pool_show.cc).
//
// Layout (docs/design/xapi-client.md, "Config and secrets"):
//   $CASULO_CONFIG_DIR (default ~/.config/casulo), mode 0700 when we create it
//     pools/            mode 0700
//       NAME.json       mode 0600: url, user, pin or ca_file, added, product,
//                       api_version. Never a password.
//       NAME.password   mode 0600: the password, copied from --password-file.
#pragma once

#include <memory>
#include <string>

#include "cli/common.h"
#include "xapi/session.h"

namespace casulo::cli {

struct PoolEntry {
  std::string name;
  std::string url;      // "https://host[:port]" or "http://..."; no path
  std::string user;
  std::string pin;      // "sha256//..." (https without a CA file)
  std::string ca_file;  // absolute path, instead of a pin
  std::string added;    // "2026-01-02T03:04:05Z"
  std::string product;  // Capabilities::ProductText() seen at add time
  std::string api_version;
};

// $CASULO_CONFIG_DIR, else $HOME/.config/casulo.
Result<std::string> ConfigDir();
// NAME is [A-Za-z0-9._-], 1-64 characters, not starting with '.': it becomes
// a file name, so no '/' and no hidden files.
Status CheckPoolName(const std::string& name);

Result<PoolEntry> LoadPoolEntry(const std::string& config_dir, const std::string& name);
// The stored password. Refused (kInvalidArgument) when the file is readable
// by group or others, as ssh refuses such keys.
Result<std::string> LoadPoolPassword(const std::string& config_dir, const std::string& name);

// Reads a password file given by the user: the first line, without its end.
Result<std::string> ReadSecretFile(const std::string& path);

// A logged-in session to `entry`'s URL with its pin or CA file;
// HOST_IS_SLAVE is followed with the same TLS settings. Wrong credentials are
// kAuth, an unreachable server kIoError.
Result<std::unique_ptr<xapi::Session>> ConnectPool(const PoolEntry& entry,
                                                   const std::string& password);

// `pool show NAME`.
Status RunPoolShow(const GlobalOptions& g, const std::string& name);

}  // namespace casulo::cli

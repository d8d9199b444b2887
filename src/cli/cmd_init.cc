#include <cstdio>

#include "cli/common.h"

namespace casulo::cli {

void AddInitCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* sub = app.add_subcommand("init", "create a new repository");
  struct Opts {
    std::string encryption = "aes-256-gcm";
    int compression = 3;
    uint32_t kdf_mib = 64;
    uint32_t kdf_ops = 3;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("--encryption", o->encryption, "aes-256-gcm (default) or none")
      ->check(CLI::IsMember({"aes-256-gcm", "none"}));
  sub->add_option("--compression", o->compression, "zstd level, 0 = off (default 3)")
      ->check(CLI::Range(0, 19));
  sub->add_option("--kdf-memory", o->kdf_mib, "Argon2id memory in MiB (default 64)")
      ->check(CLI::Range(8, 4096));
  sub->add_option("--kdf-passes", o->kdf_ops, "Argon2id passes (default 3)")
      ->check(CLI::Range(1, 100));
  sub->callback([&g, &action, o] {
    action = [&g, o]() -> Status {
      if (g.repo.empty())
        return Error(Code::kInvalidArgument, "no repository: give -r DIR or set CASULO_REPO");
      repo::InitOptions io;
      io.encrypted = o->encryption != "none";
      io.compression = o->compression;
      io.kdf = {o->kdf_mib * 1024, o->kdf_ops};
      auto backend = repo::NewLocalBackend(g.repo);
      RETURN_IF_ERROR(repo::Repository::Init(*backend, io, [] { return ReadPassword(true); }));
      if (g.json) {
        std::printf("{\"repository\":\"%s\",\"encryption\":\"%s\"}\n", g.repo.c_str(),
                    o->encryption.c_str());
      } else {
        std::printf("created %s repository at %s\n",
                    io.encrypted ? "an encrypted" : "an UNENCRYPTED", g.repo.c_str());
        if (io.encrypted)
          std::printf("keep the password safe: without it the backups cannot be read\n");
      }
      return OkStatus();
    };
  });
}

}  // namespace casulo::cli

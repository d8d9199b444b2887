#include <cstdio>

#include "cli/common.h"

namespace casulo::cli {

void AddKeyCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* key = app.add_subcommand("key", "manage the key files of an encrypted repository");
  key->require_subcommand(1);

  key->add_subcommand("list", "list key files")->callback([&g, &action] {
    action = [&g]() -> Status {
      ASSIGN_OR_RETURN(auto repo, OpenRepo(g, false));
      ASSIGN_OR_RETURN(auto names, repo->backend().List(repo::FileType::kKey));
      for (const auto& n : names) {
        ASSIGN_OR_RETURN(Bytes kf, repo->backend().Load(repo::FileType::kKey, n));
        ASSIGN_OR_RETURN(repo::KdfParams p, repo::KeyFileParams(kf));
        std::printf("%s %s  argon2id %u MiB, %u passes\n", n == repo->key_name() ? "*" : " ",
                    n.substr(0, 12).c_str(), p.mem_kib / 1024, p.ops);
      }
      return OkStatus();
    };
  });

  // passwd: the new key file is durable before the old one is removed, so a
  // crash in between leaves two valid key files, never none.
  key->add_subcommand("passwd", "change the password (CASULO_NEW_PASSWORD_FILE or a prompt)")
      ->callback([&g, &action] {
        action = [&g]() -> Status {
          ASSIGN_OR_RETURN(auto repo, OpenRepo(g, false));
          ASSIGN_OR_RETURN(auto lock, LockRepo(*repo, true, "key passwd"));
          ASSIGN_OR_RETURN(std::string pass, ReadNewPassword());
          ASSIGN_OR_RETURN(Bytes old, repo->backend().Load(repo::FileType::kKey, repo->key_name()));
          ASSIGN_OR_RETURN(repo::KdfParams params, repo::KeyFileParams(old));
          ASSIGN_OR_RETURN(std::string added, repo->AddKey(pass, params));
          RETURN_IF_ERROR(repo->RemoveKey(repo->key_name()));
          RETURN_IF_ERROR(lock->Release());
          std::printf("password changed (key file %s replaces %s)\n", added.substr(0, 12).c_str(),
                      repo->key_name().substr(0, 12).c_str());
          return OkStatus();
        };
      });

  key->add_subcommand("add", "add a second password (CASULO_NEW_PASSWORD_FILE or a prompt)")
      ->callback([&g, &action] {
        action = [&g]() -> Status {
          ASSIGN_OR_RETURN(auto repo, OpenRepo(g, false));
          ASSIGN_OR_RETURN(std::string pass, ReadNewPassword());
          ASSIGN_OR_RETURN(std::string added, repo->AddKey(pass, repo::KdfParams{}));
          std::printf("added key file %s\n", added.substr(0, 12).c_str());
          return OkStatus();
        };
      });

  auto* rm = key->add_subcommand("remove", "remove a key file (not the one in use)");
  auto id = std::make_shared<std::string>();
  rm->add_option("ID", *id, "key file name or unique prefix")->required();
  rm->callback([&g, &action, id] {
    action = [&g, id]() -> Status {
      ASSIGN_OR_RETURN(auto repo, OpenRepo(g, false));
      ASSIGN_OR_RETURN(auto names, repo->backend().List(repo::FileType::kKey));
      std::string found;
      for (const auto& n : names)
        if (n.compare(0, id->size(), *id) == 0) {
          if (!found.empty()) return Error(Code::kInvalidArgument, "key id '{}' is ambiguous", *id);
          found = n;
        }
      if (found.empty()) return Error(Code::kNotFound, "no key file '{}'", *id);
      if (found == repo->key_name())
        return Error(Code::kInvalidArgument,
                     "key {} is the one that opened the repository; open with another password "
                     "to remove it",
                     found.substr(0, 12));
      RETURN_IF_ERROR(repo->RemoveKey(found));
      std::printf("removed key file %s\n", found.substr(0, 12).c_str());
      return OkStatus();
    };
  });
}

}  // namespace casulo::cli

#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"

namespace casulo::cli {

namespace {

Status WriteOut(ByteSpan b) {
  File out = File::FromFd(STDOUT_FILENO, "<stdout>");
  Status s = out.WriteAll(b);
  out.Release();
  return s;
}

nlohmann::json EntriesJson(const std::vector<repo::BlobEntry>& entries) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& e : entries)
    arr.push_back({{"type", e.type == repo::ObjectType::kTree ? "tree" : "data"},
                   {"id", e.id.Hex()},
                   {"offset", e.offset},
                   {"length", e.length},
                   {"raw_length", e.raw_length}});
  return arr;
}

}  // namespace

// Debugging aid: prints decrypted repository objects.
void AddCatCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* sub = app.add_subcommand("cat", "print a decrypted repository object (debugging)");
  auto what = std::make_shared<std::string>();
  auto id = std::make_shared<std::string>();
  sub->add_option("TYPE", *what, "config | snapshot | index | pack | blob | tree")
      ->required()
      ->check(CLI::IsMember({"config", "snapshot", "index", "pack", "blob", "tree"}));
  sub->add_option("ID", *id, "object id (snapshots: prefix or latest)");
  sub->callback([&g, &action, what, id] {
    action = [&g, what, id]() -> Status {
      ASSIGN_OR_RETURN(auto repo, OpenRepo(g, *what == "blob" || *what == "tree"));
      if (*what == "config") return WriteOut(repo::EncodeConfig(repo->config()));
      if (id->empty()) return Error(Code::kInvalidArgument, "cat {} needs an ID", *what);
      if (*what == "snapshot") {
        ASSIGN_OR_RETURN(std::string sid, repo->ResolveSnapshot(*id));
        ASSIGN_OR_RETURN(auto s, repo->LoadSnapshot(sid));
        return WriteOut(repo::EncodeSnapshot(s));
      }
      if (*what == "index") {
        ASSIGN_OR_RETURN(auto idx, repo->LoadIndex(*id));
        nlohmann::json j = {{"supersedes", nlohmann::json::array()}, {"packs", nlohmann::json::array()}};
        for (const auto& s : idx.supersedes) j["supersedes"].push_back(s.Hex());
        for (const auto& p : idx.packs)
          j["packs"].push_back({{"id", p.pack.Hex()}, {"blobs", EntriesJson(p.blobs)}});
        std::printf("%s\n", j.dump(2).c_str());
        return OkStatus();
      }
      if (*what == "pack") {
        ASSIGN_OR_RETURN(uint64_t size, repo->backend().Size(repo::FileType::kPack, *id));
        if (size < repo::kPackTrailerSize)
          return Error(Code::kCorruption, "pack {} is {} bytes", *id, size);
        ASSIGN_OR_RETURN(Bytes trailer, repo->backend().Load(repo::FileType::kPack, *id,
                                                             size - repo::kPackTrailerSize,
                                                             repo::kPackTrailerSize));
        ASSIGN_OR_RETURN(uint32_t hlen, repo::ReadPackHeaderLength(trailer));
        if (hlen > size - repo::kPackTrailerSize)
          return Error(Code::kCorruption, "pack {} header length {} too large", *id, hlen);
        ASSIGN_OR_RETURN(Bytes header, repo->backend().Load(repo::FileType::kPack, *id,
                                                            size - repo::kPackTrailerSize - hlen,
                                                            hlen));
        ASSIGN_OR_RETURN(auto entries, repo::DecodePackHeader(repo->sealer(), header, size));
        std::printf("%s\n", EntriesJson(entries).dump(2).c_str());
        return OkStatus();
      }
      ASSIGN_OR_RETURN(Hash256 h, Hash256::FromHexString(*id));
      ASSIGN_OR_RETURN(Bytes plain, repo->LoadBlob(h));
      if (*what == "tree") {
        ASSIGN_OR_RETURN(repo::TreeNode node, repo::DecodeTreeNode(plain));
        nlohmann::json j = {{"level", node.level}, {"ids", nlohmann::json::array()}};
        for (const auto& c : node.ids) j["ids"].push_back(c.Hex());
        std::printf("%s\n", j.dump(2).c_str());
        return OkStatus();
      }
      if (isatty(STDOUT_FILENO))
        return Error(Code::kInvalidArgument, "refusing to write binary data to a terminal");
      return WriteOut(plain);
    };
  });
}

}  // namespace casulo::cli

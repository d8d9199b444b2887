// casulo inspect FILE: what an XVA, VHD or raw image holds, checked end to end.
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "engine/convert.h"

namespace casulo::cli {
namespace {

using nlohmann::json;

std::string Str(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "-";
  return j.dump();
}

std::string Bytes(const json& j) {
  return j.is_number_unsigned() || j.is_number_integer() ? HumanBytes(j.get<uint64_t>()) : Str(j);
}

// Takes copies: operator[] on a non-const json yields null for a missing key,
// and a failed inspect leaves keys missing.
// XAPI writes memory as a decimal string; anything else is shown as is.
std::string Memory(const json& j) {
  if (j.is_string()) {
    const std::string& t = j.get_ref<const std::string&>();
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (ec == std::errc() && p == t.data() + t.size()) return HumanBytes(n);
  }
  return Str(j);
}

void PrintVhd(json v, const char* indent) {
  std::printf("%stype        %s, created by '%s' %s, %s\n", indent, Str(v["type"]).c_str(),
              Str(v["creator"]).c_str(), Str(v["creator_version"]).c_str(),
              Str(v["created"]).c_str());
  std::printf("%suuid        %s\n", indent, Str(v["uuid"]).c_str());
  std::printf("%ssize        %s (%s bytes), geometry %s\n", indent, Bytes(v["current_size"]).c_str(),
              Str(v["current_size"]).c_str(), Str(v["geometry"]).c_str());
  if (v.contains("block_size"))
    std::printf("%sblocks      %s of %s allocated, %s each (%s)\n", indent,
                Str(v["allocated_blocks"]).c_str(), Str(v["max_table_entries"]).c_str(),
                Bytes(v["block_size"]).c_str(), Bytes(v["allocated_bytes"]).c_str());
  if (v.contains("parent")) {
    json p = v["parent"];
    std::printf("%sparent      %s '%s' (modified %s)\n", indent, Str(p["uuid"]).c_str(),
                Str(p["name"]).c_str(), Str(p["modified"]).c_str());
    if (p.contains("locators"))
      for (json l : p["locators"])
        std::printf("%s  locator   %s %s\n", indent, Str(l["platform"]).c_str(), Str(l["path"]).c_str());
  }
  if (v.contains("warning")) std::printf("%swarning     %s\n", indent, Str(v["warning"]).c_str());
}

void PrintText(json j) {
  std::printf("%s: %s", Str(j["file"]).c_str(), Str(j["format"]).c_str());
  if (j.contains("file_size")) std::printf(", %s on disk", Bytes(j["file_size"]).c_str());
  std::printf("\n");
  if (j["format"] == "vhd") {
    if (j.contains("vhd")) PrintVhd(j["vhd"], "  ");
    if (j.contains("parents"))
      for (const json& p : j["parents"]) {
        std::printf("  parent image:\n");
        PrintVhd(p, "    ");
      }
    std::printf("  disk        %s %s", Str(j["kind"]).c_str(), Bytes(j["virtual_size"]).c_str());
    if (j.contains("data_bytes")) std::printf(", %s of data", Bytes(j["data_bytes"]).c_str());
    std::printf("\n");
  } else if (j["format"] == "xva") {
    json e = j["exported_by"];
    std::printf("  compressed  %s\n", Str(j["compression"]).c_str());
    std::printf("  exported by %s (build %s, xapi %s, export format %s) on %s\n",
                Str(e["product"]).c_str(), Str(e["build"]).c_str(), Str(e["xapi"]).c_str(),
                Str(e["export_vsn"]).c_str(), Str(e["date"]).c_str());
    for (json vm : j["vms"]) {
      std::printf("  VM %s '%s' uuid %s: %s, %s vCPUs, %s memory%s%s\n", Str(vm["id"]).c_str(),
                  Str(vm["name"]).c_str(), Str(vm["uuid"]).c_str(),
                  Str(vm["power_state"]).c_str(), Str(vm["vcpus"]).c_str(),
                  Memory(vm["memory_static_max"]).c_str(),
                  vm["is_a_template"] == true || vm["is_a_template"] == "true" ? ", template" : "",
                  vm["is_a_snapshot"] == true || vm["is_a_snapshot"] == "true" ? ", snapshot" : "");
    }
    for (json d : j["disks"]) {
      std::printf("  disk %s '%s' uuid %s: %s", Str(d["id"]).c_str(), Str(d["name"]).c_str(),
                  Str(d["uuid"]).c_str(), Bytes(d["virtual_size"]).c_str());
      if (d.contains("stream")) {
        json s = d["stream"];
        std::printf(", %s chunks (%s of data), %s keep-alives, checksums %s: %s verified",
                    Str(s["chunks"]).c_str(), Bytes(s["data_bytes"]).c_str(),
                    Str(s["keep_alives"]).c_str(), Str(s["checksum"]).c_str(),
                    Str(s["verified"]).c_str());
      }
      std::printf("\n");
    }
  } else {
    std::printf("  disk        %s, %s of non-zero data\n", Bytes(j["virtual_size"]).c_str(),
                Bytes(j["data_bytes"]).c_str());
  }
  if (j.value("verified", false)) std::printf("  check       OK: every structure and checksum verified\n");
}

}  // namespace

void AddInspectCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* sub = app.add_subcommand("inspect", "describe and verify an XVA, VHD or raw image");
  struct Args {
    engine::InspectOptions o;
    std::string from;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("file", a->o.input, "image to read, or - for stdin")->required();
  sub->add_option("--from", a->from, "format (default: detected)");
  sub->add_flag("--quick", [a](int64_t) { a->o.verify = false; },
                "read only the headers (XVA: ova.xml; VHD: footer, header, BAT)");
  sub->callback([&g, &action, a] {
    action = [&g, a]() -> Status {
      if (!a->from.empty()) {
        ASSIGN_OR_RETURN(engine::ImageFormat f, engine::ParseImageFormat(a->from));
        a->o.from = f;
      }
      nlohmann::json partial;
      auto r = engine::InspectImage(a->o, &partial);
      const nlohmann::json& j = r.ok() ? *r : partial;
      if (g.json) {
        nlohmann::json out = j;
        if (!r.ok()) out["error"] = r.status().ToString();
        std::printf("%s\n", out.dump().c_str());
      } else if (!j.is_null()) {
        PrintText(j);
      }
      return r.status();
    };
  });
}

}  // namespace casulo::cli

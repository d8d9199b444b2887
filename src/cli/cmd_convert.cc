// casulo convert IN OUT --to raw|vhd|xva: streams one image format into
// another (files or pipes), without a repository.
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "engine/convert.h"

namespace casulo::cli {

void AddConvertCommand(CLI::App& app, const GlobalOptions& g, CommandAction& action) {
  auto* sub = app.add_subcommand(
      "convert", "convert a disk or VM image between raw, VHD and XVA (files or - for pipes)");
  struct Args {
    engine::ConvertOptions o;
    std::string to, from, checksum = "xxhash", compress = "none", size;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("input", a->o.input, "image to read, or - for stdin")->required();
  sub->add_option("output", a->o.output, "image to write, or - for stdout")->required();
  sub->add_option("--to", a->to, "output format: raw, vhd or xva")->required();
  sub->add_option("--from", a->from, "input format (default: detected)");
  sub->add_option("--parent", a->o.parents,
                  "parent VHD of a differencing input, nearest first (repeat for a chain)");
  sub->add_option("--disk", a->o.disk, "XVA input: the disk to take (id, VDI uuid or name)");
  sub->add_option("--size", a->size, "raw input on a pipe: its size in bytes (for --to xva)");
  sub->add_option("--checksum", a->checksum,
                  "XVA output: xxhash (XenServer 8.1+, default) or sha1 (older hosts, xva-img)");
  sub->add_option("--compress", a->compress, "XVA output: none, gzip or zstd");
  sub->add_option("--vm-name", a->o.vm_name, "XVA output from a disk: the VM's name");
  sub->add_flag("--no-verify", [a](int64_t) { a->o.verify = false; },
                "XVA input: skip chunk checksum checks");
  sub->add_flag("--overwrite", a->o.overwrite, "replace an existing output file");
  sub->callback([&g, &action, a] {
    action = [&g, a]() -> Status {
      ASSIGN_OR_RETURN(a->o.to, engine::ParseImageFormat(a->to));
      if (!a->from.empty()) {
        ASSIGN_OR_RETURN(engine::ImageFormat f, engine::ParseImageFormat(a->from));
        a->o.from = f;
      }
      if (a->checksum == "xxhash") a->o.checksum = formats::ChunkChecksum::kXxh64;
      else if (a->checksum == "sha1") a->o.checksum = formats::ChunkChecksum::kSha1;
      else return Error(Code::kInvalidArgument, "--checksum must be xxhash or sha1, not '{}'", a->checksum);
      if (a->compress == "none") a->o.compression = formats::Compression::kNone;
      else if (a->compress == "gzip") a->o.compression = formats::Compression::kGzip;
      else if (a->compress == "zstd") a->o.compression = formats::Compression::kZstd;
      else return Error(Code::kInvalidArgument, "--compress must be none, gzip or zstd, not '{}'", a->compress);
      if (a->o.to != engine::ImageFormat::kXva &&
          (a->checksum != "xxhash" || a->compress != "none" || !a->o.vm_name.empty()))
        return Error(Code::kInvalidArgument, "--checksum, --compress and --vm-name apply to --to xva");
      if (!a->size.empty()) {
        uint64_t n = 0;
        auto [p, ec] = std::from_chars(a->size.data(), a->size.data() + a->size.size(), n);
        if (ec != std::errc() || p != a->size.data() + a->size.size() || n == 0)
          return Error(Code::kInvalidArgument, "--size must be a positive number of bytes, not '{}'", a->size);
        a->o.size = n;
      }
      ASSIGN_OR_RETURN(engine::ConvertReport r, engine::ConvertImage(a->o));
      FILE* out = a->o.output == "-" ? stderr : stdout;  // never mix the report into the data
      if (g.json) {
        nlohmann::json j = {{"from", engine::ImageFormatName(r.from)},
                            {"to", engine::ImageFormatName(r.to)},
                            {"virtual_size", r.virtual_size},
                            {"data_bytes", r.data_bytes},
                            {"output_bytes", r.output_bytes},
                            {"spooled", r.spooled},
                            {"notes", r.notes}};
        std::fprintf(out, "%s\n", j.dump().c_str());
      } else if (!g.quiet) {
        std::fprintf(out, "converted %s (%s) -> %s (%s): %s virtual, %s of data, %s written\n",
                     a->o.input.c_str(), std::string(engine::ImageFormatName(r.from)).c_str(),
                     a->o.output.c_str(), std::string(engine::ImageFormatName(r.to)).c_str(),
                     HumanBytes(r.virtual_size).c_str(), HumanBytes(r.data_bytes).c_str(),
                     HumanBytes(r.output_bytes).c_str());
        for (const auto& n : r.notes) std::fprintf(out, "note: %s\n", n.c_str());
      }
      return OkStatus();
    };
  });
}

}  // namespace casulo::cli

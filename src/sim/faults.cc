#include "sim/faults.h"

namespace casulo::sim {

Status Faults::Add(std::string_view spec) {
  return Error(Code::kInvalidArgument, "unknown fault '{}'", spec);
}

std::optional<std::vector<std::string>> Faults::TakeError(std::string_view) { return std::nullopt; }

std::chrono::milliseconds Faults::VdiInUseLinger() const { return std::chrono::milliseconds(0); }

}  // namespace casulo::sim

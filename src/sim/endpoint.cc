#include "core/file.h"
#include "sim/commands.h"

namespace casulo::sim {

Result<std::string> ReadEndpoint(const std::string& state_dir) {
  ASSIGN_OR_RETURN(Bytes bytes, ReadFile(state_dir + "/endpoint").With("is the simulator running?"));
  std::string url(AsChars(bytes));
  while (!url.empty() && (url.back() == '/' || url.back() == '\n')) url.pop_back();
  return url;
}

}  // namespace casulo::sim

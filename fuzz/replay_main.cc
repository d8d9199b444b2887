// Runs a fuzz target over files and directories of inputs, once each: the
// seed corpus as a regression test in every build (gcc, ASan), without
// libFuzzer. The libFuzzer build (scripts/fuzz.sh) links the same targets
// with -fsanitize=fuzzer instead of this file.
#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int RunFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return 1;
  }
  std::vector<char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int files = 0, errors = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    struct stat st;
    if (stat(arg.c_str(), &st) != 0) {
      std::fprintf(stderr, "no such input: %s\n", arg.c_str());
      return 1;
    }
    if (S_ISDIR(st.st_mode)) {
      DIR* d = opendir(arg.c_str());
      if (!d) return 1;
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        errors += RunFile(arg + "/" + e->d_name);
        ++files;
      }
      closedir(d);
    } else {
      errors += RunFile(arg);
      ++files;
    }
  }
  std::printf("replayed %d inputs\n", files);
  // An empty corpus would make the regression test pass vacuously.
  return errors == 0 && files > 0 ? 0 : 1;
}

// Keeps docs/format/ova-xml.md honest: its example parses, validates and
// streams the VDI it says, and its required-field table names every field
// the code demands. The fenced-block reader is inlined: formats tests cannot
// include the repo layer's doc_example_test_util.h.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "formats/ova.h"

namespace casulo::formats {
namespace {

std::string ReadDoc() {
  std::ifstream in(std::string(CASULO_SOURCE_DIR) + "/docs/format/ova-xml.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The fenced block right after the line `<!-- example: NAME -->`.
std::string ExampleBlock(const std::string& doc, const std::string& name) {
  const std::string marker = "<!-- example: " + name + " -->\n";
  const size_t at = doc.find(marker);
  if (at == std::string::npos || doc.compare(at + marker.size(), 3, "```") != 0) return {};
  const size_t body = doc.find('\n', at + marker.size());
  const size_t close = doc.find("\n```", body);
  if (body == std::string::npos || close == std::string::npos) return {};
  return doc.substr(body + 1, close + 1 - (body + 1));
}

TEST(OvaDocTest, ExampleIsACompleteImportableDocument) {
  const std::string block = ExampleBlock(ReadDoc(), "ova-minimal");
  ASSERT_FALSE(block.empty()) << "no ova-minimal example in docs/format/ova-xml.md";
  auto ova = ParseOvaXml(block);
  ASSERT_TRUE(ova.ok()) << ova.status().ToString();
  EXPECT_EQ(ova->version, OvaVersion());  // the version block we write
  Status valid = ValidateOvaXml(*ova);
  EXPECT_TRUE(valid.ok()) << valid.ToString();
  for (const char* cls : {"VM", "VBD", "VIF", "VDI", "SR", "network"})
    EXPECT_FALSE(OvaObjectsOfClass(*ova, cls).empty()) << cls;

  auto vdis = StreamedVdis(*ova);
  ASSERT_TRUE(vdis.ok()) << vdis.status().ToString();
  ASSERT_EQ(vdis->size(), 1u);
  EXPECT_EQ((*vdis)[0].id, "Ref:5");
  EXPECT_EQ((*vdis)[0].virtual_size, 4 << 20);
  auto vm = PrimaryVm(*ova);
  ASSERT_TRUE(vm.ok());
  auto vbds = VmVbds(*ova, **vm);
  ASSERT_TRUE(vbds.ok());
  ASSERT_EQ(vbds->size(), 2u);
  EXPECT_TRUE((*vbds)[1].empty);
}

TEST(OvaDocTest, RequiredFieldTableMatchesTheCode) {
  const std::string doc = ReadDoc();
  for (const char* cls : {"VM", "VBD", "VIF", "VDI", "SR", "network"}) {
    const std::string row_start = std::string("\n| ") + cls + " | ";
    const size_t at = doc.find(row_start);
    ASSERT_NE(at, std::string::npos) << "no table row for " << cls;
    const std::string row = doc.substr(at + 1, doc.find('\n', at + 1) - at - 1);
    for (std::string_view f : OvaRequiredFields(cls)) {
      const std::string word(f);
      bool found = false;
      for (size_t p = row.find(word); p != std::string::npos && !found;
           p = row.find(word, p + 1)) {
        auto boundary = [&](size_t i) {
          return i >= row.size() || !(std::isalnum(static_cast<unsigned char>(row[i])) ||
                                      row[i] == '_');
        };
        found = (p == 0 || boundary(p - 1)) && boundary(p + word.size());
      }
      EXPECT_TRUE(found) << cls << "." << f << " missing from the doc's table";
    }
  }
}

}  // namespace
}  // namespace casulo::formats

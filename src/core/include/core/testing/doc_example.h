// Reading the worked examples out of docs/format/*.md, shared by the tests
// that keep those documents honest. An example is the fenced block right
// after a line `<!-- example: NAME -->`; binary examples are `hexdump -C`
// listings.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "core/file.h"

namespace casulo::testing {

inline std::string ReadFormatDoc(const std::string& name) {
  Result<Bytes> b = ReadFile(std::string(CASULO_SOURCE_DIR) + "/docs/format/" + name);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::string(AsChars(*b)) : std::string();
}

// The text of the fenced block right after the line `<!-- example: NAME -->`.
inline Result<std::string> ExampleBlock(const std::string& doc, std::string_view name) {
  const std::string marker = "<!-- example: " + std::string(name) + " -->\n";
  const size_t at = doc.find(marker);
  if (at == std::string::npos) return Error(Code::kNotFound, "no line {}", marker);
  const size_t open = at + marker.size();
  if (doc.compare(open, 3, "```") != 0)
    return Error(Code::kCorruption, "no fenced block right after {}", marker);
  const size_t body = doc.find('\n', open);
  const size_t close = doc.find("\n```", body);
  if (body == std::string::npos || close == std::string::npos)
    return Error(Code::kCorruption, "unterminated fenced block after {}", marker);
  return doc.substr(body + 1, close + 1 - (body + 1));
}

// Bytes of a `hexdump -C` listing: an 8-digit offset, up to 16 hex bytes,
// an optional |ascii| column; offsets must be contiguous.
inline Result<Bytes> ParseHexdump(const std::string& text) {
  Bytes out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line.substr(0, line.find('|')));
    std::string offset, byte;
    fields >> offset;
    char* end = nullptr;
    const unsigned long at = std::strtoul(offset.c_str(), &end, 16);
    if (offset.size() != 8 || *end != '\0' || at != out.size())
      return Error(Code::kCorruption, "offset '{}' after {} bytes", offset, out.size());
    while (fields >> byte) {
      ASSIGN_OR_RETURN(Bytes b, FromHex(byte));
      if (b.size() != 1) return Error(Code::kCorruption, "bad byte '{}'", byte);
      out.push_back(b[0]);
    }
  }
  return out;
}

// ExampleBlock then ParseHexdump.
inline Result<Bytes> HexExample(const std::string& doc, std::string_view name) {
  ASSIGN_OR_RETURN(std::string block, ExampleBlock(doc, name));
  return ParseHexdump(block);
}

}  // namespace casulo::testing

// Fuzz target for the XML-RPC codec and the ova.xml model: the same bytes go
// to ParseXmlRpcValue, ParseMethodCall, ParseMethodResponse and ParseOvaXml.
// Errors are fine; crashes, hangs and leaks are findings. Whatever parses is
// printed and parsed again, and a failing or different re-parse aborts:
//  - typed printing is lossless: Parse(Print(v, kTyped)) == v;
//  - bare printing (rpc-light) loses types, so it must be a fixed point:
//    Print(Parse(Print(v, kBare)), kBare) == Print(v, kBare);
//  - call and response envelopes round-trip to equal method, params, value;
//  - ova.xml printing is a fixed point, and the readers' queries run.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "formats/ova.h"
#include "formats/xmlrpc.h"

namespace {

using casulo::formats::XmlRpcStyle;
using casulo::formats::XmlRpcValue;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "xmlrpc_fuzz oracle: %s\n%s\n", what, detail.substr(0, 4000).c_str());
  std::abort();
}

void CheckValue(const XmlRpcValue& v) {
  const std::string typed = PrintXmlRpcValue(v, XmlRpcStyle::kTyped);
  auto again = casulo::formats::ParseXmlRpcValue(typed);
  if (!again.ok()) {
    Fail("typed print does not parse", again.status().ToString() + "\n" + typed);
  }
  if (!(*again == v)) Fail("typed print parses to another value", typed);

  const std::string bare = PrintXmlRpcValue(v, XmlRpcStyle::kBare);
  auto bare_again = casulo::formats::ParseXmlRpcValue(bare);
  if (!bare_again.ok()) Fail("bare print does not parse", bare_again.status().ToString());
  if (PrintXmlRpcValue(*bare_again, XmlRpcStyle::kBare) != bare)
    Fail("bare print is not a fixed point", bare);
}

void CheckCall(const casulo::formats::XmlRpcMethodCall& call) {
  const std::string text = casulo::formats::PrintMethodCall(call.method, call.params);
  auto again = casulo::formats::ParseMethodCall(text);
  if (!again.ok()) {
    Fail("printed call does not parse", again.status().ToString() + "\n" + text);
  }
  if (again->method != call.method || !(again->params == call.params))
    Fail("printed call parses to another call", text);
}

void CheckResponse(const casulo::formats::XmlRpcResponse& r) {
  // A fault's value need not be {faultCode, faultString}: print it as it is.
  const std::string text =
      r.fault ? "<methodResponse><fault>" + PrintXmlRpcValue(r.value, XmlRpcStyle::kTyped) +
                    "</fault></methodResponse>"
              : casulo::formats::PrintMethodResponse(r.value, XmlRpcStyle::kTyped);
  auto again = casulo::formats::ParseMethodResponse(text);
  if (!again.ok()) {
    Fail("printed response does not parse", again.status().ToString() + "\n" + text);
  }
  if (again->fault != r.fault || !(again->value == r.value))
    Fail("printed response parses to another response", text);
}

void CheckOva(const casulo::formats::OvaXml& ova) {
  using namespace casulo::formats;
  const std::string text = PrintOvaXml(ova);
  auto again = ParseOvaXml(text);
  if (!again.ok()) Fail("printed ova.xml does not parse", again.status().ToString());
  if (PrintOvaXml(*again) != text) Fail("ova.xml print is not a fixed point", text);
  if (!(again->version == ova.version)) Fail("ova.xml version changed in a round trip", text);
  if (!ParseOvaXml(ReemitOvaXml(ova)).ok()) Fail("re-emitted ova.xml does not parse", text);

  // The queries must not crash on arbitrary records; their errors are fine.
  (void)ValidateOvaXml(ova);
  (void)StreamedVdis(ova);
  (void)PrimaryVm(ova);
  for (const OvaObject* vm : Vms(ova)) (void)VmVbds(ova, *vm);
  for (const OvaObject* vdi : OvaObjectsOfClass(ova, "VDI")) (void)DecodeOvaVdi(*vdi);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto v = casulo::formats::ParseXmlRpcValue(in); v.ok()) CheckValue(*v);
  if (auto c = casulo::formats::ParseMethodCall(in); c.ok()) CheckCall(*c);
  if (auto r = casulo::formats::ParseMethodResponse(in); r.ok()) CheckResponse(*r);
  if (auto o = casulo::formats::ParseOvaXml(in); o.ok()) CheckOva(*o);
  return 0;
}

// The XenAPI call and response envelopes, XML-RPC and JSON-RPC (v1 and v2).
// Pure: strings in, values out; no I/O (reference §1.2-1.4).
//
// Every response decodes to one value type, formats::XmlRpcValue, whatever
// the protocol, so callers never care which one was used. Every XAPI
// failure becomes one Status (XapiError below) that keeps the code and the
// parameters in remote(): callers branch on remote_code(), never on text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "formats/xmlrpc.h"

namespace casulo::xapi {

using formats::XmlRpcArray;
using formats::XmlRpcStruct;
using formats::XmlRpcValue;

enum class Protocol {
  kXmlRpc,     // POST /, every server from 6.x on (the default)
  kJsonRpcV1,  // POST /jsonrpc without "jsonrpc": errors are arrays (7.1+)
  kJsonRpcV2,  // POST /jsonrpc, "jsonrpc":"2.0": errors are objects (7.3+)
};

// What to POST: the path depends on the protocol.
struct EncodedCall {
  std::string path;
  std::string content_type;
  std::string body;
};

// Encodes `method(params...)`. XML-RPC uses typed values (<string>, <int>,
// <i8>, <boolean>...), which XAPI accepts for every type; JSON-RPC maps
// strings, ints, bools, doubles, arrays and structs natively, dates and
// base64 as their text. `id` is required by JSON-RPC (never null).
EncodedCall EncodeCall(Protocol protocol, std::string_view method, const XmlRpcArray& params,
                       int64_t id = 1);

// Decodes a response body of `protocol` into the call's result, or the
// XAPI error as XapiError(). Malformed bodies fail with kRemote naming what
// was wrong (an HTML page, unparseable XML or JSON, a missing envelope).
Result<XmlRpcValue> DecodeResponse(Protocol protocol, std::string_view body);
Result<XmlRpcValue> DecodeXmlRpcResponse(std::string_view body);
Result<XmlRpcValue> DecodeJsonRpcResponse(std::string_view body);  // v1 and v2

// The Status for an XAPI ErrorDescription [code, params...]:
// "XAPI error CODE [p1, p2]" with WithRemote(description). The code is
// kAuth for SESSION_AUTHENTICATION_FAILED (the CLI's "wrong password"), kRemote
// for everything else. An empty description is kRemote "XAPI error (empty)".
Status XapiError(std::vector<std::string> description);

// The Status for an HTTP answer that is not 2xx: kRemote "server answered
// HTTP 500: <text>" with the body's markup stripped and cut to 200
// characters (XAPI answers malformed RPC requests with an HTML 500 page),
// kAuth for 401 and 403.
Status HttpError(int http_status, std::string_view body);

// The XAPI error code `s` carries ("" when none). Used instead of
// Status::remote_code(), whose `empty() ? "" : remote_[0]` builds a temporary
// std::string and returns a view of it (reported to core's owner).
inline std::string_view XapiCode(const Status& s) {
  return s.remote().empty() ? std::string_view() : std::string_view(s.remote()[0]);
}
// True when `s` carries the XAPI error `code` (e.g. "SESSION_INVALID").
inline bool IsXapiError(const Status& s, std::string_view code) {
  return !s.ok() && XapiCode(s) == code;
}

// Stringifies an ErrorDescription element or a task error_info entry: XAPI
// sends strings, but a lenient peer may send ints.
std::string ValueText(const XmlRpcValue& v);

}  // namespace casulo::xapi

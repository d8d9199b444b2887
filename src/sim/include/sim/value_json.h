// XmlRpcValue <-> JSON, in two flavours:
//  - wire (JSON-RPC): what XAPI's rpclib emits — ints as number literals,
//    datetimes and refs as strings, nil as null;
//  - state (db.json): lossless, so a record reloads with the same wire
//    types: datetimes become {"$datetime": text}, base64 {"$base64": text}.
#pragma once

#include <nlohmann/json.hpp>

#include "formats/xmlrpc.h"

namespace casulo::sim {

using Json = nlohmann::ordered_json;

enum class JsonFlavour { kWire, kState };

Json ToJson(const formats::XmlRpcValue& v, JsonFlavour flavour);
// Wire: numbers that are integers become kInt, others kDouble. State also
// restores the tagged objects above. Never fails: every JSON value maps.
formats::XmlRpcValue FromJson(const Json& j, JsonFlavour flavour);

}  // namespace casulo::sim

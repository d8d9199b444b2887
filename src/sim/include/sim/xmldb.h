// The pool database in XAPI's XML dump layout (xapi-protocol.md §4.1), as
// GET /pool/xmldbdump serves it and host-backup embeds it.
#pragma once

#include <string>

#include "sim/store.h"

namespace casulo::sim {

// The whole database as /pool/xmldbdump writes it.
std::string DumpPoolDatabase(const Store& store);

}  // namespace casulo::sim

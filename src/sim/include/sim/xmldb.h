// The pool database in XAPI's XML dump layout (xapi-protocol.md §4.1), as
// GET /pool/xmldbdump serves it and host-backup embeds it, the parser for
// it, and the checks and rewrites of a restore (PUT /pool/xmldbdump).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/status.h"
#include "sim/store.h"

namespace casulo::sim {

inline constexpr int64_t kSchemaMajorVsn = 5;

// schema_minor_vsn of the release the store's master claims to be
// (host.software_version product_version): 6.5 creedence 72, 7.1 ely 108,
// 8.2 stockholm 601, XCP-ng 8.3 (xapi 24.19.2) 779; others 779.
// Source: X:ocaml/idl/datamodel_common.ml, at tag v24.19.2 for 779.
int64_t SchemaMinorVsn(const Store& store);

// The whole database as /pool/xmldbdump writes it (db_xml.ml To.database):
// one table per class of the schema, rows of non-persistent classes
// (session, task) left out.
std::string DumpPoolDatabase(const Store& store);

struct DumpRow {
  uint64_t ctime = 0, mtime = 0;
  XmlRpcValue record;  // the class's defaults overridden by the row's columns
};
struct ParsedDatabase {
  int64_t schema_major = 0, schema_minor = 0;
  uint64_t generation = 0;
  // class -> ref -> row; tables of classes we do not know must be empty.
  std::map<std::string, std::map<std::string, DumpRow>, std::less<>> tables;
};

// Parses a dump (db_xml.ml From.database). Values are typed by our schema;
// fields a row lacks take the class default (XAPI's upgrade does the same).
// kCorruption for malformed XML, an unexpected tag, a row without ref, a
// column the class does not have ("Unexpected column in table T: C", as
// XAPI words it), rows in a table of an unknown class, or a value that does
// not decode as the column's type.
Result<ParsedDatabase> ParsePoolDatabase(std::string_view xml);

// The column name of a field: namespaces joined by "__" (name_label ->
// name__label, memory_static_max -> memory__static_max; escaping.ml).
std::string ColumnOfField(std::string_view field);

// The restore checks and rewrites of pool_db_backup.ml
// prepare_database_for_restore against the running `current` store: schema
// version equal to ours (else RESTORE_INCOMPATIBLE_VERSION []); the backup's
// master kept, with the uuids of this host and its dom0; other hosts and
// their PIFs dropped; the master's PIFs matched by device with this host's
// physical PIFs (MAC taken over; missing -> RESTORE_TARGET_MISSING_DEVICE
// [device]); this host's management device required in the backup (else
// RESTORE_TARGET_MGMT_IF_NOT_IN_BACKUP [devices of the backup]). Returns the
// restored database as a db.json document (Store::FromJson) whose generation
// is filled in when it is applied.
Result<Json> PrepareRestore(const Store& current, ParsedDatabase db);

}  // namespace casulo::sim

// The versioned JSON-lines log of Store::Export and Store::Import, shared by the store
// backends: a header line {"format":"priortune-log","version":N}, then one record per
// line. Internal to db/.
#pragma once

#include <iosfwd>
#include <vector>

#include "db/store.h"

namespace priortune::db {

// Parses and checks every line (header first) before anything is written:
// InvalidArgument "line N: field 'F': ..." for the first bad record.
StatusOr<std::vector<Record>> ReadLog(std::istream& in, const RecordCheck& check);
// The header, then `records`; Internal if the stream fails.
Status WriteLog(std::ostream& out, const std::vector<Record>& records);

}  // namespace priortune::db

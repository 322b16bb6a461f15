// Importing a tuning log (JSON lines, plain or gzip) into a store, all or nothing. The store
// takes keys on trust; the importer, who knows the compiler, checks every record's keys
// against its workload, target and config, and brings old target forms to the current one.
#pragma once

#include <string>

#include "compiler/support/status.h"
#include "db/store.h"

namespace priortune::tuner {

// The log at `path`: NotFound if it cannot be read, InvalidArgument for a bad record.
StatusOr<db::ImportStats> ImportLogFile(db::Store& store, const std::string& path);
// The log's text; `name` prefixes the errors.
StatusOr<db::ImportStats> ImportLogText(db::Store& store, const std::string& text, const std::string& name);

}  // namespace priortune::tuner

// The SQLite store's schema (sqlite_store.cpp): the migrations PRAGMA user_version counts.
#pragma once

namespace priortune::db::internal {

// Entry i migrates a store from schema version i to i + 1.
extern const char* const kSqliteMigrations[];
// The number of migrations: the schema version of a store this build writes.
extern const int kSqliteSchemaVersion;

}  // namespace priortune::db::internal

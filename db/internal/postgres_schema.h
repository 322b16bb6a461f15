// The PostgreSQL store's schema (postgres_store.cpp): the migrations its schema_version
// table counts.
#pragma once

namespace priortune::db::internal {

// Entry i migrates a store from schema version i to i + 1.
extern const char* const kPostgresMigrations[];
// The number of migrations: the schema version of a store this build writes.
extern const int kPostgresSchemaVersion;

}  // namespace priortune::db::internal

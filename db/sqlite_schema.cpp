#include "db/internal/sqlite_schema.h"

namespace priortune::db::internal {

// Each entry migrates from version i to i + 1. Never edit a shipped step: add one.
const char* const kSqliteMigrations[] = {
    R"sql(
CREATE TABLE workloads(
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  op TEXT NOT NULL,
  json TEXT NOT NULL);
CREATE TABLE targets(
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  isa_family TEXT NOT NULL,
  json TEXT NOT NULL);
CREATE TABLE jobs(
  id INTEGER PRIMARY KEY,
  request TEXT NOT NULL,
  state TEXT NOT NULL,
  created REAL NOT NULL,
  finished REAL);
CREATE TABLE tasks(
  id INTEGER PRIMARY KEY,
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  workload_id INTEGER NOT NULL REFERENCES workloads(id),
  target_id INTEGER NOT NULL REFERENCES targets(id),
  trials INTEGER NOT NULL,
  measured INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL);
CREATE TABLE records(
  id INTEGER PRIMARY KEY,
  workload_id INTEGER NOT NULL REFERENCES workloads(id),
  target_id INTEGER NOT NULL REFERENCES targets(id),
  config TEXT NOT NULL,
  config_hash TEXT NOT NULL,
  costs TEXT NOT NULL,            -- JSON array of seconds per call, one per round
  cost REAL,                      -- median of costs; NULL for a failed record
  error_kind TEXT NOT NULL,
  error_message TEXT NOT NULL,
  compile_seconds REAL NOT NULL,
  worker TEXT NOT NULL,
  job_id INTEGER REFERENCES jobs(id),
  timestamp REAL NOT NULL);
CREATE INDEX records_by_task ON records(workload_id, target_id, config_hash);
CREATE TABLE best(
  workload_id INTEGER NOT NULL REFERENCES workloads(id),
  target_id INTEGER NOT NULL REFERENCES targets(id),
  record_id INTEGER NOT NULL REFERENCES records(id),
  cost REAL NOT NULL,
  PRIMARY KEY(workload_id, target_id));
)sql",
    // The version of the op's template the config was tuned with (records from before
    // versions existed are version 1).
    R"sql(
ALTER TABLE records ADD COLUMN template_version INTEGER NOT NULL DEFAULT 1;
)sql",
    // Cost models (blobs the db does not interpret) and a task's notes (e.g. which cost
    // model it kept).
    R"sql(
CREATE TABLE models(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  feature_version INTEGER NOT NULL,
  target_key TEXT NOT NULL,
  training_set TEXT NOT NULL,
  metrics TEXT NOT NULL,
  samples INTEGER NOT NULL,
  created REAL NOT NULL,
  blob BLOB NOT NULL);
CREATE INDEX models_by_target ON models(kind, target_key, training_set);
ALTER TABLE tasks ADD COLUMN notes TEXT NOT NULL DEFAULT '';
)sql",
    // A cache of the cost-model features of records (blobs the db does not interpret),
    // per feature-layout version, so that the history is lowered once, not per task.
    R"sql(
CREATE TABLE record_features(
  record_id INTEGER NOT NULL REFERENCES records(id),
  feature_version INTEGER NOT NULL,
  blob BLOB NOT NULL,
  PRIMARY KEY(record_id, feature_version));
)sql",
    R"sql(
CREATE TABLE leases(
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires REAL NOT NULL);
)sql",
    // Targets name their microarchitecture (issue 27), which changes their keys: the
    // compiler-aware opener (tuner/open_store.h) rewrites old targets through
    // RewriteTargets, and every renamed key stays findable here.
    R"sql(
CREATE TABLE target_aliases(
  old_key TEXT PRIMARY KEY,
  key TEXT NOT NULL);
)sql",
};
const int kSqliteSchemaVersion = sizeof(kSqliteMigrations) / sizeof(kSqliteMigrations[0]);

}  // namespace priortune::db::internal

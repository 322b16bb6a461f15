#include "db/internal/postgres_schema.h"

namespace priortune::db::internal {

// Each entry migrates from version i to i + 1, as sqlite_schema.cpp's kSqliteMigrations (same
// numbering, so a version means the same schema on both). Never edit a shipped step.
const char* const kPostgresMigrations[] = {
    R"sql(
CREATE TABLE workloads(
  id BIGSERIAL PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  op TEXT NOT NULL,
  json TEXT NOT NULL);
CREATE TABLE targets(
  id BIGSERIAL PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  isa_family TEXT NOT NULL,
  json TEXT NOT NULL);
CREATE TABLE jobs(
  id BIGSERIAL PRIMARY KEY,
  request TEXT NOT NULL,
  state TEXT NOT NULL,
  created DOUBLE PRECISION NOT NULL,
  finished DOUBLE PRECISION);
CREATE TABLE tasks(
  id BIGSERIAL PRIMARY KEY,
  job_id BIGINT NOT NULL REFERENCES jobs(id),
  workload_id BIGINT NOT NULL REFERENCES workloads(id),
  target_id BIGINT NOT NULL REFERENCES targets(id),
  trials BIGINT NOT NULL,
  measured BIGINT NOT NULL DEFAULT 0,
  state TEXT NOT NULL);
CREATE TABLE records(
  id BIGSERIAL PRIMARY KEY,
  workload_id BIGINT NOT NULL REFERENCES workloads(id),
  target_id BIGINT NOT NULL REFERENCES targets(id),
  config TEXT NOT NULL,
  config_hash TEXT NOT NULL,
  costs TEXT NOT NULL,
  cost DOUBLE PRECISION,
  error_kind TEXT NOT NULL,
  error_message TEXT NOT NULL,
  compile_seconds DOUBLE PRECISION NOT NULL,
  worker TEXT NOT NULL,
  job_id BIGINT REFERENCES jobs(id),
  timestamp DOUBLE PRECISION NOT NULL);
CREATE INDEX records_by_task ON records(workload_id, target_id, config_hash);
CREATE TABLE best(
  workload_id BIGINT NOT NULL REFERENCES workloads(id),
  target_id BIGINT NOT NULL REFERENCES targets(id),
  record_id BIGINT NOT NULL REFERENCES records(id),
  cost DOUBLE PRECISION NOT NULL,
  PRIMARY KEY(workload_id, target_id));
)sql",
    R"sql(
ALTER TABLE records ADD COLUMN template_version INTEGER NOT NULL DEFAULT 1;
)sql",
    R"sql(
CREATE TABLE models(
  id BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL,
  feature_version INTEGER NOT NULL,
  target_key TEXT NOT NULL,
  training_set TEXT NOT NULL,
  metrics TEXT NOT NULL,
  samples BIGINT NOT NULL,
  created DOUBLE PRECISION NOT NULL,
  blob BYTEA NOT NULL);
CREATE INDEX models_by_target ON models(kind, target_key, training_set);
ALTER TABLE tasks ADD COLUMN notes TEXT NOT NULL DEFAULT '';
)sql",
    R"sql(
CREATE TABLE record_features(
  record_id BIGINT NOT NULL REFERENCES records(id),
  feature_version INTEGER NOT NULL,
  blob BYTEA NOT NULL,
  PRIMARY KEY(record_id, feature_version));
)sql",
    R"sql(
CREATE TABLE leases(
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires DOUBLE PRECISION NOT NULL);
)sql",
    R"sql(
CREATE TABLE target_aliases(
  old_key TEXT PRIMARY KEY,
  key TEXT NOT NULL);
)sql",
};
const int kPostgresSchemaVersion = sizeof(kPostgresMigrations) / sizeof(kPostgresMigrations[0]);

}  // namespace priortune::db::internal

// The PostgreSQL implementation of Store, through libpq (its header stays in this file).
// The same tables, the same numbered migrations and the same semantics as the SQLite
// store (sqlite_store.cpp), in PostgreSQL's dialect:
//   Open: PQconnectdb(url) -> Migrate (table priortune_schema, under an advisory lock so
//         that servers starting together migrate once)
//   AddRecords: one transaction -> upsert workload/target -> insert record -> update best
//   Best: exact target -> same ISA family -> any target
// Every parameter is sent as text (blobs as binary bytea); results come back as text.
// Each statement is prepared once per connection and then executed by name. Reads
// (Best, History) run on the store's connection when it is free, else on one of a few
// more reader connections, so that lookups from many clients run side by side.
// Errors become Status at the call that saw them: a lost connection and serialization
// failures are Unavailable, the rest Internal, with PostgreSQL's message.
// A dropped connection (a server restart, a failover, pg_terminate_backend) is retried:
//   a statement outside a transaction -> reconnect (PQreset) -> run it again
//   a transaction -> rolled back by the server -> reconnect -> the whole body again
//   COMMIT sent, connection lost before its answer -> outcome unknown: AddRecords looks
//   for its records to decide; any other transaction reports Unavailable
// a few times with a growing pause (about 3 s in all), then Unavailable.
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <istream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "db/log_format.h"
#include "db/store_rows.h"
#include "db/store.h"

namespace priortune::db {
namespace {

using nlohmann::json;

// Each entry migrates from version i to i + 1, as sqlite_store.cpp's kMigrations (same
// numbering, so a version means the same schema on both). Never edit a shipped step.
const char* const kMigrations[] = {
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
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);
// pg_advisory_xact_lock key of the migration (any constant of ours).
constexpr int64_t kMigrationLock = 0x7072696f72;  // "prior"
// The store's clock in SQL (leases expire on it): the server's, so that servers on
// several hosts agree.
#define PT_PG_NOW "extract(epoch from clock_timestamp())"
constexpr int kAttempts = 6;  // tries of a statement or transaction whose connection dropped

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A query parameter: text, binary (bytea) or NULL.
struct Param {
  std::optional<std::string> value;
  bool binary = false;
};
Param P(const std::string& v) { return {v, false}; }
Param P(int64_t v) { return {std::to_string(v), false}; }
Param P(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);  // round-trips exactly
  return {std::string(buf), false};
}
Param Null() { return {std::nullopt, false}; }
Param Blob(const std::string& v) { return {v, true}; }

// A result, cleared on scope exit.
class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  int rows() const { return PQntuples(r_); }
  int64_t changed() const { return std::atoll(PQcmdTuples(r_)); }
  PGresult* get() const { return r_; }
  bool IsNull(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
  }
  int64_t Int(int row, int col) const { return std::atoll(PQgetvalue(r_, row, col)); }
  double Real(int row, int col) const { return std::strtod(PQgetvalue(r_, row, col), nullptr); }
  std::string Bytes(int row, int col) const {
    size_t n = 0;
    unsigned char* p = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col)), &n);
    std::string out = p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
    PQfreemem(p);
    return out;
  }

 private:
  PGresult* r_;
};

// Row `row` of a result, as ReadRecordRow reads it.
struct RowOf {
  const Result& r;
  int row;
  std::string Text(int col) const { return r.Text(row, col); }
  int64_t Int(int col) const { return r.Int(row, col); }
  double Real(int col) const { return r.Real(row, col); }
  bool IsNull(int col) const { return r.IsNull(row, col); }
};
StatusOr<Record> ReadRecord(const Result& s, int row) { return ReadRecordRow(RowOf{s, row}); }

// The URL with its password (user:password@) replaced by ***, for messages.
std::string Redacted(const std::string& url) {
  auto scheme = url.find("://");
  auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

// A new connection to `url`, or Unavailable with libpq's reason (the password redacted).
StatusOr<PGconn*> Connect(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (conn && PQstatus(conn) == CONNECTION_OK) return conn;
  std::string message = conn ? PQerrorMessage(conn) : "out of memory";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  PQfinish(conn);
  return Status(StatusCode::kUnavailable, "cannot open store '" + Redacted(url) + "': " + message);
}

class PostgresStore : public Store {
 public:
  PostgresStore(PGconn* conn, std::string url) : conn_(conn), url_(std::move(url)) {}
  ~PostgresStore() override {
    readers_.clear();
    PQfinish(conn_);
  }

  Status Init() {
    PT_RETURN_IF_ERROR(Session());
    return Migrate();
  }

  int schema_version() const override { return kSchemaVersion; }

  Status AddRecords(std::vector<Record>& records) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction(
        [&]() -> Status {
          for (auto& r : records) PT_RETURN_IF_ERROR(Insert(r));
          return OkStatus();
        },
        [&] { return Stored(records); });
  }

  // FOR SHARE holds the lease row until COMMIT: another server's AcquireLease (an
  // UPDATE of that row) waits for this batch, then finds the lease as this batch left it.
  Status AddRecordsUnderLease(std::vector<Record>& records, const std::string& lease,
                              const std::string& holder) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction(
        [&]() -> Status {
          PT_ASSIGN_OR_RETURN(Result s, Query("SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND "
                                              "expires > " PT_PG_NOW " FOR SHARE",
                                              {P(lease), P(holder)}));
          if (s.rows() == 0) return Status(StatusCode::kAborted, LeaseLost(lease, holder));
          for (auto& r : records) PT_RETURN_IF_ERROR(Insert(r));
          return OkStatus();
        },
        [&] { return Stored(records); });
  }

  StatusOr<bool> AcquireLease(const std::string& name, const std::string& holder, double ttl_seconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    PT_ASSIGN_OR_RETURN(Result s, Query("INSERT INTO leases(name, holder, expires) VALUES($1, $2, " PT_PG_NOW
                                        " + $3) ON CONFLICT(name) DO UPDATE SET holder = EXCLUDED.holder, "
                                        "expires = EXCLUDED.expires WHERE leases.holder = EXCLUDED.holder OR "
                                        "leases.expires <= " PT_PG_NOW,
                                        {P(name), P(holder), P(ttl_seconds)}));
    return s.changed() > 0;
  }

  StatusOr<std::vector<std::string>> RenewLeases(const std::string& holder, double ttl_seconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    PT_ASSIGN_OR_RETURN(Result s, Query("UPDATE leases SET expires = " PT_PG_NOW " + $2 WHERE holder = $1 "
                                        "RETURNING name",
                                        {P(holder), P(ttl_seconds)}));
    std::vector<std::string> out;
    for (int i = 0; i < s.rows(); ++i) out.push_back(s.Text(i, 0));
    std::sort(out.begin(), out.end());
    return out;
  }

  Status ReleaseLease(const std::string& name, const std::string& holder) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Query("DELETE FROM leases WHERE name = $1 AND holder = $2", {P(name), P(holder)}).status();
  }

  Status DropLeases(const std::string& holder) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Query("DELETE FROM leases WHERE $1 = '' OR holder = $1", {P(holder)}).status();
  }

  StatusOr<std::vector<LeaseRow>> Leases(const std::string& prefix) override {
    std::lock_guard<std::mutex> lock(mu_);
    PT_ASSIGN_OR_RETURN(Result s, Query("SELECT name, holder, expires, expires <= " PT_PG_NOW " FROM leases "
                                        "WHERE left(name, length($1)) = $1 ORDER BY name",
                                        {P(prefix)}));
    std::vector<LeaseRow> out;
    for (int i = 0; i < s.rows(); ++i) out.push_back({s.Text(i, 0), s.Text(i, 1), s.Real(i, 2), s.Text(i, 3) == "t"});
    return out;
  }

  // Reads run on whichever connection is free (this one, or a reader: see OnFreeConnection).
  StatusOr<std::optional<BestMatch>> Best(const std::string& workload_key, const std::string& target_key,
                                          const std::string& isa_family, const BestFilter& filter) override {
    return OnFreeConnection([&](PostgresStore& c) { return c.BestLocked(workload_key, target_key, isa_family, filter); });
  }

  StatusOr<std::vector<Record>> History(const HistoryQuery& q) override {
    return OnFreeConnection([&](PostgresStore& c) { return c.HistoryLocked(q); });
  }

  StatusOr<int64_t> CreateJob(const std::string& request_json) override {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t id = 0;
    PT_RETURN_IF_ERROR(InTransaction([&]() -> Status {
      PT_ASSIGN_OR_RETURN(Result s, Query("INSERT INTO jobs(request, state, created) VALUES($1, 'running', $2) "
                                          "RETURNING id",
                                          {P(request_json), P(Now())}));
      id = s.Int(0, 0);
      return OkStatus();
    }));
    return id;
  }

  Status FinishJob(int64_t job_id, const std::string& state) override {
    std::lock_guard<std::mutex> lock(mu_);
    PT_ASSIGN_OR_RETURN(Result s, Query("UPDATE jobs SET state = $1, finished = $2 WHERE id = $3",
                                        {P(state), P(Now()), P(job_id)}));
    if (s.changed() == 0) return NotFound("no job " + std::to_string(job_id));
    return OkStatus();
  }

  StatusOr<int64_t> CreateTask(int64_t job_id, const Record& wt, int64_t trials) override {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t id = 0;
    PT_RETURN_IF_ERROR(InTransaction([&]() -> Status {
      PT_ASSIGN_OR_RETURN(int64_t workload_id, UpsertWorkload(wt));
      PT_ASSIGN_OR_RETURN(int64_t target_id, UpsertTarget(wt));
      PT_ASSIGN_OR_RETURN(Result s, Query("INSERT INTO tasks(job_id, workload_id, target_id, trials, state) "
                                          "VALUES($1, $2, $3, $4, 'running') RETURNING id",
                                          {P(job_id), P(workload_id), P(target_id), P(trials)}));
      id = s.Int(0, 0);
      return OkStatus();
    }));
    return id;
  }

  Status FinishTask(int64_t task_id, const std::string& state, int64_t measured) override {
    std::lock_guard<std::mutex> lock(mu_);
    PT_ASSIGN_OR_RETURN(Result s, Query("UPDATE tasks SET state = $1, measured = $2 WHERE id = $3",
                                        {P(state), P(measured), P(task_id)}));
    if (s.changed() == 0) return NotFound("no task " + std::to_string(task_id));
    return OkStatus();
  }

  Status AnnotateTask(int64_t task_id, const std::string& notes) override {
    std::lock_guard<std::mutex> lock(mu_);
    PT_ASSIGN_OR_RETURN(Result s, Query("UPDATE tasks SET notes = $1 WHERE id = $2", {P(notes), P(task_id)}));
    if (s.changed() == 0) return NotFound("no task " + std::to_string(task_id));
    return OkStatus();
  }

  StatusOr<int64_t> AddModel(const ModelRow& m) override {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t id = 0;
    PT_RETURN_IF_ERROR(InTransaction([&]() -> Status {
      PT_ASSIGN_OR_RETURN(Result s,
                          Query("INSERT INTO models(kind, feature_version, target_key, training_set, metrics, "
                                "samples, created, blob) VALUES($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                                {P(m.kind), P(static_cast<int64_t>(m.feature_version)), P(m.target_key),
                                 P(m.training_set), P(m.metrics_json), P(m.samples),
                                 P(m.created > 0 ? m.created : Now()), Blob(m.blob)}));
      id = s.Int(0, 0);
      return OkStatus();
    }));
    return id;
  }

  StatusOr<std::vector<ModelRow>> Models(const ModelQuery& q) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string sql = std::string("SELECT id, kind, feature_version, target_key, training_set, metrics, samples, "
                                  "created, ") +
                      (q.with_blob ? "blob" : "''::bytea") + " FROM models WHERE true";
    std::vector<Param> params;
    auto where = [&](const char* column, Param p) {
      params.push_back(std::move(p));
      sql += std::string(" AND ") + column + " = $" + std::to_string(params.size());
    };
    if (!q.kind.empty()) where("kind", P(q.kind));
    if (!q.target_key.empty()) where("target_key", P(q.target_key));
    if (!q.training_set.empty()) where("training_set", P(q.training_set));
    if (q.id != 0) where("id", P(q.id));
    sql += " ORDER BY id DESC";
    if (q.limit > 0) sql += " LIMIT " + std::to_string(q.limit);
    PT_ASSIGN_OR_RETURN(Result s, Query(sql, params));
    std::vector<ModelRow> out;
    for (int i = 0; i < s.rows(); ++i)
      out.push_back({s.Int(i, 0), s.Text(i, 1), static_cast<int>(s.Int(i, 2)), s.Text(i, 3), s.Text(i, 4),
                     s.Text(i, 5), s.Int(i, 6), s.Real(i, 7), s.Bytes(i, 8)});
    return out;
  }

  StatusOr<std::unordered_map<int64_t, std::string>> FeatureBlobs(int feature_version,
                                                                  const std::string& target_key) override {
    std::lock_guard<std::mutex> lock(mu_);
    PT_ASSIGN_OR_RETURN(Result s, Query("SELECT f.record_id, f.blob FROM record_features f JOIN records r ON "
                                        "r.id = f.record_id JOIN targets t ON t.id = r.target_id WHERE "
                                        "f.feature_version = $1 AND ($2 = '' OR t.key = $2)",
                                        {P(static_cast<int64_t>(feature_version)), P(target_key)}));
    std::unordered_map<int64_t, std::string> out;
    for (int i = 0; i < s.rows(); ++i) out.emplace(s.Int(i, 0), s.Bytes(i, 1));
    return out;
  }

  Status AddFeatureBlobs(int feature_version, const std::vector<std::pair<int64_t, std::string>>& blobs) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction([&]() -> Status {
      for (const auto& [id, blob] : blobs)
        PT_RETURN_IF_ERROR(Query("INSERT INTO record_features(record_id, feature_version, blob) VALUES($1, $2, $3) "
                                 "ON CONFLICT(record_id, feature_version) DO UPDATE SET blob = EXCLUDED.blob",
                                 {P(id), P(static_cast<int64_t>(feature_version)), Blob(blob)})
                               .status());
      return OkStatus();
    });
  }

  StatusOr<JobRow> GetJob(int64_t job_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    PT_ASSIGN_OR_RETURN(Result s, Query("SELECT id, request, state, created, finished FROM jobs WHERE id = $1",
                                        {P(job_id)}));
    if (s.rows() == 0) return NotFound("no job " + std::to_string(job_id));
    return JobRow{s.Int(0, 0), s.Text(0, 1), s.Text(0, 2), s.Real(0, 3), s.IsNull(0, 4) ? 0.0 : s.Real(0, 4)};
  }

  StatusOr<std::vector<JobRow>> Jobs(const std::string& state) override {
    std::lock_guard<std::mutex> lock(mu_);
    PT_ASSIGN_OR_RETURN(Result s, Query("SELECT id, request, state, created, finished FROM jobs WHERE $1 = '' "
                                        "OR state = $1 ORDER BY id",
                                        {P(state)}));
    std::vector<JobRow> out;
    for (int i = 0; i < s.rows(); ++i)
      out.push_back({s.Int(i, 0), s.Text(i, 1), s.Text(i, 2), s.Real(i, 3), s.IsNull(i, 4) ? 0.0 : s.Real(i, 4)});
    return out;
  }

  StatusOr<std::vector<WorkloadRow>> Workloads(int64_t after_id, int64_t limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string sql =
        "SELECT w.id, w.key, w.op, w.json, "
        "(SELECT COUNT(*) FROM records r WHERE r.workload_id = w.id), "
        "(SELECT COUNT(DISTINCT r.target_id) FROM records r WHERE r.workload_id = w.id) "
        "FROM workloads w WHERE w.id > $1 ORDER BY w.id";
    if (limit > 0) sql += " LIMIT " + std::to_string(limit);
    PT_ASSIGN_OR_RETURN(Result s, Query(sql, {P(after_id)}));
    std::vector<WorkloadRow> out;
    for (int i = 0; i < s.rows(); ++i)
      out.push_back({s.Int(i, 0), s.Text(i, 1), s.Text(i, 2), s.Text(i, 3), s.Int(i, 4), s.Int(i, 5)});
    return out;
  }

  StatusOr<std::vector<TaskRow>> TasksOfJob(int64_t job_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    PT_ASSIGN_OR_RETURN(Result s, Query("SELECT k.id, k.job_id, w.key, t.key, k.trials, k.measured, k.state, "
                                        "k.notes FROM tasks k JOIN workloads w ON w.id = k.workload_id JOIN "
                                        "targets t ON t.id = k.target_id WHERE k.job_id = $1 ORDER BY k.id",
                                        {P(job_id)}));
    std::vector<TaskRow> out;
    for (int i = 0; i < s.rows(); ++i)
      out.push_back({s.Int(i, 0), s.Int(i, 1), s.Text(i, 2), s.Text(i, 3), s.Int(i, 4), s.Int(i, 5), s.Text(i, 6),
                     s.Text(i, 7)});
    return out;
  }

  Status Export(std::ostream& out, const HistoryQuery& query) override {
    std::lock_guard<std::mutex> lock(mu_);
    PT_ASSIGN_OR_RETURN(std::vector<Record> records, HistoryLocked(query));
    return WriteLog(out, records);
  }

  StatusOr<int64_t> RewriteTargets(const TargetRewriter& rewrite) override {
    std::lock_guard<std::mutex> lock(mu_);
    // A read first: the usual open finds every target current and writes nothing.
    PT_ASSIGN_OR_RETURN(std::vector<TargetChange> planned, TargetChanges(rewrite));
    if (planned.empty()) return 0;
    int64_t rewritten = 0;
    PT_RETURN_IF_ERROR(InTransaction([&]() -> Status {
      // Servers sharing the store may open it at once: one rewrites, the others then find
      // nothing left to do (the plan is made again under the lock).
      PT_RETURN_IF_ERROR(Exec("LOCK TABLE targets IN SHARE ROW EXCLUSIVE MODE"));
      PT_ASSIGN_OR_RETURN(std::vector<TargetChange> changes, TargetChanges(rewrite));
      for (const TargetChange& c : changes) PT_RETURN_IF_ERROR(ApplyTargetChange(c));
      rewritten = static_cast<int64_t>(changes.size());
      return OkStatus();
    }));
    return rewritten;
  }

  StatusOr<ImportStats> Import(std::istream& in, const RecordCheck& check) override {
    PT_ASSIGN_OR_RETURN(std::vector<Record> records, ReadLog(in, check));
    std::lock_guard<std::mutex> lock(mu_);
    ImportStats stats;
    PT_RETURN_IF_ERROR(InTransaction([&]() -> Status {
      PT_ASSIGN_OR_RETURN(stats, InsertNewRecords(
                                     records, [&](const Record& r) { return Exists(r); },
                                     [&](Record& r) { return Insert(r); }));
      return OkStatus();
    }));
    return stats;
  }

 private:
  // Runs `sql` with `params`; the status of the result. Outside a transaction, a
  // statement whose connection dropped runs again on a new one (every statement run
  // outside one is idempotent: reads, UPDATEs that set values, lease upserts of one holder).
  StatusOr<Result> Query(const std::string& sql, const std::vector<Param>& params) {
    for (int attempt = 1;; ++attempt) {
      last_error_retryable_ = false;
      StatusOr<Result> r = QueryOnce(sql, params);
      if (r.ok() || in_transaction_ || !last_error_retryable_ || attempt == kAttempts) return r;
      Reconnect(attempt);
    }
  }
  StatusOr<Result> QueryOnce(const std::string& sql, const std::vector<Param>& params) {
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const auto& p : params) {
      values.push_back(p.value ? p.value->data() : nullptr);
      lengths.push_back(p.value ? static_cast<int>(p.value->size()) : 0);
      formats.push_back(p.binary ? 1 : 0);
    }
    const int n = static_cast<int>(params.size());
    auto it = prepared_.find(sql);
    if (it == prepared_.end() && prepared_.size() < kMaxPrepared) {
      // Parsed and planned once per connection, then executed by name.
      std::string name = "pt" + std::to_string(prepared_.size());
      Result prep(PQprepare(conn_, name.c_str(), sql.c_str(), n, nullptr));
      PT_RETURN_IF_ERROR(Check(prep));
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    Result r(it != prepared_.end()
                 ? PQexecPrepared(conn_, it->second.c_str(), n, values.data(), lengths.data(), formats.data(),
                                  /*resultFormat=*/0)
                 : PQexecParams(conn_, sql.c_str(), n, nullptr, values.data(), lengths.data(), formats.data(),
                                /*resultFormat=*/0));
    PT_RETURN_IF_ERROR(Check(r));
    return r;
  }

  // Runs the read `f` on a free connection: this store's own when no other call holds
  // it, else one of up to kReaders more (opened when first needed), so that concurrent
  // lookups do not queue behind each other or behind a batch being written. `f` gets the
  // connection's store with its mutex held. A reader that cannot be opened leaves the
  // read to wait for a connection there is.
  template <typename F>
  auto OnFreeConnection(F&& f) -> decltype(f(*this)) {
    {
      std::unique_lock<std::mutex> own(mu_, std::try_to_lock);
      if (own.owns_lock()) return f(*this);
    }
    PostgresStore* reader = nullptr;
    {
      std::lock_guard<std::mutex> lock(readers_mu_);
      for (auto& r : readers_)
        if (r->mu_.try_lock()) {
          reader = r.get();
          break;
        }
      if (!reader && readers_.size() < kReaders) {
        if (StatusOr<PGconn*> conn = Connect(url_); conn.ok()) {
          auto r = std::make_unique<PostgresStore>(*conn, url_);
          if (r->Session().ok()) {
            r->mu_.lock();
            reader = r.get();
            readers_.push_back(std::move(r));
          }
        }
      }
    }
    if (reader) {
      std::lock_guard<std::mutex> held(reader->mu_, std::adopt_lock);
      return f(*reader);
    }
    // Every connection is busy (or no reader could be opened): wait for a turn on one.
    PostgresStore* next = this;
    {
      std::lock_guard<std::mutex> lock(readers_mu_);
      const size_t k = next_reader_++ % (readers_.size() + 1);
      if (k < readers_.size()) next = readers_[k].get();
    }
    std::lock_guard<std::mutex> held(next->mu_);
    return f(*next);
  }
  Result Run(const char* sql) { return Result(PQexec(conn_, sql)); }
  Status Exec(const char* sql) {
    Result r = Run(sql);
    return Check(r);
  }
  // Unavailable for a lost connection, a serialization failure or a deadlock (retrying
  // may succeed), Internal for the rest.
  Status Check(const Result& r) const {
    PGresult* res = r.get();
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return OkStatus();
    std::string message = res ? PQresultErrorMessage(res) : PQerrorMessage(conn_);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    const std::string code = state ? state : "";
    const bool retry = PQstatus(conn_) != CONNECTION_OK || code.rfind("08", 0) == 0 || code == "40001" ||
                       code == "40P01";
    // 57P01: the backend was terminated (pg_terminate_backend, a shutdown).
    last_error_retryable_ = retry || code.rfind("57P", 0) == 0;
    return Status(retry ? StatusCode::kUnavailable : StatusCode::kInternal, "postgresql: " + message);
  }

  Status Migrate() {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction([&]() -> Status {
      PT_RETURN_IF_ERROR(Query("SELECT pg_advisory_xact_lock($1)", {P(kMigrationLock)}).status());
      PT_RETURN_IF_ERROR(Exec("CREATE TABLE IF NOT EXISTS priortune_schema(version INTEGER NOT NULL)"));
      PT_ASSIGN_OR_RETURN(Result s, Query("SELECT version FROM priortune_schema", {}));
      int version = s.rows() > 0 ? static_cast<int>(s.Int(0, 0)) : 0;
      if (version > kSchemaVersion)
        return FailedPrecondition("the store's schema version " + std::to_string(version) +
                                  " is newer than this build's " + std::to_string(kSchemaVersion) +
                                  "; upgrade priortune");
      for (int v = version; v < kSchemaVersion; ++v) PT_RETURN_IF_ERROR(Exec(kMigrations[v]));
      if (s.rows() == 0)
        return Query("INSERT INTO priortune_schema(version) VALUES($1)", {P(static_cast<int64_t>(kSchemaVersion))})
            .status();
      return Query("UPDATE priortune_schema SET version = $1", {P(static_cast<int64_t>(kSchemaVersion))}).status();
    });
  }

  // Runs `body` in one transaction. When the connection drops or the server aborts the
  // transaction (serialization failure, deadlock), it was rolled back: reconnect and run
  // the whole body again. When it drops during COMMIT, `committed` (if given) says whether
  // the body's changes are there; without it the outcome is reported Unavailable.
  Status InTransaction(const std::function<Status()>& body,
                       const std::function<StatusOr<bool>()>& committed = nullptr) {
    for (int attempt = 1;; ++attempt) {
      bool commit_sent = false;
      Status s = TransactionOnce(body, &commit_sent);
      if (s.ok() || !last_error_retryable_ || attempt == kAttempts) return s;
      const bool lost = PQstatus(conn_) != CONNECTION_OK;
      Reconnect(attempt);
      if (commit_sent && lost) {
        if (!committed)
          return Status(StatusCode::kUnavailable, "postgresql: the connection dropped during COMMIT; whether the "
                                                  "change was stored is unknown (" + s.message() + ")");
        // Never run the body again before knowing: ask until a connection answers.
        StatusOr<bool> there = committed();
        while (!there.ok() && last_error_retryable_ && ++attempt < kAttempts) {
          Reconnect(attempt);
          there = committed();
        }
        if (!there.ok())
          return Status(there.status().code(), "postgresql: the connection dropped during COMMIT and whether the "
                                               "change was stored could not be checked: " + there.status().message());
        if (*there) return OkStatus();
      }
    }
  }
  Status TransactionOnce(const std::function<Status()>& body, bool* commit_sent) {
    last_error_retryable_ = false;
    PT_RETURN_IF_ERROR(Exec("BEGIN"));
    in_transaction_ = true;
    Status s = body();
    if (s.ok()) {
      *commit_sent = true;
      s = Exec("COMMIT");
    }
    in_transaction_ = false;
    if (!s.ok() && PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      const bool retryable = last_error_retryable_;
      Status rollback = Exec("ROLLBACK");
      last_error_retryable_ = retryable;
      if (!rollback.ok()) s = Status(s.code(), s.message() + " (and ROLLBACK failed: " + rollback.message() + ")");
    }
    return s;
  }
  // A pause that doubles with each attempt (0.1 s, 0.2 s, ...), then, if the connection
  // is gone, a new one with the same parameters and session settings. A failed reset
  // leaves the connection bad: the next attempt fails at once and comes back here.
  void Reconnect(int attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 << (attempt - 1)));
    if (PQstatus(conn_) == CONNECTION_OK) return;
    PQreset(conn_);
    prepared_.clear();  // a new session has none
    if (PQstatus(conn_) == CONNECTION_OK && !Session().ok()) PQreset(conn_);
  }
  Status Session() { return Exec("SET client_min_messages = warning"); }

  // Whether every record of a batch whose COMMIT went unanswered is stored (then their
  // ids are filled in), none is (false), or only some (DataLoss: never expected of one
  // transaction).
  StatusOr<bool> Stored(std::vector<Record>& records) {
    size_t found = 0;
    for (auto& r : records) {
      PT_ASSIGN_OR_RETURN(int64_t id, IdOf(r));
      if (id == 0) continue;
      r.id = id;
      ++found;
    }
    if (found == 0) return false;
    if (found == records.size()) return true;
    return Status(StatusCode::kDataLoss, "postgresql: after a dropped COMMIT, " + std::to_string(found) + " of " +
                                             std::to_string(records.size()) + " records of one batch are stored");
  }

  StatusOr<int64_t> Upsert(const char* insert, const char* select, const std::string& key,
                           const std::string& second, const std::string& json_text) {
    PT_RETURN_IF_ERROR(Query(insert, {P(key), P(second), P(json_text)}).status());
    PT_ASSIGN_OR_RETURN(Result s, Query(select, {P(key)}));
    if (s.rows() == 0) return Internal("upsert lost the row for key " + key);
    return s.Int(0, 0);
  }
  StatusOr<int64_t> UpsertWorkload(const Record& r) {
    if (r.workload_key.empty() || r.op.empty()) return InvalidArgument("record without workload key or op");
    return Upsert("INSERT INTO workloads(key, op, json) VALUES($1, $2, $3) ON CONFLICT(key) DO NOTHING",
                  "SELECT id FROM workloads WHERE key = $1", r.workload_key, r.op, r.workload_json);
  }
  StatusOr<int64_t> UpsertTarget(const Record& r) {
    if (r.target_key.empty()) return InvalidArgument("record without target key");
    return Upsert("INSERT INTO targets(key, isa_family, json) VALUES($1, $2, $3) ON CONFLICT(key) DO NOTHING",
                  "SELECT id FROM targets WHERE key = $1", r.target_key, r.isa_family, r.target_json);
  }

  // The id of the stored record with r's workload, target, config, worker and time; 0 if none.
  StatusOr<int64_t> IdOf(const Record& r) {
    PT_ASSIGN_OR_RETURN(Result s, Query("SELECT r.id FROM records r JOIN workloads w ON w.id = r.workload_id "
                                        "JOIN targets t ON t.id = r.target_id WHERE w.key = $1 AND " +
                                            DollarParams(kTargetKeyOrAlias) +
                                            " AND r.config_hash = $3 AND r.worker = $4 AND r.timestamp = $5",
                                        {P(r.workload_key), P(r.target_key), P(r.config_hash), P(r.worker),
                                         P(r.timestamp)}));
    return s.rows() > 0 ? s.Int(0, 0) : 0;
  }
  StatusOr<std::vector<TargetChange>> TargetChanges(const TargetRewriter& rewrite) {
    PT_ASSIGN_OR_RETURN(Result s, Query("SELECT id, key, json, isa_family FROM targets ORDER BY id", {}));
    std::vector<std::tuple<int64_t, std::string, std::string, std::string>> rows;
    for (int i = 0; i < s.rows(); ++i) rows.emplace_back(s.Int(i, 0), s.Text(i, 1), s.Text(i, 2), s.Text(i, 3));
    return PlanTargetChanges(rows, rewrite);
  }

  // Inside a transaction: one target to its new form, merged into a row that has its new
  // key already.
  Status ApplyTargetChange(const TargetChange& c) {
    PT_ASSIGN_OR_RETURN(Result find, Query("SELECT id FROM targets WHERE key = $1 AND id <> $2",
                                           {P(c.form.key), P(c.id)}));
    if (find.rows() > 0) {
      const int64_t into = find.Int(0, 0);
      for (const char* sql : kMergeTargetSql) PT_RETURN_IF_ERROR(Query(DollarParams(sql), {P(c.id), P(into)}).status());
    } else {
      PT_RETURN_IF_ERROR(Query("UPDATE targets SET key = $1, json = $2, isa_family = $3 WHERE id = $4",
                               {P(c.form.key), P(c.form.json), P(c.form.isa_family), P(c.id)})
                             .status());
    }
    if (c.old_key == c.form.key) return OkStatus();
    for (const char* sql : kRekeySql) PT_RETURN_IF_ERROR(Query(DollarParams(sql), {P(c.old_key), P(c.form.key)}).status());
    return OkStatus();
  }

  StatusOr<bool> Exists(const Record& r) {
    PT_ASSIGN_OR_RETURN(int64_t id, IdOf(r));
    return id != 0;
  }

  Status Insert(Record& r) {
    PT_ASSIGN_OR_RETURN(int64_t workload_id, UpsertWorkload(r));
    PT_ASSIGN_OR_RETURN(int64_t target_id, UpsertTarget(r));
    if (r.timestamp == 0) r.timestamp = Now();
    PT_ASSIGN_OR_RETURN(
        Result s,
        Query("INSERT INTO records(workload_id, target_id, config, config_hash, costs, cost, error_kind, "
              "error_message, compile_seconds, worker, job_id, timestamp, template_version) "
              "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
              {P(workload_id), P(target_id), P(r.config_json), P(r.config_hash), P(json(r.costs).dump()),
               r.ok() ? P(r.cost()) : Null(), P(std::string(ErrorKindName(r.error))), P(r.error_message),
               P(r.compile_seconds), P(r.worker), r.job_id > 0 ? P(r.job_id) : Null(), P(r.timestamp),
               P(static_cast<int64_t>(r.template_version))}));
    r.id = s.Int(0, 0);
    if (!r.ok()) return OkStatus();
    return Query("INSERT INTO best(workload_id, target_id, record_id, cost) VALUES($1, $2, $3, $4) "
                 "ON CONFLICT(workload_id, target_id) DO UPDATE SET record_id = EXCLUDED.record_id, "
                 "cost = EXCLUDED.cost WHERE EXCLUDED.cost < best.cost",
                 {P(workload_id), P(target_id), P(r.id), P(r.cost())})
        .status();
  }

  // Best on this connection; the caller holds mu_.
  StatusOr<std::optional<BestMatch>> BestLocked(const std::string& workload_key, const std::string& target_key,
                                                const std::string& isa_family, const BestFilter& filter) {
    std::set<int64_t> seen;
    {
      PT_ASSIGN_OR_RETURN(Result s, Query(std::string("SELECT ") + kRecordColumns +
                                              "JOIN best b ON b.workload_id = w.id AND b.target_id = t.id "
                                              "AND b.record_id = r.id WHERE w.key = $1 AND t.key = $2",
                                          {P(workload_key), P(target_key)}));
      if (s.rows() > 0) {
        PT_ASSIGN_OR_RETURN(Record r, ReadRecord(s, 0));
        seen.insert(r.id);
        if (!filter || filter(r, MatchLevel::kExact).empty())
          return std::optional<BestMatch>(BestMatch{std::move(r), MatchLevel::kExact});
      }
    }
    struct Step {
      MatchLevel level;
      std::string where;
      const std::string* arg;
    } steps[] = {{MatchLevel::kExact, "AND t.key = $2 ", &target_key},
                 {MatchLevel::kIsaFamily, "AND t.isa_family = $2 ", &isa_family},
                 {MatchLevel::kAny, "", nullptr}};
    for (const auto& step : steps) {
      std::vector<Param> params = {P(workload_key)};
      if (step.arg) params.push_back(P(*step.arg));
      PT_ASSIGN_OR_RETURN(Result s, Query(std::string("SELECT ") + kRecordColumns +
                                              "WHERE w.key = $1 AND r.cost IS NOT NULL " + step.where +
                                              "ORDER BY r.cost, r.id",
                                          params));
      for (int i = 0; i < s.rows(); ++i) {
        PT_ASSIGN_OR_RETURN(Record r, ReadRecord(s, i));
        if (!seen.insert(r.id).second) continue;
        if (!filter || filter(r, step.level).empty())
          return std::optional<BestMatch>(BestMatch{std::move(r), step.level});
      }
    }
    return std::optional<BestMatch>();
  }

  StatusOr<std::vector<Record>> HistoryLocked(const HistoryQuery& q) {
    std::string sql = std::string("SELECT ") + kRecordColumns + "WHERE ($1 = '' OR w.key = $1) AND " +
                      DollarParams(kTargetKeyClause) + " AND ($3 = '' OR w.op = $3) AND r.id > $4 ORDER BY r.id";
    if (q.limit > 0) sql += " LIMIT " + std::to_string(q.limit);
    PT_ASSIGN_OR_RETURN(Result s, Query(sql, {P(q.workload_key), P(q.target_key), P(q.op), P(q.after_id)}));
    std::vector<Record> out;
    for (int i = 0; i < s.rows(); ++i) {
      PT_ASSIGN_OR_RETURN(Record r, ReadRecord(s, i));
      out.push_back(std::move(r));
    }
    return out;
  }

  // Connections for concurrent reads beyond this one's: a few suffice, as each lookup
  // holds one for well under a millisecond.
  static constexpr size_t kReaders = 3;
  // Statements prepared per connection: the store's own SQL is a few dozen strings.
  static constexpr size_t kMaxPrepared = 256;

  std::mutex mu_;  // this connection (and the members below it)
  PGconn* conn_;
  const std::string url_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<PostgresStore>> readers_;
  size_t next_reader_ = 0;
  bool in_transaction_ = false;
  mutable bool last_error_retryable_ = false;  // set by Check
};

}  // namespace

StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url) {
  PT_ASSIGN_OR_RETURN(PGconn * conn, Connect(url));
  auto store = std::make_unique<PostgresStore>(conn, url);
  Status s = store->Init();
  if (!s.ok()) return Status(s.code(), "store '" + Redacted(url) + "': " + s.message());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace priortune::db

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
#include "db/internal/postgres_store_class.h"

namespace priortune::db::internal {

using nlohmann::json;

PostgresStore::~PostgresStore() {
  readers_.clear();
  PQfinish(conn_);
}

Status PostgresStore::Init() {
  PT_RETURN_IF_ERROR(Session());
  return Migrate();
}

Status PostgresStore::Export(std::ostream& out, const HistoryQuery& query) {
  std::lock_guard<std::mutex> lock(mu_);
  PT_ASSIGN_OR_RETURN(std::vector<Record> records, HistoryLocked(query));
  return WriteLog(out, records);
}

StatusOr<int64_t> PostgresStore::RewriteTargets(const TargetRewriter& rewrite) {
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

StatusOr<ImportStats> PostgresStore::Import(std::istream& in, const RecordCheck& check) {
  PT_ASSIGN_OR_RETURN(std::vector<Record> records, ReadLog(in, check));
  std::lock_guard<std::mutex> lock(mu_);
  ImportStats stats;
  PT_RETURN_IF_ERROR(InTransaction([&]() -> Status {
    PT_ASSIGN_OR_RETURN(stats,
                        InsertNewRecords(
                            records, [&](const Record& r) { return Exists(r); }, [&](Record& r) { return Insert(r); }));
    return OkStatus();
  }));
  return stats;
}

StatusOr<Result> PostgresStore::Query(const std::string& sql, const std::vector<Param>& params) {
  for (int attempt = 1;; ++attempt) {
    last_error_retryable_ = false;
    StatusOr<Result> r = QueryOnce(sql, params);
    if (r.ok() || in_transaction_ || !last_error_retryable_ || attempt == kAttempts) return r;
    Reconnect(attempt);
  }
}

StatusOr<Result> PostgresStore::QueryOnce(const std::string& sql, const std::vector<Param>& params) {
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

Status PostgresStore::Exec(const char* sql) {
  Result r = Run(sql);
  return Check(r);
}

Status PostgresStore::Check(const Result& r) const {
  PGresult* res = r.get();
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return OkStatus();
  std::string message = res ? PQresultErrorMessage(res) : PQerrorMessage(conn_);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string code = state ? state : "";
  const bool retry = PQstatus(conn_) != CONNECTION_OK || code.rfind("08", 0) == 0 || code == "40001" || code == "40P01";
  // 57P01: the backend was terminated (pg_terminate_backend, a shutdown).
  last_error_retryable_ = retry || code.rfind("57P", 0) == 0;
  return Status(retry ? StatusCode::kUnavailable : StatusCode::kInternal, "postgresql: " + message);
}

Status PostgresStore::Migrate() {
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
    for (int v = version; v < kSchemaVersion; ++v) PT_RETURN_IF_ERROR(Exec(kPostgresMigrations[v]));
    if (s.rows() == 0)
      return Query("INSERT INTO priortune_schema(version) VALUES($1)", {P(static_cast<int64_t>(kSchemaVersion))})
          .status();
    return Query("UPDATE priortune_schema SET version = $1", {P(static_cast<int64_t>(kSchemaVersion))}).status();
  });
}

Status PostgresStore::InTransaction(const std::function<Status()>& body,
                                    const std::function<StatusOr<bool>()>& committed) {
  for (int attempt = 1;; ++attempt) {
    bool commit_sent = false;
    Status s = TransactionOnce(body, &commit_sent);
    if (s.ok() || !last_error_retryable_ || attempt == kAttempts) return s;
    const bool lost = PQstatus(conn_) != CONNECTION_OK;
    Reconnect(attempt);
    if (commit_sent && lost) {
      if (!committed)
        return Status(StatusCode::kUnavailable,
                      "postgresql: the connection dropped during COMMIT; whether the "
                      "change was stored is unknown (" +
                          s.message() + ")");
      // Never run the body again before knowing: ask until a connection answers.
      StatusOr<bool> there = committed();
      while (!there.ok() && last_error_retryable_ && ++attempt < kAttempts) {
        Reconnect(attempt);
        there = committed();
      }
      if (!there.ok())
        return Status(there.status().code(),
                      "postgresql: the connection dropped during COMMIT and whether the "
                      "change was stored could not be checked: " +
                          there.status().message());
      if (*there) return OkStatus();
    }
  }
}

Status PostgresStore::TransactionOnce(const std::function<Status()>& body, bool* commit_sent) {
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

void PostgresStore::Reconnect(int attempt) {
  std::this_thread::sleep_for(std::chrono::milliseconds(100 << (attempt - 1)));
  if (PQstatus(conn_) == CONNECTION_OK) return;
  PQreset(conn_);
  prepared_.clear();  // a new session has none
  if (PQstatus(conn_) == CONNECTION_OK && !Session().ok()) PQreset(conn_);
}

StatusOr<std::vector<TargetChange>> PostgresStore::TargetChanges(const TargetRewriter& rewrite) {
  PT_ASSIGN_OR_RETURN(Result s, Query("SELECT id, key, json, isa_family FROM targets ORDER BY id", {}));
  std::vector<std::tuple<int64_t, std::string, std::string, std::string>> rows;
  for (int i = 0; i < s.rows(); ++i) rows.emplace_back(s.Int(i, 0), s.Text(i, 1), s.Text(i, 2), s.Text(i, 3));
  return PlanTargetChanges(rows, rewrite);
}

Status PostgresStore::ApplyTargetChange(const TargetChange& c) {
  PT_ASSIGN_OR_RETURN(Result find,
                      Query("SELECT id FROM targets WHERE key = $1 AND id <> $2", {P(c.form.key), P(c.id)}));
  if (find.rows() > 0) {
    const int64_t into = find.Int(0, 0);
    for (const char* sql : kMergeTargetSql) PT_RETURN_IF_ERROR(Query(DollarParams(sql), {P(c.id), P(into)}).status());
  } else {
    PT_RETURN_IF_ERROR(Query("UPDATE targets SET key = $1, json = $2, isa_family = $3 WHERE id = $4",
                             {P(c.form.key), P(c.form.json), P(c.form.isa_family), P(c.id)})
                           .status());
  }
  if (c.old_key == c.form.key) return OkStatus();
  for (const char* sql : kRekeySql)
    PT_RETURN_IF_ERROR(Query(DollarParams(sql), {P(c.old_key), P(c.form.key)}).status());
  return OkStatus();
}

}  // namespace priortune::db::internal

namespace priortune::db {

StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url) {
  PT_ASSIGN_OR_RETURN(PGconn * conn, internal::Connect(url));
  auto store = std::make_unique<internal::PostgresStore>(conn, url);
  Status s = store->Init();
  if (!s.ok()) return Status(s.code(), "store '" + internal::Redacted(url) + "': " + s.message());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace priortune::db

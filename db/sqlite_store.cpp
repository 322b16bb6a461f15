// The SQLite implementation of Store. Map:
//   Open: sqlite3_open_v2 -> WAL, busy timeout, foreign keys -> Migrate (PRAGMA user_version)
//   AddRecords: BEGIN IMMEDIATE -> upsert workload/target -> insert record -> update best
//   Best: exact target -> same ISA family -> any target
//   Export/Import: JSON lines, header first; import parses everything before writing.
// SQLite result codes become Status at the call that saw them (Check), with sqlite3_errmsg.
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <istream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <unordered_map>

#include "db/internal/best_ladder.h"
#include "db/internal/sqlite_schema.h"
#include "db/log_format.h"
#include "db/store.h"
#include "db/store_rows.h"

namespace priortune::db {
namespace {

using nlohmann::json;

constexpr int kBusyTimeoutMs = 60000;

using internal::kSqliteMigrations;
const int kSchemaVersion = internal::kSqliteSchemaVersion;
// The store's clock in SQL: seconds since the epoch (leases expire on it).
#define PT_SQLITE_NOW "((julianday('now') - 2440587.5) * 86400.0)"

double Now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// A prepared statement, finalized on scope exit. Bind indices start at 1.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Status prepared() const { return rc_ == SQLITE_OK ? OkStatus() : Error("prepare"); }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  Stmt& BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // True while a row is available; errors end the loop and are kept in status().
  bool Step() {
    rc_ = sqlite3_step(stmt_);
    return rc_ == SQLITE_ROW;
  }
  Status status() const {
    return rc_ == SQLITE_DONE || rc_ == SQLITE_ROW || rc_ == SQLITE_OK ? OkStatus() : Error("step");
  }
  // Ready to run again with new bindings.
  void Reset() {
    sqlite3_reset(stmt_);
    rc_ = SQLITE_OK;
  }
  Status Run() {
    while (Step()) {
    }
    return status();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string Blob(int col) const {
    auto p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  std::string Text(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }

 private:
  Status Error(const char* what) const {
    StatusCode code = (rc_ == SQLITE_BUSY || rc_ == SQLITE_LOCKED) ? StatusCode::kUnavailable : StatusCode::kInternal;
    return Status(code, std::string("sqlite ") + what + ": " + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) == SQLITE_OK) return OkStatus();
  std::string message = err ? err : sqlite3_errmsg(db);
  sqlite3_free(err);
  int rc = sqlite3_errcode(db);
  return Status(rc == SQLITE_BUSY ? StatusCode::kUnavailable : StatusCode::kInternal, "sqlite: " + message);
}

class SqliteStore : public Store {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close_v2(db_); }

  Status Init() {
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    PT_RETURN_IF_ERROR(Exec(db_, "PRAGMA foreign_keys = ON"));
    // WAL lets readers (lookups) run while a tuning job writes.
    if (sqlite3_db_filename(db_, "main") && *sqlite3_db_filename(db_, "main"))
      PT_RETURN_IF_ERROR(Exec(db_, "PRAGMA journal_mode = WAL"));
    PT_RETURN_IF_ERROR(Exec(db_, "PRAGMA synchronous = NORMAL"));
    // Lookups read a few pages each: keep them in memory (a 64 MiB page cache, and the
    // file mapped rather than read through pread, up to 1 GiB).
    PT_RETURN_IF_ERROR(Exec(db_, "PRAGMA cache_size = -65536"));
    PT_RETURN_IF_ERROR(Exec(db_, "PRAGMA mmap_size = 1073741824"));
    return Migrate();
  }

  int schema_version() const override { return kSchemaVersion; }

  Status AddRecords(std::vector<Record>& records) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction([&]() -> Status {
      for (auto& r : records) PT_RETURN_IF_ERROR(Insert(r));
      return OkStatus();
    });
  }

  // BEGIN IMMEDIATE holds the write lock: no other holder can take the lease between the
  // check and the commit.
  Status AddRecordsUnderLease(std::vector<Record>& records, const std::string& lease,
                              const std::string& holder) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction([&]() -> Status {
      Stmt s(db_, "SELECT 1 FROM leases WHERE name = ?1 AND holder = ?2 AND expires > " PT_SQLITE_NOW);
      PT_RETURN_IF_ERROR(s.prepared());
      s.Bind(1, lease).Bind(2, holder);
      if (!s.Step()) {
        PT_RETURN_IF_ERROR(s.status());
        return Status(StatusCode::kAborted, LeaseLost(lease, holder));
      }
      for (auto& r : records) PT_RETURN_IF_ERROR(Insert(r));
      return OkStatus();
    });
  }

  StatusOr<bool> AcquireLease(const std::string& name, const std::string& holder, double ttl_seconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, "INSERT INTO leases(name, holder, expires) VALUES(?1, ?2, " PT_SQLITE_NOW
                " + ?3) "
                "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires "
                "WHERE leases.holder = excluded.holder OR leases.expires <= " PT_SQLITE_NOW);
    PT_RETURN_IF_ERROR(s.prepared());
    PT_RETURN_IF_ERROR(s.Bind(1, name).Bind(2, holder).Bind(3, ttl_seconds).Run());
    return sqlite3_changes(db_) > 0;
  }

  StatusOr<std::vector<std::string>> RenewLeases(const std::string& holder, double ttl_seconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, "UPDATE leases SET expires = " PT_SQLITE_NOW " + ?2 WHERE holder = ?1 RETURNING name");
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, holder).Bind(2, ttl_seconds);
    std::vector<std::string> out;
    while (s.Step()) out.push_back(s.Text(0));
    PT_RETURN_IF_ERROR(s.status());
    std::sort(out.begin(), out.end());
    return out;
  }

  Status ReleaseLease(const std::string& name, const std::string& holder) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, "DELETE FROM leases WHERE name = ?1 AND holder = ?2");
    PT_RETURN_IF_ERROR(s.prepared());
    return s.Bind(1, name).Bind(2, holder).Run();
  }

  Status DropLeases(const std::string& holder) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, "DELETE FROM leases WHERE ?1 = '' OR holder = ?1");
    PT_RETURN_IF_ERROR(s.prepared());
    return s.Bind(1, holder).Run();
  }

  StatusOr<std::vector<LeaseRow>> Leases(const std::string& prefix) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, "SELECT name, holder, expires, expires <= " PT_SQLITE_NOW
                " FROM leases "
                "WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name");
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, prefix);
    std::vector<LeaseRow> out;
    while (s.Step()) out.push_back({s.Text(0), s.Text(1), s.Real(2), s.Int(3) != 0});
    PT_RETURN_IF_ERROR(s.status());
    return out;
  }

  StatusOr<std::optional<BestMatch>> Best(const std::string& workload_key, const std::string& target_key,
                                          const std::string& isa_family, const BestFilter& filter) override {
    std::lock_guard<std::mutex> lock(mu_);
    LadderQueries q;
    q.stored_best = [&]() -> StatusOr<std::optional<Record>> {
      Stmt s(db_, kStoredBestSql.c_str());
      PT_RETURN_IF_ERROR(s.prepared());
      s.Bind(1, workload_key).Bind(2, target_key);
      if (!s.Step()) {
        PT_RETURN_IF_ERROR(s.status());
        return std::optional<Record>();
      }
      PT_ASSIGN_OR_RETURN(Record r, ReadRecordRow(s));
      return std::optional<Record>(std::move(r));
    };
    q.page = [&](MatchLevel level, const std::string& arg, int limit, int offset) -> StatusOr<std::vector<Record>> {
      Stmt s(db_, LadderPageSql(level).c_str());
      PT_RETURN_IF_ERROR(s.prepared());
      int i = 1;
      s.Bind(i++, workload_key);
      if (level != MatchLevel::kAny) s.Bind(i++, arg);
      s.Bind(i++, int64_t{limit});
      s.Bind(i, int64_t{offset});
      std::vector<Record> out;
      while (s.Step()) {
        PT_ASSIGN_OR_RETURN(Record r, ReadRecordRow(s));
        out.push_back(std::move(r));
      }
      PT_RETURN_IF_ERROR(s.status());
      return out;
    };
    return LadderBest(q, target_key, isa_family, filter);
  }

  StatusOr<std::vector<Record>> History(const HistoryQuery& q) override {
    std::lock_guard<std::mutex> lock(mu_);
    return HistoryLocked(q);
  }

  StatusOr<int64_t> CreateJob(const std::string& request_json) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, "INSERT INTO jobs(request, state, created) VALUES(?1, ?3, ?2)");
    PT_RETURN_IF_ERROR(s.prepared());
    PT_RETURN_IF_ERROR(s.Bind(1, request_json).Bind(2, Now()).Bind(3, StateName(JobState::kRunning)).Run());
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  }

  Status FinishJob(int64_t job_id, JobState state) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, "UPDATE jobs SET state = ?1, finished = ?2 WHERE id = ?3");
    PT_RETURN_IF_ERROR(s.prepared());
    PT_RETURN_IF_ERROR(s.Bind(1, StateName(state)).Bind(2, Now()).Bind(3, job_id).Run());
    if (sqlite3_changes(db_) == 0) return NotFound("no job " + std::to_string(job_id));
    return OkStatus();
  }

  StatusOr<int64_t> CreateTask(int64_t job_id, const Record& wt, int64_t trials) override {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t id = 0;
    PT_RETURN_IF_ERROR(InTransaction([&]() -> Status {
      PT_ASSIGN_OR_RETURN(int64_t workload_id, UpsertWorkload(wt));
      PT_ASSIGN_OR_RETURN(int64_t target_id, UpsertTarget(wt));
      Stmt s(db_,
             "INSERT INTO tasks(job_id, workload_id, target_id, trials, state) "
             "VALUES(?1, ?2, ?3, ?4, ?5)");
      PT_RETURN_IF_ERROR(s.prepared());
      PT_RETURN_IF_ERROR(s.Bind(1, job_id)
                             .Bind(2, workload_id)
                             .Bind(3, target_id)
                             .Bind(4, trials)
                             .Bind(5, StateName(TaskState::kRunning))
                             .Run());
      id = sqlite3_last_insert_rowid(db_);
      return OkStatus();
    }));
    return id;
  }

  Status FinishTask(int64_t task_id, TaskState state, int64_t measured) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, "UPDATE tasks SET state = ?1, measured = ?2 WHERE id = ?3");
    PT_RETURN_IF_ERROR(s.prepared());
    PT_RETURN_IF_ERROR(s.Bind(1, StateName(state)).Bind(2, measured).Bind(3, task_id).Run());
    if (sqlite3_changes(db_) == 0) return NotFound("no task " + std::to_string(task_id));
    return OkStatus();
  }

  Status AnnotateTask(int64_t task_id, const std::string& notes) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, "UPDATE tasks SET notes = ?1 WHERE id = ?2");
    PT_RETURN_IF_ERROR(s.prepared());
    PT_RETURN_IF_ERROR(s.Bind(1, notes).Bind(2, task_id).Run());
    if (sqlite3_changes(db_) == 0) return NotFound("no task " + std::to_string(task_id));
    return OkStatus();
  }

  StatusOr<int64_t> AddModel(const ModelRow& m) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_,
           "INSERT INTO models(kind, feature_version, target_key, training_set, metrics, samples, "
           "created, blob) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    PT_RETURN_IF_ERROR(s.prepared());
    PT_RETURN_IF_ERROR(s.Bind(1, m.kind)
                           .Bind(2, static_cast<int64_t>(m.feature_version))
                           .Bind(3, m.target_key)
                           .Bind(4, m.training_set)
                           .Bind(5, m.metrics_json)
                           .Bind(6, m.samples)
                           .Bind(7, m.created > 0 ? m.created : Now())
                           .BindBlob(8, m.blob)
                           .Run());
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  }

  StatusOr<std::vector<ModelRow>> Models(const ModelQuery& q) override {
    std::lock_guard<std::mutex> lock(mu_);
    // Only the clauses asked for, so that models_by_target serves the usual lookup.
    std::string sql =
        std::string("SELECT id, kind, feature_version, target_key, training_set, metrics, samples, created, ") +
        (q.with_blob ? "blob" : "''") + " FROM models WHERE 1";
    if (!q.kind.empty()) sql += " AND kind = ?1";
    if (!q.target_key.empty()) sql += " AND target_key = ?2";
    if (!q.training_set.empty()) sql += " AND training_set = ?3";
    if (q.id != 0) sql += " AND id = ?4";
    sql += " ORDER BY id DESC";
    if (q.limit > 0) sql += " LIMIT " + std::to_string(q.limit);
    Stmt s(db_, sql.c_str());
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, q.kind).Bind(2, q.target_key).Bind(3, q.training_set).Bind(4, q.id);
    std::vector<ModelRow> out;
    while (s.Step()) {
      out.push_back({s.Int(0), s.Text(1), static_cast<int>(s.Int(2)), s.Text(3), s.Text(4), s.Text(5), s.Int(6),
                     s.Real(7), s.Blob(8)});
    }
    PT_RETURN_IF_ERROR(s.status());
    return out;
  }

  StatusOr<std::unordered_map<int64_t, std::string>> FeatureBlobs(int feature_version,
                                                                  const std::string& target_key) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_,
           "SELECT f.record_id, f.blob FROM record_features f JOIN records r ON r.id = f.record_id "
           "JOIN targets t ON t.id = r.target_id WHERE f.feature_version = ?1 AND (?2 = '' OR t.key = ?2)");
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, static_cast<int64_t>(feature_version)).Bind(2, target_key);
    std::unordered_map<int64_t, std::string> out;
    while (s.Step()) out.emplace(s.Int(0), s.Blob(1));
    PT_RETURN_IF_ERROR(s.status());
    return out;
  }

  Status AddFeatureBlobs(int feature_version, const std::vector<std::pair<int64_t, std::string>>& blobs) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction([&]() -> Status {
      Stmt s(db_, "INSERT OR REPLACE INTO record_features(record_id, feature_version, blob) VALUES(?1, ?2, ?3)");
      PT_RETURN_IF_ERROR(s.prepared());
      for (const auto& [id, blob] : blobs) {
        PT_RETURN_IF_ERROR(s.Bind(1, id).Bind(2, static_cast<int64_t>(feature_version)).BindBlob(3, blob).Run());
        s.Reset();
      }
      return OkStatus();
    });
  }

  StatusOr<JobRow> GetJob(int64_t job_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, (std::string("SELECT ") + kJobColumns + "WHERE id = ?1").c_str());
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, job_id);
    if (!s.Step()) {
      PT_RETURN_IF_ERROR(s.status());
      return NotFound("no job " + std::to_string(job_id));
    }
    return ReadJobRow(s);
  }

  StatusOr<std::vector<JobRow>> Jobs(std::optional<JobState> state) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, (std::string("SELECT ") + kJobColumns + "WHERE ?1 = '' OR state = ?1 ORDER BY id").c_str());
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, state ? StateName(*state) : "");
    std::vector<JobRow> out;
    while (s.Step()) {
      PT_ASSIGN_OR_RETURN(JobRow row, ReadJobRow(s));
      out.push_back(std::move(row));
    }
    PT_RETURN_IF_ERROR(s.status());
    return out;
  }

  StatusOr<std::vector<WorkloadRow>> Workloads(int64_t after_id, int64_t limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string sql =
        "SELECT w.id, w.key, w.op, w.json, "
        "(SELECT COUNT(*) FROM records r WHERE r.workload_id = w.id), "
        "(SELECT COUNT(DISTINCT r.target_id) FROM records r WHERE r.workload_id = w.id) "
        "FROM workloads w WHERE w.id > ?1 ORDER BY w.id";
    if (limit > 0) sql += " LIMIT " + std::to_string(limit);
    Stmt s(db_, sql.c_str());
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, after_id);
    std::vector<WorkloadRow> out;
    while (s.Step()) out.push_back({s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4), s.Int(5)});
    PT_RETURN_IF_ERROR(s.status());
    return out;
  }

  StatusOr<std::vector<TaskRow>> TasksOfJob(int64_t job_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, (std::string("SELECT ") + kTaskColumns + "WHERE k.job_id = ?1 ORDER BY k.id").c_str());
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, job_id);
    std::vector<TaskRow> out;
    while (s.Step()) {
      PT_ASSIGN_OR_RETURN(TaskRow row, ReadTaskRow(s));
      out.push_back(std::move(row));
    }
    PT_RETURN_IF_ERROR(s.status());
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
      // Again under the write lock: another process may have rewritten them meanwhile.
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
      PT_ASSIGN_OR_RETURN(
          stats, InsertNewRecords(
                     records, [&](const Record& r) { return Exists(r); }, [&](Record& r) { return Insert(r); }));
      return OkStatus();
    }));
    return stats;
  }

 private:
  Status Migrate() {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction([&]() -> Status {
      Stmt s(db_, "PRAGMA user_version");
      PT_RETURN_IF_ERROR(s.prepared());
      int version = s.Step() ? static_cast<int>(s.Int(0)) : 0;
      PT_RETURN_IF_ERROR(s.status());
      if (version > kSchemaVersion)
        return FailedPrecondition("the store's schema version " + std::to_string(version) +
                                  " is newer than this build's " + std::to_string(kSchemaVersion) +
                                  "; upgrade priortune");
      for (int v = version; v < kSchemaVersion; ++v) PT_RETURN_IF_ERROR(Exec(db_, kSqliteMigrations[v]));
      std::string set = "PRAGMA user_version = " + std::to_string(kSchemaVersion);
      return Exec(db_, set.c_str());
    });
  }

  // BEGIN IMMEDIATE takes the write lock up front, so two writers queue on the busy
  // timeout instead of deadlocking on a read-to-write upgrade.
  Status InTransaction(const std::function<Status()>& body) {
    PT_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
    Status s = body();
    if (s.ok()) s = Exec(db_, "COMMIT");
    if (!s.ok()) {
      // The body's error is the one to report; a failed ROLLBACK leaves SQLite rolling
      // back on its own (the transaction is aborted either way), so say so alongside.
      Status rollback = Exec(db_, "ROLLBACK");
      if (!rollback.ok()) s = Status(s.code(), s.message() + " (and ROLLBACK failed: " + rollback.message() + ")");
    }
    return s;
  }

  StatusOr<int64_t> Upsert(const char* insert, const char* select, const std::string& key, const std::string& second,
                           const std::string& json_text) {
    Stmt in(db_, insert);
    PT_RETURN_IF_ERROR(in.prepared());
    PT_RETURN_IF_ERROR(in.Bind(1, key).Bind(2, second).Bind(3, json_text).Run());
    Stmt s(db_, select);
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, key);
    if (!s.Step()) {
      PT_RETURN_IF_ERROR(s.status());
      return Internal("upsert lost the row for key " + key);
    }
    return s.Int(0);
  }
  StatusOr<int64_t> UpsertWorkload(const Record& r) {
    if (r.workload_key.empty() || r.op.empty()) return InvalidArgument("record without workload key or op");
    return Upsert("INSERT INTO workloads(key, op, json) VALUES(?1, ?2, ?3) ON CONFLICT(key) DO NOTHING",
                  "SELECT id FROM workloads WHERE key = ?1", r.workload_key, r.op, r.workload_json);
  }
  StatusOr<int64_t> UpsertTarget(const Record& r) {
    if (r.target_key.empty()) return InvalidArgument("record without target key");
    return Upsert("INSERT INTO targets(key, isa_family, json) VALUES(?1, ?2, ?3) ON CONFLICT(key) DO NOTHING",
                  "SELECT id FROM targets WHERE key = ?1", r.target_key, r.isa_family, r.target_json);
  }

  StatusOr<std::vector<TargetChange>> TargetChanges(const TargetRewriter& rewrite) {
    Stmt s(db_, "SELECT id, key, json, isa_family FROM targets ORDER BY id");
    PT_RETURN_IF_ERROR(s.prepared());
    std::vector<std::tuple<int64_t, std::string, std::string, std::string>> rows;
    while (s.Step()) rows.emplace_back(s.Int(0), s.Text(1), s.Text(2), s.Text(3));
    PT_RETURN_IF_ERROR(s.status());
    return PlanTargetChanges(rows, rewrite);
  }

  // Inside a transaction: one target to its new form, merged into a row that has its new
  // key already.
  Status ApplyTargetChange(const TargetChange& c) {
    Stmt find(db_, "SELECT id FROM targets WHERE key = ?1 AND id <> ?2");
    PT_RETURN_IF_ERROR(find.prepared());
    find.Bind(1, c.form.key).Bind(2, c.id);
    const bool merge = find.Step();
    PT_RETURN_IF_ERROR(find.status());
    if (merge) {
      const int64_t into = find.Int(0);
      for (const char* sql : kMergeTargetSql) {
        Stmt m(db_, sql);
        PT_RETURN_IF_ERROR(m.prepared());
        PT_RETURN_IF_ERROR(m.Bind(1, c.id).Bind(2, into).Run());
      }
    } else {
      Stmt u(db_, "UPDATE targets SET key = ?1, json = ?2, isa_family = ?3 WHERE id = ?4");
      PT_RETURN_IF_ERROR(u.prepared());
      PT_RETURN_IF_ERROR(u.Bind(1, c.form.key).Bind(2, c.form.json).Bind(3, c.form.isa_family).Bind(4, c.id).Run());
    }
    if (c.old_key == c.form.key) return OkStatus();
    for (const char* sql : kRekeySql) {
      Stmt m(db_, sql);
      PT_RETURN_IF_ERROR(m.prepared());
      PT_RETURN_IF_ERROR(m.Bind(1, c.old_key).Bind(2, c.form.key).Run());
    }
    return OkStatus();
  }

  StatusOr<bool> Exists(const Record& r) {
    const std::string sql = std::string(
                                "SELECT 1 FROM records r JOIN workloads w ON w.id = r.workload_id "
                                "JOIN targets t ON t.id = r.target_id WHERE w.key = ?1 AND ") +
                            kTargetKeyOrAlias + " AND r.config_hash = ?3 AND r.worker = ?4 AND r.timestamp = ?5";
    Stmt s(db_, sql.c_str());
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, r.workload_key).Bind(2, r.target_key).Bind(3, r.config_hash).Bind(4, r.worker);
    s.Bind(5, r.timestamp);
    bool found = s.Step();
    PT_RETURN_IF_ERROR(s.status());
    return found;
  }

  // Inside a transaction: one record, and Best if it is the new fastest correct one.
  Status Insert(Record& r) {
    PT_ASSIGN_OR_RETURN(int64_t workload_id, UpsertWorkload(r));
    PT_ASSIGN_OR_RETURN(int64_t target_id, UpsertTarget(r));
    if (r.timestamp == 0) r.timestamp = Now();
    Stmt s(db_,
           "INSERT INTO records(workload_id, target_id, config, config_hash, costs, cost, "
           "error_kind, error_message, compile_seconds, worker, job_id, timestamp, template_version) "
           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, workload_id).Bind(2, target_id).Bind(3, r.config_json).Bind(4, r.config_hash);
    s.Bind(5, json(r.costs).dump());
    if (r.ok())
      s.Bind(6, r.cost());
    else
      s.BindNull(6);
    s.Bind(7, std::string(ErrorKindName(r.error))).Bind(8, r.error_message);
    s.Bind(9, r.compile_seconds).Bind(10, r.worker);
    if (r.job_id > 0)
      s.Bind(11, r.job_id);
    else
      s.BindNull(11);
    s.Bind(12, r.timestamp).Bind(13, static_cast<int64_t>(r.template_version));
    PT_RETURN_IF_ERROR(s.Run());
    r.id = sqlite3_last_insert_rowid(db_);
    if (!r.ok()) return OkStatus();
    Stmt best(db_,
              "INSERT INTO best(workload_id, target_id, record_id, cost) VALUES(?1, ?2, ?3, ?4) "
              "ON CONFLICT(workload_id, target_id) DO UPDATE SET record_id = excluded.record_id, "
              "cost = excluded.cost WHERE excluded.cost < best.cost");
    PT_RETURN_IF_ERROR(best.prepared());
    return best.Bind(1, workload_id).Bind(2, target_id).Bind(3, r.id).Bind(4, r.cost()).Run();
  }

  StatusOr<std::vector<Record>> HistoryLocked(const HistoryQuery& q) {
    std::string sql = std::string("SELECT ") + kRecordColumns + "WHERE (?1 = '' OR w.key = ?1) AND " +
                      kTargetKeyClause + " AND (?3 = '' OR w.op = ?3) AND r.id > ?4 ORDER BY r.id";
    if (q.limit > 0) sql += " LIMIT " + std::to_string(q.limit);
    Stmt s(db_, sql.c_str());
    PT_RETURN_IF_ERROR(s.prepared());
    s.Bind(1, q.workload_key).Bind(2, q.target_key).Bind(3, q.op).Bind(4, q.after_id);
    std::vector<Record> out;
    while (s.Step()) {
      PT_ASSIGN_OR_RETURN(Record r, ReadRecordRow(s));
      out.push_back(std::move(r));
    }
    PT_RETURN_IF_ERROR(s.status());
    return out;
  }

  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace

const char* MatchLevelName(MatchLevel level) {
  switch (level) {
    case MatchLevel::kExact:
      return "exact target";
    case MatchLevel::kIsaFamily:
      return "same ISA family";
    case MatchLevel::kAny:
      return "any target";
  }
  return "?";
}

StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Status(StatusCode::kUnavailable, "cannot open store '" + path + "': " + message);
  }
  auto store = std::make_unique<SqliteStore>(db);
  Status s = store->Init();
  if (!s.ok()) return Status(s.code(), "store '" + path + "': " + s.message());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace priortune::db

// The PostgreSQL store's class (postgres_store.cpp describes it), shared by its three
// files: postgres_store.cpp (connections, statements, transactions, migrations, logs),
// postgres_records.cpp (records, best configs, models, features) and postgres_jobs.cpp
// (jobs, tasks, leases). Includes libpq: db/postgres_*.cpp only.
#pragma once

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
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

#include "db/internal/postgres_schema.h"
#include "db/internal/postgres_support.h"
#include "db/log_format.h"
#include "db/store.h"
#include "db/store_rows.h"

namespace priortune::db::internal {

inline const int kSchemaVersion = internal::kPostgresSchemaVersion;
// pg_advisory_xact_lock key of the migration (any constant of ours).
inline constexpr int64_t kMigrationLock = 0x7072696f72;  // "prior"
// The store's clock in SQL (leases expire on it): the server's, so that servers on
// several hosts agree.
#define PT_PG_NOW "extract(epoch from clock_timestamp())"
inline constexpr int kAttempts = 6;  // tries of a statement or transaction whose connection dropped

inline double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class PostgresStore : public Store {
 public:
  PostgresStore(PGconn* conn, std::string url) : conn_(conn), url_(std::move(url)) {}
  ~PostgresStore() override;

  Status Init();

  int schema_version() const override { return kSchemaVersion; }

  Status AddRecords(std::vector<Record>& records) override;

  // FOR SHARE holds the lease row until COMMIT: another server's AcquireLease (an
  // UPDATE of that row) waits for this batch, then finds the lease as this batch left it.
  Status AddRecordsUnderLease(std::vector<Record>& records, const std::string& lease,
                              const std::string& holder) override;

  StatusOr<bool> AcquireLease(const std::string& name, const std::string& holder, double ttl_seconds) override;

  StatusOr<std::vector<std::string>> RenewLeases(const std::string& holder, double ttl_seconds) override;

  Status ReleaseLease(const std::string& name, const std::string& holder) override;

  Status DropLeases(const std::string& holder) override;

  StatusOr<std::vector<LeaseRow>> Leases(const std::string& prefix) override;

  // Reads run on whichever connection is free (this one, or a reader: see OnFreeConnection).
  StatusOr<std::optional<BestMatch>> Best(const std::string& workload_key, const std::string& target_key,
                                          const std::string& isa_family, const BestFilter& filter) override;

  StatusOr<std::vector<Record>> History(const HistoryQuery& q) override;

  StatusOr<int64_t> CreateJob(const std::string& request_json) override;

  Status FinishJob(int64_t job_id, JobState state) override;

  StatusOr<int64_t> CreateTask(int64_t job_id, const Record& wt, int64_t trials) override;

  Status FinishTask(int64_t task_id, TaskState state, int64_t measured) override;

  Status AnnotateTask(int64_t task_id, const std::string& notes) override;

  StatusOr<int64_t> AddModel(const ModelRow& m) override;

  StatusOr<std::vector<ModelRow>> Models(const ModelQuery& q) override;

  StatusOr<std::unordered_map<int64_t, std::string>> FeatureBlobs(int feature_version,
                                                                  const std::string& target_key) override;

  Status AddFeatureBlobs(int feature_version, const std::vector<std::pair<int64_t, std::string>>& blobs) override;

  StatusOr<JobRow> GetJob(int64_t job_id) override;

  StatusOr<std::vector<JobRow>> Jobs(std::optional<JobState> state) override;

  StatusOr<std::vector<WorkloadRow>> Workloads(int64_t after_id, int64_t limit) override;

  StatusOr<std::vector<TaskRow>> TasksOfJob(int64_t job_id) override;

  Status Export(std::ostream& out, const HistoryQuery& query) override;

  StatusOr<int64_t> RewriteTargets(const TargetRewriter& rewrite) override;

  StatusOr<ImportStats> Import(std::istream& in, const RecordCheck& check) override;

 private:
  // Runs `sql` with `params`; the status of the result. Outside a transaction, a
  // statement whose connection dropped runs again on a new one (every statement run
  // outside one is idempotent: reads, UPDATEs that set values, lease upserts of one holder).
  StatusOr<Result> Query(const std::string& sql, const std::vector<Param>& params);
  StatusOr<Result> QueryOnce(const std::string& sql, const std::vector<Param>& params);

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
  Status Exec(const char* sql);
  // Unavailable for a lost connection, a serialization failure or a deadlock (retrying
  // may succeed), Internal for the rest.
  Status Check(const Result& r) const;

  Status Migrate();

  // Runs `body` in one transaction. When the connection drops or the server aborts the
  // transaction (serialization failure, deadlock), it was rolled back: reconnect and run
  // the whole body again. When it drops during COMMIT, `committed` (if given) says whether
  // the body's changes are there; without it the outcome is reported Unavailable.
  Status InTransaction(const std::function<Status()>& body, const std::function<StatusOr<bool>()>& committed = nullptr);
  Status TransactionOnce(const std::function<Status()>& body, bool* commit_sent);
  // A pause that doubles with each attempt (0.1 s, 0.2 s, ...), then, if the connection
  // is gone, a new one with the same parameters and session settings. A failed reset
  // leaves the connection bad: the next attempt fails at once and comes back here.
  void Reconnect(int attempt);
  Status Session() { return Exec("SET client_min_messages = warning"); }

  // Whether every record of a batch whose COMMIT went unanswered is stored (then their
  // ids are filled in), none is (false), or only some (DataLoss: never expected of one
  // transaction).
  StatusOr<bool> Stored(std::vector<Record>& records);

  StatusOr<int64_t> Upsert(const char* insert, const char* select, const std::string& key, const std::string& second,
                           const std::string& json_text);
  StatusOr<int64_t> UpsertWorkload(const Record& r);
  StatusOr<int64_t> UpsertTarget(const Record& r);

  // The id of the stored record with r's workload, target, config, worker and time; 0 if none.
  StatusOr<int64_t> IdOf(const Record& r);
  StatusOr<std::vector<TargetChange>> TargetChanges(const TargetRewriter& rewrite);

  // Inside a transaction: one target to its new form, merged into a row that has its new
  // key already.
  Status ApplyTargetChange(const TargetChange& c);

  StatusOr<bool> Exists(const Record& r);

  Status Insert(Record& r);

  // Best on this connection; the caller holds mu_.
  StatusOr<std::optional<BestMatch>> BestLocked(const std::string& workload_key, const std::string& target_key,
                                                const std::string& isa_family, const BestFilter& filter);

  StatusOr<std::vector<Record>> HistoryLocked(const HistoryQuery& q);

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

}  // namespace priortune::db::internal

// The Store: every measurement record, the best config per (workload, target), the
// jobs and tasks that produced them, and the cost models learned from them. One SQLite file by default
// (OpenSqliteStore), or a PostgreSQL database shared by several servers (OpenPostgresStore); OpenStore picks by URL.
// The tuning-log corpus that later cost models learn from.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/support/status.h"
#include "db/record.h"
#include "db/run_state.h"

namespace priortune::db {

// Which step of the lookup chain answered: the exact target, another target of the same
// ISA family, or any target at all.
enum class MatchLevel : uint8_t { kExact, kIsaFamily, kAny };
const char* MatchLevelName(MatchLevel level);  // "exact target", "same ISA family", "any target"

struct BestMatch {
  Record record;
  MatchLevel level = MatchLevel::kExact;
};

// Whether a stored best (the fastest correct record of one target), considered at
// `level`, may answer a lookup: an empty string accepts it, anything else is the reason
// it may not (e.g. its config falls outside the asking target's search space). The
// caller keeps the reasons it gives (tuner/db_config_source.cpp reports them).
using BestFilter = std::function<std::string(const Record&, MatchLevel level)>;

struct HistoryQuery {
  std::string workload_key;  // empty: any
  std::string target_key;    // empty: any
  std::string op;            // empty: any (the template's history across workloads)
  int64_t limit = 0;         // 0: no limit
  int64_t after_id = 0;      // only records with a larger id (paging); 0: from the first
};

// A stored workload and how much of it the store holds (ListWorkloads).
struct WorkloadRow {
  int64_t id = 0;  // the store's row id: the paging cursor
  std::string key, op, json;
  int64_t records = 0;  // on every target
  int64_t targets = 0;  // distinct targets with records
};

// Called for each record of an imported log before anything is written; an error names
// the field. Lets the caller (who knows the compiler) check keys and JSON.
using RecordCheck = std::function<Status(const Record&)>;

// A stored target in the form the caller writes today (RewriteTargets).
struct TargetForm {
  std::string key, json, isa_family;
};
// The current form of a stored target, from its stored JSON; nullopt leaves it as it is.
// An error stops the rewrite before anything is written.
using TargetRewriter = std::function<StatusOr<std::optional<TargetForm>>(const std::string& json)>;

// A job as stored: the client's request and how it ended.
struct JobRow {
  int64_t id = 0;
  std::string request_json;
  JobState state = JobState::kRunning;
  double created = 0;   // seconds since the epoch
  double finished = 0;  // 0 while running
};

// A task of a job: one (workload, target) with its budget and what was measured.
struct TaskRow {
  int64_t id = 0, job_id = 0;
  std::string workload_key, target_key;
  int64_t trials = 0, measured = 0;
  TaskState state = TaskState::kRunning;
  std::string notes;  // what the tuner chose along the way, e.g. the cost model it kept
};

// A stored cost model: an opaque blob (costmodel/ reads and checks it) and what it was
// trained on, so that a model is found again without deserialising it.
struct ModelRow {
  int64_t id = 0;
  std::string kind;  // costmodel::CostModelName: xgboost, neural
  int feature_version = 0;
  std::string target_key;
  std::string training_set;  // a description of the records it learned from
  std::string metrics_json;  // offline metrics
  int64_t samples = 0;
  double created = 0;  // seconds since the epoch; 0 when added means "now"
  std::string blob;
};

struct ModelQuery {
  std::string kind, target_key, training_set;  // empty: any
  int64_t id = 0;                              // 0: any
  int64_t limit = 0;                           // 0: no limit
  bool with_blob = true;
};

// A lease: a named claim on work (a job, a task), held by one server until it expires
// on the store's clock. Several servers sharing a store take work through leases, so
// that two never do the same thing at once and a dead one's work is taken over.
struct LeaseRow {
  std::string name, holder;
  double expires = 0;    // seconds since the epoch, store clock
  bool expired = false;  // as the store sees it now
};

struct ImportStats {
  int64_t imported = 0;
  int64_t duplicates =
      0;  // already in the store (same workload, target or a target renamed from it, config, worker, time)
};

// The store's interface comes in four facets, one per kind of data; Store is all of them
// (one SQLite file or one PostgreSQL database), and a caller that needs one facet may take
// just that. Every method reports the backend's failures (SQLite's or libpq's message) as
// Internal or Unavailable; nothing throws.

// Measurement records and the best config of each (workload, target).
class RecordStore {
 public:
  virtual ~RecordStore() = default;

  // Adds records in one transaction and updates Best for each (workload, target): only a
  // correct record (error none, at least one cost) can become best. Assigns ids.
  // All or nothing.
  virtual Status AddRecords(std::vector<Record>& records) = 0;

  // AddRecords, only while `holder` holds the unexpired lease `lease` (checked in the
  // same transaction, so another server that takes the lease after its expiry never
  // sees a batch of the old holder land afterwards). Aborted "lease ... lost" and nothing
  // written otherwise.
  virtual Status AddRecordsUnderLease(std::vector<Record>& records, const std::string& lease,
                                      const std::string& holder) = 0;

  // The fastest correct record for the workload that `filter` accepts: on `target_key`,
  // else on a target of `isa_family`, else on any target. At each level the correct
  // records are tried fastest first, each once. nullopt when no correct record passes
  // (no filter: all pass). Both backends run one ladder (db/best_ladder.cpp).
  virtual StatusOr<std::optional<BestMatch>> Best(const std::string& workload_key, const std::string& target_key,
                                                  const std::string& isa_family,
                                                  const BestFilter& filter = nullptr) = 0;

  // Records in insertion order.
  virtual StatusOr<std::vector<Record>> History(const HistoryQuery& query) = 0;
  // Workloads with a row id above `after_id`, in id order, at most `limit` (0: all).
  virtual StatusOr<std::vector<WorkloadRow>> Workloads(int64_t after_id, int64_t limit) = 0;

  // Brings every stored target to the caller's current form (the db cannot: it does not
  // interpret target JSON), in one transaction. A target row `rewrite` changes takes the
  // new key, JSON and ISA family; its records, bests and tasks follow (they refer to the
  // row). If another row already has the new key, the two merge: records and tasks move
  // to it, and of two bests of one workload the faster stays. Models' target_key follows,
  // and target_aliases keeps old key -> new key, so History still finds records by the
  // old key. Reads only, when nothing changes. Returns how many targets were rewritten.
  virtual StatusOr<int64_t> RewriteTargets(const TargetRewriter& rewrite) = 0;

  // The versioned JSON-lines log: a header line, then one record per line.
  virtual Status Export(std::ostream& out, const HistoryQuery& query) = 0;
  // All or nothing: every line is parsed and checked before one transaction writes them.
  // InvalidArgument "line N: field 'F': ..." for the first bad record.
  virtual StatusOr<ImportStats> Import(std::istream& in, const RecordCheck& check) = 0;
};

// Jobs and tasks: a client's request and the workloads it tunes.
class JobStore {
 public:
  virtual ~JobStore() = default;

  virtual StatusOr<int64_t> CreateJob(const std::string& request_json) = 0;
  // NotFound for an unknown job id.
  virtual Status FinishJob(int64_t job_id, JobState state) = 0;
  virtual StatusOr<int64_t> CreateTask(int64_t job_id, const Record& workload_and_target, int64_t trials) = 0;
  // NotFound for an unknown task id.
  virtual Status FinishTask(int64_t task_id, TaskState state, int64_t measured) = 0;
  // Replaces the task's notes. NotFound for an unknown task id.
  virtual Status AnnotateTask(int64_t task_id, const std::string& notes) = 0;
  // NotFound for an unknown job id.
  virtual StatusOr<JobRow> GetJob(int64_t job_id) = 0;
  // Jobs in creation order, only those in `state` if given (a restarted server resumes the
  // running ones). DataLoss naming the job for a stored state that does not parse.
  virtual StatusOr<std::vector<JobRow>> Jobs(std::optional<JobState> state) = 0;
  // The tasks of a job in creation order (empty for a job without tasks or no such job).
  virtual StatusOr<std::vector<TaskRow>> TasksOfJob(int64_t job_id) = 0;
};

// Cost models and the feature cache.
class ModelStore {
 public:
  virtual ~ModelStore() = default;

  // AddModel assigns the id; Models lists the matches newest first.
  virtual StatusOr<int64_t> AddModel(const ModelRow& model) = 0;
  virtual StatusOr<std::vector<ModelRow>> Models(const ModelQuery& query) = 0;
  // The feature cache: record id -> an opaque blob (costmodel/ writes and checks it), of
  // one feature-layout version, for records on `target_key` (empty: any target).
  virtual StatusOr<std::unordered_map<int64_t, std::string>> FeatureBlobs(int feature_version,
                                                                          const std::string& target_key) = 0;
  // Adds or replaces blobs of existing records, all or nothing (an unknown record id
  // fails the foreign key: Internal with the backend's message).
  virtual Status AddFeatureBlobs(int feature_version, const std::vector<std::pair<int64_t, std::string>>& blobs) = 0;
};

// Leases (LeaseRow): how servers sharing one store divide jobs and runs.
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;

  // Takes `name` for `holder` for `ttl_seconds` if it is free, expired or `holder`'s
  // already (then it is renewed); whether `holder` holds it now. Atomic: of several
  // servers asking at once, one gets it.
  virtual StatusOr<bool> AcquireLease(const std::string& name, const std::string& holder, double ttl_seconds) = 0;
  // Extends every lease `holder` still holds to `ttl_seconds` from now; their names (a
  // lease missing from them was taken by another holder after it expired).
  virtual StatusOr<std::vector<std::string>> RenewLeases(const std::string& holder, double ttl_seconds) = 0;
  // Drops `name` if `holder` holds it (a no-op otherwise).
  virtual Status ReleaseLease(const std::string& name, const std::string& holder) = 0;
  // Drops every lease of `holder`; "" drops every lease (a server that knows it is the
  // store's only one).
  virtual Status DropLeases(const std::string& holder) = 0;
  // The leases whose name starts with `prefix`, by name.
  virtual StatusOr<std::vector<LeaseRow>> Leases(const std::string& prefix) = 0;
};

// Thread-safe: calls are serialised inside. Several processes may open the same file:
// writers wait for each other (busy timeout) instead of failing.
class Store : public RecordStore, public JobStore, public ModelStore, public LeaseStore {
 public:
  virtual int schema_version() const = 0;
};

inline constexpr int kLogFormatVersion = 1;

// Opens (creating if needed) and migrates the SQLite store at `path` (":memory:" works).
// FailedPrecondition if the file was written by a newer priortune (schema too new);
// Unavailable if it cannot be opened.
StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

// Opens and migrates the PostgreSQL store at `url` (libpq's URI,
// postgresql://user[:password]@host:port/dbname; the database must exist), with the same
// schema versions as the SQLite store. Several processes and servers may share it.
// Unavailable if it cannot connect (the message gives the URL without its password);
// FailedPrecondition if its schema is newer than this build's.
StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url);

// A store by URL: postgresql:// or postgres:// opens PostgreSQL; sqlite:///path or a bare
// path opens SQLite; InvalidArgument for another scheme.
StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url);
// Whether `url` names a PostgreSQL store (so there is no file to look for).
bool IsPostgresUrl(const std::string& url);
// False for a SQLite store whose file does not exist (commands that only read refuse to
// create one); true for PostgreSQL, whose connection says.
bool StoreExists(const std::string& url);

}  // namespace priortune::db

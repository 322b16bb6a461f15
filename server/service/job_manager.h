// The jobs of the tuning service: a client's request (workloads, a target, a budget)
// becomes tasks; each distinct (workload, target) is tuned by one run, which every job
// asking for it shares; runs measure through the shared MeasureQueue, and the store keeps
// every job, task and record, so that a restarted server resumes what was running.
// No gRPC here: server/service/tuning_service.cpp converts at the edge.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ops/workload.h"
#include "compiler/support/status.h"
#include "compiler/target/target.h"
#include "db/store.h"
#include "server/service/job_request.h"
#include "server/service/measure_queue.h"
#include "tuner/tuning_loop.h"

namespace priortune::server {

struct JobManagerOptions {
  int max_concurrent_runs = 4;              // tuning runs searching at once (the rest queue)
  double no_worker_deadline_seconds = 600;  // a run whose target no worker serves fails then
  int max_jobs_per_client = 8;              // unfinished jobs one client may have
  int max_tasks_per_job = 256;
  int max_trials = 100000;       // per task
  int64_t memory_cap_bytes = 0;  // per workload's buffers; 0: DefaultMemoryCapBytes()
  // Several servers may share one store (PostgreSQL). Each running job and each tuning
  // run of a (workload, target) is leased through the store: a server tunes only what it
  // holds the lease of, renews its leases every lease_seconds / 3, and takes over a job
  // whose server's lease expired (it resumes from the stored records).
  std::string server_id;  // the lease holder's name; empty: hostname-pid
  double lease_seconds = 30;
  // The store's only server (serve holds the SQLite file's lock): every lease left in it
  // is a dead server's, dropped at start, so a restarted server resumes at once.
  bool exclusive_store = false;
  // The shipped meta-trained models (tuner::TuneOptions::shipped_model_dir); empty: none.
  std::string shipped_model_dir;
};

struct TaskView {
  int64_t task_id = 0;
  compiler::Workload workload;
  std::string workload_key, target_key;
  db::TaskState state = db::TaskState::kQueued;
  int trials = 0;    // budget
  int stored = 0;    // records of the (workload, target) in the store
  int measured = 0;  // measured by the run that serves this task
  int errors = 0;
  double best_seconds = 0;  // 0: none correct yet
  std::optional<compiler::Config> best_config;
  std::string message;
  bool from_store = false;  // answered at once: already tuned to the budget
  int64_t shared_with_job = 0;
  double eta_seconds = 0;
};

struct JobView {
  int64_t id = 0;
  std::string name, client, target_spec, target_key;
  db::JobState state = db::JobState::kQueued;
  tuner::Strategy strategy = tuner::Strategy::kGa;
  std::string strategy_note;  // why the server picked the strategy; empty if the client named it
  int threads = 1, priority = 0;
  double created = 0, finished = 0, eta_seconds = 0;
  std::vector<TaskView> tasks;
};

enum class JobEventKind : uint8_t { kSnapshot, kTaskProgress, kTaskDone, kJobDone, kError };
struct JobEvent {
  JobEventKind kind = JobEventKind::kSnapshot;
  int64_t sequence = 0;
  int task_index = -1;
  std::string message;
  JobView job;  // the job as it is when the event is read
};

// Thread-safe. Borrows `store` and `queue`, which must outlive it.
class JobManager {
 public:
  // Loads the store's service jobs; the ones left running (a server killed or stopped
  // mid-job) resume: their records count, nothing measured is measured again. A running
  // job another live server holds the lease of is left to it (and taken over if that
  // lease expires).
  static StatusOr<std::unique_ptr<JobManager>> Create(db::Store& store, MeasureQueue& queue,
                                                      const JobManagerOptions& options);
  ~JobManager();

  // Stores the job and its tasks and starts (or joins) their runs. InvalidArgument naming
  // the field (workloads[i].dims, trials, strategy, target), NotFound for an unknown op,
  // ResourceExhausted for a workload over the memory cap or a client over its job limit.
  // A request with pick_strategy gets its strategy here (ga without a meta-trained model;
  // JobRequest::strategy_note says why). Only service requests (JobRequest::origin).
  StatusOr<int64_t> Submit(const JobRequest& request);
  // NotFound; a job this server does not hold is read from the store when it ended, and
  // Unavailable (naming the server that holds it) while it runs elsewhere.
  StatusOr<JobView> Get(int64_t job_id) const;
  std::vector<JobView> List(std::optional<db::JobState> state) const;  // nullopt: all, in id order
  // Cancels the job's tasks; a run another job still needs goes on. FailedPrecondition
  // for a job already ended, NotFound for an unknown one.
  StatusOr<JobView> Cancel(int64_t job_id);
  // The job's events after `after_sequence`; -1 starts with a snapshot of the job as it is
  // now (whose sequence is the newest event's). Waits up to `wait` for one; an empty
  // list means none came. NotFound for an unknown job; Unavailable, after `wait`, for one
  // that runs on another server.
  StatusOr<std::vector<JobEvent>> Events(int64_t job_id, int64_t after_sequence, std::chrono::milliseconds wait) const;
  // Stops every run (what was stored stays; a batch in flight is dropped). Jobs stay
  // running in the store, and their leases are dropped, so that the next server (or
  // another one sharing the store) resumes them. Idempotent.
  void Shutdown();
  // The lease holder name of this server.
  const std::string& server_id() const;

  struct Impl;

 private:
  explicit JobManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace priortune::server

// The job manager's inside (job_manager.h), shared by its five files: job_manager.cpp (the
// public calls, adding a job), job_scheduling.cpp (queue and scheduling), job_runs.cpp (a
// run's lifecycle), job_requests.cpp (stored requests read back, views and events) and
// job_leases.cpp (store leases, orphaned jobs, the lease thread).
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "server/service/job_lifecycle.h"
#include "server/service/job_manager.h"

namespace priortune::server {

using Clock = std::chrono::steady_clock;

double Now();

using db::RunState;
using db::Terminal;

// The store lease names of a job and of a run (task:<workload key>/<target key>).
std::string JobLease(int64_t id);
std::string TaskLease(const std::string& run_key);

// hostname-pid: a server's lease holder name when none is given.
std::string DefaultServerId();

// The holder of lease `name` among `rows` (Leases by prefix may list longer names too).
std::string HolderOf(const std::vector<db::LeaseRow>& rows, const std::string& name);

const char* EventName(JobEventKind k);

struct Run;

struct Task {
  TaskView view;
  std::shared_ptr<Run> run;
};

struct EventEntry {
  JobEventKind kind;
  int task_index;
  std::string message;
};

struct Job {
  JobView view;  // tasks kept in `tasks`, copied into views on read
  std::vector<Task> tasks;
  std::vector<EventEntry> log;
  compiler::Target target;
  tuner::TuneOptions tune;
  double worker_deadline = 0;
  Clock::time_point leased_at;  // when this server took the job's lease
  bool lease_warned = false;
};

struct Run {
  uint64_t id = 0;
  std::string key;  // workload key + target key
  compiler::Workload workload;
  compiler::Target target;
  tuner::TuneOptions tune;
  int priority = 0;
  double worker_deadline = 0;  // seconds
  int64_t owner_job = 0;
  std::vector<std::pair<int64_t, int>> subscribers;  // (job, task index)
  std::atomic<bool> cancel{false};
  bool started = false, no_worker = false;
  bool waiting = false;     // queued on a task lease another server holds
  bool lease_lost = false;  // its task lease was taken: it stops and queues again
  Clock::time_point leased_at;
  // progress
  int measured = 0, errors = 0, budget = 0, known_before = 0;
  double best_cost = INFINITY, elapsed = 0;
  std::thread thread;
};

struct JobManager::Impl {
  db::Store& store;
  JobLifecycle lifecycle;  // over `store`: opens jobs, tunes runs, stores the ends
  MeasureQueue& queue;
  JobManagerOptions options;
  mutable std::mutex mu;
  mutable std::condition_variable changed;  // an event was logged
  std::map<int64_t, Job> jobs;
  std::map<std::string, std::shared_ptr<Run>> active;  // by key, queued or running
  std::deque<std::shared_ptr<Run>> queued;
  std::vector<std::shared_ptr<Run>> finished_runs;  // threads to join
  std::mutex join_mu;                               // one thread joins run threads at a time
  int running = 0;
  uint64_t next_run = 1;
  bool shutdown = false;
  std::string holder;                  // this server's lease holder name
  std::thread lease_thread;            // renews, retries waiting runs, takes over jobs
  std::condition_variable lease_wake;  // with mu: shutdown
  std::mutex adopt_mu;                 // a Submit's job is in `jobs` before a take-over scan sees it
  std::set<int64_t> unadoptable;       // running jobs in the store that do not parse

  Impl(db::Store& s, MeasureQueue& q, const JobManagerOptions& o)
      : store(s),
        lifecycle(s, o.shipped_model_dir),
        queue(q),
        options(o),
        holder(o.server_id.empty() ? DefaultServerId() : o.server_id) {}

  // --- views and events (mu held) ---
  JobView ViewLocked(const Job& job) const;

  // `batch`: a per-batch progress line, logged at debug level (the rest at info).
  void LogLocked(Job& job, JobEventKind kind, int task, const std::string& message, bool batch = false);

  // --- the request as stored (resumed from it) ---
  // The request and target of a service job; nullopt for a job of the CLI (`tune`,
  // `tune-model`) and for one that does not parse (logged).
  static std::optional<std::pair<JobRequest, compiler::Target>> ServiceRequest(const db::JobRow& row);
  // A job's view without its tasks.
  static JobView HeaderView(const JobRequest& r, const compiler::Target& target, int64_t id, double created);

  // --- runs (mu held) ---
  void Subscribe(const std::shared_ptr<Run>& run, int64_t job_id, int task);

  void StartOrJoin(int64_t job_id, int task);

  // Starts queued runs, highest priority first, each once this server holds its task lease.
  void Schedule();

  // Whether this server now holds the run's task lease; the first refusal is logged to
  // the run's tasks with the server that holds it.
  bool TakeTaskLease(Run& run);

  class RunMeasurer : public tuner::Measurer {
   public:
    RunMeasurer(Impl& impl, Run& run) : impl_(impl), run_(run) {}
    std::vector<tuner::MeasureResult> Measure(const std::vector<tuner::Candidate>& candidates,
                                              const std::atomic<bool>& cancel) override {
      MeasureTag tag;
      {
        std::lock_guard<std::mutex> lock(impl_.mu);
        tag.group = static_cast<uint64_t>(run_.owner_job);
        tag.priority = run_.priority;
        tag.no_worker_deadline_seconds = run_.worker_deadline;
      }
      MeasureOutcome out = impl_.queue.MeasureTagged(tag, candidates, cancel);
      if (out.no_worker) {
        std::lock_guard<std::mutex> lock(impl_.mu);
        run_.no_worker = true;
        run_.cancel = true;
      }
      return std::move(out.results);
    }

   private:
    Impl& impl_;
    Run& run_;
  };

  // A run's thread: tunes through the lifecycle, then Finish.
  void Execute(std::shared_ptr<Run> run);
  // A batch's progress: into the run and its subscribers' event logs.
  void Progress(Run& run, const tuner::TuneProgress& p);
  // How the run ended for its tasks: OutcomeOf, failed for no worker, cancelled for a
  // lost lease (its tasks queue again).
  static TaskOutcome OutcomeOfRun(const Run& run, StatusOr<tuner::TuneSummary> summary);

  // A task's end to store.
  struct TaskEnd {
    int64_t task_id;
    RunState state;
    std::string notes;
    int64_t measured;
  };
  // One subscribed task of an ended run (mu held): its view and events, its end to store
  // into `ends`, or a run of its own when it needs more (a larger budget, a cancelled run).
  void EndSubscriberLocked(const Run& run, const TaskOutcome& outcome, int64_t job_id, int task_index,
                           std::vector<TaskEnd>& ends);

  // Ends of tasks and jobs are written to the store with `mu` held, so that a watcher
  // that saw a job end finds that end stored, and so that the ends of two runs of one
  // job are stored in the order they happened.
  void Finish(const std::shared_ptr<Run>& run, StatusOr<tuner::TuneSummary> summary);

  // True when every task ended: the job's state is set and JOB_DONE logged.
  bool MaybeEndJobLocked(Job& job);

  // (job, state) pairs; the caller holds mu. An ended job's lease is given up.
  void FinishJobsInStore(const std::vector<std::pair<int64_t, db::JobState>>& ended);

  // An ended job as stored: shown, never run again.
  Job EndedJob(const db::JobRow& row, const JobRequest& r, const compiler::Target& target);

  // A job this server does not have (mu not held): an ended one is read from the store
  // and kept; a running one belongs to the server that holds its lease (Unavailable).
  StatusOr<JobView> Foreign(int64_t job_id);

  // Takes over the running jobs of the store that no live server holds: a server that
  // died (its lease expired), stopped (it dropped its leases) or never took one. A job
  // without a lease that was created less than a lease ago is being submitted elsewhere
  // (servers' clocks are taken to agree to well within a lease). Returns how many.
  int AdoptOrphans(bool at_start);

  // Every lease_seconds / 3 until shutdown: renew this server's leases, stop runs whose
  // lease another server took, retry runs waiting for a lease, take over orphaned jobs.
  void LeaseLoop();

  // The fastest correct record of a (workload, target) the store holds to `trials`, or
  // nullopt. Counts what TuneTask counts: records of the template's current version
  // whose configs lie in today's search space (older ones are tuned again).
  std::optional<db::Record> AlreadyTuned(const compiler::Workload& w, const compiler::Target& t, int trials,
                                         int* stored);

  // Builds the in-memory job of a request; `rows` are the stored tasks (a resumed job) or
  // empty (new: created here).
  StatusOr<int64_t> AddJob(const JobRequest& request, const compiler::Target& target, int64_t job_id, double created,
                           std::vector<db::TaskRow> rows);

  void JoinFinished();
};

}  // namespace priortune::server

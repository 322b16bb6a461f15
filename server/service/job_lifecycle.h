// One job lifecycle for `priortune tune`, `priortune tune-model` and the service's job
// manager: a job is opened from its typed request, each task is tuned through a
// tuner::Measurer (the embedded workers' queue or the service's tagged one), how the task
// ended is decided in one place (TaskOutcome), and the ends of tasks and jobs are stored
// here. Every store error is returned to the caller.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "compiler/ops/workload.h"
#include "compiler/support/status.h"
#include "compiler/target/target.h"
#include "db/store.h"
#include "server/service/job_request.h"
#include "tuner/measure.h"
#include "tuner/tuning_loop.h"

namespace priortune::server {

// How a task's run ended, for the store and for people.
struct TaskOutcome {
  db::TaskState state = db::TaskState::kFailed;
  std::string message;      // "12 trials measured", "no correct config: all trials failed", ...
  bool from_store = false;  // done at once: the store held the budget already
  // The search's summary; an error when it could not run (its space, a model file, the
  // store).
  StatusOr<tuner::TuneSummary> summary = Status(StatusCode::kUnknown, "not run");
};

// The one place a run's end is classified: an error fails the task (message: the
// status); a cancelled search ends as `when_cancelled` (the service: cancelled; `tune`
// stopped by a signal: interrupted); a search without a correct config fails; else done.
TaskOutcome OutcomeOf(StatusOr<tuner::TuneSummary> summary, db::TaskState when_cancelled);

// An outcome of a run whose target no worker served for `deadline_seconds`.
TaskOutcome NoWorkerOutcome(const compiler::Target& target, double deadline_seconds);

class JobLifecycle {
 public:
  // Borrows `store`. `shipped_model_dir`: the shipped meta-trained models (TuneOptions).
  JobLifecycle(db::Store& store, std::string shipped_model_dir);

  // The request's strategy when it asks the server to pick one: meta-ga with a
  // meta-trained model for `target`, else `otherwise`; strategy_note says why.
  Status PickStrategy(JobRequest& request, const compiler::Target& target, tuner::Strategy otherwise) const;

  // Stores a new job, running.
  StatusOr<int64_t> OpenJob(const JobRequest& request, const compiler::Target& target);
  // Stores a task of `job_id`: (workload, target) with its trial budget, running.
  StatusOr<int64_t> AddTask(int64_t job_id, const compiler::Workload& w, const compiler::Target& target, int trials);

  // Tunes (w, target) with `tune` (its budget: tune.trials records), measuring through
  // `measurer`; records are stored under `job_id` as they come.
  StatusOr<tuner::TuneSummary> Tune(int64_t job_id, const compiler::Workload& w, const compiler::Target& target,
                                    tuner::TuneOptions tune, tuner::Measurer& measurer,
                                    const std::function<void(const tuner::TuneProgress&)>& progress,
                                    const std::atomic<bool>& cancel);

  // Stores a task's end: its state, the trials its run measured and the search's notes
  // (tuner::NotesJson; empty: none).
  Status EndTask(int64_t task_id, db::TaskState state, int64_t measured, const std::string& notes);
  // EndTask with what `outcome` says (measured and notes from its summary, if any).
  Status EndTask(int64_t task_id, const TaskOutcome& outcome);
  Status EndJob(int64_t job_id, db::JobState state);

  db::Store& store() const { return store_; }

 private:
  db::Store& store_;
  std::string shipped_model_dir_;
};

}  // namespace priortune::server

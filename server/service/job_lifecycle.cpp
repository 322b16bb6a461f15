#include "server/service/job_lifecycle.h"

#include <cstdio>
#include <utility>

#include "tuner/meta_model.h"

namespace priortune::server {

TaskOutcome OutcomeOf(StatusOr<tuner::TuneSummary> summary, db::TaskState when_cancelled) {
  TaskOutcome out;
  if (!summary.ok()) {
    out.state = db::TaskState::kFailed;
    out.message = summary.status().ToString();
  } else if (summary->cancelled) {
    out.state = when_cancelled;
    out.message =
        std::string(db::StateName(when_cancelled)) + "; " + std::to_string(summary->measured) + " trials were stored";
  } else if (!summary->best_config) {
    out.state = db::TaskState::kFailed;
    out.message = "no correct config: all trials failed";
  } else {
    out.state = db::TaskState::kDone;
    out.from_store = summary->budget == 0;
    out.message = out.from_store ? "already tuned: " + std::to_string(summary->known_before) +
                                       " records in the store, nothing measured"
                                 : std::to_string(summary->measured) + " trials measured";
  }
  out.summary = std::move(summary);
  return out;
}

TaskOutcome NoWorkerOutcome(const compiler::Target& target, double deadline_seconds) {
  TaskOutcome out;
  out.state = db::TaskState::kFailed;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.0f s", deadline_seconds);
  out.message = "UNAVAILABLE: no connected worker measures for target " + target.Describe() + " (key " + target.Key() +
                ", " + std::to_string(target.cores) + " thread(s)) for " + buf +
                "; start one with `priortune worker --target` of this target";
  return out;
}

JobLifecycle::JobLifecycle(db::Store& store, std::string shipped_model_dir)
    : store_(store), shipped_model_dir_(std::move(shipped_model_dir)) {}

Status JobLifecycle::PickStrategy(JobRequest& request, const compiler::Target& target,
                                  tuner::Strategy otherwise) const {
  if (!request.pick_strategy) return OkStatus();
  PT_ASSIGN_OR_RETURN(tuner::DefaultStrategyChoice choice,
                      tuner::DefaultStrategy(store_, target, otherwise, shipped_model_dir_));
  request.tune.strategy = choice.strategy;
  request.strategy_note = choice.why;
  return OkStatus();
}

StatusOr<int64_t> JobLifecycle::OpenJob(const JobRequest& request, const compiler::Target& target) {
  return store_.CreateJob(JobRequestJson(request, target));
}

StatusOr<int64_t> JobLifecycle::AddTask(int64_t job_id, const compiler::Workload& w, const compiler::Target& target,
                                        int trials) {
  db::Record wt;
  wt.workload_key = w.Key();
  wt.workload_json = w.ToJson();
  wt.op = w.op;
  wt.target_key = target.Key();
  wt.target_json = target.ToJson();
  wt.isa_family = target.isa_family();
  return store_.CreateTask(job_id, wt, trials);
}

StatusOr<tuner::TuneSummary> JobLifecycle::Tune(int64_t job_id, const compiler::Workload& w,
                                                const compiler::Target& target, tuner::TuneOptions tune,
                                                tuner::Measurer& measurer,
                                                const std::function<void(const tuner::TuneProgress&)>& progress,
                                                const std::atomic<bool>& cancel) {
  if (tune.shipped_model_dir.empty()) tune.shipped_model_dir = shipped_model_dir_;
  return tuner::TuneTask(w, target, tune, measurer, store_, job_id, progress, cancel);
}

Status JobLifecycle::EndTask(int64_t task_id, db::TaskState state, int64_t measured, const std::string& notes) {
  PT_RETURN_IF_ERROR(store_.FinishTask(task_id, state, measured));
  if (notes.empty()) return OkStatus();
  return store_.AnnotateTask(task_id, notes);
}

Status JobLifecycle::EndTask(int64_t task_id, const TaskOutcome& outcome) {
  const bool ran = outcome.summary.ok();
  return EndTask(task_id, outcome.state, ran ? outcome.summary->measured : 0,
                 ran && !outcome.summary->notes.empty() ? tuner::NotesJson(outcome.summary->notes) : "");
}

Status JobLifecycle::EndJob(int64_t job_id, db::JobState state) { return store_.FinishJob(job_id, state); }

}  // namespace priortune::server

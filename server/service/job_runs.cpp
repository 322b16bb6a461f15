// JobManager::Impl (internal/job_manager_impl.h), a run's lifecycle: its thread tunes
// through the JobLifecycle, its progress goes to every subscribed task's events, and its
// end is classified once and stored for each subscriber (or a follow-up run started);
// a job whose tasks all ended is finished.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "server/service/internal/job_manager_impl.h"

namespace priortune::server {

void JobManager::Impl::Execute(std::shared_ptr<Run> run) {
  RunMeasurer measurer(*this, *run);
  auto summary = lifecycle.Tune(
      run->owner_job, run->workload, run->target, run->tune, measurer,
      [&](const tuner::TuneProgress& p) { Progress(*run, p); }, run->cancel);
  Finish(run, std::move(summary));
}

void JobManager::Impl::Progress(Run& run, const tuner::TuneProgress& p) {
  std::lock_guard<std::mutex> lock(mu);
  run.measured = p.measured;
  run.errors = p.errors;
  run.budget = p.budget;
  run.known_before = run.tune.trials - p.budget;
  run.best_cost = p.best_cost;
  run.elapsed = p.elapsed_seconds;
  char line[160];
  std::snprintf(line, sizeof line, "%d/%d trials, best %.4g ms", p.measured, p.budget,
                std::isfinite(p.best_cost) ? p.best_cost * 1e3 : 0.0);
  for (auto [job_id, task] : run.subscribers) LogLocked(jobs.at(job_id), JobEventKind::kTaskProgress, task, line, true);
}

TaskOutcome JobManager::Impl::OutcomeOfRun(const Run& run, StatusOr<tuner::TuneSummary> summary) {
  const bool aborted = !summary.ok() && summary.status().code() == StatusCode::kAborted;
  TaskOutcome out = OutcomeOf(std::move(summary), RunState::kCancelled);
  if (out.summary.ok() && run.no_worker) {
    TaskOutcome none = NoWorkerOutcome(run.target, run.worker_deadline);
    none.summary = std::move(out.summary);
    out = std::move(none);
  }
  // A run whose task lease another server took (this one stalled past the expiry): its
  // stored batches count, the rest is measured by whoever holds the lease; its tasks
  // queue again (as a cancelled run's subscribers do) and go on from the records.
  if (run.lease_lost || aborted) {
    spdlog::warn("run of {} stopped: {}", run.key, aborted ? out.message : "its task lease was lost");
    out.state = RunState::kCancelled;
  }
  return out;
}

void JobManager::Impl::EndSubscriberLocked(const Run& run, const TaskOutcome& outcome, int64_t job_id, int task_index,
                                           std::vector<TaskEnd>& ends) {
  Job& job = jobs.at(job_id);
  Task& t = job.tasks[task_index];
  if (Terminal(t.view.state)) return;  // cancelled by its job meanwhile
  const tuner::TuneSummary* summary = outcome.summary.ok() ? &*outcome.summary : nullptr;
  if (summary) {
    t.view.measured = summary->measured;
    t.view.errors = summary->errors;
    t.view.stored = summary->known_before + summary->measured;
    if (summary->best_config) {
      t.view.best_config = summary->best_config;
      t.view.best_seconds = summary->best_cost;
    }
  }
  // A sharer that asked for a larger budget tunes on (from the records so far). A task
  // still subscribed to a cancelled run never asked for the cancel (its job would have
  // unsubscribed it): the run was given up by the job that owned it, or joined while it
  // was stopping; it starts again for this task, with its own budget and priority.
  const RunState state = outcome.state;
  if ((state == RunState::kDone && t.view.trials > run.tune.trials) || state == RunState::kCancelled) {
    t.run.reset();
    StartOrJoin(job_id, task_index);
    return;
  }
  t.view.state = state;
  t.view.message = outcome.message;
  t.view.from_store = outcome.from_store;
  t.view.eta_seconds = 0;
  ends.push_back({t.view.task_id, state, summary && !summary->notes.empty() ? tuner::NotesJson(summary->notes) : "",
                  summary && t.view.shared_with_job == 0 ? summary->measured : 0});
  const std::string line = std::string(db::StateName(state)) + ": " + outcome.message;
  LogLocked(job, state == RunState::kFailed ? JobEventKind::kError : JobEventKind::kTaskDone, task_index, line);
  if (state == RunState::kFailed) LogLocked(job, JobEventKind::kTaskDone, task_index, db::StateName(state));
}

void JobManager::Impl::Finish(const std::shared_ptr<Run>& run, StatusOr<tuner::TuneSummary> summary) {
  std::vector<TaskEnd> ends;
  std::vector<std::pair<int64_t, db::JobState>> ended_jobs;
  std::lock_guard<std::mutex> lock(mu);
  --running;
  active.erase(run->key);
  finished_runs.push_back(run);
  // Its last batch is stored: another server may tune this (workload, target) now.
  if (Status s = store.ReleaseLease(TaskLease(run->key), holder); !s.ok())
    spdlog::warn("releasing the lease of {} failed (it expires by itself): {}", run->key, s.ToString());
  if (shutdown) {  // leave the tasks running in the store: the next server resumes them
    changed.notify_all();
    return;
  }
  const TaskOutcome outcome = OutcomeOfRun(*run, std::move(summary));
  for (auto [job_id, task_index] : run->subscribers) {
    EndSubscriberLocked(*run, outcome, job_id, task_index, ends);
    Job& job = jobs.at(job_id);
    if (MaybeEndJobLocked(job)) ended_jobs.emplace_back(job_id, job.view.state);
  }
  Schedule();
  for (const TaskEnd& e : ends)
    if (Status s = lifecycle.EndTask(e.task_id, e.state, e.measured, e.notes); !s.ok())
      spdlog::error("task {}: storing its end failed: {}", e.task_id, s.ToString());
  FinishJobsInStore(ended_jobs);
}

bool JobManager::Impl::MaybeEndJobLocked(Job& job) {
  if (Terminal(job.view.state)) return false;
  bool failed = false, cancelled = false;
  for (const Task& t : job.tasks) {
    if (!Terminal(t.view.state)) return false;
    failed |= t.view.state == RunState::kFailed;
    cancelled |= t.view.state == RunState::kCancelled;
  }
  job.view.state = failed ? RunState::kFailed : cancelled ? RunState::kCancelled : RunState::kDone;
  job.view.finished = Now();
  int done = 0;
  for (const Task& t : job.tasks) done += t.view.state == RunState::kDone;
  LogLocked(job, JobEventKind::kJobDone, -1,
            std::string(db::StateName(job.view.state)) + ": " + std::to_string(done) + " of " +
                std::to_string(job.tasks.size()) + " tasks done");
  return true;
}

void JobManager::Impl::FinishJobsInStore(const std::vector<std::pair<int64_t, db::JobState>>& ended) {
  for (const auto& [id, state] : ended) {
    if (Status s = lifecycle.EndJob(id, state); !s.ok()) {
      spdlog::error("job {}: storing its end failed: {}", id, s.ToString());
      continue;
    }
    if (Status s = store.ReleaseLease(JobLease(id), holder); !s.ok())
      spdlog::warn("job {}: releasing its lease failed (it expires by itself): {}", id, s.ToString());
  }
}

}  // namespace priortune::server

// JobManager::Impl (internal/job_manager_impl.h): requests as the store keeps them (JSON),
// a job's view and its event log, a job ended elsewhere, a job of another server.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "compiler/ops/build.h"
#include "compiler/ops/op_template.h"
#include "server/common/targets.h"
#include "server/service/internal/job_manager_impl.h"
#include "tuner/meta_model.h"
#include "tuner/search_space.h"

namespace priortune::server {

using nlohmann::json;

JobView JobManager::Impl::ViewLocked(const Job& job) const {
  JobView v = job.view;
  double remaining_seconds = 0;
  for (const Task& t : job.tasks) {
    TaskView tv = t.view;
    if (t.run && !Terminal(tv.state)) {
      const Run& r = *t.run;
      tv.measured = r.measured;
      tv.errors = r.errors;
      tv.stored = r.known_before + r.measured;
      if (std::isfinite(r.best_cost)) tv.best_seconds = r.best_cost;
      if (r.measured > 0 && r.budget > r.measured) tv.eta_seconds = r.elapsed / r.measured * (r.budget - r.measured);
      remaining_seconds = std::max(remaining_seconds, tv.eta_seconds);
    }
    v.tasks.push_back(std::move(tv));
  }
  v.eta_seconds = Terminal(v.state) ? 0 : remaining_seconds;
  return v;
}

void JobManager::Impl::LogLocked(Job& job, JobEventKind kind, int task, const std::string& message, bool batch) {
  job.log.push_back({kind, task, message});
  std::string what = task >= 0 ? " task " + std::to_string(job.tasks[task].view.task_id) + " (" +
                                     job.tasks[task].view.workload.ShortName() + ")"
                               : "";
  auto level = kind == JobEventKind::kError ? spdlog::level::warn : batch ? spdlog::level::debug : spdlog::level::info;
  spdlog::log(level, "job {}{}: {}{}{}", job.view.id, what, EventName(kind), message.empty() ? "" : ": ", message);
  changed.notify_all();
}

std::optional<std::pair<JobRequest, compiler::Target>> JobManager::Impl::ServiceRequest(const db::JobRow& row) {
  auto parsed = ParseJobRequest(row.request_json);
  if (!parsed.ok()) {
    spdlog::error("job {}: {}; left as it is", row.id, parsed.status().ToString());
    return std::nullopt;
  }
  if (parsed->first.origin != JobOrigin::kService) return std::nullopt;
  return std::move(*parsed);
}

JobView JobManager::Impl::HeaderView(const JobRequest& r, const compiler::Target& target, int64_t id, double created) {
  JobView v;
  v.id = id;
  v.name = r.name;
  v.state = RunState::kQueued;
  v.client = r.client;
  v.strategy = r.tune.strategy;
  v.strategy_note = r.strategy_note;
  v.target_spec = r.target_spec;
  v.target_key = target.Key();
  v.threads = r.threads;
  v.priority = r.priority;
  v.created = created;
  return v;
}

Job JobManager::Impl::EndedJob(const db::JobRow& row, const JobRequest& r, const compiler::Target& target) {
  Job job;
  job.view = HeaderView(r, target, row.id, row.created);
  job.view.state = row.state;
  job.view.finished = row.finished;
  auto tasks = store.TasksOfJob(row.id);
  if (tasks.ok()) {
    for (const auto& tr : *tasks) {
      Task t;
      t.view.task_id = tr.id;
      t.view.workload_key = tr.workload_key;
      t.view.target_key = tr.target_key;
      t.view.trials = static_cast<int>(tr.trials);
      t.view.measured = static_cast<int>(tr.measured);
      t.view.state = tr.state;
      for (const auto& w : r.workloads)
        if (w.Key() == tr.workload_key) t.view.workload = w;
      job.tasks.push_back(std::move(t));
    }
  }
  return job;
}

StatusOr<JobView> JobManager::Impl::Foreign(int64_t job_id) {
  auto row = store.GetJob(job_id);
  if (!row.ok()) {
    if (row.status().code() == StatusCode::kNotFound) return NotFound("job_id: no job " + std::to_string(job_id));
    return row.status();
  }
  auto parsed = ServiceRequest(*row);
  if (!parsed) return NotFound("job_id: job " + std::to_string(job_id) + " is not a tuning-service job");
  if (row->state == RunState::kRunning) {
    auto rows = store.Leases(JobLease(job_id));
    std::string other = rows.ok() ? HolderOf(*rows, JobLease(job_id)) : "";
    return Status(StatusCode::kUnavailable, "job_id: job " + std::to_string(job_id) + " runs on server " +
                                                (other.empty() ? "?" : other) + ", not this one (" + holder +
                                                "); ask that server, or this one once it has taken the "
                                                "job over (when that server's lease of " +
                                                std::to_string(options.lease_seconds) + " s expires)");
  }
  Job job = EndedJob(*row, parsed->first, parsed->second);
  std::lock_guard<std::mutex> lock(mu);
  auto it = jobs.emplace(job_id, std::move(job)).first;
  return ViewLocked(it->second);
}

}  // namespace priortune::server

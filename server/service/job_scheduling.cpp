// JobManager::Impl (internal/job_manager_impl.h), queue and scheduling: a task joins the
// active run of its (workload, target) or queues a new one; at most max_concurrent_runs
// runs search at once, the highest priority first, each once this server holds its task
// lease (job_leases.cpp).
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

void JobManager::Impl::Subscribe(const std::shared_ptr<Run>& run, int64_t job_id, int task) {
  Job& job = jobs.at(job_id);
  Task& t = job.tasks[task];
  t.run = run;
  run->subscribers.emplace_back(job_id, task);
  run->priority = std::max(run->priority, job.view.priority);
  t.view.shared_with_job = run->owner_job == job_id ? 0 : run->owner_job;
  t.view.state = run->started ? RunState::kRunning : RunState::kQueued;
  if (run->started && job.view.state == RunState::kQueued) job.view.state = RunState::kRunning;
  if (t.view.shared_with_job)
    LogLocked(job, JobEventKind::kTaskProgress, task,
              "shares the run of job " + std::to_string(run->owner_job) + " for this workload and target");
}

void JobManager::Impl::StartOrJoin(int64_t job_id, int task) {
  Job& job = jobs.at(job_id);
  Task& t = job.tasks[task];
  std::string key = t.view.workload_key + "/" + t.view.target_key;
  auto it = active.find(key);
  if (it != active.end()) {
    Subscribe(it->second, job_id, task);
    return;
  }
  auto run = std::make_shared<Run>();
  run->id = next_run++;
  run->key = key;
  run->workload = t.view.workload;
  run->target = job.target;
  run->tune = job.tune;
  run->tune.trials = t.view.trials;
  run->tune.lease = TaskLease(key);
  run->tune.lease_holder = holder;
  run->worker_deadline = job.worker_deadline;
  run->owner_job = job_id;
  active[key] = run;
  queued.push_back(run);
  Subscribe(run, job_id, task);
  Schedule();
}

void JobManager::Impl::Schedule() {
  while (!shutdown && running < options.max_concurrent_runs && !queued.empty()) {
    std::vector<std::shared_ptr<Run>> order(queued.begin(), queued.end());
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
      return a->priority != b->priority ? a->priority > b->priority : a->id < b->id;
    });
    std::shared_ptr<Run> run;
    for (const auto& candidate : order)
      if (TakeTaskLease(*candidate)) {
        run = candidate;
        break;
      }
    if (!run) return;  // every queued run waits for another server
    queued.erase(std::find(queued.begin(), queued.end(), run));
    run->started = true;
    run->leased_at = Clock::now();
    ++running;
    for (auto [job_id, task] : run->subscribers) {
      Job& job = jobs.at(job_id);
      if (run->waiting) job.tasks[task].view.message.clear();
      job.tasks[task].view.state = RunState::kRunning;
      if (job.view.state == RunState::kQueued) job.view.state = RunState::kRunning;
      LogLocked(job, JobEventKind::kTaskProgress, task, "tuning started");
    }
    run->thread = std::thread([this, run] { Execute(run); });
  }
}

}  // namespace priortune::server

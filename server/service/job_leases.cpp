// JobManager::Impl (internal/job_manager_impl.h): store leases of jobs and runs, jobs
// orphaned by a dead server taken over, and the lease thread that renews and retries.
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

bool JobManager::Impl::TakeTaskLease(Run& run) {
  const std::string name = TaskLease(run.key);
  auto got = store.AcquireLease(name, holder, options.lease_seconds);
  if (got.ok() && *got) return true;
  if (run.waiting) return false;
  run.waiting = true;
  std::string why;
  if (!got.ok()) {
    why = "waits: the store did not grant the task's lease (" + got.status().ToString() + ")";
  } else {
    auto rows = store.Leases(name);
    std::string other = rows.ok() ? HolderOf(*rows, name) : "";
    why = "waits: server " + (other.empty() ? std::string("?") : other) +
          " is tuning this workload and target; this task goes on from its records when it is done";
  }
  for (auto [job_id, task] : run.subscribers) {
    Job& job = jobs.at(job_id);
    job.tasks[task].view.message = why;
    LogLocked(job, JobEventKind::kTaskProgress, task, why);
  }
  return false;
}

int JobManager::Impl::AdoptOrphans(bool at_start) {
  std::lock_guard<std::mutex> serial(adopt_mu);
  auto rows = store.Jobs(RunState::kRunning);
  auto leases = store.Leases("job:");
  if (!rows.ok() || !leases.ok()) {
    spdlog::warn("looking for jobs to take over failed: {}", (!rows.ok() ? rows.status() : leases.status()).ToString());
    return 0;
  }
  std::map<std::string, db::LeaseRow> by_name;
  for (const auto& l : *leases) by_name[l.name] = l;
  int adopted = 0;
  for (const db::JobRow& row : *rows) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (shutdown) return adopted;
      if (jobs.count(row.id) || unadoptable.count(row.id)) continue;
    }
    const std::string name = JobLease(row.id);
    auto lease = by_name.find(name);
    std::string previous;
    if (lease != by_name.end()) {
      if (!lease->second.expired && lease->second.holder != holder) continue;  // alive elsewhere
      previous = lease->second.holder;
    } else if (!options.exclusive_store && row.created > Now() - options.lease_seconds) {
      continue;
    }
    auto got = store.AcquireLease(name, holder, options.lease_seconds);
    if (!got.ok() || !*got) continue;
    auto parsed = ServiceRequest(row);
    auto tasks = store.TasksOfJob(row.id);
    if (!parsed || !tasks.ok()) {
      unadoptable.insert(row.id);
      continue;
    }
    auto added = AddJob(parsed->first, parsed->second, row.id, row.created, *tasks);
    if (!added.ok()) {
      spdlog::error("job {}: resuming it failed: {}", row.id, added.status().ToString());
      unadoptable.insert(row.id);
      continue;
    }
    ++adopted;
    if (!at_start)
      spdlog::info("took over job {} from server {}", row.id,
                   previous.empty() ? "(none: it held no lease)" : previous + " (its lease expired)");
  }
  return adopted;
}

void JobManager::Impl::LeaseLoop() {
  const auto period = std::chrono::duration<double>(options.lease_seconds / 3);
  std::unique_lock<std::mutex> lock(mu);
  while (!shutdown) {
    lease_wake.wait_for(lock, period, [&] { return shutdown; });
    if (shutdown) break;
    const Clock::time_point asked = Clock::now();
    lock.unlock();
    auto held = store.RenewLeases(holder, options.lease_seconds);
    lock.lock();
    if (!held.ok()) {
      spdlog::warn("renewing this server's leases failed (retried in {:.1f} s): {}", period.count(),
                   held.status().ToString());
    } else {
      std::set<std::string> ours(held->begin(), held->end());
      for (auto& [key, run] : active)
        if (run->started && !run->lease_lost && run->leased_at < asked && !ours.count(TaskLease(key))) {
          spdlog::warn("the lease of {} was taken by another server: this run stops", key);
          run->lease_lost = true;
          run->cancel = true;
          queue.Wake();
        }
      for (auto& [id, job] : jobs)
        if (!Terminal(job.view.state) && !job.lease_warned && job.leased_at < asked && !ours.count(JobLease(id))) {
          job.lease_warned = true;
          LogLocked(job, JobEventKind::kError, -1,
                    "this server lost the job's lease (it stalled past the expiry); another server may run it "
                    "too, and task leases keep the two from measuring the same workload");
        }
    }
    Schedule();
    lock.unlock();
    AdoptOrphans(false);
    JoinFinished();
    lock.lock();
  }
}

}  // namespace priortune::server

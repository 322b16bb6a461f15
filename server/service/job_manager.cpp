// Map of the job manager:
//
//   Submit ──> job row + task rows in the store
//     each task: already tuned to its budget?  ──> done at once (from the store)
//                a run of the same (workload, target) active? ──> join it (shared)
//                else a new run, queued by priority
//   scheduler: at most max_concurrent_runs runs search at once
//   run thread: tuner::TuneTask ──> RunMeasurer ──> MeasureQueue (tagged: priority, job)
//               progress ──> every subscribed task ──> job events ──> watchers
//   run ends:   each subscriber done / failed / cancelled; one that asked for a larger
//               budget gets a follow-up run, and so does one whose run its owner
//               cancelled; a job whose tasks all ended is finished (stored under mu)
//   Shutdown:   runs cancelled, jobs left running in the store ──> resumed by Create
//
// Several servers on one store (PostgreSQL) divide the work through store leases:
//   job:<id>           held by the server that runs the job (Submit, or a take-over)
//   task:<wl>/<target> held by the server whose run tunes it; a run starts only once it
//                      holds it (else it waits, queued), and stores batches under it
//   every lease_seconds / 3: renew ours ──> a run whose lease was lost stops and queues
//                            again; waiting runs retry; running jobs whose lease expired
//                            (their server died) are taken over and resumed
// The pieces live in five files over internal/job_manager_impl.h, one job each: this one
// (the public calls, adding a job), job_scheduling.cpp (queue and scheduling), job_runs.cpp
// (a run's lifecycle), job_requests.cpp (stored requests read back, views and events) and
// job_leases.cpp (leases, orphaned jobs, the lease thread); jobs and tasks are written
// through JobLifecycle (job_lifecycle.h), which tune and tune-model use too.
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

double Now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::string JobLease(int64_t id) { return "job:" + std::to_string(id); }
std::string TaskLease(const std::string& run_key) { return "task:" + run_key; }

std::string DefaultServerId() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "localhost");
  return std::string(host) + "-" + std::to_string(getpid());
}

std::string HolderOf(const std::vector<db::LeaseRow>& rows, const std::string& name) {
  for (const auto& r : rows)
    if (r.name == name) return r.holder;
  return "";
}

const char* EventName(JobEventKind k) {
  switch (k) {
    case JobEventKind::kSnapshot:
      return "snapshot";
    case JobEventKind::kTaskProgress:
      return "progress";
    case JobEventKind::kTaskDone:
      return "task done";
    case JobEventKind::kJobDone:
      return "job done";
    case JobEventKind::kError:
      return "error";
  }
  return "?";
}

std::optional<db::Record> JobManager::Impl::AlreadyTuned(const compiler::Workload& w, const compiler::Target& t,
                                                         int trials, int* stored) {
  auto history = store.History({w.Key(), t.Key(), "", 0});
  auto tmpl = compiler::FindTemplate(w.op);
  auto space = tuner::SearchSpace::ForWorkload(w, t);
  if (!history.ok() || !tmpl.ok() || !space.ok()) return std::nullopt;
  std::optional<db::Record> best;
  *stored = 0;
  for (const db::Record& r : *history) {
    if (r.template_version != (*tmpl)->version()) continue;
    auto c = compiler::ConfigFromJson(r.config_json);
    if (!c.ok() || !space->Valid(*c)) continue;
    ++*stored;
    if (r.ok() && (!best || r.cost() < best->cost())) best = r;
  }
  if (*stored < trials || !best) return std::nullopt;
  return best;
}

StatusOr<int64_t> JobManager::Impl::AddJob(const JobRequest& request, const compiler::Target& target, int64_t job_id,
                                           double created, std::vector<db::TaskRow> rows) {
  Job job;
  job.view = HeaderView(request, target, job_id, created);
  job.leased_at = Clock::now();
  job.target = target;
  job.tune = request.tune;
  job.worker_deadline = request.worker_deadline_seconds > 0
                            ? std::min(request.worker_deadline_seconds, options.no_worker_deadline_seconds)
                            : options.no_worker_deadline_seconds;
  std::vector<compiler::Workload> distinct;
  for (const auto& w : request.workloads)
    if (std::none_of(distinct.begin(), distinct.end(), [&](const auto& d) { return d.Key() == w.Key(); }))
      distinct.push_back(w);
  const bool resumed = !rows.empty();
  for (const auto& w : distinct) {
    Task t;
    t.view.workload = w;
    t.view.workload_key = w.Key();
    t.view.target_key = target.Key();
    t.view.trials = request.tune.trials;
    t.view.state = RunState::kQueued;
    auto row = std::find_if(rows.begin(), rows.end(), [&](const db::TaskRow& r) { return r.workload_key == w.Key(); });
    if (row != rows.end()) {
      t.view.task_id = row->id;
      if (Terminal(row->state)) {
        t.view.state = row->state;
        t.view.measured = static_cast<int>(row->measured);
      }
    } else {  // new, or a resumed job whose server died before it stored this task
      PT_ASSIGN_OR_RETURN(t.view.task_id, lifecycle.AddTask(job_id, w, target, request.tune.trials));
    }
    if (Terminal(t.view.state) || t.view.state == RunState::kQueued) {
      int stored = 0;
      if (auto best = AlreadyTuned(w, target, request.tune.trials, &stored)) {
        t.view.stored = stored;
        t.view.best_seconds = best->cost();
        if (auto c = compiler::ConfigFromJson(best->config_json); c.ok()) t.view.best_config = *c;
        if (!Terminal(t.view.state)) {
          t.view.state = RunState::kDone;
          t.view.from_store = true;
          t.view.message = "already tuned: " + std::to_string(stored) + " records in the store, nothing measured";
          PT_RETURN_IF_ERROR(lifecycle.EndTask(t.view.task_id, RunState::kDone, 0, ""));
        }
      }
    }
    job.tasks.push_back(std::move(t));
  }
  std::vector<std::pair<int64_t, db::JobState>> ended;
  {
    std::lock_guard<std::mutex> lock(mu);
    Job& stored_job = jobs[job_id] = std::move(job);
    LogLocked(stored_job, JobEventKind::kTaskProgress, -1,
              std::string(resumed ? "resumed" : "submitted") + " by " + request.client + ": " +
                  std::to_string(stored_job.tasks.size()) + " tasks, " + std::to_string(request.tune.trials) +
                  " trials each, strategy " + tuner::StrategyName(request.tune.strategy) +
                  (request.strategy_note.empty() ? "" : " (" + request.strategy_note + ")") + ", target " +
                  target.Describe());
    for (size_t i = 0; i < stored_job.tasks.size(); ++i) {
      Task& t = stored_job.tasks[i];
      if (t.view.from_store)
        LogLocked(stored_job, JobEventKind::kTaskDone, static_cast<int>(i), "done: " + t.view.message);
      if (!Terminal(t.view.state)) StartOrJoin(job_id, static_cast<int>(i));
    }
    if (MaybeEndJobLocked(jobs.at(job_id))) ended.emplace_back(job_id, jobs.at(job_id).view.state);
    FinishJobsInStore(ended);
  }
  return job_id;
}

void JobManager::Impl::JoinFinished() {
  std::vector<std::shared_ptr<Run>> done;
  {
    std::lock_guard<std::mutex> lock(mu);
    done.swap(finished_runs);
  }
  std::lock_guard<std::mutex> lock(join_mu);
  for (auto& r : done)
    if (r->thread.joinable()) r->thread.join();
}

JobManager::JobManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JobManager::~JobManager() { Shutdown(); }

StatusOr<std::unique_ptr<JobManager>> JobManager::Create(db::Store& store, MeasureQueue& queue,
                                                         const JobManagerOptions& options) {
  if (!(options.lease_seconds > 0)) return InvalidArgument("lease_seconds: must be positive");
  auto impl = std::make_unique<Impl>(store, queue, options);
  if (options.exclusive_store) PT_RETURN_IF_ERROR(store.DropLeases(""));
  PT_ASSIGN_OR_RETURN(std::vector<db::JobRow> rows, store.Jobs(std::nullopt));
  std::unique_ptr<JobManager> manager(new JobManager(std::move(impl)));
  Impl& m = *manager->impl_;
  for (const db::JobRow& row : rows) {
    if (row.state == RunState::kRunning) continue;  // AdoptOrphans
    auto parsed = Impl::ServiceRequest(row);
    if (!parsed) continue;
    Job job = m.EndedJob(row, parsed->first, parsed->second);
    std::lock_guard<std::mutex> lock(m.mu);
    m.jobs[row.id] = std::move(job);
  }
  int resumed = m.AdoptOrphans(true);
  if (resumed > 0) spdlog::info("resumed {} job(s) left running in the store", resumed);
  spdlog::info("server id {}: leases of {:.0f} s on the store", m.holder, options.lease_seconds);
  m.lease_thread = std::thread([&m] { m.LeaseLoop(); });
  return manager;
}

StatusOr<int64_t> JobManager::Submit(const JobRequest& submitted) {
  Impl& m = *impl_;
  JobRequest request = submitted;
  const JobManagerOptions& o = m.options;
  if (request.workloads.empty()) return InvalidArgument("workloads: at least one workload is required");
  if (static_cast<int>(request.workloads.size()) > o.max_tasks_per_job)
    return Status(StatusCode::kResourceExhausted, "workloads: " + std::to_string(request.workloads.size()) +
                                                      " workloads, at most " + std::to_string(o.max_tasks_per_job) +
                                                      " per job");
  if (request.tune.trials > o.max_trials)
    return InvalidArgument("trials: " + std::to_string(request.tune.trials) + " is above this server's limit of " +
                           std::to_string(o.max_trials) + " per task");
  if (request.origin != JobOrigin::kService) return InvalidArgument("origin: the server runs service jobs only");
  if (Status s = request.tune.Validate(); !s.ok()) return s;
  if (!request.tune.model_path.empty()) return InvalidArgument("model_path: a server job cannot name a model file");
  for (size_t i = 0; i < request.workloads.size(); ++i) {
    const compiler::Workload& w = request.workloads[i];
    std::string field = "workloads[" + std::to_string(i) + "]";
    auto tmpl = compiler::FindTemplate(w.op);
    if (!tmpl.ok()) return Status(tmpl.status().code(), field + ".op: " + tmpl.status().message());
    if (Status s = (*tmpl)->Validate(w); !s.ok()) return Status(s.code(), field + ": " + s.message());
    int64_t cap = o.memory_cap_bytes > 0 ? o.memory_cap_bytes : compiler::DefaultMemoryCapBytes();
    if (Status s = compiler::CheckMemory(**tmpl, w, cap); !s.ok()) return Status(s.code(), field + ": " + s.message());
  }
  auto target = DeployTarget(request.target_spec, request.threads);
  if (!target.ok()) return Status(target.status().code(), "target: " + target.status().message());
  if (request.pick_strategy) {
    PT_RETURN_IF_ERROR(m.lifecycle.PickStrategy(request, *target, tuner::Strategy::kGa));
    request.strategy_note = "the server's default: " + request.strategy_note;
  }
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.shutdown) return Status(StatusCode::kUnavailable, "the server is shutting down");
    int open = 0;
    for (const auto& [id, job] : m.jobs) open += job.view.client == request.client && !Terminal(job.view.state);
    if (open >= o.max_jobs_per_client)
      return Status(StatusCode::kResourceExhausted, "client " + request.client + " has " + std::to_string(open) +
                                                        " unfinished jobs, the limit is " +
                                                        std::to_string(o.max_jobs_per_client));
  }
  m.JoinFinished();                                // threads of runs that ended since
  std::lock_guard<std::mutex> serial(m.adopt_mu);  // no take-over scan between CreateJob and AddJob
  PT_ASSIGN_OR_RETURN(int64_t id, m.lifecycle.OpenJob(request, *target));
  auto leased = m.store.AcquireLease(JobLease(id), m.holder, o.lease_seconds);
  if (!leased.ok() || !*leased)
    spdlog::warn(
        "job {}: taking its lease failed ({}); it runs here, and its task leases keep other servers "
        "from measuring the same workloads",
        id, leased.ok() ? "held by another server" : leased.status().ToString());
  StatusOr<int64_t> added = m.AddJob(request, *target, id, Now(), {});
  if (!added.ok()) {
    // The client is told it failed: the store must not resume it later.
    if (Status s = m.lifecycle.EndJob(id, RunState::kFailed); !s.ok())
      spdlog::error("job {}: storing its failure failed: {}", id, s.ToString());
  }
  return added;
}

StatusOr<JobView> JobManager::Get(int64_t job_id) const {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->jobs.find(job_id);
    if (it != impl_->jobs.end()) return impl_->ViewLocked(it->second);
  }
  return impl_->Foreign(job_id);
}

std::vector<JobView> JobManager::List(std::optional<db::JobState> state) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<JobView> out;
  for (const auto& [id, job] : impl_->jobs)
    if (!state || job.view.state == *state) out.push_back(impl_->ViewLocked(job));
  return out;
}

StatusOr<JobView> JobManager::Cancel(int64_t job_id) {
  Impl& m = *impl_;
  std::vector<int64_t> tasks;
  JobView view;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    auto it = m.jobs.find(job_id);
    if (it == m.jobs.end()) return NotFound("job_id: no job " + std::to_string(job_id));
    Job& job = it->second;
    if (Terminal(job.view.state))
      return FailedPrecondition("job_id: job " + std::to_string(job_id) + " already ended (" +
                                db::StateName(job.view.state) + ")");
    for (size_t i = 0; i < job.tasks.size(); ++i) {
      Task& t = job.tasks[i];
      if (Terminal(t.view.state)) continue;
      t.view.state = RunState::kCancelled;
      t.view.message = "cancelled by the client";
      tasks.push_back(t.view.task_id);
      if (std::shared_ptr<Run> run = t.run) {
        auto& subs = run->subscribers;
        subs.erase(std::remove(subs.begin(), subs.end(), std::make_pair(job_id, static_cast<int>(i))), subs.end());
        // The run carries its owner's budget and priority: when the owner leaves, the
        // jobs still sharing it get a run of their own (Finish starts it once a running
        // run has stopped; a queued one is replaced here).
        if (subs.empty() || run->owner_job == job_id) {
          run->cancel = true;
          m.queue.Wake();  // a Measure waiting on the queue sees the cancel
          auto q = std::find(m.queued.begin(), m.queued.end(), run);
          if (q != m.queued.end()) {
            m.queued.erase(q);
            m.active.erase(run->key);
            auto rest = std::move(subs);
            subs.clear();
            for (auto [other, index] : rest) {
              m.jobs.at(other).tasks[index].run.reset();
              m.StartOrJoin(other, index);
            }
          }
        }
      }
      m.LogLocked(job, JobEventKind::kTaskDone, static_cast<int>(i), db::StateName(RunState::kCancelled));
    }
    m.MaybeEndJobLocked(job);
    view = m.ViewLocked(job);
    for (int64_t t : tasks)
      if (Status s = m.lifecycle.EndTask(t, RunState::kCancelled, 0, ""); !s.ok())
        spdlog::error("task {}: storing its cancel failed: {}", t, s.ToString());
    m.FinishJobsInStore({{job_id, view.state}});
  }
  m.JoinFinished();
  return view;
}

StatusOr<std::vector<JobEvent>> JobManager::Events(int64_t job_id, int64_t after_sequence,
                                                   std::chrono::milliseconds wait) const {
  Impl& m = *impl_;
  bool known = false;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    known = m.jobs.count(job_id) > 0;
  }
  if (!known) {
    auto foreign = m.Foreign(job_id);
    if (!foreign.ok()) {
      if (foreign.status().code() != StatusCode::kUnavailable) return foreign.status();
      // Running elsewhere: wait a while for this server to take it over.
      std::unique_lock<std::mutex> lock(m.mu);
      if (!m.changed.wait_for(lock, wait, [&] { return m.jobs.count(job_id) > 0 || m.shutdown; }) ||
          m.jobs.count(job_id) == 0)
        return foreign.status();
    }
  }
  std::unique_lock<std::mutex> lock(m.mu);
  auto it = m.jobs.find(job_id);
  if (it == m.jobs.end()) return NotFound("job_id: no job " + std::to_string(job_id));
  const Job& job = it->second;
  std::vector<JobEvent> out;
  if (after_sequence < 0) {
    JobEvent e;
    e.kind = JobEventKind::kSnapshot;
    e.sequence = static_cast<int64_t>(job.log.size());
    e.message = "job " + std::to_string(job_id) + " is " + db::StateName(job.view.state);
    e.job = m.ViewLocked(job);
    out.push_back(std::move(e));
    return out;
  }
  m.changed.wait_for(lock, wait, [&] { return static_cast<int64_t>(job.log.size()) > after_sequence || m.shutdown; });
  if (static_cast<int64_t>(job.log.size()) <= after_sequence) return out;
  JobView view = m.ViewLocked(job);
  for (size_t i = static_cast<size_t>(after_sequence); i < job.log.size(); ++i) {
    JobEvent e;
    e.kind = job.log[i].kind;
    e.sequence = static_cast<int64_t>(i + 1);
    e.task_index = job.log[i].task_index;
    e.message = job.log[i].message;
    e.job = view;
    out.push_back(std::move(e));
  }
  return out;
}

void JobManager::Shutdown() {
  if (!impl_) return;
  Impl& m = *impl_;
  std::vector<std::shared_ptr<Run>> runs;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.shutdown) return;
    m.shutdown = true;
    for (auto& [key, run] : m.active) {
      run->cancel = true;
      runs.push_back(run);
    }
    m.queue.Wake();
    m.queued.clear();
    m.changed.notify_all();
    m.lease_wake.notify_all();
  }
  if (m.lease_thread.joinable()) m.lease_thread.join();
  {
    std::lock_guard<std::mutex> lock(m.join_mu);
    for (auto& r : runs)
      if (r->thread.joinable()) r->thread.join();
  }
  m.JoinFinished();
  // Nothing of ours runs any more: another server may take the jobs over at once.
  if (Status s = m.store.DropLeases(m.holder); !s.ok())
    spdlog::warn("dropping this server's leases failed (they expire by themselves): {}", s.ToString());
}

const std::string& JobManager::server_id() const { return impl_->holder; }

}  // namespace priortune::server

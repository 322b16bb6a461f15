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
//   Shutdown:   runs cancelled, jobs left "running" in the store ──> resumed by Create
//
// Several servers on one store (PostgreSQL) divide the work through store leases:
//   job:<id>           held by the server that runs the job (Submit, or a take-over)
//   task:<wl>/<target> held by the server whose run tunes it; a run starts only once it
//                      holds it (else it waits, queued), and stores batches under it
//   every lease_seconds / 3: renew ours ──> a run whose lease was lost stops and queues
//                            again; waiting runs retry; running jobs whose lease expired
//                            (their server died) are taken over and resumed
#include "server/service/job_manager.h"

#include <spdlog/spdlog.h>

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

#include <unistd.h>

#include "compiler/ops/build.h"
#include "compiler/ops/op_template.h"
#include "server/common/targets.h"
#include "tuner/meta_model.h"
#include "tuner/search_space.h"

namespace priortune::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool Terminal(const std::string& state) { return state == "done" || state == "failed" || state == "cancelled"; }

std::string JobLease(int64_t id) { return "job:" + std::to_string(id); }
std::string TaskLease(const std::string& run_key) { return "task:" + run_key; }

std::string DefaultServerId() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "localhost");
  return std::string(host) + "-" + std::to_string(getpid());
}

// The holder of lease `name` among `rows` (Leases by prefix may list longer names too).
std::string HolderOf(const std::vector<db::LeaseRow>& rows, const std::string& name) {
  for (const auto& r : rows)
    if (r.name == name) return r.holder;
  return "";
}

const char* EventName(JobEventKind k) {
  switch (k) {
    case JobEventKind::kSnapshot: return "snapshot";
    case JobEventKind::kTaskProgress: return "progress";
    case JobEventKind::kTaskDone: return "task done";
    case JobEventKind::kJobDone: return "job done";
    case JobEventKind::kError: return "error";
  }
  return "?";
}

}  // namespace

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
  MeasureQueue& queue;
  JobManagerOptions options;
  mutable std::mutex mu;
  mutable std::condition_variable changed;  // an event was logged
  std::map<int64_t, Job> jobs;
  std::map<std::string, std::shared_ptr<Run>> active;  // by key, queued or running
  std::deque<std::shared_ptr<Run>> queued;
  std::vector<std::shared_ptr<Run>> finished_runs;      // threads to join
  std::mutex join_mu;  // one thread joins run threads at a time
  int running = 0;
  uint64_t next_run = 1;
  bool shutdown = false;
  std::string holder;                  // this server's lease holder name
  std::thread lease_thread;            // renews, retries waiting runs, takes over jobs
  std::condition_variable lease_wake;  // with mu: shutdown
  std::mutex adopt_mu;                 // a Submit's job is in `jobs` before a take-over scan sees it
  std::set<int64_t> unadoptable;       // running jobs in the store that do not parse

  Impl(db::Store& s, MeasureQueue& q, const JobManagerOptions& o)
      : store(s), queue(q), options(o), holder(o.server_id.empty() ? DefaultServerId() : o.server_id) {}

  // --- views and events (mu held) ---
  JobView ViewLocked(const Job& job) const {
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
        if (r.measured > 0 && r.budget > r.measured)
          tv.eta_seconds = r.elapsed / r.measured * (r.budget - r.measured);
        remaining_seconds = std::max(remaining_seconds, tv.eta_seconds);
      }
      v.tasks.push_back(std::move(tv));
    }
    v.eta_seconds = Terminal(v.state) ? 0 : remaining_seconds;
    return v;
  }

  // `batch`: a per-batch progress line, logged at debug level (the rest at info).
  void LogLocked(Job& job, JobEventKind kind, int task, const std::string& message, bool batch = false) {
    job.log.push_back({kind, task, message});
    std::string what = task >= 0 ? " task " + std::to_string(job.tasks[task].view.task_id) + " (" +
                                       job.tasks[task].view.workload.ShortName() + ")"
                                 : "";
    auto level = kind == JobEventKind::kError ? spdlog::level::warn
                 : batch                         ? spdlog::level::debug
                                                 : spdlog::level::info;
    spdlog::log(level, "job {}{}: {}{}{}", job.view.id, what, EventName(kind), message.empty() ? "" : ": ", message);
    changed.notify_all();
  }

  // --- the request as stored (resumed from it) ---
  static json RequestJson(const JobRequest& r, const compiler::Target& target) {
    json workloads = json::array();
    for (const auto& w : r.workloads) workloads.push_back(json::parse(w.ToJson()));
    return {{"service", 1},
            {"name", r.name},
            {"client", r.client},
            {"priority", r.priority},
            {"target_spec", r.target_spec},
            {"threads", r.threads},
            {"target", json::parse(target.ToJson())},
            {"workloads", workloads},
            {"trials", r.tune.trials},
            {"strategy", r.tune.strategy},
            {"strategy_note", r.strategy_note},
            {"batch_size", r.tune.batch_size},
            {"seed", r.tune.seed},
            {"worker_deadline_seconds", r.worker_deadline_seconds}};
  }
  // The request and target RequestJson stored; nullopt (logged) for a job that is not a
  // service job (a `tune` run's) or that does not parse.
  static std::optional<std::pair<JobRequest, compiler::Target>> RequestFromJson(const db::JobRow& row) {
    json request = json::parse(row.request_json, nullptr, false);
    if (request.is_discarded() || !request.is_object() || request.value("service", 0) != 1) return std::nullopt;
    auto target = compiler::Target::FromJson(request["target"].dump());
    if (!target.ok()) {
      spdlog::error("job {}: its stored target does not parse ({}); left as it is", row.id, target.status().ToString());
      return std::nullopt;
    }
    JobRequest r;
    r.name = request.value("name", "");
    r.client = request.value("client", "anonymous");
    r.priority = request.value("priority", 0);
    r.target_spec = request.value("target_spec", "");
    r.threads = request.value("threads", 1);
    r.tune.trials = request.value("trials", 200);
    r.tune.strategy = request.value("strategy", "ga");
    r.strategy_note = request.value("strategy_note", "");
    r.tune.batch_size = request.value("batch_size", 16);
    r.tune.seed = request.value("seed", uint64_t{1});
    r.worker_deadline_seconds = request.value("worker_deadline_seconds", 0.0);
    for (const auto& w : request["workloads"]) {
      auto parsed = compiler::Workload::FromJson(w.dump());
      if (!parsed.ok()) {
        spdlog::error("job {}: a stored workload does not parse; left as it is", row.id);
        return std::nullopt;
      }
      r.workloads.push_back(*parsed);
    }
    return std::make_pair(std::move(r), std::move(*target));
  }
  // A job's view without its tasks.
  static JobView HeaderView(const JobRequest& r, const compiler::Target& target, int64_t id, double created) {
    JobView v;
    v.id = id;
    v.name = r.name;
    v.state = "queued";
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

  // --- runs (mu held) ---
  void Subscribe(const std::shared_ptr<Run>& run, int64_t job_id, int task) {
    Job& job = jobs.at(job_id);
    Task& t = job.tasks[task];
    t.run = run;
    run->subscribers.emplace_back(job_id, task);
    run->priority = std::max(run->priority, job.view.priority);
    t.view.shared_with_job = run->owner_job == job_id ? 0 : run->owner_job;
    t.view.state = run->started ? "running" : "queued";
    if (run->started && job.view.state == "queued") job.view.state = "running";
    if (t.view.shared_with_job)
      LogLocked(job, JobEventKind::kTaskProgress, task,
                "shares the run of job " + std::to_string(run->owner_job) + " for this workload and target");
  }

  void StartOrJoin(int64_t job_id, int task) {
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

  // Starts queued runs, highest priority first, each once this server holds its task lease.
  void Schedule() {
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
        job.tasks[task].view.state = "running";
        if (job.view.state == "queued") job.view.state = "running";
        LogLocked(job, JobEventKind::kTaskProgress, task, "tuning started");
      }
      run->thread = std::thread([this, run] { Execute(run); });
    }
  }

  // Whether this server now holds the run's task lease; the first refusal is logged to
  // the run's tasks with the server that holds it.
  bool TakeTaskLease(Run& run) {
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

  void Execute(std::shared_ptr<Run> run) {
    RunMeasurer measurer(*this, *run);
    auto summary = tuner::TuneTask(
        run->workload, run->target, run->tune, measurer, store, run->owner_job,
        [&](const tuner::TuneProgress& p) {
          std::lock_guard<std::mutex> lock(mu);
          run->measured = p.measured;
          run->errors = p.errors;
          run->budget = p.budget;
          run->known_before = run->tune.trials - p.budget;
          run->best_cost = p.best_cost;
          run->elapsed = p.elapsed_seconds;
          char line[160];
          std::snprintf(line, sizeof line, "%d/%d trials, best %.4g ms", p.measured, p.budget,
                        std::isfinite(p.best_cost) ? p.best_cost * 1e3 : 0.0);
          for (auto [job_id, task] : run->subscribers)
            LogLocked(jobs.at(job_id), JobEventKind::kTaskProgress, task, line, true);
        },
        run->cancel);
    Finish(run, summary);
  }

  // Ends of tasks and jobs are written to the store with `mu` held, so that a watcher
  // that saw a job end finds that end stored, and so that the ends of two runs of one
  // job are stored in the order they happened.
  void Finish(const std::shared_ptr<Run>& run, const StatusOr<tuner::TuneSummary>& summary) {
    struct Update {
      int64_t task_id, job_id;
      std::string state, notes;
      int64_t measured;
    };
    std::vector<Update> updates;
    std::vector<std::pair<int64_t, std::string>> ended_jobs;
    {
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
      std::string state, message;
      bool from_store = false;
      if (!summary.ok()) {
        state = "failed";
        message = summary.status().ToString();
      } else if (run->no_worker) {
        state = "failed";
        char buf[96];
        std::snprintf(buf, sizeof buf, "%.0f s", run->worker_deadline);
        message = "UNAVAILABLE: no connected worker measures for target " + run->target.Describe() + " (key " +
                  run->target.Key() + ", " + std::to_string(run->target.cores) + " thread(s)) for " + buf +
                  "; start one with `priortune worker --target` of this target";
      } else if (summary->cancelled) {
        state = "cancelled";
        message = "cancelled; " + std::to_string(summary->measured) + " trials were stored";
      } else if (!summary->best_config) {
        state = "failed";
        message = "no correct config: all trials failed";
      } else {
        state = "done";
        from_store = summary->budget == 0;
        message = from_store ? "already tuned: " + std::to_string(summary->known_before) +
                                   " records in the store, nothing measured"
                             : std::to_string(summary->measured) + " trials measured";
      }
      // A run whose task lease another server took (this one stalled past the expiry):
      // its stored batches count, the rest is measured by whoever holds the lease; its
      // tasks queue again (as a cancelled run's subscribers do) and go on from the records.
      if (run->lease_lost || (!summary.ok() && summary.status().code() == StatusCode::kAborted)) {
        spdlog::warn("run of {} stopped: {}", run->key,
                     summary.ok() ? "its task lease was lost" : summary.status().ToString());
        state = "cancelled";
      }
      for (auto [job_id, task_index] : run->subscribers) {
        Job& job = jobs.at(job_id);
        Task& t = job.tasks[task_index];
        if (Terminal(t.view.state)) continue;  // cancelled by its job meanwhile
        if (summary.ok()) {
          t.view.measured = summary->measured;
          t.view.errors = summary->errors;
          t.view.stored = summary->known_before + summary->measured;
          if (summary->best_config) {
            t.view.best_config = summary->best_config;
            t.view.best_seconds = summary->best_cost;
          }
        }
        // A sharer that asked for a larger budget tunes on (from the records so far). A
        // task still subscribed to a cancelled run never asked for the cancel (its job
        // would have unsubscribed it): the run was given up by the job that owned it, or
        // joined while it was stopping; it starts again for this task, with its own
        // budget and priority.
        if ((state == "done" && t.view.trials > run->tune.trials) || state == "cancelled") {
          t.run.reset();
          StartOrJoin(job_id, task_index);
          continue;
        }
        t.view.state = state;
        t.view.message = message;
        t.view.from_store = from_store;
        t.view.eta_seconds = 0;
        updates.push_back({t.view.task_id, job_id, state, summary.ok() ? summary->notes : "",
                           summary.ok() && t.view.shared_with_job == 0 ? summary->measured : 0});
        LogLocked(job, state == "failed" ? JobEventKind::kError : JobEventKind::kTaskDone, task_index,
                  state + ": " + message);
        if (state == "failed") LogLocked(job, JobEventKind::kTaskDone, task_index, state);
        if (MaybeEndJobLocked(job)) ended_jobs.emplace_back(job_id, job.view.state);
      }
      Schedule();
      for (const Update& u : updates) {
        Status s = store.FinishTask(u.task_id, u.state, u.measured);
        if (s.ok() && !u.notes.empty()) s = store.AnnotateTask(u.task_id, u.notes);
        if (!s.ok()) spdlog::error("task {}: storing its end failed: {}", u.task_id, s.ToString());
      }
      FinishJobsInStore(ended_jobs);
    }
  }

  // True when every task ended: the job's state is set and JOB_DONE logged.
  bool MaybeEndJobLocked(Job& job) {
    if (Terminal(job.view.state)) return false;
    bool failed = false, cancelled = false;
    for (const Task& t : job.tasks) {
      if (!Terminal(t.view.state)) return false;
      failed |= t.view.state == "failed";
      cancelled |= t.view.state == "cancelled";
    }
    job.view.state = failed ? "failed" : cancelled ? "cancelled" : "done";
    job.view.finished = Now();
    int done = 0;
    for (const Task& t : job.tasks) done += t.view.state == "done";
    LogLocked(job, JobEventKind::kJobDone, -1,
              job.view.state + ": " + std::to_string(done) + " of " + std::to_string(job.tasks.size()) +
                  " tasks done");
    return true;
  }

  // (job, state) pairs; the caller holds mu. An ended job's lease is given up.
  void FinishJobsInStore(const std::vector<std::pair<int64_t, std::string>>& ended) {
    for (const auto& [id, state] : ended) {
      if (Status s = store.FinishJob(id, state); !s.ok()) {
        spdlog::error("job {}: storing its end failed: {}", id, s.ToString());
        continue;
      }
      if (Status s = store.ReleaseLease(JobLease(id), holder); !s.ok())
        spdlog::warn("job {}: releasing its lease failed (it expires by itself): {}", id, s.ToString());
    }
  }

  // An ended job as stored: shown, never run again.
  Job EndedJob(const db::JobRow& row, const JobRequest& r, const compiler::Target& target) {
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

  // A job this server does not have (mu not held): an ended one is read from the store
  // and kept; a running one belongs to the server that holds its lease (Unavailable).
  StatusOr<JobView> Foreign(int64_t job_id) {
    auto row = store.GetJob(job_id);
    if (!row.ok()) {
      if (row.status().code() == StatusCode::kNotFound) return NotFound("job_id: no job " + std::to_string(job_id));
      return row.status();
    }
    auto parsed = RequestFromJson(*row);
    if (!parsed) return NotFound("job_id: job " + std::to_string(job_id) + " is not a tuning-service job");
    if (row->state == "running") {
      auto rows = store.Leases(JobLease(job_id));
      std::string other = rows.ok() ? HolderOf(*rows, JobLease(job_id)) : "";
      return Status(StatusCode::kUnavailable,
                    "job_id: job " + std::to_string(job_id) + " runs on server " + (other.empty() ? "?" : other) +
                        ", not this one (" + holder + "); ask that server, or this one once it has taken the "
                        "job over (when that server's lease of " + std::to_string(options.lease_seconds) +
                        " s expires)");
    }
    Job job = EndedJob(*row, parsed->first, parsed->second);
    std::lock_guard<std::mutex> lock(mu);
    auto it = jobs.emplace(job_id, std::move(job)).first;
    return ViewLocked(it->second);
  }

  // Takes over the running jobs of the store that no live server holds: a server that
  // died (its lease expired), stopped (it dropped its leases) or never took one. A job
  // without a lease that was created less than a lease ago is being submitted elsewhere
  // (servers' clocks are taken to agree to well within a lease). Returns how many.
  int AdoptOrphans(bool at_start) {
    std::lock_guard<std::mutex> serial(adopt_mu);
    auto rows = store.Jobs("running");
    auto leases = store.Leases("job:");
    if (!rows.ok() || !leases.ok()) {
      spdlog::warn("looking for jobs to take over failed: {}",
                   (!rows.ok() ? rows.status() : leases.status()).ToString());
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
      auto parsed = RequestFromJson(row);
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

  // Every lease_seconds / 3 until shutdown: renew this server's leases, stop runs whose
  // lease another server took, retry runs waiting for a lease, take over orphaned jobs.
  void LeaseLoop() {
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

  // The fastest correct record of a (workload, target) the store holds to `trials`, or
  // nullopt. Counts what TuneTask counts: records of the template's current version
  // whose configs lie in today's search space (older ones are tuned again).
  std::optional<db::Record> AlreadyTuned(const compiler::Workload& w, const compiler::Target& t, int trials,
                                         int* stored) {
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

  // Builds the in-memory job of a request; `rows` are the stored tasks (a resumed job) or
  // empty (new: created here).
  StatusOr<int64_t> AddJob(const JobRequest& request, const compiler::Target& target, int64_t job_id,
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
      t.view.state = "queued";
      auto row = std::find_if(rows.begin(), rows.end(), [&](const db::TaskRow& r) { return r.workload_key == w.Key(); });
      if (row != rows.end()) {
        t.view.task_id = row->id;
        if (Terminal(row->state)) {
          t.view.state = row->state;
          t.view.measured = static_cast<int>(row->measured);
        }
      } else {  // new, or a resumed job whose server died before it stored this task
        db::Record wt;
        wt.workload_key = w.Key();
        wt.workload_json = w.ToJson();
        wt.op = w.op;
        wt.target_key = target.Key();
        wt.target_json = target.ToJson();
        wt.isa_family = target.isa_family();
        PT_ASSIGN_OR_RETURN(t.view.task_id, store.CreateTask(job_id, wt, request.tune.trials));
      }
      if (Terminal(t.view.state) || t.view.state == "queued") {
        int stored = 0;
        if (auto best = AlreadyTuned(w, target, request.tune.trials, &stored)) {
          t.view.stored = stored;
          t.view.best_seconds = best->cost();
          if (auto c = compiler::ConfigFromJson(best->config_json); c.ok()) t.view.best_config = *c;
          if (!Terminal(t.view.state)) {
            t.view.state = "done";
            t.view.from_store = true;
            t.view.message = "already tuned: " + std::to_string(stored) + " records in the store, nothing measured";
            if (Status s = store.FinishTask(t.view.task_id, "done", 0); !s.ok()) return s;
          }
        }
      }
      job.tasks.push_back(std::move(t));
    }
    std::vector<std::pair<int64_t, std::string>> ended;
    {
      std::lock_guard<std::mutex> lock(mu);
      Job& stored_job = jobs[job_id] = std::move(job);
      LogLocked(stored_job, JobEventKind::kTaskProgress, -1,
                std::string(resumed ? "resumed" : "submitted") + " by " + request.client + ": " +
                    std::to_string(stored_job.tasks.size()) + " tasks, " + std::to_string(request.tune.trials) +
                    " trials each, strategy " + request.tune.strategy +
                    (request.strategy_note.empty() ? "" : " (" + request.strategy_note + ")") + ", target " +
                    target.Describe());
      for (size_t i = 0; i < stored_job.tasks.size(); ++i) {
        Task& t = stored_job.tasks[i];
        if (t.view.from_store) LogLocked(stored_job, JobEventKind::kTaskDone, static_cast<int>(i), "done: " + t.view.message);
        if (!Terminal(t.view.state)) StartOrJoin(job_id, static_cast<int>(i));
      }
      if (MaybeEndJobLocked(jobs.at(job_id))) ended.emplace_back(job_id, jobs.at(job_id).view.state);
      FinishJobsInStore(ended);
    }
    return job_id;
  }

  void JoinFinished() {
    std::vector<std::shared_ptr<Run>> done;
    {
      std::lock_guard<std::mutex> lock(mu);
      done.swap(finished_runs);
    }
    std::lock_guard<std::mutex> lock(join_mu);
    for (auto& r : done)
      if (r->thread.joinable()) r->thread.join();
  }
};

JobManager::JobManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JobManager::~JobManager() { Shutdown(); }

StatusOr<std::unique_ptr<JobManager>> JobManager::Create(db::Store& store, MeasureQueue& queue,
                                                         const JobManagerOptions& options) {
  if (!(options.lease_seconds > 0)) return InvalidArgument("lease_seconds: must be positive");
  auto impl = std::make_unique<Impl>(store, queue, options);
  if (options.exclusive_store) PT_RETURN_IF_ERROR(store.DropLeases(""));
  PT_ASSIGN_OR_RETURN(std::vector<db::JobRow> rows, store.Jobs(""));
  std::unique_ptr<JobManager> manager(new JobManager(std::move(impl)));
  Impl& m = *manager->impl_;
  for (const db::JobRow& row : rows) {
    if (row.state == "running") continue;  // AdoptOrphans
    auto parsed = Impl::RequestFromJson(row);
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
  {
    tuner::TuneOptions check = request.tune;
    if (check.strategy.empty()) check.strategy = "ga";  // picked below, once the target is known
    if (Status s = check.Validate(); !s.ok()) return s;
  }
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
  if (request.tune.strategy.empty()) {
    PT_ASSIGN_OR_RETURN(tuner::DefaultStrategyChoice choice, tuner::DefaultStrategy(m.store, *target, "ga"));
    request.tune.strategy = choice.strategy;
    request.strategy_note = "the server's default: " + choice.why;
  }
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.shutdown) return Status(StatusCode::kUnavailable, "the server is shutting down");
    int open = 0;
    for (const auto& [id, job] : m.jobs) open += job.view.client == request.client && !Terminal(job.view.state);
    if (open >= o.max_jobs_per_client)
      return Status(StatusCode::kResourceExhausted,
                    "client " + request.client + " has " + std::to_string(open) + " unfinished jobs, the limit is " +
                        std::to_string(o.max_jobs_per_client));
  }
  m.JoinFinished();  // threads of runs that ended since
  std::lock_guard<std::mutex> serial(m.adopt_mu);  // no take-over scan between CreateJob and AddJob
  PT_ASSIGN_OR_RETURN(int64_t id, m.store.CreateJob(Impl::RequestJson(request, *target).dump()));
  auto leased = m.store.AcquireLease(JobLease(id), m.holder, o.lease_seconds);
  if (!leased.ok() || !*leased)
    spdlog::warn("job {}: taking its lease failed ({}); it runs here, and its task leases keep other servers "
                 "from measuring the same workloads",
                 id, leased.ok() ? "held by another server" : leased.status().ToString());
  StatusOr<int64_t> added = m.AddJob(request, *target, id, Now(), {});
  if (!added.ok()) {
    // The client is told it failed: the store must not resume it later.
    if (Status s = m.store.FinishJob(id, "failed"); !s.ok())
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

std::vector<JobView> JobManager::List(const std::string& state) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<JobView> out;
  for (const auto& [id, job] : impl_->jobs)
    if (state.empty() || job.view.state == state) out.push_back(impl_->ViewLocked(job));
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
      return FailedPrecondition("job_id: job " + std::to_string(job_id) + " already ended (" + job.view.state + ")");
    for (size_t i = 0; i < job.tasks.size(); ++i) {
      Task& t = job.tasks[i];
      if (Terminal(t.view.state)) continue;
      t.view.state = "cancelled";
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
      m.LogLocked(job, JobEventKind::kTaskDone, static_cast<int>(i), "cancelled");
    }
    m.MaybeEndJobLocked(job);
    view = m.ViewLocked(job);
    for (int64_t t : tasks)
      if (Status s = m.store.FinishTask(t, "cancelled", 0); !s.ok())
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
    e.message = "job " + std::to_string(job_id) + " is " + job.view.state;
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

// priortune tune-model: tune every task of an ONNX model within one budget (Ansor's
// gradient task scheduler), with an embedded server and local workers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "compiler/graph/graph.h"
#include "compiler/model/model.h"
#include "db/store.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/common/targets.h"
#include "server/service/embedded_workers.h"
#include "server/service/job_lifecycle.h"
#include "tuner/db_config_source.h"
#include "tuner/meta_model.h"
#include "tuner/open_store.h"
#include "tuner/strategy.h"
#include "tuner/task_scheduler.h"
#include "tuner/tuning_loop.h"

namespace priortune::server::cli {

namespace pc = priortune::compiler;

namespace {

struct TuneModelOptions {
  std::string model;
  std::string db = "priortune.db";
  std::string target = "host";
  int threads = 1;       // per measurement (the deployed thread count)
  int workers = 0;       // 0: the host's cores / threads
  int trials = 0;        // new trials for the whole model; 0: 64 per task
  int unit = 32;         // trials per scheduler decision
  std::string strategy;  // empty: meta-ga with a meta-trained model for the target, else xgb-ga
  double timeout_seconds = 20;
  uint64_t seed = 1;
  std::string shipped_model_dir;  // the shipped meta models (Environment)
};

// What the store already holds of each task on `target`: trials and the best cost.
StatusOr<std::vector<tuner::SchedulerTask>> StoredTasks(db::Store& store, const std::vector<pc::GraphTask>& tasks,
                                                        const pc::Target& target) {
  std::vector<tuner::SchedulerTask> st;
  for (const auto& t : tasks) {
    tuner::SchedulerTask s;
    s.name = t.workload.ShortName();
    // The group whose best speed bounds the forward estimate: op, kernel and stride.
    s.group = t.workload.op;
    for (const char* d : {"KH", "SH"})
      if (t.workload.dims.count(d)) s.group += std::string(" ") + d + "=" + std::to_string(t.workload.dim(d));
    s.weight = t.count;
    s.flops = t.flops / t.count;
    PT_ASSIGN_OR_RETURN(std::vector<db::Record> history, store.History({t.workload.Key(), target.Key(), "", 0}));
    PT_ASSIGN_OR_RETURN(const pc::OpTemplate* tmpl, pc::FindTemplate(t.workload.op));
    for (const auto& r : history) {
      if (r.template_version != tmpl->version()) continue;
      ++s.trials;
      double c = r.cost();
      if (std::isfinite(c) && c > 0 && (s.best <= 0 || c < s.best)) s.best = c;
    }
    st.push_back(std::move(s));
  }
  return st;
}

// The state of a tune-model run between rounds.
struct ModelRun {
  JobLifecycle& life;
  int64_t job = 0;
  JobRequest request;  // tune.trials: the whole model's budget
  pc::Target target;
  const std::vector<pc::GraphTask>& tasks;
  tuner::TaskScheduler& scheduler;
  MeasureQueue& queue;
  int unit = 32;
  std::vector<int> given;  // trials measured per task
  int spent = 0, round = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

// One scheduler decision: a task of the job tuned for one more unit of trials. An error
// is the store failing (the run ends); a task that cannot be tuned (its space or a check
// refuses it) is stored failed and the others go on.
Status TuneRound(ModelRun& m, int i) {
  static const std::atomic<bool> kNever{false};
  const pc::Workload& w = m.tasks[i].workload;
  tuner::TuneOptions tune = m.request.tune;
  tune.trials = m.scheduler.tasks()[i].trials + std::min(m.unit, m.request.tune.trials - m.spent);
  PT_ASSIGN_OR_RETURN(int64_t task, m.life.AddTask(m.job, w, m.target, tune.trials));
  auto summary = m.life.Tune(m.job, w, m.target, tune, m.queue, nullptr, kNever);
  const StatusCode code = summary.ok() ? StatusCode::kOk : summary.status().code();
  TaskOutcome outcome = OutcomeOf(std::move(summary), db::TaskState::kCancelled);
  Status ended = m.life.EndTask(task, outcome);
  if (code == StatusCode::kInternal || code == StatusCode::kUnavailable || code == StatusCode::kDataLoss)
    return ended.ok() ? outcome.summary.status()
                      : Status(code, outcome.summary.status().message() +
                                         " (and storing the task's end failed: " + ended.ToString() + ")");
  PT_RETURN_IF_ERROR(ended);
  if (!outcome.summary.ok()) {
    std::fprintf(stderr, "priortune: task %d (%s) not tuned: %s\n", i, w.ShortName().c_str(), outcome.message.c_str());
    m.scheduler.Finish(i);
    return OkStatus();
  }
  const tuner::TuneSummary& s = *outcome.summary;
  m.spent += s.measured;
  m.given[i] += s.measured;
  // A search that measured nothing, ran out of configs or stopped early is done.
  if (s.measured == 0 || s.exhausted || s.early_stopped) m.scheduler.Finish(i);
  double best = std::isfinite(s.best_cost) ? s.best_cost : 0;
  m.scheduler.Update(i, s.known_before + s.measured, best);
  int unknown = 0;
  double latency = m.scheduler.EstimatedLatency(&unknown);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - m.start).count();
  std::printf("round %3d  task %2d %-60.60s +%3d trials  best %8.3f ms  model %8.3f ms%s  [%d/%d, %.0f s]\n", ++m.round,
              i, w.ShortName().c_str(), s.measured, best * 1e3, latency * 1e3,
              unknown ? (" (+" + std::to_string(unknown) + " tasks not yet measured)").c_str() : "", m.spent,
              m.request.tune.trials, elapsed);
  std::fflush(stdout);
  return OkStatus();
}

void PrintModelTable(const ModelRun& m) {
  const tuner::TaskScheduler& scheduler = m.scheduler;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - m.start).count();
  std::printf(
      "tuned %d trials in %.1f s; estimated model latency %.3f ms (sum over tasks of count x best, as the "
      "workers measured each kernel alone)\n",
      m.spent, elapsed, scheduler.EstimatedLatency() * 1e3);
  std::printf("  %-4s %-60s %5s %7s %7s %10s %8s\n", "task", "workload", "count", "trials", "share", "best ms",
              "latency");
  double total = std::max(1e-12, scheduler.EstimatedLatency());
  for (size_t i = 0; i < m.tasks.size(); ++i) {
    const auto& s = scheduler.tasks()[i];
    std::printf("  %-4zu %-60.60s %5d %7d %6.1f%% %10.3f %7.1f%%\n", i, s.name.c_str(), m.tasks[i].count, m.given[i],
                m.spent ? 100.0 * m.given[i] / m.spent : 0.0, s.best * 1e3, 100 * s.weight * s.best / total);
  }
}

// The job's request: the model, the target, the budget and the strategy (picked when
// none is named: meta-ga with a meta-trained model for the target, else xgb-ga).
StatusOr<JobRequest> ModelRequest(const TuneModelOptions& o, int budget, const pc::Target& target,
                                  const JobLifecycle& life) {
  JobRequest r;
  r.origin = JobOrigin::kTuneModel;
  r.model = o.model;
  r.target_spec = o.target;
  r.threads = o.threads;
  r.tune.seed = o.seed;
  r.tune.shipped_model_dir = o.shipped_model_dir;
  r.tune.trials = budget;
  r.pick_strategy = o.strategy.empty();
  if (!r.pick_strategy) {
    PT_ASSIGN_OR_RETURN(r.tune.strategy, tuner::ParseStrategy(o.strategy));
  }
  PT_RETURN_IF_ERROR(life.PickStrategy(r, target, tuner::Strategy::kXgbGa));
  return r;
}

int RunTuneModel(const TuneModelOptions& o) {
  if (o.unit < 1) return Fail(InvalidArgument("tune-model: --unit must be at least 1"));
  if (o.trials < 0) return Fail(InvalidArgument("tune-model: --trials must not be negative"));
  auto target = TuningTarget(o.target, o.threads);
  if (!target.ok()) return Fail(target.status());
  auto graph = pc::ImportOnnx(o.model);
  if (!graph.ok()) return Fail(graph.status());
  const std::vector<pc::GraphTask> tasks = pc::ExtractTasks(*graph);
  const int budget = o.trials > 0 ? o.trials : 64 * static_cast<int>(tasks.size());
  auto store = tuner::OpenStore(o.db);
  if (!store.ok()) return Fail(store.status());
  JobLifecycle life(**store, o.shipped_model_dir);
  auto request = ModelRequest(o, budget, *target, life);
  if (!request.ok()) return Fail(request.status());
  auto stored = StoredTasks(**store, tasks, *target);
  if (!stored.ok()) return Fail(stored.status());
  tuner::TaskSchedulerOptions so;
  so.unit_trials = o.unit;
  tuner::TaskScheduler scheduler(*stored, so);
  int held = 0;
  for (const auto& s : *stored) held += s.trials > 0;
  std::printf(
      "tuning %s for %s: %zu tasks (%d already in the store), %d new trials in units of %d, strategy %s%s, "
      "store %s\n",
      o.model.c_str(), target->Describe().c_str(), tasks.size(), held, budget, o.unit,
      tuner::StrategyName(request->tune.strategy),
      request->pick_strategy ? (" (the default: " + request->strategy_note + ")").c_str() : "", o.db.c_str());
  std::fflush(stdout);

  EmbeddedWorkersOptions eo;
  eo.workers = o.workers;
  eo.threads = o.threads;
  eo.timeout_seconds = o.timeout_seconds;
  auto embedded = EmbeddedWorkers::Start(*target, eo);
  if (!embedded.ok()) return Fail(embedded.status());
  auto job = life.OpenJob(*request, *target);
  if (!job.ok()) return Fail(job.status());
  ModelRun m{life, *job, *request, *target, tasks, scheduler, (*embedded)->queue(), o.unit};
  m.given.assign(tasks.size(), 0);
  Status run = OkStatus();
  while (run.ok() && m.spent < budget) {
    const int i = scheduler.Next();
    if (i < 0) break;  // every task is done
    run = TuneRound(m, i);
  }
  (*embedded)->Stop();
  Status end = life.EndJob(*job, run.ok() ? db::JobState::kDone : db::JobState::kFailed);
  if (!run.ok()) {
    if (!end.ok()) ReportError(end, 1);
    return Fail(run, 1);
  }
  if (!end.ok()) return Fail(end, 1);
  PrintModelTable(m);
  return 0;
}

}  // namespace

void AddTuneModel(Commands& commands) {
  auto o = std::make_shared<TuneModelOptions>();
  CLI::App* cmd = commands.app().add_subcommand(
      "tune-model", "tune every task of an ONNX model within one budget (Ansor's gradient task scheduler)");
  o->shipped_model_dir = commands.env().model_dir;
  cmd->add_option("model", o->model, "the .onnx file")->required();
  cmd->add_option("--db", o->db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  cmd->add_option("--target", o->target, "host (default) or a target this host runs");
  cmd->add_option("--threads", o->threads,
                  "the thread count the model is deployed with: each kernel is measured with it, and "
                  "build-model and run-model default to it (default 1)");
  cmd->add_option("--workers", o->workers, "local workers (default: cores / threads)");
  cmd->add_option("--trials", o->trials, "new trials for the whole model (default 64 per task)");
  cmd->add_option("--unit", o->unit, "trials per scheduler decision (default 32)");
  cmd->add_option("--strategy", o->strategy,
                  "search strategy per task (default: meta-ga when a meta-trained model for the target exists, "
                  "in the store or shipped (share/priortune/models); else xgb-ga; it prints which and why)");
  cmd->add_option("--timeout", o->timeout_seconds, "seconds per candidate (default 20)");
  cmd->add_option("--seed", o->seed, "search seed (default 1)");
  commands.Add(cmd, [o] { return RunTuneModel(*o); });
}

}  // namespace priortune::server::cli

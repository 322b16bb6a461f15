// priortune tune-model: tune every task of an ONNX model within one budget (Ansor's
// gradient task scheduler), with an embedded server and local workers.
#include "server/cli/commands.h"

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
#include "server/common/targets.h"
#include "server/service/embedded_workers.h"
#include "tuner/db_config_source.h"
#include "tuner/meta_model.h"
#include "tuner/open_store.h"
#include "tuner/task_scheduler.h"
#include "tuner/tuning_loop.h"

namespace priortune::server::cli {

namespace pc = priortune::compiler;

namespace {

struct TuneModelOptions {
  std::string model;
  std::string db = "priortune.db";
  std::string target = "host";
  int threads = 1;            // per measurement (the deployed thread count)
  int workers = 0;            // 0: the host's cores / threads
  int trials = 0;             // new trials for the whole model; 0: 64 per task
  int unit = 32;              // trials per scheduler decision
  std::string strategy;  // empty: meta-ga with a meta-trained model for the target, else xgb-ga
  double timeout_seconds = 20;
  uint64_t seed = 1;
  std::string shipped_model_dir;  // the shipped meta models (Environment)
};

int RunTuneModel(const TuneModelOptions& o) {
  if (o.unit < 1) return Fail(InvalidArgument("tune-model: --unit must be at least 1"));
  if (o.trials < 0) return Fail(InvalidArgument("tune-model: --trials must not be negative"));
  auto target = TuningTarget(o.target, o.threads);
  if (!target.ok()) return Fail(target.status());
  auto graph = pc::ImportOnnx(o.model);
  if (!graph.ok()) return Fail(graph.status());
  const std::vector<pc::GraphTask> tasks = pc::ExtractTasks(*graph);
  const int budget = o.trials > 0 ? o.trials : 64 * static_cast<int>(tasks.size());
  tuner::TuneOptions tune;
  tune.strategy = o.strategy.empty() ? "xgb-ga" : o.strategy;  // checked now, picked below
  tune.seed = o.seed;
  tune.shipped_model_dir = o.shipped_model_dir;
  tune.trials = o.unit;
  if (Status s = tune.Validate(); !s.ok()) return Fail(s);
  auto store = tuner::OpenStore(o.db);
  if (!store.ok()) return Fail(store.status());
  std::string strategy_note;
  if (o.strategy.empty()) {
    auto choice = tuner::DefaultStrategy(**store, *target, "xgb-ga", o.shipped_model_dir);
    if (!choice.ok()) return Fail(choice.status());
    tune.strategy = choice->strategy;
    strategy_note = " (the default: " + choice->why + ")";
  }

  // What the store already holds of each task on this target.
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
    auto history = (*store)->History({t.workload.Key(), target->Key(), "", 0});
    if (!history.ok()) return Fail(history.status());
    auto found = pc::FindTemplate(t.workload.op);
    if (!found.ok()) return Fail(found.status());
    const pc::OpTemplate* tmpl = *found;
    for (const auto& r : *history) {
      if (r.template_version != tmpl->version()) continue;
      ++s.trials;
      double c = r.cost();
      if (std::isfinite(c) && c > 0 && (s.best <= 0 || c < s.best)) s.best = c;
    }
    st.push_back(std::move(s));
  }
  tuner::TaskSchedulerOptions so;
  so.unit_trials = o.unit;
  tuner::TaskScheduler scheduler(st, so);
  int held = 0;
  for (const auto& s : st) held += s.trials > 0;
  std::printf("tuning %s for %s: %zu tasks (%d already in the store), %d new trials in units of %d, strategy %s%s, "
              "store %s\n",
              o.model.c_str(), target->Describe().c_str(), tasks.size(), held, budget, o.unit, tune.strategy.c_str(),
              strategy_note.c_str(), o.db.c_str());
  std::fflush(stdout);

  EmbeddedWorkersOptions eo;
  eo.workers = o.workers;
  eo.threads = o.threads;
  eo.timeout_seconds = o.timeout_seconds;
  auto embedded = EmbeddedWorkers::Start(*target, eo);
  if (!embedded.ok()) return Fail(embedded.status());
  nlohmann::json request = {{"model", o.model}, {"trials", budget}, {"strategy", tune.strategy},
                            {"target", nlohmann::json::parse(target->ToJson())}};
  auto job = (*store)->CreateJob(request.dump());
  if (!job.ok()) return Fail(job.status());

  const auto start = std::chrono::steady_clock::now();
  std::vector<int> given(tasks.size(), 0);
  std::atomic<bool> cancel{false};
  int spent = 0, round = 0;
  while (spent < budget) {
    const int i = scheduler.Next();
    if (i < 0) break;  // every task is done
    const pc::Workload& w = tasks[i].workload;
    tune.trials = scheduler.tasks()[i].trials + std::min(o.unit, budget - spent);
    db::Record wt;
    wt.workload_key = w.Key();
    wt.workload_json = w.ToJson();
    wt.op = w.op;
    wt.target_key = target->Key();
    wt.target_json = target->ToJson();
    wt.isa_family = target->isa_family();
    auto task = (*store)->CreateTask(*job, wt, tune.trials);
    if (!task.ok()) return Fail(task.status());
    auto summary = tuner::TuneTask(w, *target, tune, (*embedded)->queue(), **store, *job, nullptr, cancel);
    if (!summary.ok()) {
      // This task cannot be tuned (its space or a check refuses it): the others go on;
      // only the store failing ends the run.
      (void)(*store)->FinishTask(*task, "failed", 0);
      const StatusCode c = summary.status().code();
      if (c == StatusCode::kInternal || c == StatusCode::kUnavailable || c == StatusCode::kDataLoss) {
        (void)(*store)->FinishJob(*job, "failed");
        return Fail(summary.status());
      }
      std::fprintf(stderr, "priortune: task %d (%s) not tuned: %s\n", i, w.ShortName().c_str(),
                   summary.status().ToString().c_str());
      scheduler.Finish(i);
      continue;
    }
    (void)(*store)->FinishTask(*task, "done", summary->measured);
    spent += summary->measured;
    given[i] += summary->measured;
    // A search that measured nothing, ran out of configs or stopped early is done.
    if (summary->measured == 0 || summary->exhausted || summary->early_stopped) scheduler.Finish(i);
    double best = std::isfinite(summary->best_cost) ? summary->best_cost : 0;
    scheduler.Update(i, summary->known_before + summary->measured, best);
    int unknown = 0;
    double latency = scheduler.EstimatedLatency(&unknown);
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("round %3d  task %2d %-60.60s +%3d trials  best %8.3f ms  model %8.3f ms%s  [%d/%d, %.0f s]\n",
                ++round, i, w.ShortName().c_str(), summary->measured, best * 1e3, latency * 1e3,
                unknown ? (" (+" + std::to_string(unknown) + " tasks not yet measured)").c_str() : "", spent,
                budget, elapsed);
    std::fflush(stdout);
  }
  (*embedded)->Stop();
  (void)(*store)->FinishJob(*job, "done");
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("tuned %d trials in %.1f s; estimated model latency %.3f ms (sum over tasks of count x best, as the "
              "workers measured each kernel alone)\n",
              spent, elapsed, scheduler.EstimatedLatency() * 1e3);
  std::printf("  %-4s %-60s %5s %7s %7s %10s %8s\n", "task", "workload", "count", "trials", "share", "best ms",
              "latency");
  double total = std::max(1e-12, scheduler.EstimatedLatency());
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& s = scheduler.tasks()[i];
    std::printf("  %-4zu %-60.60s %5d %7d %6.1f%% %10.3f %7.1f%%\n", i, s.name.c_str(), tasks[i].count, given[i],
                spent ? 100.0 * given[i] / spent : 0.0, s.best * 1e3, 100 * s.weight * s.best / total);
  }
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

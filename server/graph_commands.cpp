#include "server/graph_commands.h"

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <set>

#include "compiler/graph.h"
#include "compiler/median.h"
#include "compiler/model.h"
#include "compiler/runtime.h"
#include "db/store.h"
#include "server/commands.h"
#include "server/embedded_workers.h"
#include "tuner/db_config_source.h"
#include "tuner/meta_model.h"
#include "tuner/open_store.h"
#include "tuner/task_scheduler.h"
#include "tuner/tuning_loop.h"

namespace priortune::server {
namespace {

namespace pc = priortune::compiler;

int Fail(const Status& s) { return ReportError(s); }


StatusOr<std::vector<float>> ReadFloatFile(const std::string& path, int64_t want) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot read '" + path + "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
  if (static_cast<int64_t>(bytes.size()) != want * 4)
    return InvalidArgument("'" + path + "' holds " + std::to_string(bytes.size()) + " bytes; the model takes " +
                           std::to_string(want) + " float32 values (" + std::to_string(want * 4) + " bytes)");
  std::vector<float> v(static_cast<size_t>(want));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

}  // namespace

int RunTasks(const std::string& model_path) {
  auto graph = pc::ImportOnnx(model_path);
  if (!graph.ok()) return Fail(graph.status());
  std::vector<pc::GraphTask> list = pc::ExtractTasks(*graph);
  int tunable = 0;
  double flops = 0;
  for (const auto& t : list) {
    tunable += t.count;
    flops += t.flops;
  }
  std::printf("%s: %zu nodes (%d tunable), %d BatchNormalization folded into convolutions, %d nodes fused into "
              "epilogues, %.2f GFLOPs in tunable nodes, %zu distinct tasks\n",
              model_path.c_str(), graph->nodes.size(), tunable, graph->batchnorms_folded, graph->epilogues_fused,
              flops / 1e9, list.size());
  std::printf("  %-58s %5s %9s %7s\n", "workload", "count", "MFLOPs", "share");
  for (const auto& t : list)
    std::printf("  %-58s %5d %9.1f %6.1f%%\n", t.workload.ShortName().c_str(), t.count, t.flops / 1e6,
                100 * t.flop_share);
  return 0;
}

// The store at `path` as a config source (NotFound if there is no file), or none at all
// (every kernel hand-picked) when `path` is empty.
// `layouts`: "nchwc" or "nchw" (PlanOptions::propagate_layouts).
StatusOr<pc::ModelPlan> PlanWithStore(const pc::Graph& graph, const pc::Target& target, const std::string& path,
                                      const std::string& layouts) {
  if (layouts != "nchwc" && layouts != "nchw")
    return InvalidArgument("--layouts is nchwc or nchw, not '" + layouts + "'");
  pc::PlanOptions options;
  options.propagate_layouts = layouts == "nchwc";
  if (path.empty()) {
    pc::NoConfigSource none;
    return pc::PlanModel(graph, target, none, options);
  }
  if (!db::StoreExists(path)) return NotFound("no store at '" + path + "'");
  PT_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> store, tuner::OpenStore(path));
  // A config never measured for its workload and target is checked before it is used.
  return pc::PlanModel(graph, target, *tuner::MakeDbConfigSource(*store, /*nearest_shape=*/true, pc::CheckBeforeUse),
                       options);
}

// How many of `tasks` the store holds records of on `spec`'s target at each thread count
// (a target differs from another only in cores = threads): the counts a model was tuned
// at.
StatusOr<std::map<int, int>> TunedThreadCounts(db::Store& store, const std::vector<pc::GraphTask>& tasks,
                                               const std::string& spec) {
  std::map<std::string, int> cores_of_key;  // target key -> threads, -1: another target
  std::map<int, int> tasks_at;
  for (const auto& t : tasks) {
    PT_ASSIGN_OR_RETURN(std::vector<db::Record> records, store.History({t.workload.Key(), "", "", 0}));
    std::set<int> counts;
    for (const auto& r : records) {
      auto it = cores_of_key.find(r.target_key);
      if (it == cores_of_key.end()) {
        int cores = -1;
        if (auto rt = pc::Target::FromJson(r.target_json); rt.ok())
          if (auto mine = DeployTarget(spec, rt->cores); mine.ok() && mine->IsKey(r.target_key)) cores = rt->cores;
        it = cores_of_key.emplace(r.target_key, cores).first;
      }
      if (it->second > 0) counts.insert(it->second);
    }
    for (int c : counts) ++tasks_at[c];
  }
  return tasks_at;
}

// The thread count a model is built or run with: `given` (> 0), or else the one the store
// tuned the most of its tasks at (ties: fewer threads), or 1 for a store that tuned none.
// Tuning and deploying are one decision: a count the store has not tuned the model at is
// said on stderr, with the command that tunes it. `command` names the caller.
StatusOr<int> ModelThreads(const std::string& command, const std::string& model, const pc::Graph& graph,
                           const std::string& db_path, const std::string& spec, int given) {
  if (given < 0) return InvalidArgument(command + ": --threads must be at least 1, got " + std::to_string(given));
  if (db_path.empty() || !db::StoreExists(db_path)) return given > 0 ? given : 1;
  const std::vector<pc::GraphTask> tasks = pc::ExtractTasks(graph);
  if (tasks.empty()) return given > 0 ? given : 1;
  PT_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> store, tuner::OpenStore(db_path));
  PT_ASSIGN_OR_RETURN(auto tasks_at, TunedThreadCounts(*store, tasks, spec));
  auto counts = [&] {
    std::string s;
    for (const auto& [n, k] : tasks_at)
      if (n != given)
        s += (s.empty() ? "" : ", ") + std::to_string(k) + " at " + std::to_string(n) + " thread" + (n == 1 ? "" : "s");
    return s;
  };
  const int total = static_cast<int>(tasks.size());
  if (given == 0) {
    int pick = 1, most = 0;
    for (const auto& [n, k] : tasks_at)
      if (k > most) pick = n, most = k;
    if (most > 0)
      std::fprintf(stderr, "priortune: %s: %d thread%s, the count the store tuned this model at (%d of %d tasks; "
                   "--threads to choose)\n", command.c_str(), pick, pick == 1 ? "" : "s", most, total);
    given = pick;
  }
  const int here = tasks_at.count(given) ? tasks_at[given] : 0;
  if (here < total) {
    std::string tune = "priortune tune-model " + model + " --db " + db_path +
                       (spec == "host" ? "" : " --target '" + spec + "'") + " --threads " + std::to_string(given);
    std::fprintf(stderr,
                 "priortune: %s: the store tuned %d of this model's %d tasks at %d thread%s%s; the others take "
                 "configs measured at another thread count or hand-picked ones. To tune them for %d thread%s: %s\n",
                 command.c_str(), here, total, given, given == 1 ? "" : "s",
                 counts().empty() ? "" : (" (it holds " + counts() + ")").c_str(),
                 given, given == 1 ? "" : "s", tune.c_str());
  }
  return given;
}

// "layouts: 14 of 40 activations kept in NCHWc between kernels".
void PrintLayouts(const pc::ModelPlan& plan) {
  int activations = 0;
  for (const auto& b : plan.buffers) activations += !b.constant && b.view_of < 0;
  std::printf("layouts: %d of %d activations kept in NCHWc between kernels\n", plan.blocked_buffers, activations);
}

int RunBuildModel(const BuildModelOptions& o) {
  if (o.out.empty()) return Fail(InvalidArgument("build-model: --out DIR is required"));
  auto graph = pc::ImportOnnx(o.model);
  if (!graph.ok()) return Fail(graph.status());
  auto threads = ModelThreads("build-model", o.model, *graph, o.db, o.target, o.threads);
  if (!threads.ok()) return Fail(threads.status());
  auto target = DeployTarget(o.target, *threads);
  if (!target.ok()) return Fail(target.status());
  auto plan = PlanWithStore(*graph, *target, o.db, o.layouts);
  if (!plan.ok()) return Fail(plan.status());
  std::map<std::string, int> levels;
  std::printf("%s for %s, %d thread%s: %zu steps\n", o.model.c_str(), target->Describe().c_str(), *threads,
              *threads == 1 ? "" : "s", plan->steps.size());
  for (size_t i = 0; i < plan->steps.size(); ++i) {
    const pc::PlanStep& s = plan->steps[i];
    if (!s.workload) continue;
    ++levels[s.choice.level];
    std::printf("  %-4zu %-58.58s %s", i, s.workload->ShortName().c_str(), s.choice.level.c_str());
    if (s.choice.cost_seconds > 0) std::printf(" (%.3f ms stored)", s.choice.cost_seconds * 1e3);
    if (!s.choice.from.empty()) std::printf(" (from %s)", s.choice.from.c_str());
    if (!s.choice.skipped.empty()) std::printf(", %zu stored configs passed over", s.choice.skipped.size());
    std::printf("\n");
    if (!s.choice.check.empty()) std::printf("       check before use: %s\n", s.choice.check.c_str());
    for (const auto& why : s.choice.skipped)
      if (why.find("failed its check") != std::string::npos) std::printf("       passed over: %s\n", why.c_str());
  }
  std::string summary;
  for (const auto& [level, n] : levels) summary += (summary.empty() ? "" : ", ") + std::to_string(n) + " " + level;
  std::string info = o.model + " for " + target->Key() + " (" + target->name() + ", " + target->isa_family() +
                     ", " + std::to_string(*threads) + " thread(s)); configs: " + summary;
  pc::CompileOptions compile;
  compile.check_bounds = o.check_bounds;
  if (o.check_bounds) info += "; bounds-checked kernels";
  auto lib = pc::WriteModelLibrary(*plan, o.out, info, compile);
  if (!lib.ok()) return Fail(lib.status());
  PrintLayouts(*plan);
  std::printf("kernels: %s\nwrote %s and %s in %.1f s\n", summary.c_str(), lib->library.c_str(),
              lib->header.c_str(), lib->seconds);
  return 0;
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
  tuner::TuneOptions tune;
  tune.strategy = o.strategy.empty() ? "xgb-ga" : o.strategy;  // checked now, picked below
  tune.seed = o.seed;
  tune.trials = o.unit;
  if (Status s = tune.Validate(); !s.ok()) return Fail(s);
  auto store = tuner::OpenStore(o.db);
  if (!store.ok()) return Fail(store.status());
  std::string strategy_note;
  if (o.strategy.empty()) {
    auto choice = tuner::DefaultStrategy(**store, *target, "xgb-ga");
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

int RunRunModel(const RunModelOptions& o) {
  if (o.repeat < 1) return Fail(InvalidArgument("run-model: --repeat must be at least 1"));
  auto graph = pc::ImportOnnx(o.model);
  if (!graph.ok()) return Fail(graph.status());
  auto threads_or = ModelThreads("run-model", o.model, *graph, o.db, o.target, o.threads);
  if (!threads_or.ok()) return Fail(threads_or.status());
  const int threads = *threads_or;
  auto target = TuningTarget(o.target, threads);
  if (!target.ok()) return Fail(target.status());
  auto plan = PlanWithStore(*graph, *target, o.db, o.layouts);
  if (!plan.ok()) return Fail(plan.status());
  pc::CompileOptions compile;
  compile.check_bounds = o.check_bounds;
  auto model = pc::CompiledModel::Create(std::move(*plan), compile);
  if (!model.ok()) return Fail(model.status());
  pc::CompiledModel& m = **model;
  pc::SetNumThreads(threads);

  std::vector<float> input(static_cast<size_t>(m.input_elements()));
  if (!o.input.empty()) {
    auto in = ReadFloatFile(o.input, m.input_elements());
    if (!in.ok()) return Fail(in.status());
    input = std::move(*in);
  } else {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto& v : input) v = u(rng);
  }
  std::vector<float> output(static_cast<size_t>(m.output_elements()));
  if (Status s = m.Run(input.data(), input.size(), output.data(), output.size()); !s.ok()) return Fail(s);

  // Whole inferences, then each step alone (on the same buffers), medians of `repeat`.
  std::vector<double> total;
  std::vector<std::vector<double>> per_step(m.plan().steps.size());
  for (int r = 0; r < o.repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    if (Status s = m.Run(input.data(), input.size(), output.data(), output.size()); !s.ok()) return Fail(s);
    total.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::vector<double> steps;
  for (int r = 0; r < o.repeat; ++r) {
    if (Status s = m.RunTimed(steps); !s.ok()) return Fail(s);
    for (size_t i = 0; i < steps.size(); ++i) per_step[i].push_back(steps[i]);
  }
  std::vector<double> step_median;
  double step_sum = 0;
  for (auto& v : per_step) {
    step_median.push_back(Median(v));
    step_sum += step_median.back();
  }
  const pc::ModelPlan& plan_ref = m.plan();
  std::printf("%s on %s, %d thread%s: %zu steps, compiled in %.1f s\n", o.model.c_str(), target->name().c_str(),
              threads, threads == 1 ? "" : "s", plan_ref.steps.size(), m.compile_seconds());
  std::printf("  %-4s %-28s %-44s %-16s %9s %6s %8s\n", "step", "node", "kernel", "config", "ms", "share", "GFLOPS");
  for (size_t i = 0; i < plan_ref.steps.size(); ++i) {
    const pc::PlanStep& s = plan_ref.steps[i];
    std::string kernel = s.workload ? s.workload->ShortName() : s.op;
    std::printf("  %-4zu %-28.28s %-44.44s %-16s %9.3f %5.1f%% %8s\n", i, s.name.c_str(), kernel.c_str(),
                s.workload ? s.choice.level.c_str() : "-", step_median[i] * 1e3, 100 * step_median[i] / step_sum,
                s.workload ? std::to_string(static_cast<int>(s.flops / step_median[i] / 1e9)).c_str() : "");
  }
  std::printf("total: %.3f ms per inference (median of %d; the steps alone sum to %.3f ms)\n",
              Median(total) * 1e3, o.repeat, step_sum * 1e3);
  std::map<std::string, int> levels;
  for (const auto& s : plan_ref.steps)
    if (s.workload) ++levels[s.choice.level];
  std::printf("configs:");
  for (const auto& [level, n] : levels) std::printf(" %d %s", n, level.c_str());
  std::printf("\n");
  for (size_t i = 0; i < plan_ref.steps.size(); ++i) {
    const pc::PlanStep& s = plan_ref.steps[i];
    if (!s.choice.check.empty()) std::printf("  step %zu: check before use: %s\n", i, s.choice.check.c_str());
    for (const auto& why : s.choice.skipped)
      if (why.find("failed its check") != std::string::npos) std::printf("  step %zu: passed over: %s\n", i, why.c_str());
  }
  PrintLayouts(plan_ref);

  if (!o.profile.empty()) {
    // Each step again, run back to back (warm, as the tuner measures it): how much of a
    // step's time in sequence is its inputs and weights coming from memory.
    std::vector<double> warm(plan_ref.steps.size(), 0);
    for (size_t i = 0; i < plan_ref.steps.size(); ++i) {
      auto w = m.TimeStepWarm(i, 20);
      if (!w.ok()) return Fail(w.status());
      warm[i] = *w;
    }
    nlohmann::json steps_json = nlohmann::json::array();
    for (size_t i = 0; i < plan_ref.steps.size(); ++i) {
      const pc::PlanStep& s = plan_ref.steps[i];
      steps_json.push_back({{"step", i},
                            {"node", s.name},
                            {"op", s.op},
                            {"kernel", s.workload ? s.workload->ShortName() : s.op},
                            {"tuned", s.workload.has_value()},
                            {"config", s.workload ? s.choice.level : ""},
                            {"flops", s.flops},
                            {"ms", step_median[i] * 1e3},
                            {"warm_ms", warm[i] * 1e3},
                            {"stored_ms", s.choice.cost_seconds * 1e3}});
    }
    nlohmann::json profile = {{"model", o.model},       {"target", target->name()}, {"threads", threads},
                              {"repeat", o.repeat},     {"total_ms", Median(total) * 1e3},
                              {"steps_ms", step_sum * 1e3}, {"steps", steps_json}};
    std::ofstream f(o.profile);
    f << profile.dump(1) << "\n";
    if (!f) return Fail(Internal("cannot write '" + o.profile + "'"));
  }
  if (!o.output.empty()) {
    std::ofstream f(o.output, std::ios::binary);
    f.write(reinterpret_cast<const char*>(output.data()), static_cast<std::streamsize>(output.size() * 4));
    if (!f) return Fail(Internal("cannot write '" + o.output + "'"));
  }
  if (o.check) {
    // Against the graph as the model has it (nothing folded or fused), so that a wrong
    // fusion does not check itself.
    pc::ImportOptions plain;
    plain.fold_batchnorm = false;
    plain.fuse_epilogues = false;
    auto unfused = pc::ImportOnnx(o.model, plain);
    if (!unfused.ok()) return Fail(unfused.status());
    auto want = pc::RunGraphReference(*unfused, input);
    if (!want.ok()) return Fail(want.status());
    double err = 0, ref = 0;
    for (size_t i = 0; i < output.size(); ++i) {
      err = std::max(err, std::fabs(static_cast<double>(output[i]) - (*want)[i]));
      ref = std::max(ref, std::fabs(static_cast<double>((*want)[i])));
    }
    std::printf("check: max |error| %.3g against the reference runner (max |output| %.3g)\n", err, ref);
    if (err > 1e-3 * std::max(1.0, ref)) return Fail(Internal("the compiled model's output differs from the reference"));
  }
  return 0;
}

}  // namespace priortune::server

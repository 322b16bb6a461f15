#include "server/commands.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <zlib.h>

#include "compiler/build.h"
#include "compiler/runtime.h"
#include "compiler/timing.h"
#include "costmodel/metrics.h"
#include "costmodel/xgboost_model.h"
#include "db/store.h"
#include "server/embedded_workers.h"
#include "server/internal/model_cli.h"
#include "server/local_workers.h"
#include "server/measure_queue.h"
#include "server/peer_blas.h"
#include "server/worker_service.h"
#include "tuner/db_config_source.h"
#include "tuner/open_store.h"
#include "tuner/search_space.h"
#include "tuner/transfer.h"

namespace priortune::server {
namespace {

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted = true; }

int Fail(const Status& s, int code = 2) { return ReportError(s, code); }

void DrawProgress(const tuner::TuneProgress& p, double flops, bool tty) {
  const int width = 24;
  int filled = p.budget > 0 ? width * p.measured / p.budget : width;
  std::string bar(filled, '#');
  bar += std::string(width - filled, '.');
  double gflops = std::isfinite(p.best_cost) ? flops / p.best_cost / 1e9 : 0;
  double eta = p.measured > 0 ? p.elapsed_seconds / p.measured * (p.budget - p.measured) : 0;
  std::fprintf(stderr, "%s[%s] %d/%d trials  best %.1f GFLOPS  errors %d  ETA %.0f s%s",
               tty ? "\r" : "", bar.c_str(), p.measured, p.budget, gflops, p.errors, eta,
               tty ? "   " : "\n");
  std::fflush(stderr);
}

// Checks `k` and times it if correct: seconds per call, NaN for a wrong answer.
double SecondsIfCorrect(const compiler::Kernel& k, const compiler::OpTemplate& tmpl,
                    const compiler::Workload& w, const compiler::TimingOptions& timing) {
  compiler::KernelArgs args(tmpl, w, 7);
  compiler::KernelMeasurement m =
      compiler::CheckAndTime(k, args, compiler::ReferenceOutput(w, args), timing);
  return m.check.ok() ? m.timing.median : NAN;
}

// The end of a run: best from the store through build_best, beside the default config
// and OpenBLAS, timed one after another in this process with the workers stopped.
void Compare(const compiler::Workload& w, const compiler::Target& target, db::Store& store) {
  const compiler::OpTemplate* tmpl = *compiler::FindTemplate(w.op);
  compiler::SetNumThreads(target.cores);
  compiler::TimingOptions timing;
  timing.repeat = 5;
  timing.min_repeat_ms = 100;
  double flops = tmpl->Flops(w);
  auto source = tuner::MakeDbConfigSource(store);
  auto best = compiler::BuildBest(w, target, *source);
  if (!best.ok()) {
    std::printf("  cannot build the best config: %s\n", best.status().ToString().c_str());
    return;
  }
  auto def = compiler::BuildKernel(w, target, tmpl->DefaultConfig(w, target));
  auto hand = compiler::BuildKernel(w, target, tmpl->HandPickedConfig(w, target));
  double t_best = SecondsIfCorrect(best->kernel, *tmpl, w, timing);
  double t_def = def.ok() ? SecondsIfCorrect(*def, *tmpl, w, timing) : NAN;
  double t_hand = hand.ok() ? SecondsIfCorrect(*hand, *tmpl, w, timing) : NAN;
  bool ok_best = !std::isnan(t_best);
  std::optional<double> t_blas = TimeOpenBlas(w, target.cores, timing);
  std::printf("re-timed now, %d thread(s), median of %d rounds, best built by build_best (%s):\n",
              target.cores, timing.repeat, best->choice.level.c_str());
  if (!ok_best) {
    std::printf("  tuned     WRONG ANSWER: the stored best no longer computes the reference\n");
    return;
  }
  std::printf("  tuned     %9.3f ms  %7.1f GFLOPS\n", t_best * 1e3, flops / t_best / 1e9);
  if (def.ok())
    std::printf("  default   %9.3f ms  %7.1f GFLOPS   tuned is %.2fx faster\n", t_def * 1e3,
                flops / t_def / 1e9, t_def / t_best);
  if (hand.ok())
    std::printf("  hand-picked %7.3f ms  %7.1f GFLOPS   hand-picked reaches %.0f%% of tuned\n",
                t_hand * 1e3, flops / t_hand / 1e9, 100 * t_best / t_hand);
  if (t_blas)
    std::printf("  OpenBLAS  %9.3f ms  %7.1f GFLOPS   tuned reaches %.0f%% of OpenBLAS\n",
                *t_blas * 1e3, flops / *t_blas / 1e9, 100 * *t_blas / t_best);
  else
    std::printf("  OpenBLAS  not available for this workload (libopenblas not found or no BLAS form)\n");
}

}  // namespace

StatusOr<compiler::Workload> ParseWorkloadArgs(const WorkloadArgs& a) {
  PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(a.op));
  PT_ASSIGN_OR_RETURN(compiler::Workload w, compiler::ParseWorkload(a.op, a.shape));
  w.bias = a.bias;
  w.relu = a.relu;
  w.residual = a.residual;
  w.relu6 = a.relu6;
  PT_RETURN_IF_ERROR(tmpl->Validate(w));
  return w;
}

Status CheckWorkloadMemory(const WorkloadArgs& a, const compiler::Workload& w) {
  PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(w.op));
  if (a.memory_cap_bytes < 0) return InvalidArgument("--memory-cap-mb must be positive");
  int64_t cap = a.memory_cap_bytes > 0 ? a.memory_cap_bytes : compiler::DefaultMemoryCapBytes();
  return compiler::CheckMemory(*tmpl, w, cap);
}

int ReportError(const Status& s, int exit_code) {
  std::fprintf(stderr, "priortune: %s\n", s.ToString().c_str());
  return exit_code;
}

static EmbeddedWorkersOptions EmbeddedOptions(const TuneCommandOptions& o) {
  EmbeddedWorkersOptions e;
  e.workers = o.workers;
  e.threads = o.threads;
  e.timeout_seconds = o.timeout_seconds;
  e.memory_cap_bytes = o.workload.memory_cap_bytes;
  e.test_faults = o.test_faults;
  return e;
}

int RunTune(const TuneCommandOptions& o) {
  auto w = ParseWorkloadArgs(o.workload);
  if (!w.ok()) return Fail(w.status());
  if (Status fits = CheckWorkloadMemory(o.workload, *w); !fits.ok()) return Fail(fits);
  if (Status s = o.tune.Validate(); !s.ok()) return Fail(s);
  if (o.workers < 0) return Fail(InvalidArgument("--workers must be at least 1"));
  if (!(o.timeout_seconds > 0)) return Fail(InvalidArgument("--timeout must be positive"));
  if (!o.tune.model_path.empty() && !FileExists(o.tune.model_path))
    return Fail(NotFound("no model file '" + o.tune.model_path + "'"));
  auto parsed_target = TuningTarget(o.target, o.threads);
  if (!parsed_target.ok()) return Fail(parsed_target.status());
  const compiler::Target target = *parsed_target;
  const compiler::OpTemplate* tmpl = *compiler::FindTemplate(w->op);

  auto store = tuner::OpenStore(o.db);
  if (!store.ok()) return Fail(store.status());

  auto embedded = EmbeddedWorkers::Start(target, EmbeddedOptions(o));
  if (!embedded.ok()) return Fail(embedded.status(), 1);
  MeasureQueue& queue = (*embedded)->queue();
  const int n_workers = (*embedded)->workers();

  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  nlohmann::json request = {{"op", w->op},
                            {"workload", nlohmann::json::parse(w->ToJson())},
                            {"target", nlohmann::json::parse(target.ToJson())},
                            {"trials", o.tune.trials},
                            {"strategy", o.tune.strategy},
                            {"seed", o.tune.seed}};
  auto job = (*store)->CreateJob(request.dump());
  if (!job.ok()) return Fail(job.status(), 1);
  db::Record wt;
  wt.workload_key = w->Key();
  wt.workload_json = w->ToJson();
  wt.op = w->op;
  wt.target_key = target.Key();
  wt.target_json = target.ToJson();
  wt.isa_family = target.isa_family();
  auto task = (*store)->CreateTask(*job, wt, o.tune.trials);
  if (!task.ok()) return Fail(task.status(), 1);

  std::string strategy = o.tune.strategy;
  if (strategy == "one-shot")
    strategy += " (at most " + std::to_string(std::min(o.tune.trials, o.tune.one_shot_trials)) + " measured)";
  std::printf("tuning %s for %s, %d trials, strategy %s, %d workers x %d thread(s), store %s\n",
              w->ShortName().c_str(), target.Describe().c_str(), o.tune.trials,
              strategy.c_str(), n_workers, o.threads, o.db.c_str());
  std::fflush(stdout);
  bool tty = isatty(2);
  double flops = tmpl->Flops(*w);
  size_t notes_shown = 0;  // lines of the search's notes printed so far
  auto show_notes = [&](const std::string& notes, bool mid_bar) {
    size_t lines = notes.empty() ? 0 : 1 + std::count(notes.begin(), notes.end(), '\n');
    if (lines <= notes_shown) return;
    size_t at = 0;
    for (size_t i = 0; i < notes_shown; ++i) at = notes.find('\n', at) + 1;
    std::fprintf(stderr, "%s%s\n", mid_bar ? "\n" : "", notes.substr(at).c_str());
    notes_shown = lines;
  };
  auto summary = tuner::TuneTask(
      *w, target, o.tune, queue, **store, *job,
      [&](const tuner::TuneProgress& p) {
        show_notes(p.notes, tty);
        DrawProgress(p, flops, tty);
      },
      g_interrupted);
  if (tty) std::fprintf(stderr, "\n");
  if (summary.ok()) show_notes(summary->notes, false);
  WorkerStats stats = queue.stats();
  (*embedded)->Stop();
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (!summary.ok()) {
    Status finish = (*store)->FinishJob(*job, "failed");
    if (!finish.ok()) ReportError(finish, 1);
    // A model file that does not load is bad input, like a bad shape.
    const StatusCode c = summary.status().code();
    bool input = c == StatusCode::kInvalidArgument || c == StatusCode::kNotFound || c == StatusCode::kDataLoss ||
                 c == StatusCode::kFailedPrecondition;
    return Fail(summary.status(), input ? 2 : 1);
  }
  std::string state = summary->cancelled ? "interrupted" : summary->best_config ? "done" : "failed";
  Status finish = (*store)->FinishTask(*task, state, summary->measured);
  if (finish.ok() && !summary->notes.empty()) finish = (*store)->AnnotateTask(*task, summary->notes);
  Status job_finish = (*store)->FinishJob(*job, state);  // even if the task's update failed
  if (!finish.ok()) return Fail(finish, 1);
  if (!job_finish.ok()) return Fail(job_finish, 1);

  if (!o.trace.empty()) {
    std::ofstream trace(o.trace);
    trace << "trial,cost_seconds,best_seconds,elapsed_seconds\n";
    double best = INFINITY;
    for (size_t i = 0; i < summary->trial_costs.size(); ++i) {
      best = std::min(best, summary->trial_costs[i]);
      trace << i + 1 << "," << summary->trial_costs[i] << "," << best << "," << summary->trial_elapsed[i] << "\n";
    }
  }

  double util = summary->seconds > 0 ? stats.busy_seconds / (n_workers * summary->seconds) : 0;
  if (summary->measured > 0 || summary->budget > 0)
    std::printf("%d trials (%d failed) in %.1f s: %.1f trials/s; workers busy %.1f%% of their time%s%s\n",
              summary->measured, summary->errors, summary->seconds,
              summary->measured / std::max(1e-9, summary->seconds), 100 * util,
              summary->early_stopped ? "; stopped early (no improvement)" : "",
              summary->exhausted ? "; search space exhausted" : "");
  bool guided = o.tune.strategy == "xgb-ga" || o.tune.strategy == "meta-ga" || o.tune.strategy == "one-shot";
  if (guided && summary->seconds > 0)
    std::printf("cost model: %.1f s of %.1f s wall time (%.1f%%: model loading or transfer training, features, fits, search over "
                "predictions); waiting for measurements %.1f s (%.1f%%)\n",
                summary->model_seconds, summary->seconds, 100 * summary->model_seconds / summary->seconds,
                summary->measure_seconds, 100 * summary->measure_seconds / summary->seconds);
  if (summary->known_before > 0 && summary->budget == 0)
    std::printf("already tuned: the store holds %d records of this workload and target (budget %d); "
                "nothing measured (raise --trials to tune further)\n",
                summary->known_before, o.tune.trials);
  else if (summary->known_before > 0)
    std::printf("%d earlier records of this workload were in the store: they count against the "
                "budget of %d and were not measured again\n",
                summary->known_before, o.tune.trials);
  if (summary->best_config) {
    std::printf("best config %s: %.3f ms, %.1f GFLOPS (as measured by the workers)\n",
                compiler::ConfigToJson(*summary->best_config).c_str(), summary->best_cost * 1e3,
                flops / summary->best_cost / 1e9);
  }
  if (summary->cancelled) {
    std::printf("interrupted: %d trials of this run are saved in %s\n", summary->measured, o.db.c_str());
    return 130;
  }
  if (!summary->best_config) {
    // Every candidate failed: the records say why (compile error, wrong answer, ...).
    std::fprintf(stderr, "priortune: no correct config: all %d trials failed (see `priortune export` "
                         "for each error)\n", summary->measured);
    return 1;
  }
  if (o.compare && summary->best_config) Compare(*w, target, **store);
  return 0;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

void PrintFeatureStats(const tuner::RecordFeatures& rf, const compiler::Target& target) {
  std::printf("%zu records of %zu workloads on %s (%d records skipped: older template or invalid config)\n",
              rf.data.rows(), rf.workload_keys.size(), target.Describe().c_str(), rf.skipped);
  if (rf.computed > 0) {
    double per = 1e3 / static_cast<double>(rf.computed);
    std::printf("features per candidate: %.3f ms to extract from the loop nest, %.3f ms with lowering (%d "
                "candidates)\n", per * rf.extract_seconds, per * rf.lower_seconds, rf.computed);
  }
  if (rf.cached > 0)
    std::printf("features of %d records read from the store's feature cache (%.2f s for all records)\n", rf.cached,
                rf.seconds);
  if (!rf.cache_error.empty()) std::fprintf(stderr, "priortune: %s\n", rf.cache_error.c_str());
}

StatusOr<TargetRecords> RecordsOfTarget(db::Store& store, const std::string& db_path, const std::string& spec,
                                        int threads, const std::string& op) {
  TargetRecords out;
  auto fail_internal = [](const Status& s) { return Status(StatusCode::kInternal, s.message()); };
  std::optional<std::vector<db::Record>> all;  // of every target, when the target is chosen from them
  if (spec.empty()) {
    // The host's records if the store has them, else the target with the most.
    auto host = DeployTarget("host", threads);
    auto history = store.History({"", "", op, 0});
    if (!history.ok()) return fail_internal(history.status());
    all = std::move(history).value();
    std::map<std::string, std::pair<int, std::string>> count;  // key -> (records, target json)
    for (const auto& r : *all) {
      auto& c = count[r.target_key];
      ++c.first;
      c.second = r.target_json;
    }
    if (host.ok() && count.count(host->Key())) {
      out.target = *host;
    } else if (!count.empty()) {
      auto best = std::max_element(count.begin(), count.end(),
                                   [](const auto& a, const auto& b) { return a.second.first < b.second.first; });
      auto t = compiler::Target::FromJson(best->second.second);
      if (!t.ok()) return InvalidArgument("records of target " + best->first + ": " + t.status().message());
      out.target = *t;
      out.note = "the store has no records for this host's target; using target " + t->Key() + " (" +
                 t->Describe() + ", " + std::to_string(t->cores) + " cores), which has the most";
    } else {
      return NotFound("no records" + (op.empty() ? "" : " of " + op) + " in " + db_path);
    }
  } else {
    PT_ASSIGN_OR_RETURN(out.target, DeployTarget(spec, threads));
  }
  if (all) {
    for (auto& r : *all)
      if (r.target_key == out.target.Key()) out.records.push_back(std::move(r));
    return out;  // the chosen target has records
  }
  auto records = store.History({"", out.target.Key(), op, 0});
  if (!records.ok()) return fail_internal(records.status());
  if (records->empty()) {
    auto all = store.History({});
    std::set<std::string> targets;
    if (all.ok())
      for (const auto& r : *all) {
        auto t = compiler::Target::FromJson(r.target_json);
        targets.insert(r.target_key + " (" + (t.ok() ? t->Describe() + ", " + std::to_string(t->cores) + " cores" : "?") + ")");
      }
    std::string list;
    for (const auto& t : targets) list += (list.empty() ? "" : "; ") + t;
    return NotFound("no records" + (op.empty() ? "" : " of " + op) + " for target " + out.target.Key() + " (" +
                    out.target.Describe() + ", " + std::to_string(out.target.cores) + " cores) in " + db_path +
                    (list.empty() ? "" : "; the store has targets " + list));
  }
  out.records = std::move(records).value();
  return out;
}

int RunEvalModel(const EvalModelOptions& o) {
  tuner::TransferOptions to;
  to.model = o.model;
  to.features.workload_context = o.workload_context;
  if (Status s = to.model.Validate(); !s.ok()) return Fail(s);
  if (o.k < 1) return Fail(InvalidArgument("--k must be at least 1, got " + std::to_string(o.k)));
  if (!o.op.empty()) {
    if (auto t = compiler::FindTemplate(o.op); !t.ok()) return Fail(t.status());
  }
  if (!db::StoreExists(o.db)) return Fail(NotFound("no store at '" + o.db + "'"));
  auto store = tuner::OpenStore(o.db);
  if (!store.ok()) return Fail(store.status());
  auto tr = RecordsOfTarget(**store, o.db, o.target, o.threads, o.op);
  if (!tr.ok()) return Fail(tr.status(), tr.status().code() == StatusCode::kInternal ? 1 : 2);
  if (!o.neural.empty()) return RunEvalNeural(o, **store, *tr);
  const compiler::Target& target = tr->target;
  tuner::RecordFeatures rf = tuner::FeaturesOfRecords(tr->records, to.features, o.feature_cache ? store->get() : nullptr);
  PrintFeatureStats(rf, target);
  auto report = tuner::EvaluateHeldOut(rf, to, o.k);
  if (!report.ok()) return Fail(report.status());
  std::printf("objective %s%s, one workload held out at a time, trained on the others (the same op's when they "
              "hold %d records, else all ops'):\n",
              o.model.objective.c_str(), o.workload_context ? " with workload context" : "", to.min_records);
  std::string recall = "top" + std::to_string(o.k);
  std::printf("  %-34s %-8s %6s %5s  %8s %7s %8s %7s %7s\n", "held-out workload", "trained", "train", "test",
              "pairwise", "tau", recall.c_str(), "peak@1", "peak@5");
  std::ofstream csv;
  if (!o.csv.empty()) {
    csv.open(o.csv);
    csv << "workload,scope,train,test,pairwise_accuracy,kendall_tau,top_k_recall,peak_at_1,peak_at_5\n";
  }
  for (const auto& w : report->workloads) {
    const auto& m = w.metrics;
    std::printf("  %-34s %-8s %6zu %5zu  %8.3f %7.3f %8.3f %7.3f %7.3f\n", w.workload.c_str(), w.scope.c_str(),
                w.train_rows, w.test_rows, m.pairwise_accuracy, m.kendall_tau, m.top_k_recall, m.peak_at_1,
                m.peak_at_5);
    if (csv.is_open())
      csv << w.workload << "," << w.scope << "," << w.train_rows << "," << w.test_rows << "," << m.pairwise_accuracy
          << "," << m.kendall_tau << "," << m.top_k_recall << "," << m.peak_at_1 << "," << m.peak_at_5 << "\n";
  }
  const auto& m = report->mean;
  std::printf("  %-34s %-8s %6s %5s  %8.3f %7.3f %8.3f %7.3f %7.3f\n", "mean over held-out workloads", "", "", "",
              m.pairwise_accuracy, m.kendall_tau, m.top_k_recall, m.peak_at_1, m.peak_at_5);
  std::printf("(training of %zu folds: %.1f s, 1 thread)\n", report->workloads.size(), report->fit_seconds);
  if (o.save) {
    auto model = costmodel::MakeXGBoostModel(to.model, target.Key());
    if (!model.ok()) return Fail(model.status(), 1);
    if (Status s = (*model)->Fit(rf.data); !s.ok()) return Fail(s, 1);
    (*model)->mutable_metadata().training_set = "eval-model: " + std::to_string(rf.data.rows()) + " records of " +
                                                std::to_string(rf.workload_keys.size()) + " workloads" +
                                                (o.op.empty() ? "" : " of " + o.op) + " on target " + target.Key();
    (*model)->mutable_metadata().metrics_json = R"({"held_out_mean":)" + costmodel::MetricsJson(m) + "}";
    auto id = tuner::StoreModel(**store, **model);
    if (!id.ok()) return Fail(id.status(), 1);
    std::printf("saved model #%lld (%s) with these held-out metrics\n", static_cast<long long>(*id),
                (*model)->metadata().training_set.c_str());
  }
  return 0;
}

int RunLookup(const WorkloadArgs& a, const std::string& target_spec, const std::string& db, int threads) {
  auto w = ParseWorkloadArgs(a);
  if (!w.ok()) return Fail(w.status());
  // Lookup does not run code: any target may ask, whether or not this host can run it.
  auto parsed_target = DeployTarget(target_spec, threads);
  if (!parsed_target.ok()) return Fail(parsed_target.status());
  const compiler::Target target = *parsed_target;
  if (!db::StoreExists(db)) return Fail(NotFound("no store at '" + db + "'"));
  auto store = tuner::OpenStore(db);
  if (!store.ok()) return Fail(store.status());
  auto source = tuner::MakeDbConfigSource(**store);
  auto found = source->BestConfig(*w, target);
  if (!found.ok()) return Fail(found.status(), 1);
  const compiler::OpTemplate* tmpl = *compiler::FindTemplate(w->op);
  if (found->level == "default") {
    std::printf("%s for %s: no tuned config that lies in this target's space; build_best uses the "
                "default config %s\n  level: default\n",
                w->ShortName().c_str(), target.name().c_str(),
                compiler::ConfigToJson(tmpl->DefaultConfig(*w, target)).c_str());
  } else {
    std::printf("%s for %s: %s\n  level: %s\n  cost: %.3f ms (%.1f GFLOPS) as measured on the "
                "record's target\n",
                w->ShortName().c_str(), target.name().c_str(), compiler::ConfigToJson(found->config).c_str(),
                found->level.c_str(), found->cost_seconds * 1e3, tmpl->Flops(*w) / found->cost_seconds / 1e9);
  }
  // The fastest few are what matters; a store of thousands of records would flood.
  constexpr size_t kShownSkips = 5;
  for (size_t i = 0; i < found->skipped.size() && i < kShownSkips; ++i)
    std::printf("  skipped %s\n", found->skipped[i].c_str());
  if (found->skipped.size() > kShownSkips)
    std::printf("  ... and %zu more records skipped\n", found->skipped.size() - kShownSkips);
  return 0;
}

int RunExport(const std::string& db, const std::string& out) {
  if (!db::StoreExists(db)) return Fail(NotFound("no store at '" + db + "'"));
  auto store = tuner::OpenStore(db);
  if (!store.ok()) return Fail(store.status());
  if (out.empty() || out == "-") {
    Status s = (*store)->Export(std::cout, {});
    return s.ok() ? 0 : Fail(s, 1);
  }
  std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp);
    if (!f) return Fail(InvalidArgument("cannot write '" + out + "'"));
    Status s = (*store)->Export(f, {});
    if (!s.ok()) return Fail(s, 1);
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0) return Fail(Internal("cannot rename to " + out), 1);
  std::fprintf(stderr, "exported %s to %s\n", db.c_str(), out.c_str());
  return 0;
}

namespace {

// A tuning log's text: JSON lines, gzip-compressed or not. NotFound if it cannot be opened.
StatusOr<std::string> ReadLogFile(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads uncompressed files as they are
  if (!f) return NotFound("cannot read '" + path + "'");
  std::string text;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  int err = 0;
  std::string message = n < 0 ? gzerror(f, &err) : "";
  gzclose(f);
  if (n < 0) return InvalidArgument(path + ": not a readable log (" + message + ")");
  return text;
}

}  // namespace

StatusOr<db::ImportStats> ImportLogFile(db::Store& store, const std::string& path) {
  PT_ASSIGN_OR_RETURN(std::string text, ReadLogFile(path));
  return ImportLogText(store, text, path);
}

StatusOr<db::ImportStats> ImportLogText(db::Store& store, const std::string& text, const std::string& path) {
  std::istringstream f(text);
  // The store takes keys on trust; the importer, who knows the compiler, checks them.
  auto check = [](const db::Record& r) -> Status {
    auto w = compiler::Workload::FromJson(r.workload_json);
    if (!w.ok()) return InvalidArgument("field 'workload': " + w.status().message());
    if (w->Key() != r.workload_key) return InvalidArgument("field 'workload_key': does not match the workload");
    if (w->op != r.op) return InvalidArgument("field 'op': does not match the workload");
    if (compiler::HashKey(r.target_json) != r.target_key)
      return InvalidArgument("field 'target_key': does not match the target");
    auto c = compiler::ConfigFromJson(r.config_json);
    if (!c.ok()) return InvalidArgument("field 'config': " + c.status().message());
    auto t = compiler::Target::FromJson(r.target_json);
    if (!t.ok()) return InvalidArgument("field 'target': " + t.status().message());
    auto hash = tuner::WorkloadConfigHash(*w, *t, *c);
    if (!hash.ok()) return InvalidArgument("field 'op': " + hash.status().message());
    if (*hash != r.config_hash)
      return InvalidArgument("field 'config_hash': does not match the config");
    return OkStatus();
  };
  auto stats = store.Import(f, check);
  if (!stats.ok()) return Status(stats.status().code(), path + ": " + stats.status().message());
  // A log written before targets named their microarchitecture lands under its old keys:
  // bring them to the current form, as opening an old store does.
  if (auto rewritten = store.RewriteTargets(tuner::CurrentTargetForm()); !rewritten.ok())
    return Status(rewritten.status().code(), path + ": imported, but bringing its targets to the current form: " +
                                                 rewritten.status().message());
  return stats;
}

int RunImport(const std::string& db, const std::string& in) {
  if (!FileExists(in)) return Fail(NotFound("cannot read '" + in + "'"));
  auto store = tuner::OpenStore(db);
  if (!store.ok()) return Fail(store.status());
  auto stats = ImportLogFile(**store, in);
  if (!stats.ok()) return Fail(stats.status());
  std::printf("imported %lld records into %s (%lld already there)\n",
              static_cast<long long>(stats->imported), db.c_str(),
              static_cast<long long>(stats->duplicates));
  return 0;
}

}  // namespace priortune::server

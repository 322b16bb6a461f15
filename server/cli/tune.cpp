// priortune tune: tune one operator with an embedded server and local worker processes.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "compiler/codegen/runtime.h"
#include "compiler/ops/build.h"
#include "compiler/support/timing.h"
#include "db/store.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/cli/peer_blas.h"
#include "server/common/targets.h"
#include "server/service/embedded_workers.h"
#include "server/service/job_lifecycle.h"
#include "server/service/measure_queue.h"
#include "tuner/db_config_source.h"
#include "tuner/open_store.h"
#include "tuner/strategy.h"
#include "tuner/tuning_loop.h"

namespace priortune::server::cli {

namespace {

struct TuneCommandOptions {
  WorkloadArgs workload;
  std::string target = "host";  // Target::Parse spec: host, a CPU name or target JSON
  tuner::TuneOptions tune;
  std::string strategy = tuner::StrategyName(tuner::Strategy::kGa);  // tuner::ParseStrategy
  std::string db = "priortune.db";
  int workers = 0;              // 0: one per `threads` cores of this host
  int threads = 1;              // threads per measurement (the deployed thread count)
  double timeout_seconds = 20;  // per candidate
  std::string trace;            // CSV of trial, cost, best, elapsed seconds (tuning-efficiency studies)
  bool compare = true;          // time best vs default vs OpenBLAS at the end
};

std::atomic<bool> g_interrupted{false};
int g_interrupt_pipe[2] = {-1, -1};  // the handler writes a byte; a thread wakes the queue

void OnInterrupt(int) {
  g_interrupted = true;
  const int saved = errno;
  if (write(g_interrupt_pipe[1], "i", 1) < 0) {
  }  // async-signal-safe; a full pipe already holds a wake-up
  errno = saved;
}

// While it lives, SIGINT and SIGTERM set g_interrupted and wake `queue`, where the run
// waits for its measurements (a signal handler cannot notify a condition variable: it
// writes to a pipe, which a thread reads).
class InterruptWatch {
 public:
  explicit InterruptWatch(MeasureQueue& queue) {
    if (pipe2(g_interrupt_pipe, O_CLOEXEC) != 0) return;
    thread_ = std::thread([&queue, fd = g_interrupt_pipe[0]] {
      char c = 0;
      while (true) {
        const ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || c == 'q') return;
        queue.Wake();
      }
    });
    struct sigaction sa {};
    sa.sa_handler = OnInterrupt;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  }
  ~InterruptWatch() {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (!thread_.joinable()) return;
    if (write(g_interrupt_pipe[1], "q", 1) < 0) {
    }
    thread_.join();
    close(g_interrupt_pipe[0]);
    close(g_interrupt_pipe[1]);
    g_interrupt_pipe[0] = g_interrupt_pipe[1] = -1;
  }

 private:
  std::thread thread_;
};

void DrawProgress(const tuner::TuneProgress& p, double flops, bool tty) {
  const int width = 24;
  int filled = p.budget > 0 ? width * p.measured / p.budget : width;
  std::string bar(filled, '#');
  bar += std::string(width - filled, '.');
  double gflops = std::isfinite(p.best_cost) ? flops / p.best_cost / 1e9 : 0;
  double eta = p.measured > 0 ? p.elapsed_seconds / p.measured * (p.budget - p.measured) : 0;
  std::fprintf(stderr, "%s[%s] %d/%d trials  best %.1f GFLOPS  errors %d  ETA %.0f s%s", tty ? "\r" : "", bar.c_str(),
               p.measured, p.budget, gflops, p.errors, eta, tty ? "   " : "\n");
  std::fflush(stderr);
}

// Checks `k` and times it if correct: seconds per call, NaN for a wrong answer.
double SecondsIfCorrect(const compiler::Kernel& k, const compiler::OpTemplate& tmpl, const compiler::Workload& w,
                        const compiler::TimingOptions& timing) {
  compiler::KernelArgs args(tmpl, w, 7);
  compiler::KernelMeasurement m = compiler::CheckAndTime(k, args, compiler::ReferenceOutput(w, args), timing);
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
  std::printf("re-timed now, %d thread(s), median of %d rounds, best built by build_best (%s):\n", target.cores,
              timing.repeat, best->choice.level.c_str());
  if (!ok_best) {
    std::printf("  tuned     WRONG ANSWER: the stored best no longer computes the reference\n");
    return;
  }
  std::printf("  tuned     %9.3f ms  %7.1f GFLOPS\n", t_best * 1e3, flops / t_best / 1e9);
  if (def.ok())
    std::printf("  default   %9.3f ms  %7.1f GFLOPS   tuned is %.2fx faster\n", t_def * 1e3, flops / t_def / 1e9,
                t_def / t_best);
  if (hand.ok())
    std::printf("  hand-picked %7.3f ms  %7.1f GFLOPS   hand-picked reaches %.0f%% of tuned\n", t_hand * 1e3,
                flops / t_hand / 1e9, 100 * t_best / t_hand);
  if (t_blas)
    std::printf("  OpenBLAS  %9.3f ms  %7.1f GFLOPS   tuned reaches %.0f%% of OpenBLAS\n", *t_blas * 1e3,
                flops / *t_blas / 1e9, 100 * *t_blas / t_best);
  else
    std::printf("  OpenBLAS  not available for this workload (libopenblas not found or no BLAS form)\n");
}

EmbeddedWorkersOptions EmbeddedOptions(const TuneCommandOptions& o) {
  EmbeddedWorkersOptions e;
  e.workers = o.workers;
  e.threads = o.threads;
  e.timeout_seconds = o.timeout_seconds;
  e.memory_cap_bytes = o.workload.memory_cap_bytes();
  return e;
}

// The command line's checks before anything starts.
Status CheckTuneOptions(const TuneCommandOptions& o, const compiler::Workload& w) {
  PT_RETURN_IF_ERROR(CheckWorkloadMemory(o.workload, w));
  PT_RETURN_IF_ERROR(o.tune.Validate());
  if (o.workers < 0) return InvalidArgument("--workers must be at least 1");
  if (!(o.timeout_seconds > 0)) return InvalidArgument("--timeout must be positive");
  if (!o.tune.model_path.empty() && !FileExists(o.tune.model_path))
    return NotFound("no model file '" + o.tune.model_path + "'");
  return OkStatus();
}

void WriteTrace(const std::string& path, const tuner::TuneSummary& s) {
  std::ofstream trace(path);
  trace << "trial,cost_seconds,best_seconds,elapsed_seconds\n";
  double best = INFINITY;
  for (size_t i = 0; i < s.trial_costs.size(); ++i) {
    best = std::min(best, s.trial_costs[i]);
    trace << i + 1 << "," << s.trial_costs[i] << "," << best << "," << s.trial_elapsed[i] << "\n";
  }
}

// The summary lines of a finished run; the exit code.
int Report(const TuneCommandOptions& o, const JobRequest& r, const compiler::Target& target,
           const tuner::TuneSummary& s, const WorkerStats& stats, int n_workers, db::Store& store) {
  const compiler::Workload& w = r.workloads[0];
  const double flops = (*compiler::FindTemplate(w.op))->Flops(w);
  double util = s.seconds > 0 ? stats.busy_seconds / (n_workers * s.seconds) : 0;
  if (s.measured > 0 || s.budget > 0)
    std::printf("%d trials (%d failed) in %.1f s: %.1f trials/s; workers busy %.1f%% of their time%s%s\n", s.measured,
                s.errors, s.seconds, s.measured / std::max(1e-9, s.seconds), 100 * util,
                s.early_stopped ? "; stopped early (no improvement)" : "",
                s.exhausted ? "; search space exhausted" : "");
  if (tuner::ModelGuided(r.tune.strategy) && s.seconds > 0)
    std::printf(
        "cost model: %.1f s of %.1f s wall time (%.1f%%: model loading or transfer training, features, fits, "
        "search over predictions); waiting for measurements %.1f s (%.1f%%)\n",
        s.model_seconds, s.seconds, 100 * s.model_seconds / s.seconds, s.measure_seconds,
        100 * s.measure_seconds / s.seconds);
  if (s.known_before > 0 && s.budget == 0)
    std::printf(
        "already tuned: the store holds %d records of this workload and target (budget %d); "
        "nothing measured (raise --trials to tune further)\n",
        s.known_before, o.tune.trials);
  else if (s.known_before > 0)
    std::printf(
        "%d earlier records of this workload were in the store: they count against the "
        "budget of %d and were not measured again\n",
        s.known_before, o.tune.trials);
  if (s.best_config)
    std::printf("best config %s: %.3f ms, %.1f GFLOPS (as measured by the workers)\n",
                compiler::ConfigToJson(*s.best_config).c_str(), s.best_cost * 1e3, flops / s.best_cost / 1e9);
  if (s.cancelled) {
    std::printf("interrupted: %d trials of this run are saved in %s\n", s.measured, o.db.c_str());
    return 130;
  }
  if (!s.best_config) {
    // Every candidate failed: the records say why (compile error, wrong answer, ...).
    std::fprintf(stderr, "priortune: no correct config: all %d trials failed (see `priortune export` for each error)\n",
                 s.measured);
    return 1;
  }
  if (o.compare) Compare(w, target, store);
  return 0;
}

// The search of the run, with a progress bar and the search's notes on stderr; SIGINT
// and SIGTERM stop it (the summary says cancelled).
StatusOr<tuner::TuneSummary> TuneWithProgress(JobLifecycle& life, int64_t job, const JobRequest& request,
                                              const compiler::Target& target, MeasureQueue& queue) {
  const compiler::Workload& w = request.workloads[0];
  const bool tty = isatty(2);
  const double flops = (*compiler::FindTemplate(w.op))->Flops(w);
  size_t notes_shown = 0;  // the search's notes printed so far
  auto show_notes = [&](const tuner::TaskNotes& notes, bool mid_bar) {
    if (notes.size() <= notes_shown) return;
    const tuner::TaskNotes fresh(notes.begin() + static_cast<std::ptrdiff_t>(notes_shown), notes.end());
    std::fprintf(stderr, "%s%s\n", mid_bar ? "\n" : "", tuner::NotesText(fresh).c_str());
    notes_shown = notes.size();
  };
  auto summary = life.Tune(
      job, w, target, request.tune, queue,
      [&](const tuner::TuneProgress& p) {
        show_notes(p.notes, tty);
        DrawProgress(p, flops, tty);
      },
      g_interrupted);
  if (tty) std::fprintf(stderr, "\n");
  if (summary.ok()) show_notes(summary->notes, false);
  return summary;
}

void PrintStart(const TuneCommandOptions& o, const JobRequest& r, const compiler::Target& target, int n_workers) {
  std::string strategy = tuner::StrategyName(r.tune.strategy);
  if (r.tune.strategy == tuner::Strategy::kOneShot)
    strategy += " (at most " + std::to_string(std::min(r.tune.trials, r.tune.one_shot_trials)) + " measured)";
  std::printf("tuning %s for %s, %d trials, strategy %s, %d workers x %d thread(s), store %s\n",
              r.workloads[0].ShortName().c_str(), target.Describe().c_str(), r.tune.trials, strategy.c_str(), n_workers,
              o.threads, o.db.c_str());
  std::fflush(stdout);
}

// tune through the job lifecycle: a job and its one task, tuned by embedded workers.
int RunTune(const TuneCommandOptions& o) {
  auto w = ParseWorkloadArgs(o.workload);
  if (!w.ok()) return Fail(w.status());
  if (Status s = CheckTuneOptions(o, *w); !s.ok()) return Fail(s);
  JobRequest request;
  request.origin = JobOrigin::kTune;
  request.workloads = {*w};
  request.target_spec = o.target;
  request.threads = o.threads;
  request.tune = o.tune;
  auto strategy = tuner::ParseStrategy(o.strategy);
  if (!strategy.ok()) return Fail(strategy.status());
  request.tune.strategy = *strategy;
  auto target = TuningTarget(o.target, o.threads);
  if (!target.ok()) return Fail(target.status());
  auto store = tuner::OpenStore(o.db);
  if (!store.ok()) return Fail(store.status());
  JobLifecycle life(**store, o.tune.shipped_model_dir);

  auto embedded = EmbeddedWorkers::Start(*target, EmbeddedOptions(o));
  if (!embedded.ok()) return Fail(embedded.status(), 1);
  std::optional<InterruptWatch> interrupts;  // from the job's opening until the workers stopped
  interrupts.emplace((*embedded)->queue());
  auto job = life.OpenJob(request, *target);
  if (!job.ok()) return Fail(job.status(), 1);
  auto task = life.AddTask(*job, *w, *target, request.tune.trials);
  if (!task.ok()) return Fail(task.status(), 1);
  PrintStart(o, request, *target, (*embedded)->workers());
  auto summary = TuneWithProgress(life, *job, request, *target, (*embedded)->queue());
  WorkerStats stats = (*embedded)->queue().stats();
  (*embedded)->Stop();
  interrupts.reset();

  TaskOutcome outcome = OutcomeOf(std::move(summary), db::TaskState::kInterrupted);
  Status task_end = life.EndTask(*task, outcome);
  Status job_end = life.EndJob(*job, outcome.state);  // even if the task's end was not stored
  if (!outcome.summary.ok()) {
    if (!task_end.ok()) ReportError(task_end, 1);
    if (!job_end.ok()) ReportError(job_end, 1);
    // A model file that does not load is bad input, like a bad shape.
    const StatusCode c = outcome.summary.status().code();
    bool input = c == StatusCode::kInvalidArgument || c == StatusCode::kNotFound || c == StatusCode::kDataLoss ||
                 c == StatusCode::kFailedPrecondition;
    return Fail(outcome.summary.status(), input ? 2 : 1);
  }
  if (!task_end.ok()) return Fail(task_end, 1);
  if (!job_end.ok()) return Fail(job_end, 1);
  if (!o.trace.empty()) WriteTrace(o.trace, *outcome.summary);
  return Report(o, request, *target, *outcome.summary, stats, (*embedded)->workers(), **store);
}

}  // namespace

void AddTune(Commands& commands) {
  auto o = std::make_shared<TuneCommandOptions>();
  CLI::App* cmd = commands.app().add_subcommand("tune", "tune an operator: embedded server + local workers");
  AddWorkloadOptions(cmd, o->workload);
  AddTargetOption(cmd, o->target);
  o->tune.shipped_model_dir = commands.env().model_dir;
  cmd->add_option("--trials", o->tune.trials,
                  "trial budget of the task; records already in the store count (default 200)");
  cmd->add_option("--strategy", o->strategy,
                  "ga | random | grid | xgb-ga (GA over an XGBoost cost model's predictions) | meta-ga (GA over "
                  "a meta-trained neural model adapted to the task after every batch) | one-shot (GA over the "
                  "meta-trained model's predictions, no online training, at most --one-shot-trials measured); "
                  "default ga");
  cmd->add_option("--model", o->tune.model_path,
                  "meta-ga, one-shot: the meta-trained model file (default: the store's newest neural model "
                  "for the target, else a shipped one in share/priortune/models beside the executable)");
  cmd->add_option("--one-shot-trials", o->tune.one_shot_trials, "one-shot: candidates measured at most (default 64)");
  cmd->add_option("--transfer", o->tune.transfer,
                  "xgb-ga: auto (start from a model of the store's other workloads on this target, kept only "
                  "if it ranks this task's batches better than a task-only model) | fade (the same model, "
                  "unguarded, its weight halving every 64 samples, as AutoTVM's) | off (default auto)");
  cmd->add_option("--model-objective", o->tune.model_objective,
                  "xgb-ga: rank:pairwise | reg:throughput (default rank:pairwise)");
  cmd->add_option("--model-pair-samples", o->tune.model_pair_samples,
                  "xgb-ga, rank:pairwise: pairs sampled per record and round (default 4)");
  cmd->add_option("--db", o->db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  cmd->add_option("--workers", o->workers, "local worker processes (default: one per --threads cores)");
  cmd->add_option("--threads", o->threads,
                  "threads the kernel is deployed with: measured with as many threads on as many "
                  "cores; the stored target records it (default 1)");
  cmd->add_option("--batch", o->tune.batch_size, "candidates per round (default 16)");
  cmd->add_option("--seed", o->tune.seed, "random seed of the search (default 1)");
  cmd->add_option("--early-stopping", o->tune.early_stopping,
                  "stop after N trials without improvement (default 0: off)");
  cmd->add_option("--timeout", o->timeout_seconds, "seconds per candidate (default 20)");
  cmd->add_flag("!--no-hand-picked-seed", o->tune.seed_hand_picked,
                "do not measure the hand-picked config first (for studies of search strategies)");
  cmd->add_option("--trace", o->trace, "write trial,cost,best,elapsed CSV here");
  cmd->add_flag("!--no-compare", o->compare, "skip re-timing best vs default vs OpenBLAS");
  commands.Add(cmd, [o] { return RunTune(*o); });
}

}  // namespace priortune::server::cli

// priortune: the command-line front end.
//   priortune bench --op matmul --shape 512x512x512   build, check and time the default
//                                                       and hand-picked configs
//   priortune knobs --op conv2d --shape 64x64x56x3x1x1  print the template's knobs
//   priortune target [--target host-avx2]               what a target is: microarch, LLVM CPU, key
//   priortune emit  --op matmul --shape ... --out k.o   write an object file (or .s/.ll/.ir)
//   priortune tune  --op matmul --shape 512x512x512     tune with an embedded server and
//                   [--trials N --strategy ga|random|grid|xgb-ga|meta-ga|one-shot --transfer auto|fade|off
//                    --db PATH --workers N]
//   priortune lookup --op ... --shape ... [--db PATH]   the best stored config
//   priortune eval-model [--db PATH] [--op OP]          cost-model metrics on held-out workloads
//                   [--neural FILE ...]                 few-shot metrics of neural models
//   priortune train-model [--db PATH] [--log FILE]      meta-train the neural cost model
//   priortune export [--db PATH] [--out FILE]           the JSON-lines tuning log
//   priortune import FILE [--db PATH]                   all or nothing
//   priortune worker --server HOST:PORT                 a measurement worker
//   priortune tasks MODEL.onnx                          a model's distinct tunable workloads
//   priortune tune-model MODEL.onnx [--trials N]        tune all its tasks in one budget
//   priortune build-model MODEL.onnx --out DIR          its deployable library (C API)
//   priortune run-model MODEL.onnx [--db PATH]          compile it in-process, time each step
//   priortune fuzz [--op OP --cases N --seed S]         every template's configs against their
//                   [--check-bounds --replay FILE]      references, in isolated processes
//   priortune serve --db PATH --listen ADDR             the tuning service (jobs, lookup, logs)
//   priortune submit|watch|jobs|cancel --server ADDR    its clients; lookup --server too
// Exit code 2 with a message on bad input.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "compiler/build.h"
#include "compiler/cpu_id.h"
#include "compiler/graph.h"
#include "compiler/runtime.h"
#include "compiler/timing.h"
#include "server/commands.h"
#include "server/fuzz_command.h"
#include "server/graph_commands.h"
#include "server/service_commands.h"
#include "server/worker.h"
#include "tuner/search_space.h"

namespace pc = priortune::compiler;

namespace {

int Fail(const priortune::Status& s) { return priortune::server::ReportError(s); }

struct Measured {
  double gflops = 0, median_ms = 0, compile_ms = 0;
};

// bench --layouts: "nchw" or "" (NCHW in and out, as the tuner measures), "native"
// (NativeLayouts: as a compiled model runs a blocked kernel between kernels of its own
// blocks), or "data=B" (the data in B-channel blocks, as a producer that computes
// B-channel blocks leaves it; the rest native). A config that works in NCHW only is timed
// in NCHW whatever is asked.
priortune::StatusOr<pc::TensorLayouts> BenchLayouts(const std::string& spec, const pc::Workload& w,
                                                     const pc::Target& t, const pc::Config& c) {
  if (spec.empty() || spec == "nchw") return pc::TensorLayouts{};
  pc::TensorLayouts l = pc::NativeLayouts(w, t, c);
  if (spec == "native") return l;
  if (spec.rfind("data=", 0) == 0) {
    try {
      size_t used = 0;
      long long b = std::stoll(spec.substr(5), &used);
      if (used == spec.size() - 5 && b >= 0) {
        if (!l.plain()) l.data = b;
        return l;
      }
    } catch (const std::exception&) {
    }
  }
  return priortune::InvalidArgument("--layouts " + spec +
                                    ": expected nchw, native or data=B (B a channel block, 0 for NCHW)");
}

priortune::StatusOr<Measured> BuildAndTime(const pc::Workload& w, const pc::Target& t,
                                           const pc::Config& c, const pc::OpTemplate& tmpl,
                                           const pc::TimingOptions& opts, const pc::CompileOptions& compile,
                                           const std::string& layouts = "") {
  PT_ASSIGN_OR_RETURN(pc::TensorLayouts lay, BenchLayouts(layouts, w, t, c));
  PT_ASSIGN_OR_RETURN(pc::MeasuredKernel k, pc::BuildCheckAndTimeInLayouts(w, t, c, lay, opts, 42, compile));
  const pc::CheckResult& check = k.measurement.check;
  if (!check.run.ok())
    return priortune::Status(check.run.code(), "config " + pc::ConfigToJson(c) + ": " + check.run.message());
  if (!check.ok())
    return priortune::Internal("config " + pc::ConfigToJson(c) + " computes a wrong answer at " +
                               std::to_string(check.first_bad) + " (max error " +
                               std::to_string(check.max_abs_error) + ")");
  double median = k.measurement.timing.median;
  return Measured{tmpl.Flops(w) / median / 1e9, median * 1e3, k.compile_seconds * 1e3};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"priortune: a tensor-operator auto-tuner"};
  app.require_subcommand(1);
  std::string op = "matmul", shape = "512x512x512", config_json, out_path, target_spec = "host";
  int threads = 0;
  int64_t memory_cap_mb = 0;
  pc::CompileOptions compile;
  const char* kCheckBoundsHelp =
      "guard every load and store of the kernels against their buffers' extents (slower; for debugging)";
  bool bias = false, relu = false, residual = false, relu6 = false;
  auto add_workload = [&](CLI::App* cmd) {
    cmd->add_option("--op", op, "operator: matmul, batch_matmul, conv2d, depthwise_conv2d");
    cmd->add_option("--shape", shape,
                    "matmul MxNxK | batch_matmul BxMxNxK | conv2d CinxCoutxHxKxSxP | "
                    "depthwise_conv2d CxHxKxSxP");
    cmd->add_flag("--bias", bias, "fuse a bias add");
    cmd->add_flag("--relu", relu, "fuse a relu");
    cmd->add_flag("--residual", residual, "fuse a residual add (before the activation)");
    cmd->add_flag("--relu6", relu6, "fuse a relu6 (min(max(x, 0), 6))");
    cmd->add_option("--memory-cap-mb", memory_cap_mb,
                    "refuse workloads whose buffers need more (default: a quarter of RAM)");
  };
  auto add_target = [&](CLI::App* cmd) {
    cmd->add_option("--target", target_spec,
                    "what to build for: host (default), host-avx2 (this CPU without AVX-512), an LLVM CPU name "
                    "(znver3, x86-64-v3, x86-64-v4, ...) or a target JSON object");
  };
  CLI::App* target_cmd = app.add_subcommand(
      "target", "print a target: its microarchitecture (from CPUID for the host), LLVM CPU, ISA family, key and JSON");
  add_target(target_cmd);
  int target_threads = 1;
  target_cmd->add_option("--threads", target_threads, "threads it is deployed with (default 1)");
  CLI::App* bench = app.add_subcommand("bench", "build, check and time default vs hand-picked config");
  add_workload(bench);
  add_target(bench);
  bench->add_option("--threads", threads, "threads for parallel loops (default: all cores)");
  bench->add_option("--config", config_json, "time this config JSON too, beside default and hand-picked");
  bench->add_flag("--check-bounds", compile.check_bounds, kCheckBoundsHelp);
  bool bench_cold = false;
  bench->add_flag("--cold", bench_cold,
                  "flush the weights and output from the caches before every timed call, keeping the input "
                  "warm, as a layer meets them in a model (rounds of one call)");
  std::string bench_layouts;
  bench->add_option("--layouts", bench_layouts,
                    "conv2d's and depthwise's NCHWc configs: nchw (converting NCHW in and out, as the tuner "
                    "measures them; the default), native (data in ic_bn blocks, residual and output in the "
                    "config's, as a model runs them between kernels of the same blocks) or data=B (data in "
                    "B-channel blocks, as a model whose producer computes B-channel blocks)");
  std::string model_path;
  CLI::App* tasks = app.add_subcommand("tasks", "import an ONNX model and list its distinct tunable workloads");
  tasks->add_option("model", model_path, "the .onnx file")->required();

  priortune::server::RunModelOptions run_model_opts;
  CLI::App* run_model = app.add_subcommand(
      "run-model", "compile an ONNX model in-process with the store's best configs and time it, per step and in total");
  run_model->add_option("model", run_model_opts.model, "the .onnx file")->required();
  run_model->add_option("--db", run_model_opts.db, "the store: a SQLite file or a postgresql:// URL (default: none, every kernel hand-picked)");
  run_model->add_option("--target", run_model_opts.target, "host (default) or a target this host runs");
  run_model->add_option("--threads", run_model_opts.threads,
                        "threads (default: the count the store tuned this model at, else 1)")
      ->check(CLI::PositiveNumber);
  run_model->add_option("--repeat", run_model_opts.repeat, "timed inferences; the median is printed (default 20)");
  run_model->add_option("--input", run_model_opts.input, "raw float32 input (default: uniform [-1, 1) from seed 42)");
  run_model->add_option("--output", run_model_opts.output, "write the raw float32 output here");
  run_model->add_flag("--check", run_model_opts.check, "compare the output with the graph's reference runner");
  run_model->add_option("--profile", run_model_opts.profile,
                        "write each step's median time (op, kernel, config level) and the total as JSON here");
  run_model->add_option("--layouts", run_model_opts.layouts,
                        "nchwc (default): activations stay channel-blocked between blocked kernels; nchw: every "
                        "tensor NCHW");
  run_model->add_flag("--check-bounds", run_model_opts.check_bounds, kCheckBoundsHelp);

  priortune::server::BuildModelOptions build_model_opts;
  CLI::App* build_model = app.add_subcommand(
      "build-model", "write a shared library of an ONNX model with the store's best kernels (C API, no LLVM/SQLite/gRPC)");
  build_model->add_option("model", build_model_opts.model, "the .onnx file")->required();
  build_model->add_option("--db", build_model_opts.db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  build_model->add_option("--out", build_model_opts.out, "the directory to write")->required();
  build_model->add_option("--target", build_model_opts.target, "host (default), a CPU name or target JSON");
  build_model->add_option("--threads", build_model_opts.threads,
                          "the deployed thread count; the library runs with it unless pt_model_set_threads says "
                          "otherwise (default: the count the store tuned this model at, else 1)")
      ->check(CLI::PositiveNumber);
  build_model->add_option("--layouts", build_model_opts.layouts,
                          "nchwc (default): activations stay channel-blocked between blocked kernels; nchw: every "
                          "tensor NCHW");
  build_model->add_flag("--check-bounds", build_model_opts.check_bounds,
                        "the library's kernels guard every load and store (pt_model_run fails naming the access)");

  priortune::server::TuneModelOptions tune_model_opts;
  CLI::App* tune_model = app.add_subcommand(
      "tune-model", "tune every task of an ONNX model within one budget (Ansor's gradient task scheduler)");
  tune_model->add_option("model", tune_model_opts.model, "the .onnx file")->required();
  tune_model->add_option("--db", tune_model_opts.db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  tune_model->add_option("--target", tune_model_opts.target, "host (default) or a target this host runs");
  tune_model->add_option("--threads", tune_model_opts.threads,
                         "the thread count the model is deployed with: each kernel is measured with it, and "
                         "build-model and run-model default to it (default 1)");
  tune_model->add_option("--workers", tune_model_opts.workers, "local workers (default: cores / threads)");
  tune_model->add_option("--trials", tune_model_opts.trials, "new trials for the whole model (default 64 per task)");
  tune_model->add_option("--unit", tune_model_opts.unit, "trials per scheduler decision (default 32)");
  tune_model->add_option("--strategy", tune_model_opts.strategy,
                         "search strategy per task (default: meta-ga when a meta-trained model for the target exists, "
                         "in the store or shipped in data/models; else xgb-ga; it prints which and why)");
  tune_model->add_option("--timeout", tune_model_opts.timeout_seconds, "seconds per candidate (default 20)");
  tune_model->add_option("--seed", tune_model_opts.seed, "search seed (default 1)");
  CLI::App* knobs = app.add_subcommand("knobs", "print the template's knobs and configs");
  add_workload(knobs);
  add_target(knobs);
  CLI::App* emit = app.add_subcommand("emit", "write the kernel as an object file, .s, .ll or its loop nest (.ir)");
  add_workload(emit);
  add_target(emit);
  emit->add_option("--config", config_json, "config JSON (default: the hand-picked one)");
  emit->add_option("--out", out_path, "output path; the suffix picks the format")->required();
  emit->add_flag("--check-bounds", compile.check_bounds, kCheckBoundsHelp);

  priortune::server::TuneCommandOptions tune_opts;
  std::string db = "priortune.db", log_path;
  CLI::App* tune = app.add_subcommand("tune", "tune an operator: embedded server + local workers");
  add_workload(tune);
  add_target(tune);
  tune->add_option("--trials", tune_opts.tune.trials, "trial budget of the task; records already in the store count (default 200)");
  tune->add_option("--strategy", tune_opts.tune.strategy,
                   "ga | random | grid | xgb-ga (GA over an XGBoost cost model's predictions) | meta-ga (GA over "
                   "a meta-trained neural model adapted to the task after every batch) | one-shot (GA over the "
                   "meta-trained model's predictions, no online training, at most --one-shot-trials measured); "
                   "default ga");
  tune->add_option("--model", tune_opts.tune.model_path,
                   "meta-ga, one-shot: the meta-trained model file (default: the store's newest neural model "
                   "for the target, else the shipped one in data/models)");
  tune->add_option("--one-shot-trials", tune_opts.tune.one_shot_trials,
                   "one-shot: candidates measured at most (default 64)");
  tune->add_option("--transfer", tune_opts.tune.transfer,
                   "xgb-ga: auto (start from a model of the store's other workloads on this target, kept only "
                   "if it ranks this task's batches better than a task-only model) | fade (the same model, "
                   "unguarded, its weight halving every 64 samples, as AutoTVM's) | off (default auto)");
  tune->add_option("--model-objective", tune_opts.tune.model_objective,
                   "xgb-ga: rank:pairwise | reg:throughput (default rank:pairwise)");
  tune->add_option("--model-pair-samples", tune_opts.tune.model_pair_samples,
                   "xgb-ga, rank:pairwise: pairs sampled per record and round (default 4)");
  tune->add_option("--db", db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  tune->add_option("--workers", tune_opts.workers, "local worker processes (default: one per --threads cores)");
  tune->add_option("--threads", tune_opts.threads,
                   "threads the kernel is deployed with: measured with as many threads on as many "
                   "cores; the stored target records it (default 1)");
  tune->add_option("--batch", tune_opts.tune.batch_size, "candidates per round (default 16)");
  tune->add_option("--seed", tune_opts.tune.seed, "random seed of the search (default 1)");
  tune->add_option("--early-stopping", tune_opts.tune.early_stopping,
                   "stop after N trials without improvement (default 0: off)");
  tune->add_option("--timeout", tune_opts.timeout_seconds, "seconds per candidate (default 20)");
  tune->add_flag("!--no-hand-picked-seed", tune_opts.tune.seed_hand_picked,
                 "do not measure the hand-picked config first (for studies of search strategies)");
  tune->add_option("--trace", tune_opts.trace, "write trial,cost,best,elapsed CSV here");
  tune->add_flag("!--no-compare", tune_opts.compare, "skip re-timing best vs default vs OpenBLAS");
  tune->add_flag("--test-faults", tune_opts.test_faults, "workers honour the test-only fault knob")
      ->group("");
  priortune::server::EvalModelOptions eval_opts;
  CLI::App* eval = app.add_subcommand(
      "eval-model", "offline cost-model metrics on the store's records, holding out one workload at a time");
  eval->add_option("--db", eval_opts.db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  eval->add_option("--target", eval_opts.target, "whose records: host (default), a CPU name or target JSON");
  eval->add_option("--threads", eval_opts.threads, "the thread count of the records' target (default 1)");
  eval->add_option("--op", eval_opts.op, "only this op's records (default: all)");
  eval->add_option("--model-objective", eval_opts.model.objective, "rank:pairwise (default) | reg:throughput");
  eval->add_flag("--workload-context", eval_opts.workload_context, "append op, FLOPs and dims to the features");
  eval->add_option("--rounds", eval_opts.model.rounds, "XGBoost boosting rounds (default 80)")->group("Model settings");
  eval->add_option("--max-depth", eval_opts.model.max_depth, "XGBoost tree depth (default 6)")->group("Model settings");
  eval->add_option("--eta", eval_opts.model.eta, "XGBoost learning rate (default 0.2)")->group("Model settings");
  eval->add_option("--pair-samples", eval_opts.model.pair_samples,
                   "rank:pairwise: pairs sampled per record and round (default 4)")->group("Model settings");
  eval->add_option("--min-child-weight", eval_opts.model.min_child_weight, "XGBoost min_child_weight (default 1)")
      ->group("Model settings");
  eval->add_option("--subsample", eval_opts.model.subsample, "XGBoost row subsample (default 1)")->group("Model settings");
  eval->add_option("--colsample", eval_opts.model.colsample, "XGBoost colsample_bytree (default 1)")
      ->group("Model settings");
  eval->add_option("--k", eval_opts.k, "k of top-k recall (default 10)");
  eval->add_flag("!--no-feature-cache", eval_opts.feature_cache,
                 "lower every record again instead of reading (and filling) the store's feature cache");
  eval->add_flag("--save", eval_opts.save, "train on every record and store the model with the held-out metrics");
  eval->add_option("--csv", eval_opts.csv, "write the per-workload rows here (with --neural: the per-k rows)");
  eval->add_option("--neural", eval_opts.neural,
                   "neural model files (train-model --out): few-shot metrics of each (adapt on k records of a "
                   "workload, score the rest) beside XGBoost and a neural model from scratch")
      ->group("Neural models");
  eval->add_option("--ks", eval_opts.ks, "with --neural: the k values (default 0,8,16,32,64)")
      ->delimiter(',')
      ->group("Neural models");
  eval->add_option("--repeats", eval_opts.repeats, "with --neural: random draws of k records per workload (default 3)")
      ->group("Neural models");
  eval->add_option("--seed", eval_opts.seed, "with --neural: seed of the draws (default 1)")->group("Neural models");
  priortune::server::TrainModelOptions train_opts;
  CLI::App* train = app.add_subcommand(
      "train-model", "train the neural cost model on the store's records (meta-training by default), report "
                     "few-shot metrics on held-out workloads and save it in the store");
  train->add_option("--db", train_opts.db, "the store (SQLite file or postgresql:// URL): records from it, the model into it (default ./priortune.db)");
  train->add_option("--log", train_opts.logs, "tuning logs (.jsonl or .jsonl.gz) to import into the store first");
  train->add_option("--target", train_opts.target,
                    "whose records (host, a CPU name or target JSON; default: the host's if the store has them, "
                    "else the target with the most records)");
  train->add_option("--threads", train_opts.threads, "the thread count of the records' target (default 1)");
  train->add_option("--op", train_opts.op, "only this op's records (default: all)");
  train->add_option("--hold-out", train_opts.hold_out,
                    "share of workloads held out of training for the few-shot metrics (default 0.2; 0: none)");
  train->add_option("--ks", train_opts.ks, "k values of the few-shot metrics (default 0,8,16,32,64)")->delimiter(',');
  train->add_option("--repeats", train_opts.repeats, "random draws of k records per held-out workload (default 3)");
  train->add_option("--method", train_opts.train.method, "meta (joint pretraining, then Reptile; default) | joint");
  train->add_option("--steps", train_opts.train.steps, "joint (pre)training steps (default 3000)")->group("Training");
  train->add_option("--lr", train_opts.train.lr, "joint training learning rate (default 7e-4)")->group("Training");
  train->add_option("--meta-iterations", train_opts.train.meta_iterations, "Reptile iterations (default 600)")
      ->group("Training");
  train->add_option("--meta-batch", train_opts.train.meta_batch, "tasks per Reptile iteration (default 4)")
      ->group("Training");
  train->add_option("--meta-lr", train_opts.train.meta_lr, "Reptile step size, annealed to 0 (default 0.1)")
      ->group("Training");
  train->add_option("--support", train_opts.train.support_size, "Reptile support set: 8 to this many records (default 32)")
      ->group("Training");
  train->add_option("--hidden", train_opts.model.hidden, "network width (default 128)")->group("Training");
  train->add_option("--loss", train_opts.model.loss, "lambdarank (default) | pairwise")->group("Training");
  train->add_option("--adapt-steps", train_opts.model.adapt_steps,
                    "Adam steps of an adaptation to a task's samples (default 20)")->group("Training");
  train->add_option("--adapt-lr", train_opts.model.adapt_lr, "adaptation learning rate (default 3e-4)")
      ->group("Training");
  train->add_option("--adapt-scope", train_opts.model.adapt_scope,
                    "what adaptation changes: all (default) | head (the decoder; the slot encoder stays)")
      ->group("Training");
  train->add_option("--train-threads", train_opts.model.threads, "LibTorch threads while training (default 1)")
      ->group("Training");
  train->add_option("--seed", train_opts.model.seed, "seed of the split, the weights and the sampling (default 1)");
  train->add_flag("!--no-feature-cache", train_opts.feature_cache,
                  "lower every record again instead of reading (and filling) the store's feature cache");
  train->add_option("--out", train_opts.out, "also write the model to this file (data/models/*.ptm is shipped)");
  CLI::App* lookup = app.add_subcommand("lookup", "print the best stored config and its fallback level");
  add_workload(lookup);
  add_target(lookup);
  lookup->add_option("--db", db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  priortune::server::ConnectionOptions connection;
  // Client flags of every call to a server; the token never on the command line.
  auto add_connection = [&](CLI::App* cmd, bool required) {
    auto* server = cmd->add_option("--server", connection.server, "host:port of a priortune server");
    if (required) server->required();
    cmd->add_option("--token-file", connection.token_file,
                    "a file whose first line is the token (default: $PRIORTUNE_TOKEN, if set)");
    cmd->add_option("--tls-ca", connection.tls_ca, "PEM of the CA of the server's certificate: connect with TLS");
    cmd->add_option("--tls-cert", connection.tls_cert, "PEM of this side's certificate (mutual TLS)");
    cmd->add_option("--tls-key", connection.tls_key, "PEM of this side's private key (mutual TLS)");
  };
  add_connection(lookup, false);
  int lookup_threads = 1;
  lookup->add_option("--threads", lookup_threads, "the thread count the kernel runs with (default 1)");
  CLI::App* exp = app.add_subcommand("export", "write the store as a JSON-lines tuning log");
  exp->add_option("--db", db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  exp->add_option("--out", log_path, "output file (default: standard output)");
  CLI::App* imp = app.add_subcommand("import", "add a JSON-lines tuning log to the store (all or nothing)");
  imp->add_option("log", log_path, "the log file")->required();
  imp->add_option("--db", db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  priortune::server::WorkerOptions worker_opts;
  bool runner = false;
  CLI::App* worker = app.add_subcommand("worker", "a measurement worker for a priortune server");
  add_connection(worker, false);
  worker->add_option("--retry-seconds", worker_opts.retry_seconds,
                     "reconnect with backoff for this long after losing the server (default 300; 0: exit)");
  worker->add_option("--id", worker_opts.id, "worker name (default hostname-pid)");
  worker->add_option("--cpu", worker_opts.cpu, "pin to this core (and the next --threads - 1)");
  worker->add_option("--threads", worker_opts.threads, "threads per measurement (default 1)");
  worker->add_option("--target", worker_opts.target,
                     "the target this worker measures for (default host; must run on this CPU)");
  worker->add_option("--memory-cap-mb", worker_opts.memory_cap_mb,
                     "refuse candidates whose buffers need more (default: a quarter of RAM)");
  worker->add_option("--timeout", worker_opts.timeout_seconds, "seconds per candidate (default 20)");
  worker->add_option("--repeat", worker_opts.repeat, "timing rounds per candidate (default 3)");
  worker->add_option("--min-repeat-ms", worker_opts.min_repeat_ms, "minimum round length (default 20)");
  worker->add_flag("--check-bounds", worker_opts.check_bounds,
                   "build every candidate with bounds checks: a violation is a runtime error, not a crash (slower "
                   "kernels: for hunting a bad config, not for timing)");
  worker->add_flag("--test-faults", worker_opts.test_faults, "honour the test-only fault knob")->group("");
  worker->add_flag("--runner", runner, "internal: the build-and-time child")->group("");
  priortune::server::FuzzCommandOptions fuzz_opts;
  bool fuzz_runner = false;
  std::vector<std::string> fuzz_targets;
  CLI::App* fuzz = app.add_subcommand(
      "fuzz", "build and run random workloads and configs of every template (and small models of the other "
              "kernels) against their references, each in an isolated process; failures to a repro file");
  fuzz->add_option("--op", fuzz_opts.fuzz.ops,
                   "ops to fuzz, repeatable: a template (matmul, batch_matmul, conv2d, depthwise_conv2d) or model "
                   "(default: all)");
  fuzz->add_option("--cases", fuzz_opts.cases, "cases in all (default 1000)");
  fuzz->add_option("--seed", fuzz_opts.fuzz.seed, "the seed every case is drawn from (default 1)");
  fuzz->add_flag("--check-bounds", fuzz_opts.fuzz.check_bounds, kCheckBoundsHelp);
  fuzz->add_option("--target", fuzz_targets,
                   "targets to build for, repeatable: host (default), x86-64-v3, ... (each must run here)");
  fuzz->add_option("--threads", fuzz_opts.fuzz.threads, "thread counts, comma-separated (default 1)")->delimiter(',');
  fuzz->add_option("--timeout", fuzz_opts.timeout_seconds, "seconds per case before it counts as a hang (default 60)");
  fuzz->add_option("--out", fuzz_opts.out, "the repro file: a JSON line per failure (default fuzz-failures.jsonl)");
  fuzz->add_option("--replay", fuzz_opts.replay, "re-run the cases of a repro file instead of drawing new ones");
  fuzz->add_flag("--resume", fuzz_opts.resume, "go on with the run whose progress is in OUT.progress");
  fuzz->add_option("--jobs", fuzz_opts.jobs, "runner processes at once (default: the cores)");
  fuzz->add_option("--configs", fuzz_opts.fuzz.configs_per_group,
                   "drawn configs per workload, beside the extremes and edges (default 8)");
  fuzz->add_option("--max-macs", fuzz_opts.fuzz.max_macs, "largest workload in multiply-adds (default 3e7)");
  fuzz->add_flag("--list", fuzz_opts.list, "print the run's cases as JSON lines and run none");
  fuzz->add_flag("--runner", fuzz_runner, "internal: the case-running child")->group("");
  priortune::server::ServeOptions serve_opts;
  CLI::App* serve = app.add_subcommand("serve", "the tuning service: jobs, lookup and logs over gRPC, workers lease work");
  serve->add_option("--db", serve_opts.db, "the store every job shares: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  serve->add_option("--listen", serve_opts.server.listen, "address to listen on (default 127.0.0.1:7531; :0 picks a port)");
  serve->add_option("--tokens", serve_opts.server.tokens_file,
                    "file of `ROLE NAME TOKEN` lines (ROLE client or worker; default: no authentication)");
  serve->add_option("--tls-cert", serve_opts.server.tls_cert, "PEM certificate: serve TLS (with --tls-key)");
  serve->add_option("--tls-key", serve_opts.server.tls_key, "PEM private key of --tls-cert");
  serve->add_option("--tls-worker-ca", serve_opts.server.tls_worker_ca,
                    "PEM CA: workers must present a client certificate it signed (mutual TLS)");
  serve->add_option("--max-runs", serve_opts.server.jobs.max_concurrent_runs, "tuning runs searching at once (default 4)");
  serve->add_option("--no-worker-deadline", serve_opts.server.jobs.no_worker_deadline_seconds,
                    "seconds a task waits for a worker of its target before it fails (default 600)");
  serve->add_option("--max-jobs-per-client", serve_opts.server.jobs.max_jobs_per_client,
                    "unfinished jobs one client may have (default 8)");
  serve->add_option("--max-tasks-per-job", serve_opts.server.jobs.max_tasks_per_job, "workloads per job (default 256)");
  serve->add_option("--max-trials", serve_opts.server.jobs.max_trials, "trial budget per task at most (default 100000)");
  int64_t serve_memory_cap_mb = 0;
  serve->add_option("--memory-cap-mb", serve_memory_cap_mb,
                    "refuse workloads whose buffers need more (default: a quarter of RAM)");
  serve->add_option("--max-request-bytes", serve_opts.server.max_request_bytes,
                    "larger requests are refused with RESOURCE_EXHAUSTED (default 4 MiB)");
  serve->add_option("--heartbeat-timeout", serve_opts.server.workers.heartbeat_timeout_seconds,
                    "seconds of worker silence that end its lease (default 10)");
  serve->add_option("--server-id", serve_opts.server.jobs.server_id,
                    "this server's name in the store's leases (default hostname-pid)");
  serve->add_option("--lease-seconds", serve_opts.server.jobs.lease_seconds,
                    "servers sharing a store: a dead server's jobs are taken over after this (default 30)");
  serve->add_option("--log-level", serve_opts.log_level, "trace | debug | info (default) | warn | error");

  priortune::server::SubmitOptions submit_opts;
  std::vector<std::string> submit_workloads;
  CLI::App* submit = app.add_subcommand("submit", "submit a tuning job to a server");
  add_connection(submit, true);
  submit->add_option("--workload", submit_workloads,
                     "OP:SHAPE[:bias][:residual][:relu|:relu6], repeatable (e.g. matmul:512x512x512 conv2d:64x64x56x3x1x1:relu)")
      ->required();
  add_target(submit);
  submit->add_option("--threads", submit_opts.threads, "threads the kernels are deployed with (default 1)");
  submit->add_option("--trials", submit_opts.trials, "trial budget per task; stored records count (default 200)");
  submit->add_option("--strategy", submit_opts.strategy,
                     "ga | random | grid | xgb-ga | meta-ga | one-shot (default: meta-ga, a GA over the neural cost "
                     "model, when a meta-trained model for the target exists on the server, in its store or shipped; "
                     "else ga; the server says which it picked and why)");
  submit->add_option("--cost-model", submit_opts.cost_model,
                     "none | xgboost | neural (default: the strategy's own; with no --strategy either, neural when a "
                     "meta-trained model for the target exists, else none)");
  submit->add_option("--priority", submit_opts.priority, "higher is served first when jobs compete (default 0)");
  submit->add_option("--batch", submit_opts.batch_size, "candidates per round (default 16)");
  submit->add_option("--seed", submit_opts.seed, "random seed of the search (default 1)");
  submit->add_option("--name", submit_opts.name, "a label for `priortune jobs`");
  submit->add_flag("--watch", submit_opts.watch, "follow the job until it ends (exit 0 when done)");
  int64_t job_id = 0;
  CLI::App* watch = app.add_subcommand("watch", "follow a job's progress until it ends");
  add_connection(watch, true);
  watch->add_option("job", job_id, "the job id")->required();
  std::string jobs_state;
  CLI::App* jobs = app.add_subcommand("jobs", "list a server's jobs");
  add_connection(jobs, true);
  jobs->add_option("--state", jobs_state, "only jobs in this state (queued, running, done, failed, cancelled)");
  CLI::App* cancel = app.add_subcommand("cancel", "cancel a job (runs another job still needs go on)");
  add_connection(cancel, true);
  cancel->add_option("job", job_id, "the job id")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (*worker) {
    if (worker_opts.memory_cap_mb < 0 || worker_opts.memory_cap_mb > priortune::server::kMaxMemoryCapMb)
      return Fail(priortune::InvalidArgument("worker: --memory-cap-mb must be between 1 and " +
                                             std::to_string(priortune::server::kMaxMemoryCapMb)));
    if (runner) return priortune::server::RunRunner(worker_opts);
    worker_opts.connection = connection;
    if (worker_opts.connection.server.empty())
      return Fail(priortune::InvalidArgument("worker: --server HOST:PORT is required"));
    if (worker_opts.retry_seconds < 0) return Fail(priortune::InvalidArgument("worker: --retry-seconds must be >= 0"));
    if (worker_opts.repeat < 1 || worker_opts.min_repeat_ms < 0 || !(worker_opts.timeout_seconds > 0))
      return Fail(priortune::InvalidArgument("worker: --repeat, --min-repeat-ms and --timeout must be positive"));
    return priortune::server::RunWorker(worker_opts);
  }
  if (*fuzz) {
    if (fuzz_runner) return priortune::server::RunFuzzRunner();
    fuzz_opts.fuzz.targets = fuzz_targets.empty() ? std::vector<std::string>{"host"} : fuzz_targets;
    return priortune::server::RunFuzz(fuzz_opts);
  }
  if (*tasks) return priortune::server::RunTasks(model_path);
  if (*run_model) return priortune::server::RunRunModel(run_model_opts);
  if (*tune_model) return priortune::server::RunTuneModel(tune_model_opts);
  if (*build_model) return priortune::server::RunBuildModel(build_model_opts);
  if (*serve) {
    if (serve_memory_cap_mb < 0 || serve_memory_cap_mb > priortune::server::kMaxMemoryCapMb)
      return Fail(priortune::InvalidArgument("serve: --memory-cap-mb must be between 1 and " +
                                             std::to_string(priortune::server::kMaxMemoryCapMb)));
    serve_opts.server.jobs.memory_cap_bytes = serve_memory_cap_mb << 20;
    return priortune::server::RunServe(serve_opts);
  }
  if (*submit) {
    for (const std::string& spec : submit_workloads) {
      priortune::server::WorkloadArgs a;
      size_t colon = spec.find(':');
      if (colon == std::string::npos)
        return Fail(priortune::InvalidArgument("--workload '" + spec + "': expected OP:SHAPE[:bias][:residual][:relu|:relu6]"));
      a.op = spec.substr(0, colon);
      std::string rest = spec.substr(colon + 1);
      size_t next = rest.find(':');
      a.shape = rest.substr(0, next);
      while (next != std::string::npos) {
        rest = rest.substr(next + 1);
        next = rest.find(':');
        std::string flag = rest.substr(0, next);
        if (flag == "bias") a.bias = true;
        else if (flag == "relu") a.relu = true;
        else if (flag == "residual") a.residual = true;
        else if (flag == "relu6") a.relu6 = true;
        else return Fail(priortune::InvalidArgument("--workload '" + spec + "': '" + flag + "' is not bias, residual, relu or relu6"));
      }
      submit_opts.workloads.push_back(a);
    }
    submit_opts.connection = connection;
    submit_opts.target = target_spec;
    return priortune::server::RunSubmit(submit_opts);
  }
  if (*watch) return priortune::server::RunWatch(connection, job_id);
  if (*jobs) return priortune::server::RunJobs(connection, jobs_state);
  if (*cancel) return priortune::server::RunCancel(connection, job_id);
  if (memory_cap_mb < 0 || memory_cap_mb > priortune::server::kMaxMemoryCapMb)
    return Fail(priortune::InvalidArgument("--memory-cap-mb must be between 1 and " +
                                           std::to_string(priortune::server::kMaxMemoryCapMb)));
  priortune::server::WorkloadArgs workload_args{op, shape, bias, relu, memory_cap_mb << 20, residual, relu6};
  if (*tune) {
    tune_opts.workload = workload_args;
    tune_opts.target = target_spec;
    tune_opts.db = db;
    return priortune::server::RunTune(tune_opts);
  }
  if (*lookup && !connection.server.empty())
    return priortune::server::RunRemoteLookup(connection, workload_args, target_spec, lookup_threads);
  if (*lookup) return priortune::server::RunLookup(workload_args, target_spec, db, lookup_threads);
  if (*eval) return priortune::server::RunEvalModel(eval_opts);
  if (*train) return priortune::server::RunTrainModel(train_opts);
  if (*exp) return priortune::server::RunExport(db, log_path);
  if (*target_cmd) {
    if (target_threads < 1) return Fail(priortune::InvalidArgument("--threads must be at least 1"));
    auto t = pc::Target::Parse(target_spec, target_threads);
    if (!t.ok()) return Fail(t.status());
    const pc::CpuId id = pc::HostCpuId();
    std::printf("name %s\nmicroarch %s\nllvm-cpu %s\nisa %s\nkey %s\nlegacy-key %s\njson %s\n", t->name().c_str(),
                t->microarch.empty() ? "-" : t->microarch.c_str(), t->cpu.c_str(), t->isa_family().c_str(),
                t->Key().c_str(), t->LegacyKey().c_str(), t->ToJson().c_str());
    std::printf("host-cpuid %s family %d model %d stepping %d\n", id.vendor.empty() ? "-" : id.vendor.c_str(),
                id.family, id.model, id.stepping);
    return 0;
  }
  if (*imp) return priortune::server::RunImport(db, log_path);

  auto w = priortune::server::ParseWorkloadArgs(workload_args);
  if (!w.ok()) return Fail(w.status());
  const pc::OpTemplate* tmpl = *pc::FindTemplate(op);
  auto parsed_target = pc::Target::Parse(target_spec, pc::Target::Host().cores);
  if (!parsed_target.ok()) return Fail(parsed_target.status());
  pc::Target target = *parsed_target;

  if (*knobs) {
    std::printf("workload %s  key %s\ntarget %s, %d cores  key %s\n", w->ToJson().c_str(),
                w->Key().c_str(), target.Describe().c_str(), target.cores, target.Key().c_str());
    auto space = priortune::tuner::SearchSpace::ForWorkload(*w, target);
    if (!space.ok()) return Fail(space.status());
    for (const auto& k : tmpl->Knobs(*w, target)) {
      if (k.kind == pc::KnobKind::kTile) {
        std::string levels;
        for (const auto& l : k.levels) levels += (levels.empty() ? "" : " x ") + l;
        std::printf("  %-10s %zu tuples (%s):", k.name.c_str(), k.tuples.size(), levels.c_str());
        for (const auto& label : k.labels) std::printf(" %s", label.c_str());
      } else {
        std::printf("  %-10s", k.name.c_str());
        for (size_t i = 0; i < k.values.size(); ++i)
          std::printf(" %lld%s%s", static_cast<long long>(k.values[i]), k.labels.empty() ? "" : "=",
                      k.labels.empty() ? "" : k.labels[i].c_str());
      }
      std::printf("   # %s\n", k.help.c_str());
    }
    for (const auto& c : tmpl->Constraints(*w, target)) std::printf("  constraint: %s\n", c.description.c_str());
    std::printf("template %s v%d: %llu points, %llu valid configs\n", tmpl->op().c_str(), tmpl->version(),
                static_cast<unsigned long long>(space->size()),
                static_cast<unsigned long long>(space->CountValid()));
    std::printf("default %s\nhand-picked %s\n", pc::ConfigToJson(tmpl->DefaultConfig(*w, target)).c_str(),
                pc::ConfigToJson(tmpl->HandPickedConfig(*w, target)).c_str());
    return 0;
  }

  if (*emit) {
    pc::Config c = tmpl->HandPickedConfig(*w, target);
    if (!config_json.empty()) {
      auto parsed = pc::ConfigFromJson(config_json);
      if (!parsed.ok()) return Fail(parsed.status());
      c = *parsed;
    }
    auto f = pc::LowerWorkload(*w, target, c);
    if (!f.ok()) return Fail(f.status());
    if (out_path.size() > 3 && out_path.substr(out_path.size() - 3) == ".ir") {
      // The lowered loop nest as text: what the cost model's features are read from.
      std::FILE* out = std::fopen(out_path.c_str(), "w");
      if (!out) return Fail(priortune::InvalidArgument("cannot write --out " + out_path));
      for (const auto& p : f->prepacks)
        std::fprintf(out, "// prepack %s\n%s\n", p.func.name.c_str(), pc::ToString(p.func.body).c_str());
      std::fprintf(out, "// %s\n%s\n", f->name.c_str(), pc::ToString(f->body).c_str());
      std::fclose(out);
      std::printf("wrote the loop nest of %s to %s\n", f->name.c_str(), out_path.c_str());
      return 0;
    }
    pc::CodeFileType type = pc::CodeFileType::kObject;
    if (out_path.size() > 2 && out_path.substr(out_path.size() - 2) == ".s") type = pc::CodeFileType::kAssembly;
    if (out_path.size() > 3 && out_path.substr(out_path.size() - 3) == ".ll") type = pc::CodeFileType::kLLVMIR;
    priortune::Status s = pc::EmitCodeFile(*f, out_path, type, target, compile);
    if (!s.ok()) return Fail(s);
    std::printf("wrote %s for %s (entry points %s and %s_packed)\n", out_path.c_str(),
                target.Describe().c_str(), f->name.c_str(), f->name.c_str());
    for (size_t i = 0; i < f->prepacks.size(); ++i)
      std::printf("  prepack of argument %zu (%s -> %s): %s_prepack%zu and %s_prepack%zu_packed, run once per set of weights\n",
                  f->prepacks[i].arg, f->prepacks[i].func.args[0].name.c_str(),
                  f->prepacks[i].func.args[1].name.c_str(), f->name.c_str(), i, f->name.c_str(), i);
    return 0;
  }

  if (priortune::Status fits = priortune::server::CheckWorkloadMemory(workload_args, *w); !fits.ok())
    return Fail(fits);
  if (threads < 0) return Fail(priortune::InvalidArgument("--threads must be positive"));
  if (threads > 0) pc::SetNumThreads(threads);
  pc::TimingOptions opts;
  opts.repeat = 5;
  opts.min_repeat_ms = 100;
  if (bench_cold) {
    opts.cold = true;
    opts.repeat = 31;
  }
  if (priortune::Status runs = target.CheckRunsOnHost(); !runs.ok()) return Fail(runs);
  std::printf("%s on %s, %d thread(s)\n", w->ShortName().c_str(), target.Describe().c_str(), pc::NumThreads());
  if (compile.check_bounds) std::printf("  (bounds-checked kernels: slower than the real ones)\n");
  auto def = BuildAndTime(*w, target, tmpl->DefaultConfig(*w, target), *tmpl, opts, compile, bench_layouts);
  if (!def.ok()) return Fail(def.status());
  auto tuned = BuildAndTime(*w, target, tmpl->HandPickedConfig(*w, target), *tmpl, opts, compile, bench_layouts);
  if (!tuned.ok()) return Fail(tuned.status());
  std::printf("  default     %s\n              %8.3f ms  %7.1f GFLOPS  (JIT %.0f ms)\n",
              pc::ConfigToJson(tmpl->DefaultConfig(*w, target)).c_str(), def->median_ms, def->gflops,
              def->compile_ms);
  std::printf("  hand-picked %s\n              %8.3f ms  %7.1f GFLOPS  (JIT %.0f ms)\n",
              pc::ConfigToJson(tmpl->HandPickedConfig(*w, target)).c_str(), tuned->median_ms,
              tuned->gflops, tuned->compile_ms);
  std::printf("  hand-picked / default: %.2fx (median of %d rounds each, outputs checked against the reference)\n",
              def->median_ms / tuned->median_ms, opts.repeat);
  if (!config_json.empty()) {
    auto c = pc::ConfigFromJson(config_json);
    if (!c.ok()) return Fail(c.status());
    auto given = BuildAndTime(*w, target, *c, *tmpl, opts, compile, bench_layouts);
    if (!given.ok()) return Fail(given.status());
    std::printf("  --config    %s\n              %8.3f ms  %7.1f GFLOPS  (JIT %.0f ms)   %.0f%% of hand-picked\n",
                pc::ConfigToJson(*c).c_str(), given->median_ms, given->gflops, given->compile_ms,
                100 * tuned->median_ms / given->median_ms);
  }
  return 0;
}

// The subcommands of the `priortune` executable that use the tuner, the store and the
// worker service. Each returns the process exit code: 0 ok, 2 bad input (with a message
// on stderr), 1 a failure of the run itself, 130 interrupted (results so far saved).
#pragma once

#include <string>
#include <vector>

#include "costmodel/neural_model.h"
#include "costmodel/xgboost_model.h"
#include "server/targets.h"
#include "tuner/tuning_loop.h"

namespace priortune::server {

struct WorkloadArgs {
  std::string op = "matmul";
  std::string shape = "512x512x512";
  bool bias = false, relu = false;
  int64_t memory_cap_bytes = 0;  // 0: compiler::DefaultMemoryCapBytes()
  bool residual = false, relu6 = false;  // the fused epilogue's other parts
};

struct TuneCommandOptions {
  WorkloadArgs workload;
  std::string target = "host";    // Target::Parse spec: host, a CPU name or target JSON
  tuner::TuneOptions tune;
  std::string db = "priortune.db";
  int workers = 0;                // 0: one per `threads` cores of this host
  int threads = 1;                // threads per measurement (the deployed thread count)
  double timeout_seconds = 20;    // per candidate
  std::string trace;              // CSV of trial, cost, best, elapsed seconds (tuning-efficiency studies)
  bool compare = true;            // time best vs default vs OpenBLAS at the end
  bool test_faults = false;       // workers honour the test-only knob (tests only)
};

// The workload named on the command line, validated by its template: NotFound for an
// unknown op, InvalidArgument naming the dim and value.
StatusOr<compiler::Workload> ParseWorkloadArgs(const WorkloadArgs& args);
// For commands that allocate the workload's buffers (tune, bench): ResourceExhausted with
// the bytes it needs when they exceed args.memory_cap_bytes (0: the default cap).
Status CheckWorkloadMemory(const WorkloadArgs& args, const compiler::Workload& w);
// The largest --memory-cap-mb that fits in bytes.
inline constexpr int64_t kMaxMemoryCapMb = INT64_MAX >> 20;
// Prints "priortune: CODE: message" on stderr and returns `exit_code`.
int ReportError(const Status& s, int exit_code = 2);

struct EvalModelOptions {
  std::string db = "priortune.db";
  std::string target = "host";  // whose records: a Target::Parse spec
  int threads = 1;
  std::string op;               // only this op's records; empty: all
  costmodel::XGBoostOptions model;  // objective and settings (nthread stays 1)
  bool workload_context = false;
  int k = 10;                   // of top-k recall
  bool feature_cache = true;   // read and fill the store's record_features table
  bool save = false;            // train on every record and store the model with these metrics
  std::string csv;              // per held-out workload rows
  // Neural model files (train-model --out): few-shot metrics of each on the store's
  // records instead (each workload: adapt on k of its records, score the rest), beside a
  // neural model and an XGBoost model trained from scratch on the same k.
  std::vector<std::string> neural;
  std::vector<int> ks = {0, 8, 16, 32, 64};
  int repeats = 3;
  uint64_t seed = 1;
};

struct TrainModelOptions {
  std::string db = "priortune.db";  // records from here; the model is saved here
  std::vector<std::string> logs;    // tuning logs (.jsonl, .jsonl.gz) imported into db first
  std::string target;               // whose records (Target::Parse spec); empty: the host's if
                                    // the store has them, else the target with the most
  int threads = 1;                  // the thread count of that target
  std::string op;                   // only this op's records; empty: all
  double hold_out = 0.2;            // share of workloads held out of training, for the metrics
  std::vector<int> ks = {0, 8, 16, 32, 64};  // few-shot metrics on the held-out workloads
  int repeats = 3;
  costmodel::NeuralOptions model;
  costmodel::NeuralTrainOptions train;
  bool feature_cache = true;
  std::string out;                  // also write the model blob to this file
};

int RunTune(const TuneCommandOptions& options);
// Offline evaluation of the cost model on the store's records, one workload held out at a
// time (tuner::EvaluateHeldOut). Exit 2 for a missing store, a target without records or
// bad options.
int RunEvalModel(const EvalModelOptions& options);
// Trains a neural cost model (meta-trained by default) on the store's records (after
// importing `logs`), reports few-shot metrics on held-out workloads, time and peak memory,
// and saves it in the store's models table (and `out`). Exit 2 for bad options, an
// unreadable log or a target without records.
int RunTrainModel(const TrainModelOptions& options);
int RunLookup(const WorkloadArgs& workload, const std::string& target, const std::string& db,
              int threads = 1);
int RunExport(const std::string& db, const std::string& out);
int RunImport(const std::string& db, const std::string& in);

}  // namespace priortune::server

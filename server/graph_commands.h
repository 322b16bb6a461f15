// The whole-model commands: tasks (list a model's tunable workloads) and run-model (compile
// it in-process with the store's best configs and time it, per step and in total).
#pragma once

#include <string>

namespace priortune::server {

int RunTasks(const std::string& model_path);

struct RunModelOptions {
  std::string model;
  std::string db;             // empty: no store, every kernel hand-picked
  std::string target = "host";
  int threads = 0;            // 0: the count the store tuned the model at (ModelThreads), else 1
  int repeat = 20;            // timed inferences (the median is reported)
  std::string input, output;  // raw float32 files: the input to run, where to write the output
  bool check = false;         // compare with the graph's reference runner
  std::string layouts = "nchwc";  // nchwc: blocked between blocked kernels (PlanOptions); nchw
  bool check_bounds = false;      // bounds-checked kernels (CompileOptions)
  std::string profile;            // write the per-step medians here as JSON (scripts/model_profile.py)
};
int RunRunModel(const RunModelOptions& options);

struct BuildModelOptions {
  std::string model;
  std::string db = "priortune.db";
  std::string out;             // the directory of the library
  std::string target = "host";  // any x86-64 target: nothing runs here
  int threads = 0;              // the deployed thread count (part of the target's key); 0: as run-model
  std::string layouts = "nchwc";  // as RunModelOptions::layouts
  bool check_bounds = false;      // the library's kernels bounds-checked
};
// Writes the model library (compiler::WriteModelLibrary) with the store's best configs,
// printing the fallback level of every kernel.
int RunBuildModel(const BuildModelOptions& options);

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
};
// Tunes every task of the model within one budget, split by the gradient task scheduler
// (tuner/task_scheduler.h); tasks the store already holds start from their records.
int RunTuneModel(const TuneModelOptions& options);

}  // namespace priortune::server

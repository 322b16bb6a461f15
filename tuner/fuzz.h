// The fuzzer's cases (priortune fuzz): every registered template's workloads and
// configs, and small models of the non-tuned kernels, drawn from a seed and each run
// against its reference. This file draws cases and runs one in the calling process;
// server/cli/fuzz.cpp runs them in isolated processes and keeps the score.
//
//   case index i ──> group g = i / configs_per_group   (one workload, target, threads)
//                    slot  s = i % configs_per_group   (one config of that workload)
//
// A group's configs, in order: the hand-picked and the default config, each knob at its
// smallest and at its largest candidate (the others drawn), each knob a constraint reads
// pushed up and down from a drawn config to the last value where the constraint holds
// (the edge), then drawn configs. A config that computes in
// channel blocks is run in blocked data, residual and output layouts too, as the model
// planner uses them. A "model" case is a small random graph (convolutions with drawn
// configs, pooling, elementwise, global pooling, dense, softmax) compiled with layout
// propagation on or off and compared with the graph's reference runner.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "compiler/ops/op_template.h"
#include "compiler/support/status.h"
#include "compiler/target/target.h"

namespace priortune::tuner {

struct FuzzOptions {
  std::vector<std::string> ops;      // template ops, and "model"; empty: all of them
  std::vector<std::string> targets;  // Target::Parse specs ("host", "x86-64-v3", ...)
  std::vector<int> threads = {1};    // thread counts the cases run with
  uint64_t seed = 1;
  int configs_per_group = 8;  // configs drawn per workload, beside extremes and edges
  bool check_bounds = false;
  double max_macs = 3e7;  // multiply-adds of a workload at most
  // InvalidArgument naming the option: unknown op, target or thread count below 1.
  Status Validate() const;
  std::vector<std::string> AllOps() const;  // ops, or every template and "model"
};

struct FuzzCase {
  int64_t index = -1;
  std::string kind = "kernel";  // "kernel" or "model"
  compiler::Workload workload;  // kernel
  compiler::Config config;      // kernel
  compiler::TensorLayouts layouts;
  std::string origin;             // how the config was drawn: "hand-picked", "max of kc", "edge of nr", ...
  uint64_t model_seed = 0;        // model: the graph and its configs are drawn from it
  bool propagate_layouts = true;  // model
  compiler::Target target;
  int threads = 1;
  bool check_bounds = false;
  std::string ToJson() const;  // one line
  static StatusOr<FuzzCase> FromJson(const std::string& json);
  std::string Describe() const;  // "conv2d 1x5x9x9... {config} layouts 0/8/16 on x86-64-v3, 2 threads"
};

// The cases of workload group `group` (see the map above), numbered from first_index.
// Deterministic in (options, group). `options` must be valid.
StatusOr<std::vector<FuzzCase>> DrawGroup(const FuzzOptions& options, int64_t group, int64_t first_index);

enum class FuzzOutcome { kPass, kMismatch, kBoundsViolation, kCompileFailure, kCrash, kTimeout, kError };
const char* FuzzOutcomeName(FuzzOutcome o);
StatusOr<FuzzOutcome> FuzzOutcomeFromName(const std::string& name);

struct FuzzResult {
  FuzzOutcome outcome = FuzzOutcome::kPass;
  std::string message;
  double compile_seconds = 0;
};

// Builds and runs `c` in this process on random inputs of its real shape and compares
// with the reference. A crash or hang takes the process with it: the caller isolates.
FuzzResult RunFuzzCase(const FuzzCase& c);

}  // namespace priortune::tuner

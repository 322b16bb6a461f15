// A whole model compiled for one target: the graph's nodes become steps, each one lowered
// function over the model's buffers. The tunable steps (conv2d, depthwise conv2d, dense)
// use the best config a ConfigSource knows, through the fallback chain; the simple ops
// (pooling, add, relu, clip, batch norm, softmax) are tensor-expression computations with
// default schedules; Flatten is a view of its input's buffer.
//
// PlanModel makes the plan (configs chosen, functions lowered: what build-model writes as
// object code); CompiledModel JIT-compiles a plan and runs it in this process
// (run-model). No LLVM, store or tuner header here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/graph/graph.h"
#include "compiler/ir/lower.h"
#include "compiler/ops/build.h"
#include "compiler/ops/op_template.h"
#include "compiler/target/target.h"

namespace priortune::compiler {

struct PlanBuffer {
  std::string name;  // the graph's tensor
  std::vector<int64_t> shape;
  int64_t elements = 0;
  bool constant = false;    // weights: `data` holds them
  std::vector<float> data;  // constants only
  int view_of = -1;         // a Flatten's output: the buffer it shares memory with
  // > 0: stored channel-blocked, NCHW{block}c ([N, C/block, H, W, block]; `shape` stays
  // the logical NCHW one); 0: as `shape` says.
  int64_t block = 0;
};

struct PlanStep {
  std::string name;                  // the graph node's (a fused node: the first one's)
  std::string op;                    // the template's op, or "max_pool", "add", ...
  std::optional<Workload> workload;  // tunable steps
  ConfigChoice choice;               // tunable steps: the config and its fallback level
  TensorLayouts layouts;             // tunable steps: of data, residual and output
  LoweredFunc func;
  std::vector<int> args;  // buffer per argument of func, in its order (output last)
  double flops = 0;       // tunable steps
};

struct ModelPlan {
  Target target;
  std::vector<PlanBuffer> buffers;
  std::vector<PlanStep> steps;
  std::vector<IoSpec> inputs, outputs;             // the graph's, in order (index_bound: PlanModel's)
  std::vector<int> input_buffers, output_buffers;  // theirs
  int blocked_buffers = 0;                         // activations kept in NCHWc between steps
};

struct PlanOptions {
  // Keep activations channel-blocked between kernels that compute in blocks (NCHWc
  // convolutions, depthwise convolutions, and the pooling and elementwise steps between
  // them), TVM's alter_op_layout: a tensor is blocked, in its producer's block, when
  // every reader takes any block; the graph's input and output stay NCHW. Off: every
  // tensor NCHW, each blocked kernel converting its own input and output.
  bool propagate_layouts = true;
};

// Plans `graph` for `t`. InvalidArgument naming the node for an operator the compiled
// runtime cannot run. An input whose values reach a Gather's indices through views only
// (token ids) gets the table's rows as its index_bound, so that callers' ids are checked.
StatusOr<ModelPlan> PlanModel(const Graph& graph, const Target& t, ConfigSource& source,
                              const PlanOptions& options = {});

// A plan compiled in-process by the JIT, its buffers allocated and its weights packed.
// Run is not thread-safe (the buffers are the model's own).
class CompiledModel {
 public:
  // FailedPrecondition if this host cannot run the plan's target; ResourceExhausted if
  // the buffers, packed weights or workspaces cannot be allocated.
  static StatusOr<std::unique_ptr<CompiledModel>> Create(ModelPlan plan, const CompileOptions& options = {});
  ~CompiledModel();
  CompiledModel(const CompiledModel&) = delete;
  CompiledModel& operator=(const CompiledModel&) = delete;

  const ModelPlan& plan() const { return plan_; }
  int64_t input_elements() const;   // the first input's
  int64_t output_elements() const;  // the first output's
  double compile_seconds() const { return compile_seconds_; }
  // One inference: every input by name and type, any of the outputs (tensor_io.h's
  // rules). InvalidArgument naming the input or output when one is missing, unknown, of
  // another type or size, or holds a value the model cannot take (an id outside its
  // table); a step's error (OutOfRange for a bounds violation when built with
  // check_bounds) naming the step.
  Status Run(const std::vector<TypedIn>& inputs, const std::vector<TypedOut>& outputs);
  // A model of one float32 input: its first output, which must be float32.
  Status Run(const float* input, int64_t input_size, float* output, int64_t output_size);
  // Runs the steps once on the current input buffer, timing each (seconds, per step).
  Status RunTimed(std::vector<double>& step_seconds);
  // Runs step i `runs` times back to back (its inputs and weights warm in the caches, as a
  // tuner measures a kernel), each timed: the median, in seconds. The model's buffers
  // then hold what repeated steps leave (an in-place step applied again): Run again
  // before reading an output.
  StatusOr<double> TimeStepWarm(size_t i, int runs);

 private:
  Status RunStep(size_t i);
  struct Impl;
  CompiledModel(ModelPlan plan, std::unique_ptr<Impl> impl);
  ModelPlan plan_;
  std::unique_ptr<Impl> impl_;
  double compile_seconds_ = 0;
};

// Writes `plan` as a model library into `dir` (created if needed): one position-
// independent object file per step (kernels/; kernels.json says which workload, config
// and fallback level each one has), the plan text and the weights embedded by
// an assembly file (.incbin), a function table, linked with the deploy runtime
// (model_deploy_runtime.cpp, prebuilt) by the C++ compiler into
// dir/libpriortune_model.so, with dir/priortune_model.h (the C API), by `toolchain`.
// Works for any x86-64 target, whether or not this host runs it. `info` goes into
// pt_model_info(). FailedPrecondition naming the file when the runtime's archive or header
// is missing.
// What a model library is linked with: the deploy runtime's archive (libpt_deploy.a) and
// C API header (model_deploy.h, shipped as priortune_model.h), and the C++ compiler that
// links them (a command looked up on PATH, or a path).
struct DeployToolchain {
  std::string archive, header;
  std::string cxx = "c++";
};
struct ModelLibrary {
  std::string library, header;  // paths
  double seconds = 0;           // codegen and link
};
// With options.check_bounds the kernels guard every access and pt_model_run returns -1
// naming the step and the access on a violation.
StatusOr<ModelLibrary> WriteModelLibrary(const ModelPlan& plan, const std::string& dir, const std::string& info,
                                         const DeployToolchain& toolchain, const CompileOptions& options = {});

}  // namespace priortune::compiler

// priortune run-model: compile an ONNX model in-process with the store's best configs and
// time it, per step and in total.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "compiler/codegen/runtime.h"
#include "compiler/graph/graph.h"
#include "compiler/model/model.h"
#include "compiler/support/median.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/cli/stored_plan.h"
#include "server/common/targets.h"

namespace priortune::server::cli {

namespace pc = priortune::compiler;

namespace {

struct RunModelOptions {
  std::string model;
  std::string db;  // empty: no store, every kernel hand-picked
  std::string target = "host";
  int threads = 0;                // 0: the count the store tuned the model at (ModelThreads), else 1
  int repeat = 20;                // timed inferences (the median is reported)
  std::string input, output;      // raw float32 files: the input to run, where to write the output
  bool check = false;             // compare with the graph's reference runner
  std::string layouts = "nchwc";  // nchwc: blocked between blocked kernels (PlanOptions); nchw
  bool check_bounds = false;      // bounds-checked kernels (CompileOptions)
  std::string profile;            // write the per-step medians here as JSON (scripts/model_profile.py)
};

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

// Medians of `repeat` timings: whole inferences, then each step alone (same buffers).
struct ModelTimes {
  std::vector<double> total;
  std::vector<double> step_median;
  double step_sum = 0;
};

StatusOr<ModelTimes> TimeModel(pc::CompiledModel& m, std::vector<float>& input, std::vector<float>& output,
                               int repeat) {
  ModelTimes t;
  std::vector<std::vector<double>> per_step(m.plan().steps.size());
  for (int r = 0; r < repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    PT_RETURN_IF_ERROR(m.Run(input.data(), input.size(), output.data(), output.size()));
    t.total.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::vector<double> steps;
  for (int r = 0; r < repeat; ++r) {
    PT_RETURN_IF_ERROR(m.RunTimed(steps));
    for (size_t i = 0; i < steps.size(); ++i) per_step[i].push_back(steps[i]);
  }
  for (auto& v : per_step) {
    t.step_median.push_back(Median(v));
    t.step_sum += t.step_median.back();
  }
  return t;
}

void PrintSteps(const RunModelOptions& o, const pc::CompiledModel& m, const pc::Target& target, int threads,
                const ModelTimes& t) {
  const pc::ModelPlan& plan = m.plan();
  std::printf("%s on %s, %d thread%s: %zu steps, compiled in %.1f s\n", o.model.c_str(), target.name().c_str(), threads,
              threads == 1 ? "" : "s", plan.steps.size(), m.compile_seconds());
  std::printf("  %-4s %-28s %-44s %-16s %9s %6s %8s\n", "step", "node", "kernel", "config", "ms", "share", "GFLOPS");
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const pc::PlanStep& s = plan.steps[i];
    std::string kernel = s.workload ? s.workload->ShortName() : s.op;
    std::printf("  %-4zu %-28.28s %-44.44s %-16s %9.3f %5.1f%% %8s\n", i, s.name.c_str(), kernel.c_str(),
                s.workload ? s.choice.level.c_str() : "-", t.step_median[i] * 1e3, 100 * t.step_median[i] / t.step_sum,
                s.workload ? std::to_string(static_cast<int>(s.flops / t.step_median[i] / 1e9)).c_str() : "");
  }
  std::printf("total: %.3f ms per inference (median of %d; the steps alone sum to %.3f ms)\n", Median(t.total) * 1e3,
              o.repeat, t.step_sum * 1e3);
  std::map<std::string, int> levels;
  for (const auto& s : plan.steps)
    if (s.workload) ++levels[s.choice.level];
  std::printf("configs:");
  for (const auto& [level, n] : levels) std::printf(" %d %s", n, level.c_str());
  std::printf("\n");
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const pc::PlanStep& s = plan.steps[i];
    if (!s.choice.check.empty()) std::printf("  step %zu: check before use: %s\n", i, s.choice.check.c_str());
    for (const auto& why : s.choice.skipped)
      if (why.find("failed its check") != std::string::npos)
        std::printf("  step %zu: passed over: %s\n", i, why.c_str());
  }
  PrintLayouts(plan);
}

// --profile: each step's medians, and each step again run back to back (warm, as the
// tuner measures it): how much of a step's time in sequence is its inputs and weights
// coming from memory.
Status WriteProfile(const RunModelOptions& o, pc::CompiledModel& m, const pc::Target& target, int threads,
                    const ModelTimes& t) {
  const pc::ModelPlan& plan = m.plan();
  nlohmann::json steps_json = nlohmann::json::array();
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    PT_ASSIGN_OR_RETURN(double warm, m.TimeStepWarm(i, 20));
    const pc::PlanStep& s = plan.steps[i];
    steps_json.push_back({{"step", i},
                          {"node", s.name},
                          {"op", s.op},
                          {"kernel", s.workload ? s.workload->ShortName() : s.op},
                          {"tuned", s.workload.has_value()},
                          {"config", s.workload ? s.choice.level : ""},
                          {"flops", s.flops},
                          {"ms", t.step_median[i] * 1e3},
                          {"warm_ms", warm * 1e3},
                          {"stored_ms", s.choice.cost_seconds * 1e3}});
  }
  nlohmann::json profile = {{"model", o.model},   {"target", target.name()},           {"threads", threads},
                            {"repeat", o.repeat}, {"total_ms", Median(t.total) * 1e3}, {"steps_ms", t.step_sum * 1e3},
                            {"steps", steps_json}};
  std::ofstream f(o.profile);
  f << profile.dump(1) << "\n";
  if (!f) return Internal("cannot write '" + o.profile + "'");
  return OkStatus();
}

// --check: against the graph as the model has it (nothing folded or fused), so that a
// wrong fusion does not check itself.
Status CheckOutput(const std::string& model, const std::vector<float>& input, const std::vector<float>& output) {
  pc::ImportOptions plain;
  plain.fold_batchnorm = false;
  plain.fuse_epilogues = false;
  PT_ASSIGN_OR_RETURN(pc::Graph unfused, pc::ImportOnnx(model, plain));
  PT_ASSIGN_OR_RETURN(std::vector<float> want, pc::RunGraphReference(unfused, input));
  double err = 0, ref = 0;
  for (size_t i = 0; i < output.size(); ++i) {
    err = std::max(err, std::fabs(static_cast<double>(output[i]) - want[i]));
    ref = std::max(ref, std::fabs(static_cast<double>(want[i])));
  }
  std::printf("check: max |error| %.3g against the reference runner (max |output| %.3g)\n", err, ref);
  if (err > 1e-3 * std::max(1.0, ref)) return Internal("the compiled model's output differs from the reference");
  return OkStatus();
}

// The input: --input's file, else uniform [-1, 1) from seed 42.
StatusOr<std::vector<float>> ModelInput(const RunModelOptions& o, int64_t elements) {
  if (!o.input.empty()) return ReadFloatFile(o.input, elements);
  std::vector<float> input(static_cast<size_t>(elements));
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : input) v = u(rng);
  return input;
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

  auto input = ModelInput(o, m.input_elements());
  if (!input.ok()) return Fail(input.status());
  std::vector<float> output(static_cast<size_t>(m.output_elements()));
  if (Status s = m.Run(input->data(), input->size(), output.data(), output.size()); !s.ok()) return Fail(s);
  auto times = TimeModel(m, *input, output, o.repeat);
  if (!times.ok()) return Fail(times.status());
  PrintSteps(o, m, *target, threads, *times);
  if (!o.profile.empty())
    if (Status s = WriteProfile(o, m, *target, threads, *times); !s.ok()) return Fail(s);
  if (!o.output.empty()) {
    std::ofstream f(o.output, std::ios::binary);
    f.write(reinterpret_cast<const char*>(output.data()), static_cast<std::streamsize>(output.size() * 4));
    if (!f) return Fail(Internal("cannot write '" + o.output + "'"));
  }
  if (o.check)
    if (Status s = CheckOutput(o.model, *input, output); !s.ok()) return Fail(s);
  return 0;
}

}  // namespace

void AddRunModel(Commands& commands) {
  auto o = std::make_shared<RunModelOptions>();
  CLI::App* cmd = commands.app().add_subcommand(
      "run-model", "compile an ONNX model in-process with the store's best configs and time it, per step and in total");
  cmd->add_option("model", o->model, "the .onnx file")->required();
  cmd->add_option("--db", o->db,
                  "the store: a SQLite file or a postgresql:// URL (default: none, every kernel hand-picked)");
  cmd->add_option("--target", o->target, "host (default) or a target this host runs");
  cmd->add_option("--threads", o->threads, "threads (default: the count the store tuned this model at, else 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--repeat", o->repeat, "timed inferences; the median is printed (default 20)");
  cmd->add_option("--input", o->input, "raw float32 input (default: uniform [-1, 1) from seed 42)");
  cmd->add_option("--output", o->output, "write the raw float32 output here");
  cmd->add_flag("--check", o->check, "compare the output with the graph's reference runner");
  cmd->add_option("--profile", o->profile,
                  "write each step's median time (op, kernel, config level) and the total as JSON here");
  cmd->add_option("--layouts", o->layouts,
                  "nchwc (default): activations stay channel-blocked between blocked kernels; nchw: every "
                  "tensor NCHW");
  cmd->add_flag("--check-bounds", o->check_bounds, kCheckBoundsHelp);
  commands.Add(cmd, [o] { return RunRunModel(*o); });
}

}  // namespace priortune::server::cli

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
using priortune::ElemType;
using priortune::IoSpec;
using priortune::NamesOf;
using priortune::TypedIn;
using priortune::TypedOut;

namespace {

struct RunModelOptions {
  std::string model;
  std::string db;  // empty: no store, every kernel hand-picked
  std::string target = "host";
  int threads = 0;  // 0: the count the store tuned the model at (ModelThreads), else 1
  int repeat = 20;  // timed inferences (the median is reported)
  // Raw little-endian files in each tensor's type: NAME=FILE, or FILE alone for the
  // first input (a model of one) and the first output.
  std::vector<std::string> inputs, outputs;
  bool check = false;             // compare with the graph's reference runner
  std::string layouts = "nchwc";  // nchwc: blocked between blocked kernels (PlanOptions); nchw
  bool check_bounds = false;      // bounds-checked kernels (CompileOptions)
  std::string profile;            // write the per-step medians here as JSON (scripts/model_profile.py)
};

// A model's inputs as typed buffers, each with its bytes.
struct ModelInputs {
  std::vector<std::vector<char>> bytes;
  std::vector<TypedIn> typed;
  std::vector<std::vector<float>> values;  // as floats, for the reference runner
};

// "NAME=FILE" split (an argument without '=' is the first tensor's FILE); the name must
// be one of `specs`.
StatusOr<std::pair<std::string, std::string>> NamedFile(const std::string& arg, const std::vector<IoSpec>& specs,
                                                        const char* what) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos) {
    if (std::string(what) == "input" && specs.size() > 1)
      return InvalidArgument("--input '" + arg + "': the model has " + std::to_string(specs.size()) +
                             " inputs; give each as NAME=FILE");
    return std::make_pair(specs[0].name, arg);
  }
  std::string name = arg.substr(0, eq);
  for (const IoSpec& s : specs)
    if (s.name == name) return std::make_pair(name, arg.substr(eq + 1));
  return InvalidArgument(std::string("--") + what + " '" + arg + "': no " + what + " named '" + name +
                         "' (the model's: " + NamesOf(specs) + ")");
}

// Input `s`'s bytes: its --input file, else uniform [-1, 1) floats, ids in [0, bound) for
// a table's index, and ones for other integers (an attention mask that keeps every
// token), from seed 42.
StatusOr<std::vector<char>> InputBytes(const IoSpec& s, const std::string& path) {
  const int64_t bytes = s.elements() * ElemBytes(s.dtype);
  std::vector<char> b(static_cast<size_t>(bytes));
  if (!path.empty()) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return NotFound("input '" + s.name + "': cannot read '" + path + "'");
    b.assign(std::istreambuf_iterator<char>(f), {});
    if (static_cast<int64_t>(b.size()) != bytes)
      return InvalidArgument("input '" + s.name + "': '" + path + "' holds " + std::to_string(b.size()) +
                             " bytes; the model takes " + std::to_string(s.elements()) + " " + ElemTypeName(s.dtype) +
                             " values (" + std::to_string(bytes) + " bytes)");
    return b;
  }
  std::mt19937 rng(42);
  for (int64_t k = 0; k < s.elements(); ++k) {
    const double v = s.dtype == ElemType::kFloat32 ? std::uniform_real_distribution<float>(-1, 1)(rng)
                     : s.index_bound > 0           ? static_cast<double>(rng() % s.index_bound)
                                                   : 1.0;
    if (s.dtype == ElemType::kFloat32) reinterpret_cast<float*>(b.data())[k] = static_cast<float>(v);
    if (s.dtype == ElemType::kInt64) reinterpret_cast<int64_t*>(b.data())[k] = static_cast<int64_t>(v);
    if (s.dtype == ElemType::kInt32) reinterpret_cast<int32_t*>(b.data())[k] = static_cast<int32_t>(v);
    if (s.dtype == ElemType::kBool) b[k] = 1;
  }
  return b;
}

StatusOr<ModelInputs> ReadInputs(const RunModelOptions& o, const std::vector<IoSpec>& specs) {
  std::map<std::string, std::string> files;
  for (const auto& arg : o.inputs) {
    PT_ASSIGN_OR_RETURN(auto named, NamedFile(arg, specs, "input"));
    if (!files.emplace(named).second) return InvalidArgument("--input: '" + named.first + "' is given twice");
  }
  ModelInputs in;
  for (const IoSpec& s : specs) {
    auto it = files.find(s.name);
    PT_ASSIGN_OR_RETURN(std::vector<char> b, InputBytes(s, it == files.end() ? "" : it->second));
    in.bytes.push_back(std::move(b));
  }
  std::vector<float*> values;
  for (size_t i = 0; i < specs.size(); ++i) {
    in.typed.push_back({specs[i].name, specs[i].dtype, in.bytes[i].data(), specs[i].elements()});
    in.values.emplace_back(static_cast<size_t>(specs[i].elements()));
  }
  for (auto& v : in.values) values.push_back(v.data());
  // As floats for the reference runner, checked as the model checks them.
  const std::string error = ConvertInputs(specs, in.typed, values.data());
  if (!error.empty()) return InvalidArgument(error);
  return in;
}

// The outputs as float32 buffers (the reference's type; --output converts).
struct ModelOutputs {
  std::vector<std::vector<float>> values;
  std::vector<TypedOut> typed;
  explicit ModelOutputs(const std::vector<IoSpec>& specs) {
    for (const IoSpec& s : specs) values.emplace_back(static_cast<size_t>(s.elements()));
    for (size_t j = 0; j < specs.size(); ++j)
      typed.push_back({specs[j].name, ElemType::kFloat32, values[j].data(), specs[j].elements()});
  }
};

// --output: each named output (FILE alone: the first) in its own type.
Status WriteOutputs(const RunModelOptions& o, const std::vector<IoSpec>& specs, const ModelOutputs& out) {
  for (const auto& arg : o.outputs) {
    PT_ASSIGN_OR_RETURN(auto named, NamedFile(arg, specs, "output"));
    size_t j = 0;
    while (specs[j].name != named.first) ++j;
    std::vector<char> b(static_cast<size_t>(specs[j].elements() * ElemBytes(specs[j].dtype)));
    const float* src = out.values[j].data();
    std::string error =
        ConvertOutputs({specs[j]}, {{specs[j].name, specs[j].dtype, b.data(), specs[j].elements()}}, &src);
    if (!error.empty()) return Internal(error);
    std::ofstream f(named.second, std::ios::binary);
    f.write(b.data(), static_cast<std::streamsize>(b.size()));
    if (!f) return Internal("cannot write '" + named.second + "'");
  }
  return OkStatus();
}

// Medians of `repeat` timings: whole inferences, then each step alone (same buffers).
struct ModelTimes {
  std::vector<double> total;
  std::vector<double> step_median;
  double step_sum = 0;
};

StatusOr<ModelTimes> TimeModel(pc::CompiledModel& m, const ModelInputs& input, const ModelOutputs& output, int repeat) {
  ModelTimes t;
  std::vector<std::vector<double>> per_step(m.plan().steps.size());
  for (int r = 0; r < repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    PT_RETURN_IF_ERROR(m.Run(input.typed, output.typed));
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
Status CheckOutput(const std::string& model, const ModelInputs& input, const ModelOutputs& output) {
  pc::ImportOptions plain;
  plain.fold_batchnorm = false;
  plain.fuse_epilogues = false;
  PT_ASSIGN_OR_RETURN(pc::Graph unfused, pc::ImportOnnx(model, plain));
  PT_ASSIGN_OR_RETURN(auto want, pc::RunGraphReference(unfused, input.values));
  bool same = true;
  for (size_t j = 0; j < want.size(); ++j) {
    double err = 0, ref = 0;
    for (size_t i = 0; i < want[j].size(); ++i) {
      err = std::max(err, std::fabs(static_cast<double>(output.values[j][i]) - want[j][i]));
      ref = std::max(ref, std::fabs(static_cast<double>(want[j][i])));
    }
    std::printf("check: output '%s': max |error| %.3g against the reference runner (max |output| %.3g)\n",
                unfused.outputs[j].c_str(), err, ref);
    same = same && err <= 1e-3 * std::max(1.0, ref);
  }
  if (!same) return Internal("the compiled model's output differs from the reference");
  return OkStatus();
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

  const std::vector<IoSpec>& specs = m.plan().inputs;
  auto input = ReadInputs(o, specs);
  if (!input.ok()) return Fail(input.status());
  ModelOutputs output(m.plan().outputs);
  if (Status s = m.Run(input->typed, output.typed); !s.ok()) return Fail(s);
  auto times = TimeModel(m, *input, output, o.repeat);
  if (!times.ok()) return Fail(times.status());
  PrintSteps(o, m, *target, threads, *times);
  if (!o.profile.empty())
    if (Status s = WriteProfile(o, m, *target, threads, *times); !s.ok()) return Fail(s);
  if (Status s = WriteOutputs(o, m.plan().outputs, output); !s.ok()) return Fail(s);
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
  cmd->add_option("--input", o->inputs,
                  "NAME=FILE, repeatable: an input's raw values in its type (FILE alone: a model of one input; "
                  "default: uniform [-1, 1) floats, token ids uniform in the table, other integers 1, seed 42)");
  cmd->add_option("--output", o->outputs,
                  "NAME=FILE, repeatable: write an output's raw values in its type (FILE alone: the first output)");
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

// priortune build-model: a shared library of an ONNX model with the store's best kernels
// and a C API (no LLVM, SQLite or gRPC in it).
#include <cstdio>
#include <memory>

#include "compiler/graph/graph.h"
#include "compiler/model/model.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/cli/stored_plan.h"
#include "server/common/targets.h"

namespace priortune::server::cli {

namespace pc = priortune::compiler;

namespace {

struct BuildModelOptions {
  std::string model;
  std::string db = "priortune.db";
  std::string out;                      // the directory of the library
  std::string target = "host";          // any x86-64 target: nothing runs here
  int threads = 0;                      // the deployed thread count (part of the target's key); 0: as run-model
  std::string layouts = "nchwc";        // as RunModelOptions::layouts
  bool check_bounds = false;            // the library's kernels bounds-checked
  compiler::DeployToolchain toolchain;  // the deploy runtime and compiler (Environment)
};

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
  std::string info = o.model + " for " + target->Key() + " (" + target->name() + ", " + target->isa_family() + ", " +
                     std::to_string(*threads) + " thread(s)); configs: " + summary;
  pc::CompileOptions compile;
  compile.check_bounds = o.check_bounds;
  if (o.check_bounds) info += "; bounds-checked kernels";
  auto lib = pc::WriteModelLibrary(*plan, o.out, info, o.toolchain, compile);
  if (!lib.ok()) return Fail(lib.status());
  PrintLayouts(*plan);
  std::printf("kernels: %s\nwrote %s and %s in %.1f s\n", summary.c_str(), lib->library.c_str(), lib->header.c_str(),
              lib->seconds);
  return 0;
}

}  // namespace

void AddBuildModel(Commands& commands) {
  auto o = std::make_shared<BuildModelOptions>();
  CLI::App* cmd = commands.app().add_subcommand(
      "build-model",
      "write a shared library of an ONNX model with the store's best kernels (C API, no LLVM/SQLite/gRPC)");
  o->toolchain = {commands.env().deploy_archive, commands.env().deploy_header, commands.env().cxx};
  cmd->add_option("model", o->model, "the .onnx file")->required();
  cmd->add_option("--db", o->db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  cmd->add_option("--out", o->out, "the directory to write")->required();
  cmd->add_option("--target", o->target, "host (default), a CPU name or target JSON");
  cmd->add_option("--threads", o->threads,
                  "the deployed thread count; the library runs with it unless pt_model_set_threads says "
                  "otherwise (default: the count the store tuned this model at, else 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--layouts", o->layouts,
                  "nchwc (default): activations stay channel-blocked between blocked kernels; nchw: every "
                  "tensor NCHW");
  cmd->add_flag("--check-bounds", o->check_bounds,
                "the library's kernels guard every load and store (pt_model_run fails naming the access)");
  commands.Add(cmd, [o] { return RunBuildModel(*o); });
}

}  // namespace priortune::server::cli

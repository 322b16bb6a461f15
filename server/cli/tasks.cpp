// priortune tasks: import an ONNX model and list its distinct tunable workloads.
#include <cstdio>
#include <memory>

#include "compiler/graph/graph.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"

namespace priortune::server::cli {

namespace pc = priortune::compiler;

namespace {

struct TasksOptions {
  std::string model;  // the .onnx file
};

int RunTasks(const TasksOptions& o) {
  const std::string& model_path = o.model;
  auto graph = pc::ImportOnnx(model_path);
  if (!graph.ok()) return Fail(graph.status());
  std::vector<pc::GraphTask> list = pc::ExtractTasks(*graph);
  int tunable = 0;
  double flops = 0;
  for (const auto& t : list) {
    tunable += t.count;
    flops += t.flops;
  }
  std::printf(
      "%s: %zu nodes (%d tunable), %d BatchNormalization folded into convolutions, %d nodes fused into "
      "epilogues, %.2f GFLOPs in tunable nodes, %zu distinct tasks\n",
      model_path.c_str(), graph->nodes.size(), tunable, graph->batchnorms_folded, graph->epilogues_fused, flops / 1e9,
      list.size());
  if (graph->layernorms_recognised || graph->gelus_recognised)
    std::printf("  recognised: %d LayerNorm and %d GELU spelled out op by op\n", graph->layernorms_recognised,
                graph->gelus_recognised);
  std::printf("  %-58s %5s %9s %7s\n", "workload", "count", "MFLOPs", "share");
  for (const auto& t : list)
    std::printf("  %-58s %5d %9.1f %6.1f%%\n", t.workload.ShortName().c_str(), t.count, t.flops / 1e6,
                100 * t.flop_share);
  return 0;
}

}  // namespace

void AddTasks(Commands& commands) {
  auto o = std::make_shared<TasksOptions>();
  CLI::App* cmd =
      commands.app().add_subcommand("tasks", "import an ONNX model and list its distinct tunable workloads");
  cmd->add_option("model", o->model, "the .onnx file")->required();
  commands.Add(cmd, [o] { return RunTasks(*o); });
}

}  // namespace priortune::server::cli

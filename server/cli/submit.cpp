// priortune submit: submit a tuning job to a server (and follow it with --watch).
#include <cstdio>
#include <memory>

#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/cli/internal/client.h"
#include "server/common/convert.h"

namespace priortune::server::cli {

namespace {

struct SubmitOptions {
  ConnectionOptions connection;
  std::vector<std::string> workloads;  // OP:SHAPE[:bias][:residual][:relu|:relu6|:silu|:hardswish|:gelu|:gelu_tanh]
  std::string target = "host";
  int threads = 1;
  int trials = 200;
  std::string strategy;  // empty: the server's default (meta-ga with a meta-trained model for the target, else ga)
  std::string cost_model;
  int priority = 0;
  int batch_size = 0;
  uint64_t seed = 0;
  std::string name;
  bool watch = false;  // then follow it like `watch`
};

// OP:SHAPE[:bias][:residual][:relu|:relu6|:silu|:hardswish|:gelu|:gelu_tanh]
StatusOr<WorkloadArgs> ParseWorkloadSpec(const std::string& spec) {
  WorkloadArgs a;
  size_t colon = spec.find(':');
  if (colon == std::string::npos)
    return InvalidArgument("--workload '" + spec +
                           "': expected OP:SHAPE[:bias][:residual][:relu|:relu6|:silu|:hardswish|:gelu|:gelu_tanh]");
  a.op = spec.substr(0, colon);
  std::string rest = spec.substr(colon + 1);
  size_t next = rest.find(':');
  a.shape = rest.substr(0, next);
  while (next != std::string::npos) {
    rest = rest.substr(next + 1);
    next = rest.find(':');
    std::string flag = rest.substr(0, next);
    if (flag == "bias")
      a.bias = true;
    else if (flag == "relu")
      a.relu = true;
    else if (flag == "residual")
      a.residual = true;
    else if (flag == "relu6")
      a.relu6 = true;
    else if (flag == "silu")
      a.silu = true;
    else if (flag == "hardswish")
      a.hardswish = true;
    else if (flag == "gelu")
      a.gelu = true;
    else if (flag == "gelu_tanh")
      a.gelu_tanh = true;
    else
      return InvalidArgument("--workload '" + spec + "': '" + flag +
                             "' is not bias, residual, relu, relu6, silu, hardswish, gelu or gelu_tanh");
  }
  return a;
}

int RunSubmit(const SubmitOptions& o) {
  std::vector<WorkloadArgs> workloads;
  for (const std::string& spec : o.workloads) {
    auto a = ParseWorkloadSpec(spec);
    if (!a.ok()) return Fail(a.status());
    workloads.push_back(*a);
  }
  auto c = Connect(o.connection);
  if (!c.ok()) return ReportError(c.status());
  v1::SubmitJobRequest req;
  for (const WorkloadArgs& a : workloads) {
    auto w = ParseWorkloadArgs(a);
    if (!w.ok()) return ReportError(w.status());
    ToProto(*w, req.add_workloads());
  }
  req.mutable_target()->set_spec(o.target);
  req.mutable_target()->set_threads(o.threads);
  req.set_trials(o.trials);
  req.set_strategy(o.strategy);
  req.set_cost_model(o.cost_model);
  req.set_priority(o.priority);
  req.set_batch_size(o.batch_size);
  req.set_seed(o.seed);
  req.set_name(o.name);
  v1::SubmitJobResponse resp;
  auto ctx = Context(*c);
  grpc::Status s = c->stub->SubmitJob(ctx.get(), req, &resp);
  if (!s.ok()) return Refused(s);
  std::printf("job %lld submitted: strategy %s%s\n", static_cast<long long>(resp.job_id()), resp.strategy().c_str(),
              resp.strategy_note().empty() ? "" : (" (" + resp.strategy_note() + ")").c_str());
  std::fflush(stdout);
  return o.watch ? Watch(*c, resp.job_id()) : 0;
}

}  // namespace

void AddSubmit(Commands& commands) {
  auto o = std::make_shared<SubmitOptions>();
  CLI::App* cmd = commands.app().add_subcommand("submit", "submit a tuning job to a server");
  AddConnectionOptions(commands, cmd, o->connection, true);
  cmd->add_option("--workload", o->workloads,
                  "OP:SHAPE[:bias][:residual][:relu|:relu6|:silu|:hardswish|:gelu|:gelu_tanh], repeatable (e.g. "
                  "matmul:512x512x512 "
                  "conv2d:64x64x56x3x1x1:relu)")
      ->required();
  AddTargetOption(cmd, o->target);
  cmd->add_option("--threads", o->threads, "threads the kernels are deployed with (default 1)");
  cmd->add_option("--trials", o->trials, "trial budget per task; stored records count (default 200)");
  cmd->add_option("--strategy", o->strategy,
                  "ga | random | grid | xgb-ga | meta-ga | one-shot (default: meta-ga, a GA over the neural cost "
                  "model, when a meta-trained model for the target exists on the server, in its store or shipped; "
                  "else ga; the server says which it picked and why)");
  cmd->add_option("--cost-model", o->cost_model,
                  "none | xgboost | neural (default: the strategy's own; with no --strategy either, neural when a "
                  "meta-trained model for the target exists, else none)");
  cmd->add_option("--priority", o->priority, "higher is served first when jobs compete (default 0)");
  cmd->add_option("--batch", o->batch_size, "candidates per round (default 16)");
  cmd->add_option("--seed", o->seed, "random seed of the search (default 1)");
  cmd->add_option("--name", o->name, "a label for `priortune jobs`");
  cmd->add_flag("--watch", o->watch, "follow the job until it ends (exit 0 when done)");
  commands.Add(cmd, [o] { return RunSubmit(*o); });
}

}  // namespace priortune::server::cli

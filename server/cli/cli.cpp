#include "server/cli/cli.h"

#include <sys/stat.h>

#include <cstdio>

#include "compiler/ops/build.h"
#include "compiler/ops/op_template.h"

namespace priortune::server::cli {

int Commands::Run() const {
  for (const auto& [command, run] : runs_)
    if (command->parsed()) return run();
  return ReportError(InvalidArgument("no subcommand"));
}

Status CheckMemoryCapMb(int64_t mb, const std::string& prefix) {
  if (mb < 0 || mb > kMaxMemoryCapMb)
    return InvalidArgument(prefix + "--memory-cap-mb must be between 1 and " + std::to_string(kMaxMemoryCapMb));
  return OkStatus();
}

StatusOr<compiler::Workload> ParseWorkloadArgs(const WorkloadArgs& a) {
  PT_RETURN_IF_ERROR(CheckMemoryCapMb(a.memory_cap_mb));
  PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(a.op));
  PT_ASSIGN_OR_RETURN(compiler::Workload w, compiler::ParseWorkload(a.op, a.shape));
  w.bias = a.bias;
  w.relu = a.relu;
  w.residual = a.residual;
  w.relu6 = a.relu6;
  w.silu = a.silu;
  w.hardswish = a.hardswish;
  w.gelu = a.gelu;
  w.gelu_tanh = a.gelu_tanh;
  PT_RETURN_IF_ERROR(tmpl->Validate(w));
  return w;
}

Status CheckWorkloadMemory(const WorkloadArgs& a, const compiler::Workload& w) {
  PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(w.op));
  if (a.memory_cap_bytes() < 0) return InvalidArgument("--memory-cap-mb must be positive");
  int64_t cap = a.memory_cap_bytes() > 0 ? a.memory_cap_bytes() : compiler::DefaultMemoryCapBytes();
  return compiler::CheckMemory(*tmpl, w, cap);
}

int ReportError(const Status& s, int exit_code) {
  std::fprintf(stderr, "priortune: %s\n", s.ToString().c_str());
  return exit_code;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

StatusOr<KernelArgs> ParseKernelArgs(const WorkloadArgs& args, const std::string& target_spec) {
  KernelArgs k;
  PT_ASSIGN_OR_RETURN(k.workload, ParseWorkloadArgs(args));
  PT_ASSIGN_OR_RETURN(k.tmpl, compiler::FindTemplate(args.op));
  PT_ASSIGN_OR_RETURN(k.target, compiler::Target::Parse(target_spec, compiler::Target::Host().cores));
  return k;
}

void AddWorkloadOptions(CLI::App* cmd, WorkloadArgs& a) {
  cmd->add_option("--op", a.op, "operator: matmul, batch_matmul, conv2d, depthwise_conv2d, group_conv2d");
  cmd->add_option("--shape", a.shape,
                  "matmul MxNxK | batch_matmul BxMxNxK | conv2d CinxCoutxHxKxSxP | "
                  "depthwise_conv2d CxHxKxSxP | group_conv2d CinxCoutxHxKxSxPxG");
  cmd->add_flag("--bias", a.bias, "fuse a bias add");
  cmd->add_flag("--relu", a.relu, "fuse a relu");
  cmd->add_flag("--residual", a.residual, "fuse a residual add (before the activation)");
  cmd->add_flag("--relu6", a.relu6, "fuse a relu6 (min(max(x, 0), 6))");
  cmd->add_flag("--silu", a.silu, "fuse a SiLU (x * sigmoid(x))");
  cmd->add_flag("--hardswish", a.hardswish, "fuse a HardSwish (x * min(max(x / 6 + 1/2, 0), 1))");
  cmd->add_flag("--gelu", a.gelu, "fuse a GELU (x / 2 * (1 + erf(x / sqrt 2)))");
  cmd->add_flag("--gelu-tanh", a.gelu_tanh,
                "fuse GELU's tanh form (x / 2 * (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))))");
  cmd->add_option("--memory-cap-mb", a.memory_cap_mb,
                  "refuse workloads whose buffers need more (default: a quarter of RAM)");
}

void AddTargetOption(CLI::App* cmd, std::string& spec) {
  cmd->add_option("--target", spec,
                  "what to build for: host (default), host-avx2 (this CPU without AVX-512), an LLVM CPU name "
                  "(znver3, x86-64-v3, x86-64-v4, ...) or a target JSON object");
}

void AddConnectionOptions(const Commands& commands, CLI::App* cmd, ConnectionOptions& connection, bool required) {
  connection.token = commands.env().token;
  auto* server = cmd->add_option("--server", connection.server, "host:port of a priortune server");
  if (required) server->required();
  cmd->add_option("--token-file", connection.token_file,
                  "a file whose first line is the token (default: $PRIORTUNE_TOKEN, if set)");
  cmd->add_option("--tls-ca", connection.tls_ca, "PEM of the CA of the server's certificate: connect with TLS");
  cmd->add_option("--tls-cert", connection.tls_cert, "PEM of this side's certificate (mutual TLS)");
  cmd->add_option("--tls-key", connection.tls_key, "PEM of this side's private key (mutual TLS)");
}

}  // namespace priortune::server::cli

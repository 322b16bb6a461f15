// What every subcommand of the `priortune` executable shares: the registry main.cpp
// fills (each subcommand file adds its options and its Run), the workload and connection
// flags, and the CLI's error convention (exit code 2 and a message for bad input).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "compiler/ops/op_template.h"
#include "compiler/ops/workload.h"
#include "compiler/support/status.h"
#include "compiler/target/target.h"
#include "server/common/connection.h"

namespace priortune::server::cli {

// What main reads from the process, its environment and where its executable lies, and
// hands to the subcommands: nothing below main calls getenv or bakes in a path. An
// installed priortune (PREFIX/bin/priortune) and the build tree's (build/server/priortune)
// find the same layout one folder up (PREFIX or build/).
struct Environment {
  std::string prefix;          // the executable's folder's parent
  std::string model_dir;       // shipped meta models: $PRIORTUNE_MODEL_DIR, else PREFIX/share/priortune/models
  std::string token;           // $PRIORTUNE_TOKEN: the token when no --token-file is given
  std::string deploy_archive;  // what build-model links: PREFIX/lib/priortune/libpt_deploy.a
  std::string deploy_header;   // and copies: PREFIX/include/priortune/priortune_model.h
  std::string cxx = "c++";     // the compiler build-model links with: $PRIORTUNE_CXX, else c++ on PATH
};

// The subcommands of one CLI::App: each registers its CLI11 subcommand with the function
// that runs it; after parsing, Run() runs the one the command line chose.
class Commands {
 public:
  Commands(CLI::App& app, Environment env) : app_(app), env_(std::move(env)) {}
  CLI::App& app() { return app_; }
  const Environment& env() const { return env_; }
  void Add(CLI::App* command, std::function<int()> run) { runs_.push_back({command, std::move(run)}); }
  // The chosen subcommand's exit code; 2 when none was chosen.
  int Run() const;

 private:
  CLI::App& app_;
  Environment env_;
  std::vector<std::pair<CLI::App*, std::function<int()>>> runs_;
};

// --op, --shape and the fused epilogue's flags, and --memory-cap-mb.
struct WorkloadArgs {
  std::string op = "matmul";
  std::string shape = "512x512x512";
  bool bias = false, relu = false;
  int64_t memory_cap_mb = 0;             // 0: compiler::DefaultMemoryCapBytes()
  bool residual = false, relu6 = false;  // the fused epilogue's other parts
  bool silu = false, hardswish = false, gelu = false, gelu_tanh = false;
  int64_t memory_cap_bytes() const { return memory_cap_mb << 20; }
};

inline constexpr int64_t kMaxMemoryCapMb = INT64_MAX >> 20;
// InvalidArgument unless 0 <= mb <= kMaxMemoryCapMb; `prefix` names the command ("serve: ").
Status CheckMemoryCapMb(int64_t mb, const std::string& prefix = "");
// The workload the flags name, validated by its template (and the memory cap's range).
StatusOr<compiler::Workload> ParseWorkloadArgs(const WorkloadArgs& args);
// InvalidArgument when the workload's buffers exceed the cap.
Status CheckWorkloadMemory(const WorkloadArgs& args, const compiler::Workload& w);
// Prints "priortune: <status>" on stderr and returns `exit_code` (2: bad input; 1: a failure).
int ReportError(const Status& s, int exit_code = 2);
inline int Fail(const Status& s, int exit_code = 2) { return ReportError(s, exit_code); }
bool FileExists(const std::string& path);

// What bench, knobs and emit work on: the workload, its template, and the target at all
// of this host's cores.
struct KernelArgs {
  compiler::Workload workload;
  const compiler::OpTemplate* tmpl = nullptr;
  compiler::Target target;
};
StatusOr<KernelArgs> ParseKernelArgs(const WorkloadArgs& args, const std::string& target_spec);

inline constexpr const char* kCheckBoundsHelp =
    "guard every load and store of the kernels against their buffers' extents (slower; for debugging)";
void AddWorkloadOptions(CLI::App* command, WorkloadArgs& args);
void AddTargetOption(CLI::App* command, std::string& spec);
// Client flags of every call to a server; the token never on the command line (a file, or
// the environment's).
void AddConnectionOptions(const Commands& commands, CLI::App* command, ConnectionOptions& connection,
                          bool server_required);

}  // namespace priortune::server::cli

// priortune bench: build, check and time a workload's default, hand-picked and given configs.
#include <cstdio>
#include <exception>
#include <memory>

#include "compiler/codegen/runtime.h"
#include "compiler/ops/build.h"
#include "compiler/support/timing.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"

namespace priortune::server::cli {

namespace {

struct BenchOptions {
  WorkloadArgs workload;
  std::string target = "host";
  int threads = 0;      // 0: all cores
  std::string config;   // JSON: timed too, beside default and hand-picked
  bool cold = false;    // flush weights and output before every timed call
  std::string layouts;  // BenchLayouts
  compiler::CompileOptions compile;
};

struct Measured {
  double gflops = 0, median_ms = 0, compile_ms = 0;
};

// bench --layouts: "nchw" or "" (NCHW in and out, as the tuner measures), "native"
// (NativeLayouts: as a compiled model runs a blocked kernel between kernels of its own
// blocks), or "data=B" (the data in B-channel blocks, as a producer that computes
// B-channel blocks leaves it; the rest native). A config that works in NCHW only is timed
// in NCHW whatever is asked.
StatusOr<compiler::TensorLayouts> BenchLayouts(const std::string& spec, const compiler::Workload& w,
                                               const compiler::Target& t, const compiler::Config& c) {
  if (spec.empty() || spec == "nchw") return compiler::TensorLayouts{};
  compiler::TensorLayouts l = compiler::NativeLayouts(w, t, c);
  if (spec == "native") return l;
  if (spec.rfind("data=", 0) == 0) {
    try {
      size_t used = 0;
      long long b = std::stoll(spec.substr(5), &used);
      if (used == spec.size() - 5 && b >= 0) {
        if (!l.plain()) l.data = b;
        return l;
      }
    } catch (const std::exception&) {
    }
  }
  return InvalidArgument("--layouts " + spec + ": expected nchw, native or data=B (B a channel block, 0 for NCHW)");
}

StatusOr<Measured> BuildAndTime(const compiler::Workload& w, const compiler::Target& t, const compiler::Config& c,
                                const compiler::OpTemplate& tmpl, const compiler::TimingOptions& opts,
                                const compiler::CompileOptions& compile, const std::string& layouts = "") {
  PT_ASSIGN_OR_RETURN(compiler::TensorLayouts lay, BenchLayouts(layouts, w, t, c));
  PT_ASSIGN_OR_RETURN(compiler::MeasuredKernel k,
                      compiler::BuildCheckAndTimeInLayouts(w, t, c, lay, opts, 42, compile));
  const compiler::CheckResult& check = k.measurement.check;
  if (!check.run.ok())
    return Status(check.run.code(), "config " + compiler::ConfigToJson(c) + ": " + check.run.message());
  if (!check.ok())
    return Internal("config " + compiler::ConfigToJson(c) + " computes a wrong answer at " +
                    std::to_string(check.first_bad) + " (max error " + std::to_string(check.max_abs_error) + ")");
  double median = k.measurement.timing.median;
  return Measured{tmpl.Flops(w) / median / 1e9, median * 1e3, k.compile_seconds * 1e3};
}

int RunBench(const BenchOptions& o) {
  auto args = ParseKernelArgs(o.workload, o.target);
  if (!args.ok()) return Fail(args.status());
  const compiler::Workload& w = args->workload;
  const compiler::Target& target = args->target;
  const compiler::OpTemplate* tmpl = args->tmpl;
  if (Status fits = CheckWorkloadMemory(o.workload, w); !fits.ok()) return Fail(fits);
  if (o.threads < 0) return Fail(InvalidArgument("--threads must be positive"));
  if (o.threads > 0) compiler::SetNumThreads(o.threads);
  compiler::TimingOptions opts;
  opts.repeat = 5;
  opts.min_repeat_ms = 100;
  if (o.cold) {
    opts.cold = true;
    opts.repeat = 31;
  }
  if (Status runs = target.CheckRunsOnHost(); !runs.ok()) return Fail(runs);
  std::printf("%s on %s, %d thread(s)\n", w.ShortName().c_str(), target.Describe().c_str(), compiler::NumThreads());
  if (o.compile.check_bounds) std::printf("  (bounds-checked kernels: slower than the real ones)\n");
  auto def = BuildAndTime(w, target, tmpl->DefaultConfig(w, target), *tmpl, opts, o.compile, o.layouts);
  if (!def.ok()) return Fail(def.status());
  auto tuned = BuildAndTime(w, target, tmpl->HandPickedConfig(w, target), *tmpl, opts, o.compile, o.layouts);
  if (!tuned.ok()) return Fail(tuned.status());
  std::printf("  default     %s\n              %8.3f ms  %7.1f GFLOPS  (JIT %.0f ms)\n",
              compiler::ConfigToJson(tmpl->DefaultConfig(w, target)).c_str(), def->median_ms, def->gflops,
              def->compile_ms);
  std::printf("  hand-picked %s\n              %8.3f ms  %7.1f GFLOPS  (JIT %.0f ms)\n",
              compiler::ConfigToJson(tmpl->HandPickedConfig(w, target)).c_str(), tuned->median_ms, tuned->gflops,
              tuned->compile_ms);
  std::printf("  hand-picked / default: %.2fx (median of %d rounds each, outputs checked against the reference)\n",
              def->median_ms / tuned->median_ms, opts.repeat);
  if (!o.config.empty()) {
    auto c = compiler::ConfigFromJson(o.config);
    if (!c.ok()) return Fail(c.status());
    auto given = BuildAndTime(w, target, *c, *tmpl, opts, o.compile, o.layouts);
    if (!given.ok()) return Fail(given.status());
    std::printf("  --config    %s\n              %8.3f ms  %7.1f GFLOPS  (JIT %.0f ms)   %.0f%% of hand-picked\n",
                compiler::ConfigToJson(*c).c_str(), given->median_ms, given->gflops, given->compile_ms,
                100 * tuned->median_ms / given->median_ms);
  }
  return 0;
}

}  // namespace

void AddBench(Commands& commands) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = commands.app().add_subcommand("bench", "build, check and time default vs hand-picked config");
  AddWorkloadOptions(cmd, o->workload);
  AddTargetOption(cmd, o->target);
  cmd->add_option("--threads", o->threads, "threads for parallel loops (default: all cores)");
  cmd->add_option("--config", o->config, "time this config JSON too, beside default and hand-picked");
  cmd->add_flag("--check-bounds", o->compile.check_bounds, kCheckBoundsHelp);
  cmd->add_flag("--cold", o->cold,
                "flush the weights and output from the caches before every timed call, keeping the input "
                "warm, as a layer meets them in a model (rounds of one call)");
  cmd->add_option("--layouts", o->layouts,
                  "conv2d's and depthwise's NCHWc configs: nchw (converting NCHW in and out, as the tuner "
                  "measures them; the default), native (data in ic_bn blocks, residual and output in the "
                  "config's, as a model runs them between kernels of the same blocks) or data=B (data in "
                  "B-channel blocks, as a model whose producer computes B-channel blocks)");
  commands.Add(cmd, [o] { return RunBench(*o); });
}

}  // namespace priortune::server::cli

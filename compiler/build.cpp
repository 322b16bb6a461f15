#include "compiler/build.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "compiler/runtime.h"

namespace priortune::compiler {

StatusOr<Kernel> BuildKernel(const Workload& w, const Target& t, const Config& c) {
  PT_ASSIGN_OR_RETURN(LoweredFunc f, LowerWorkload(w, t, c));
  PT_ASSIGN_OR_RETURN(Jit * jit, Jit::Default());
  return jit->Compile(f);
}

KernelArgs::KernelArgs(const OpTemplate& tmpl, const Workload& w, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto shapes = tmpl.ArgShapes(w);
  for (size_t a = 0; a < shapes.size(); ++a) {
    int64_t n = 1;
    for (int64_t d : shapes[a]) n *= d;
    auto* p = static_cast<float*>(pt_alloc(n * 4));
    bool is_output = a + 1 == shapes.size();
    for (int64_t i = 0; i < n; ++i) p[i] = is_output ? NAN : dist(gen);
    ptrs_.push_back(p);
    sizes_.push_back(n);
  }
}

KernelArgs::~KernelArgs() {
  for (void* p : ptrs_) pt_free(p);
}

std::vector<const float*> KernelArgs::inputs() const {
  std::vector<const float*> in;
  for (size_t i = 0; i + 1 < ptrs_.size(); ++i) in.push_back(static_cast<const float*>(ptrs_[i]));
  return in;
}

void KernelArgs::ResetOutput() const {
  std::fill(output(), output() + output_size(), NAN);
}

std::vector<float> ReferenceOutput(const Workload& w, const KernelArgs& args) {
  auto tmpl = FindTemplate(w.op);
  PT_CHECK(tmpl.ok(), tmpl.status().ToString());
  std::vector<float> want(args.output_size());
  (*tmpl)->Reference(w, args.inputs(), want.data());
  return want;
}

CheckResult CheckAgainstReference(const Kernel& k, const Workload& w, const KernelArgs& args,
                                  double tolerance) {
  return CheckAgainstOutput(k, args, ReferenceOutput(w, args), tolerance);
}

CheckResult CheckAgainstOutput(const Kernel& k, const KernelArgs& args,
                               const std::vector<float>& want, double tolerance) {
  PT_CHECK(static_cast<int64_t>(want.size()) == args.output_size(), "reference size");
  CheckResult r;
  args.ResetOutput();
  k.Run(args.pointers());
  const float* got = args.output();
  for (int64_t i = 0; i < args.output_size(); ++i) {
    double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    double rel = d / std::max(1.0, std::fabs(static_cast<double>(want[i])));
    if (std::isnan(got[i])) d = rel = INFINITY;
    r.max_abs_error = std::max(r.max_abs_error, d);
    r.max_rel_error = std::max(r.max_rel_error, rel);
    if (rel > tolerance && r.first_bad < 0) r.first_bad = i;
  }
  return r;
}

StatusOr<BuiltKernel> BuildBest(const Workload& w, const Target& t, ConfigSource& source) {
  PT_ASSIGN_OR_RETURN(const OpTemplate* tmpl, FindTemplate(w.op));
  PT_RETURN_IF_ERROR(tmpl->Validate(w));
  PT_ASSIGN_OR_RETURN(std::optional<ConfigChoice> found, source.BestConfig(w, t));
  ConfigChoice choice;
  if (found && CheckConfig(*tmpl, w, t, found->config).ok()) {
    choice = *found;
  } else {
    choice.config = tmpl->DefaultConfig(w, t);
    choice.level = "default";
  }
  PT_ASSIGN_OR_RETURN(Kernel k, BuildKernel(w, t, choice.config));
  return BuiltKernel{std::move(k), std::move(choice)};
}

}  // namespace priortune::compiler

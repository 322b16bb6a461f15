#include "compiler/build.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <unistd.h>

#include "compiler/runtime.h"

namespace priortune::compiler {

StatusOr<Kernel> BuildKernel(const Workload& w, const Target& t, const Config& c) {
  PT_ASSIGN_OR_RETURN(LoweredFunc f, LowerWorkload(w, t, c));
  PT_ASSIGN_OR_RETURN(Jit * jit, Jit::ForTarget(t));
  return jit->Compile(f);
}

KernelArgs::KernelArgs(const OpTemplate& tmpl, const Workload& w, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto shapes = tmpl.ArgShapes(w);
  for (size_t a = 0; a < shapes.size(); ++a) {
    int64_t n = 1;
    for (int64_t d : shapes[a]) n *= d;
    auto* p = static_cast<float*>(pt_alloc(n * DTypeBytes(w.dtype)));
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

KernelMeasurement CheckAndTime(const Kernel& k, const KernelArgs& args,
                               const std::vector<float>& want, const TimingOptions& timing) {
  KernelMeasurement m;
  m.check = CheckAgainstOutput(k, args, want);
  if (!m.check.ok()) return m;
  // Constant inputs (weights) are packed once, as a deployed model does when it loads.
  PreparedArgs prepared = k.Prepare(args.pointers());
  m.timing = TimeFunction([&] { k.Run(prepared); }, timing);
  return m;
}

StatusOr<MeasuredKernel> BuildCheckAndTime(const Workload& w, const Target& t, const Config& c,
                                           const TimingOptions& timing, uint32_t seed) {
  PT_ASSIGN_OR_RETURN(const OpTemplate* tmpl, FindTemplate(w.op));
  MeasuredKernel out;
  PT_ASSIGN_OR_RETURN(out.kernel, BuildKernel(w, t, c));
  out.compile_seconds = out.kernel.compile_ms() / 1e3;
  KernelArgs args(*tmpl, w, seed);
  out.measurement = CheckAndTime(out.kernel, args, ReferenceOutput(w, args), timing);
  return out;
}

int64_t DTypeBytes(const std::string& dtype) { return dtype == "float32" ? 4 : 0; }

int64_t WorkloadBytes(const OpTemplate& tmpl, const Workload& w) {
  auto shapes = tmpl.ArgShapes(w);
  double elems = 0;  // double: a hostile shape must not overflow the sum
  for (const auto& s : shapes) {
    double n = 1;
    for (int64_t d : s) n *= static_cast<double>(d);
    elems += n;
  }
  double out = 1;
  for (int64_t d : shapes.back()) out *= static_cast<double>(d);
  double bytes = (elems + out) * DTypeBytes(w.dtype);
  return bytes > 9e18 ? INT64_MAX : static_cast<int64_t>(bytes);
}

int64_t DefaultMemoryCapBytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return int64_t{4} << 30;
  // Two workers and the front end may each hold a workload: a quarter of RAM apiece.
  return static_cast<int64_t>(pages) * page / 4;
}

Status CheckMemory(const OpTemplate& tmpl, const Workload& w, int64_t cap_bytes) {
  int64_t need = WorkloadBytes(tmpl, w);
  if (need <= cap_bytes) return OkStatus();
  // In double: `need` may be INT64_MAX for a hostile shape.
  auto mib = [](int64_t b) { return std::to_string(static_cast<int64_t>(std::ceil(b / 1048576.0))) + " MiB"; };
  return Status(StatusCode::kResourceExhausted,
                w.ShortName() + " needs " + mib(need) + " for its buffers, over the memory cap of " +
                    mib(cap_bytes) + " (raise it with --memory-cap-mb)");
}

namespace {
// source's answer for (w, t) if its config lies in t's space; else level "default" with
// the template's `fallback` config (and the reason in skipped).
StatusOr<ConfigChoice> ChooseWithFallback(const Workload& w, const Target& t, ConfigSource& source, bool hand_picked) {
  PT_ASSIGN_OR_RETURN(const OpTemplate* tmpl, FindTemplate(w.op));
  PT_RETURN_IF_ERROR(tmpl->Validate(w));
  PT_ASSIGN_OR_RETURN(ConfigChoice choice, source.BestConfig(w, t));
  if (choice.level != "default") {
    Status in_space = CheckConfigInSpace(*tmpl, w, t, choice.config);
    if (!in_space.ok()) {
      choice.skipped.push_back(choice.level + ": " + in_space.message());
      choice.level = "default";
    }
  }
  if (choice.level == "default") {
    choice.config = hand_picked ? tmpl->HandPickedConfig(w, t) : tmpl->DefaultConfig(w, t);
    if (hand_picked) choice.level = "hand-picked";
    choice.cost_seconds = 0;
  }
  return choice;
}
}  // namespace

StatusOr<ConfigChoice> ChooseConfig(const Workload& w, const Target& t, ConfigSource& source) {
  return ChooseWithFallback(w, t, source, /*hand_picked=*/true);
}

StatusOr<BuiltKernel> BuildBest(const Workload& w, const Target& t, ConfigSource& source) {
  PT_ASSIGN_OR_RETURN(ConfigChoice choice, ChooseWithFallback(w, t, source, /*hand_picked=*/false));
  PT_ASSIGN_OR_RETURN(Kernel k, BuildKernel(w, t, choice.config));
  return BuiltKernel{std::move(k), std::move(choice)};
}

}  // namespace priortune::compiler

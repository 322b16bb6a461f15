#include "compiler/ops/build.h"

#include <immintrin.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "compiler/codegen/runtime.h"

namespace priortune::compiler {

StatusOr<Kernel> BuildKernel(const Workload& w, const Target& t, const Config& c, const CompileOptions& options) {
  return BuildKernelInLayouts(w, t, c, TensorLayouts{}, options);
}

std::string CheckResult::Describe() const {
  if (!run.ok()) return run.message();
  if (first_bad < 0) return "matches the reference (max relative error " + std::to_string(max_rel_error) + ")";
  return "output " + std::to_string(first_bad) + " differs from the reference (max relative error " +
         std::to_string(max_rel_error) + ")";
}

KernelArgs::KernelArgs(const OpTemplate& tmpl, const Workload& w, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto shapes = tmpl.ArgShapes(w);
  for (size_t a = 0; a < shapes.size(); ++a) {
    int64_t n = 1;
    for (int64_t d : shapes[a]) n *= d;
    auto* p = static_cast<float*>(pt_alloc(n * DTypeBytes(w.dtype)));
    // Callers check the workload's memory against a cap first (CheckMemory).
    PT_CHECK(p != nullptr, "out of memory for the arguments of " + w.ShortName());
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

void KernelArgs::ResetOutput() const { std::fill(output(), output() + output_size(), NAN); }

std::vector<float> ReferenceOutput(const Workload& w, const KernelArgs& args) {
  auto tmpl = FindTemplate(w.op);
  PT_CHECK(tmpl.ok(), tmpl.status().ToString());
  std::vector<float> want(args.output_size());
  (*tmpl)->Reference(w, args.inputs(), want.data());
  return want;
}

CheckResult CheckAgainstReference(const Kernel& k, const Workload& w, const KernelArgs& args, double tolerance) {
  return CheckAgainstOutput(k, args, ReferenceOutput(w, args), tolerance);
}

namespace {
std::vector<float> Relayout(const float* x, const std::vector<int64_t>& s, int64_t b, bool to_blocked) {
  PT_CHECK(s.size() == 4 && (b == 0 || s[1] % b == 0), "relayout of a non-NCHW shape or a block not dividing C");
  const int64_t hw = s[2] * s[3];
  std::vector<float> out(static_cast<size_t>(s[0] * s[1] * hw));
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t p = 0; p < hw; ++p) {
        const int64_t plain = (n * s[1] + c) * hw + p;
        const int64_t blocked = b == 0 ? plain : ((n * (s[1] / b) + c / b) * hw + p) * b + c % b;
        if (to_blocked)
          out[blocked] = x[plain];
        else
          out[plain] = x[blocked];
      }
  return out;
}

// Compares `got` with `want` into r.
void Compare(const float* got, const std::vector<float>& want, double tolerance, CheckResult& r) {
  for (size_t i = 0; i < want.size(); ++i) {
    double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    double rel = d / std::max(1.0, std::fabs(static_cast<double>(want[i])));
    if (std::isnan(got[i])) d = rel = INFINITY;
    r.max_abs_error = std::max(r.max_abs_error, d);
    r.max_rel_error = std::max(r.max_rel_error, rel);
    if (rel > tolerance && r.first_bad < 0) r.first_bad = static_cast<int64_t>(i);
  }
}
}  // namespace

std::vector<float> ToChannelBlocks(const float* x, const std::vector<int64_t>& nchw, int64_t block) {
  return Relayout(x, nchw, block, true);
}
std::vector<float> FromChannelBlocks(const float* x, const std::vector<int64_t>& nchw, int64_t block) {
  return Relayout(x, nchw, block, false);
}

namespace {
// `args` with the data and residual copied into their blocks and a NaN-filled output of
// its own, all 64-byte aligned as a model's buffers are: what a kernel built for
// `layouts` runs on.
class BlockedArgs {
 public:
  BlockedArgs(const Workload& w, const KernelArgs& args, const TensorLayouts& layouts) : ptrs_(args.pointers()) {
    auto tmpl = FindTemplate(w.op);
    PT_CHECK(tmpl.ok(), tmpl.status().ToString());
    shapes_ = (*tmpl)->ArgShapes(w);
    Copy(0, ToChannelBlocks(args.inputs()[0], shapes_[0], layouts.data));
    // The residual is the last input.
    if (w.residual)
      Copy(ptrs_.size() - 2, ToChannelBlocks(args.inputs()[ptrs_.size() - 2], shapes_.back(), layouts.residual));
    Copy(ptrs_.size() - 1, std::vector<float>(static_cast<size_t>(args.output_size()), NAN));
  }
  ~BlockedArgs() {
    for (void* p : owned_) pt_free(p);
  }
  BlockedArgs(const BlockedArgs&) = delete;
  BlockedArgs& operator=(const BlockedArgs&) = delete;
  const std::vector<void*>& pointers() const { return ptrs_; }
  // Runs `k` once and compares its output, converted back from `block`, with `want`.
  CheckResult Check(const Kernel& k, int64_t block, const std::vector<float>& want, double tolerance) const {
    CheckResult r;
    r.run = k.Run(ptrs_);
    if (!r.run.ok()) return r;
    Compare(FromChannelBlocks(static_cast<const float*>(ptrs_.back()), shapes_.back(), block).data(), want, tolerance,
            r);
    return r;
  }

 private:
  void Copy(size_t arg, const std::vector<float>& values) {
    auto* p = static_cast<float*>(pt_alloc(static_cast<int64_t>(values.size() * sizeof(float))));
    PT_CHECK(p != nullptr, "out of memory for blocked kernel arguments");
    std::copy(values.begin(), values.end(), p);
    owned_.push_back(p);
    ptrs_[arg] = p;
  }
  std::vector<void*> ptrs_, owned_;
  std::vector<std::vector<int64_t>> shapes_;
};
}  // namespace

CheckResult CheckInLayouts(const Kernel& k, const Workload& w, const KernelArgs& args, const TensorLayouts& layouts,
                           const std::vector<float>& want, double tolerance) {
  if (layouts.plain()) return CheckAgainstOutput(k, args, want, tolerance);
  return BlockedArgs(w, args, layouts).Check(k, layouts.out, want, tolerance);
}

CheckResult CheckAgainstOutput(const Kernel& k, const KernelArgs& args, const std::vector<float>& want,
                               double tolerance) {
  PT_CHECK(static_cast<int64_t>(want.size()) == args.output_size(), "reference size");
  CheckResult r;
  args.ResetOutput();
  r.run = k.Run(args.pointers());
  if (!r.run.ok()) return r;
  Compare(args.output(), want, tolerance, r);
  return r;
}

namespace {
// Times `k` on `ptrs` (the data input first), its constant inputs packed once.
KernelMeasurement TimePrepared(const Kernel& k, const std::vector<void*>& args, KernelMeasurement m,
                               const TimingOptions& timing) {
  // Constant inputs (weights) are packed once, as a deployed model does when it loads.
  StatusOr<PreparedArgs> prepared = k.Prepare(args);
  if (!prepared.ok()) {
    m.check.run = prepared.status();
    return m;
  }
  TimingOptions t = timing;
  if (timing.cold) {
    const std::vector<void*>& ptrs = prepared->pointers();
    const std::vector<int64_t>& bytes = prepared->bytes();
    t.before_call = [&ptrs, &bytes] {
      for (size_t i = 1; i < ptrs.size(); ++i)
        for (int64_t off = 0; off < bytes[i]; off += 64) _mm_clflush(static_cast<const char*>(ptrs[i]) + off);
      _mm_mfence();
    };
  }
  m.timing = TimeFunction([&] { (void)k.Run(*prepared); }, t);
  return m;
}
}  // namespace

KernelMeasurement CheckAndTime(const Kernel& k, const KernelArgs& args, const std::vector<float>& want,
                               const TimingOptions& timing) {
  KernelMeasurement m;
  m.check = CheckAgainstOutput(k, args, want);
  if (!m.check.ok()) return m;
  return TimePrepared(k, args.pointers(), std::move(m), timing);
}

StatusOr<Kernel> BuildKernelInLayouts(const Workload& w, const Target& t, const Config& c, const TensorLayouts& layouts,
                                      const CompileOptions& options) {
  PT_ASSIGN_OR_RETURN(LoweredFunc f, LowerWorkload(w, t, c, layouts));
  PT_ASSIGN_OR_RETURN(Jit * jit, Jit::ForTarget(t));
  return jit->Compile(f, options);
}

KernelMeasurement CheckAndTimeInLayouts(const Kernel& k, const Workload& w, const KernelArgs& args,
                                        const TensorLayouts& layouts, const std::vector<float>& want,
                                        const TimingOptions& timing) {
  if (layouts.plain()) return CheckAndTime(k, args, want, timing);
  // Checked and timed on the same blocked copies.
  BlockedArgs blocked(w, args, layouts);
  KernelMeasurement m;
  m.check = blocked.Check(k, layouts.out, want, 1e-3);
  if (!m.check.ok()) return m;
  return TimePrepared(k, blocked.pointers(), std::move(m), timing);
}

StatusOr<MeasuredKernel> BuildCheckAndTimeInLayouts(const Workload& w, const Target& t, const Config& c,
                                                    const TensorLayouts& layouts, const TimingOptions& timing,
                                                    uint32_t seed, const CompileOptions& options) {
  PT_ASSIGN_OR_RETURN(const OpTemplate* tmpl, FindTemplate(w.op));
  MeasuredKernel out;
  PT_ASSIGN_OR_RETURN(out.kernel, BuildKernelInLayouts(w, t, c, layouts, options));
  out.compile_seconds = out.kernel.compile_ms() / 1e3;
  KernelArgs args(*tmpl, w, seed);
  out.measurement = CheckAndTimeInLayouts(out.kernel, w, args, layouts, ReferenceOutput(w, args), timing);
  return out;
}

StatusOr<MeasuredKernel> BuildCheckAndTime(const Workload& w, const Target& t, const Config& c,
                                           const TimingOptions& timing, uint32_t seed, const CompileOptions& options) {
  return BuildCheckAndTimeInLayouts(w, t, c, TensorLayouts{}, timing, seed, options);
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
  return Status(StatusCode::kResourceExhausted, w.ShortName() + " needs " + mib(need) +
                                                    " for its buffers, over the memory cap of " + mib(cap_bytes) +
                                                    " (raise it with --memory-cap-mb)");
}

UseCheck CheckBeforeUse(const Workload& w, const Target& t, const Config& c) {
  if (Status runs = t.CheckRunsOnHost(); !runs.ok())
    return {true, "skipped: this host cannot run code for " + t.name() + " (" + t.isa_family() + ")"};
  auto tmpl = FindTemplate(w.op);
  if (!tmpl.ok()) return {false, tmpl.status().message()};
  if (Status fits = CheckMemory(**tmpl, w, DefaultMemoryCapBytes()); !fits.ok())
    return {true, "skipped: " + fits.message()};
  CompileOptions checked;
  checked.check_bounds = true;
  auto k = BuildKernel(w, t, c, checked);
  if (!k.ok()) return {false, "it does not build: " + k.status().message()};
  KernelArgs args(**tmpl, w, 17);
  CheckResult r = CheckAgainstReference(*k, w, args);
  if (!r.ok()) return {false, r.Describe()};
  return {true, "passed: built bounds-checked and run once at its shape, it matches the reference"};
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

// Building a workload's kernel from a config, and the correctness gate: run it on random
// inputs and compare with the op's reference implementation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/codegen/jit.h"
#include "compiler/ops/op_template.h"
#include "compiler/support/timing.h"

namespace priortune::compiler {

// Validates the workload and config, lowers and JIT-compiles for `t`.
// FailedPrecondition if this host cannot run `t`'s code (emit an object file instead).
StatusOr<Kernel> BuildKernel(const Workload& w, const Target& t, const Config& c, const CompileOptions& options = {});

// Argument buffers for a workload, inputs filled with uniform [-1, 1) from `seed`,
// 64-byte aligned. The output is the last.
class KernelArgs {
 public:
  KernelArgs(const OpTemplate& tmpl, const Workload& w, uint32_t seed);
  KernelArgs(const KernelArgs&) = delete;
  KernelArgs& operator=(const KernelArgs&) = delete;
  ~KernelArgs();
  const std::vector<void*>& pointers() const { return ptrs_; }
  std::vector<const float*> inputs() const;
  float* output() const { return static_cast<float*>(ptrs_.back()); }
  // Fills the output with NaN, so that a kernel that skips elements cannot pass a check
  // on a buffer an earlier kernel wrote.
  void ResetOutput() const;
  int64_t output_size() const { return sizes_.back(); }

 private:
  std::vector<void*> ptrs_;
  std::vector<int64_t> sizes_;
};

struct CheckResult {
  // The kernel's own failure (a bounds violation, memory it could not allocate): then
  // there is no output to compare.
  Status run;
  double max_abs_error = 0;
  double max_rel_error = 0;  // |got - want| / max(1, |want|)
  int64_t first_bad = -1;    // flat output index of the first mismatch, -1 if none
  bool ok() const { return run.ok() && first_bad < 0; }
  // "output 12 differs from the reference (max relative error 0.5)", or run's message.
  std::string Describe() const;
};

// Runs `k` once on `args` and compares its output with the reference; a mismatch is
// |got - want| > tolerance * max(1, |want|), or a NaN.
CheckResult CheckAgainstReference(const Kernel& k, const Workload& w, const KernelArgs& args, double tolerance = 1e-3);
// The reference output for `args` (costly for big shapes: compute once, check many).
std::vector<float> ReferenceOutput(const Workload& w, const KernelArgs& args);
// Resets the output, runs `k` once and compares with `want` as above.
CheckResult CheckAgainstOutput(const Kernel& k, const KernelArgs& args, const std::vector<float>& want,
                               double tolerance = 1e-3);

// NCHW [n, c, h, w] to NCHW{b}c [n, c/b, h, w, b] (TensorLayouts; b == 0: a copy), and back.
std::vector<float> ToChannelBlocks(const float* x, const std::vector<int64_t>& nchw, int64_t block);
std::vector<float> FromChannelBlocks(const float* x, const std::vector<int64_t>& nchw, int64_t block);

// Runs `k`, built for `layouts` (LowerWorkload with layouts), on `args` (the template's
// plain layouts): data and residual are converted into their blocks first, the output
// back from its block, and compared with `want` as CheckAgainstOutput does.
CheckResult CheckInLayouts(const Kernel& k, const Workload& w, const KernelArgs& args, const TensorLayouts& layouts,
                           const std::vector<float>& want, double tolerance = 1e-3);

// The correctness gate, then the timing protocol: resets the output, runs `k` once and
// compares with `want` (as CheckAgainstOutput); times `k` only if the output was right,
// with its constant inputs packed once beforehand (Kernel::Prepare), as in a deployed
// model, so the timed calls do not pay for a weight layout change.
struct KernelMeasurement {
  CheckResult check;
  TimingResult timing;  // empty unless check.ok()
};
KernelMeasurement CheckAndTime(const Kernel& k, const KernelArgs& args, const std::vector<float>& want,
                               const TimingOptions& timing);

// Build, check and time in one call: builds `c` for (w, t), fills inputs from `seed`,
// computes the reference output and runs CheckAndTime. Errors are BuildKernel's.
struct MeasuredKernel {
  Kernel kernel;
  KernelMeasurement measurement;
  double compile_seconds = 0;
};
StatusOr<MeasuredKernel> BuildCheckAndTime(const Workload& w, const Target& t, const Config& c,
                                           const TimingOptions& timing, uint32_t seed = 42,
                                           const CompileOptions& options = {});
// The same with the kernel built for `layouts` (LowerWorkload with layouts) and run as a
// compiled model runs it: its data, residual and output stored in those blocks. Checked
// with CheckInLayouts; the timed calls read and write the blocked buffers themselves.
StatusOr<MeasuredKernel> BuildCheckAndTimeInLayouts(const Workload& w, const Target& t, const Config& c,
                                                    const TensorLayouts& layouts, const TimingOptions& timing,
                                                    uint32_t seed = 42, const CompileOptions& options = {});
// BuildKernel for `layouts` (LowerWorkload with layouts).
StatusOr<Kernel> BuildKernelInLayouts(const Workload& w, const Target& t, const Config& c, const TensorLayouts& layouts,
                                      const CompileOptions& options = {});
// CheckAndTime for a kernel built for `layouts`: checked as CheckInLayouts does, then timed
// on blocked copies of the data and residual, writing its output in its block.
KernelMeasurement CheckAndTimeInLayouts(const Kernel& k, const Workload& w, const KernelArgs& args,
                                        const TensorLayouts& layouts, const std::vector<float>& want,
                                        const TimingOptions& timing);

// Bytes of one element of `dtype` ("float32" -> 4); 0 for a dtype the compiler does not
// know (templates reject those in Validate).
int64_t DTypeBytes(const std::string& dtype);
// Bytes a measurement of `w` holds at once: its argument buffers plus the reference
// output kept for the correctness gate. Intermediate buffers (packed panels) are of the
// same order and not counted.
int64_t WorkloadBytes(const OpTemplate& tmpl, const Workload& w);
// A share of this machine's physical memory: the default cap for one measuring process.
int64_t DefaultMemoryCapBytes();
// ResourceExhausted naming the bytes `w` would need, if they exceed `cap_bytes`.
Status CheckMemory(const OpTemplate& tmpl, const Workload& w, int64_t cap_bytes);

// Where build_best finds tuned configs. The compiler defines the interface; the
// db-backed implementation lives in tuner/ so that the compiler never links SQLite.
struct ConfigChoice {
  Config config;
  std::string level;        // "exact target", "same ISA family", "any target", "nearest tuned
                            // shape" (when the source looks there), or "default"
  double cost_seconds = 0;  // the stored cost (0 when unknown, as for "default")
  // Stored configs passed over on the way, each with its reason (not valid on the asking
  // target, ...): what `lookup` prints so that a fallback is never silent.
  std::vector<std::string> skipped;
  std::string from;  // level "nearest tuned shape": the workload (ShortName) it was tuned for
  // A config never measured for this exact workload and target (another target, the
  // nearest tuned shape, an imported record) is checked before a model uses it
  // (CheckBeforeUse): what the check said, "" when none was needed.
  std::string check;
};
class ConfigSource {
 public:
  virtual ~ConfigSource() = default;
  // The best known config for (w, t) that lies in t's search space. On a miss: level
  // "default", an empty config, and in `skipped` what was passed over. Errors are the
  // source's own (a db failure).
  virtual StatusOr<ConfigChoice> BestConfig(const Workload& w, const Target& t) = 0;
};

// A source that knows no tuned config (no store): every lookup is level "default".
class NoConfigSource : public ConfigSource {
 public:
  StatusOr<ConfigChoice> BestConfig(const Workload&, const Target&) override {
    ConfigChoice c;
    c.level = "default";
    return c;
  }
};

struct BuiltKernel {
  Kernel kernel;
  ConfigChoice choice;
};
// Builds `w` with the best config `source` knows, else the template's default config
// (choice.level "default"). A config that does not lie in the space of (w, t) also falls
// back to the default, and choice.skipped says why.
StatusOr<BuiltKernel> BuildBest(const Workload& w, const Target& t, ConfigSource& source);

// The check a config gets before a model build uses it for (w, t) when it was never
// measured for them: built bounds-checked, run once at its real shape on random inputs
// and compared with the reference. `passed` false with the reason when it fails (the
// caller falls back). A target this host cannot run, or a workload over the memory cap,
// passes with a note that says the check was skipped.
struct UseCheck {
  bool passed = true;
  std::string note;
};
UseCheck CheckBeforeUse(const Workload& w, const Target& t, const Config& c);

// The config a model build uses for `w`: `source`'s best (exact target, same ISA family,
// any target, nearest tuned shape, as the source answers) when it lies in t's search
// space, else the template's hand-picked config (level "hand-picked"); choice.skipped
// says what was passed over.
StatusOr<ConfigChoice> ChooseConfig(const Workload& w, const Target& t, ConfigSource& source);

}  // namespace priortune::compiler

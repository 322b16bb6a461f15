// Building a workload's kernel from a config, and the correctness gate: run it on random
// inputs and compare with the op's reference implementation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/jit.h"
#include "compiler/op_template.h"

namespace priortune::compiler {

// Validates the workload and config, lowers and JIT-compiles.
StatusOr<Kernel> BuildKernel(const Workload& w, const Target& t, const Config& c);

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
  double max_abs_error = 0;
  double max_rel_error = 0;  // |got - want| / max(1, |want|)
  int64_t first_bad = -1;    // flat output index of the first mismatch, -1 if none
  bool ok() const { return first_bad < 0; }
};

// Runs `k` once on `args` and compares its output with the reference; a mismatch is
// |got - want| > tolerance * max(1, |want|), or a NaN.
CheckResult CheckAgainstReference(const Kernel& k, const Workload& w, const KernelArgs& args,
                                  double tolerance = 1e-3);
// The reference output for `args` (costly for big shapes: compute once, check many).
std::vector<float> ReferenceOutput(const Workload& w, const KernelArgs& args);
// Resets the output, runs `k` once and compares with `want` as above.
CheckResult CheckAgainstOutput(const Kernel& k, const KernelArgs& args,
                               const std::vector<float>& want, double tolerance = 1e-3);

// Where build_best finds tuned configs. The compiler defines the interface; the
// db-backed implementation lives in tuner/ so that the compiler never links SQLite.
struct ConfigChoice {
  Config config;
  std::string level;  // "exact target", "same ISA family", "any target", or "default"
  double cost_seconds = 0;  // the stored cost (0 when unknown, as for "default")
};
class ConfigSource {
 public:
  virtual ~ConfigSource() = default;
  // The best known config for (w, t), nullopt on a miss; errors are the source's (db).
  virtual StatusOr<std::optional<ConfigChoice>> BestConfig(const Workload& w, const Target& t) = 0;
};

struct BuiltKernel {
  Kernel kernel;
  ConfigChoice choice;
};
// Builds `w` with the best config `source` knows, else the template's default config
// (choice.level "default"). A stored config that no longer fits the template (its knobs
// changed) also falls back to the default.
StatusOr<BuiltKernel> BuildBest(const Workload& w, const Target& t, ConfigSource& source);

}  // namespace priortune::compiler

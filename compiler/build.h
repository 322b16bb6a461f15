// Building a workload's kernel from a config, and the correctness gate: run it on random
// inputs and compare with the op's reference implementation.
#pragma once

#include <cstdint>
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

}  // namespace priortune::compiler

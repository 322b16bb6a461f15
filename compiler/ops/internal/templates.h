// The built-in operator templates; op_template.cpp registers them.
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/ir/schedule.h"
#include "compiler/ops/blocked_layout.h"
#include "compiler/ops/op_template.h"

namespace priortune::compiler::internal {

const OpTemplate* MatmulTemplate();
const OpTemplate* BatchMatmulTemplate();
const OpTemplate* Conv2dTemplate();
const OpTemplate* GroupConv2dTemplate();
const OpTemplate* DepthwiseConv2dTemplate();

// Shared by templates: "dim X = v must be positive" style checks.
Status RequireDims(const Workload& w, const std::vector<const char*>& positive,
                   const std::vector<const char*>& non_negative = {});
// The fused epilogue (Workload::bias, residual, relu, relu6), shared by the templates.
// ValidateEpilogue: InvalidArgument for relu with relu6, or a part `op` has no input for.
Status ValidateEpilogue(const Workload& w, bool bias_ok, bool residual_ok);
// The epilogue's extra inputs, in argument order after the op's own: the bias
// (`bias_shape`), then the residual (`out_shape`).
void AppendEpilogueShapes(const Workload& w, const std::vector<int64_t>& bias_shape,
                          const std::vector<int64_t>& out_shape, std::vector<std::vector<int64_t>>& shapes);
inline bool HasEpilogue(const Workload& w) { return w.HasEpilogue(); }
// A random epilogue for the fuzzer: bias, residual, and one activation or none, each by a coin.
void SampleEpilogue(Workload& w, std::mt19937_64& rng);
// v (+ bias) (+ residual), then the activation: the output of one element. `bias` and
// `residual` are reads of the epilogue's inputs (unused when the workload lacks them).
Expr ApplyEpilogue(const Workload& w, Expr v, const Expr& bias, const Expr& residual);
// The same for the references: `bias` and `residual` may be null when unused.
float ApplyEpilogue(const Workload& w, float v, const float* bias, const float* residual);
// The epilogue's placeholders, created when the workload has them, and pushed onto the
// kernel's argument list in ApplyEpilogue's order.
struct EpilogueInputs {
  Tensor bias, residual;
  EpilogueInputs(const Workload& w, const std::vector<int64_t>& bias_shape, const std::vector<int64_t>& out_shape);
  void AppendArgs(std::vector<Tensor>& args) const;
};

// Divisors of n no larger than limit, ascending.
std::vector<int64_t> Divisors(int64_t n, int64_t limit);
// The candidate closest to `want` (ties: the smaller).
int64_t Closest(const std::vector<int64_t>& candidates, int64_t want);

// Register tiles are at most this many vectors wide (BLIS and oneDNN micro-kernels: 1-4):
// a design choice of the templates, not a machine fact; the width in lanes comes from
// the target.
inline constexpr int64_t kMaxTileVectors = 4;
// Vector registers a register tile leaves for its operands (the loaded row of B or of the
// kernel, and a broadcast).
inline constexpr int kOperandRegisters = 4;

// Accumulator vectors a register tile may hold on `t`: its vector registers minus the
// operands' (28 on AVX-512, 12 with AVX2 or SSE).
int64_t AccumulatorBudget(const Target& t);
// ceil(cols / lanes): vectors per row of a tile `cols` lanes wide.
int64_t VectorsFor(const Target& t, int64_t cols);

// "rows x ceil(cols / lanes) accumulator vectors fit in AccumulatorBudget(t)": the
// register-tile constraint of matmul and conv2d. `rows` and `cols` are config entries;
// `knobs` the knobs that own them.
ConfigConstraint RegisterTileConstraint(const Target& t, const std::string& rows, const std::string& cols,
                                        std::vector<std::string> knobs);

// Block sizes of a split level above a tile of `tile`: tile x {1, 2, 3, 4, 6, 8, 12, ...}
// (1-2-3 steps per octave) up to the first that covers `extent` (a tail is allowed).
std::vector<int64_t> BlockMultiples(int64_t tile, int64_t extent);

}  // namespace priortune::compiler::internal

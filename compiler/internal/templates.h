// The built-in operator templates; op_template.cpp registers them.
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/op_template.h"
#include "compiler/schedule.h"

namespace priortune::compiler::internal {

const OpTemplate* MatmulTemplate();
const OpTemplate* BatchMatmulTemplate();
const OpTemplate* Conv2dTemplate();
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
                          const std::vector<int64_t>& out_shape,
                          std::vector<std::vector<int64_t>>& shapes);
inline bool HasEpilogue(const Workload& w) { return w.bias || w.residual || w.relu || w.relu6; }
// A random epilogue for the fuzzer: bias, residual, and relu or relu6, each by a coin.
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
  EpilogueInputs(const Workload& w, const std::vector<int64_t>& bias_shape,
                 const std::vector<int64_t>& out_shape);
  void AppendArgs(std::vector<Tensor>& args) const;
};

// An NCHW tensor's shape in `block` (TensorLayouts): [n, c, h, w], or [n, c/block, h, w, block].
std::vector<int64_t> LayoutShape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t block);
// InvalidArgument unless `block` is 0 or divides `channels`; `what` names the tensor.
Status CheckBlock(const std::string& what, int64_t block, int64_t channels);
// Element (n, c, h, w) of `x`, stored in `block`, where the channel is given as
// c = cb * cbn + ci (cbn == 0: c = cb and ci unused), the way a blocked loop nest holds
// it. Equal or nested blocks index without a division by a variable.
Expr ChannelRead(const Tensor& x, int64_t block, const Expr& n, const Expr& cb, int64_t cbn, const Expr& ci,
                 const Expr& h, const Expr& w);

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

// Vectorizes `axis` (extent `extent`) of `stage`. A width of 3 (or any non-power-of-two
// number of) native vectors is split, the outer part unrolled, so that it becomes native
// vectors rather than one <48 x float> value, which LLVM legalises with scalar inserts
// (measured on AVX-512, matmul 512^3: an 8 x 48 tile went from 23 to 217 GFLOPS; with
// AVX2 4 x 24 from 38 to 108). Power-of-two widths stay one wide vector, which LLVM
// splits well and which handles a tail with one mask (splitting them cost 6% on 500^3).
void VectorizeInNativeChunks(Stage& stage, IterVar axis, int64_t extent, const Target& t);

// "rows x ceil(cols / lanes) accumulator vectors fit in AccumulatorBudget(t)": the
// register-tile constraint of matmul and conv2d. `rows` and `cols` are config entries;
// `knobs` the knobs that own them.
ConfigConstraint RegisterTileConstraint(const Target& t, const std::string& rows,
                                        const std::string& cols, std::vector<std::string> knobs);

// Block sizes of a split level above a tile of `tile`: tile x {1, 2, 3, 4, 6, 8, 12, ...}
// (1-2-3 steps per octave) up to the first that covers `extent` (a tail is allowed).
std::vector<int64_t> BlockMultiples(int64_t tile, int64_t extent);

}  // namespace priortune::compiler::internal

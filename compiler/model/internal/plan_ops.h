// The simple ops' kernels of a model plan that model_plan.cpp does not hold itself: data
// movement (Concat, Transpose, Slice, Pad), broadcasting arithmetic, reductions
// (ReduceMean/Sum, Softmax) and LayerNorm, all on NCHW (unblocked) tensors of any rank
// (model_plan_ops.cpp).
#pragma once

#include <cstdint>

#include "compiler/graph/graph.h"
#include "compiler/ir/lower.h"
#include "compiler/ir/schedule.h"
#include "compiler/target/target.h"

namespace priortune::compiler::internal {

// Elements below which a simple op stays on one thread (the pool's fork and join would
// cost more than the work).
inline constexpr int64_t kParallelElements = 16384;

// kConcat (NCHW tensors, any axis): each output element from the input whose range of
// the axis holds it (a branch per input; only the taken one loads).
StatusOr<LoweredFunc> LowerConcat(const GraphNode& n, const Graph& g);
// kBinary (NCHW tensors): each input read at the output index, numpy broadcasting (a
// dimension of 1 at 0).
StatusOr<LoweredFunc> LowerBinary(const GraphNode& n, const Graph& g);
// kWhere (NCHW tensors): input 1 where input 0 is nonzero, else input 2, each broadcast;
// kExpand: input 0 broadcast.
StatusOr<LoweredFunc> LowerWhere(const GraphNode& n, const Graph& g);
// kGather: each output element from the row its index (an integer held as a float) names,
// negative ones from the end, clamped into the table.
StatusOr<LoweredFunc> LowerGather(const GraphNode& n, const Graph& g);
// kTranspose, kSlice, kPad: each output element from the input element SourceCoords names
// (kPad: the value outside the input).
StatusOr<LoweredFunc> LowerMove(const GraphNode& n, const Graph& g);
// kReduce: the sum (of squares: kL2) over the axes, then the mean's scale (kL2's root).
StatusOr<LoweredFunc> LowerReduce(const GraphNode& n, const Graph& g);
// kSoftmax along n.axis: the line's max, exp(x - max), their sum and the quotient.
StatusOr<LoweredFunc> LowerSoftmax(const GraphNode& n, const Graph& g, const Target& t);
// kLayerNorm: each group's mean and variance, then the normalised, scaled and shifted value.
StatusOr<LoweredFunc> LowerLayerNorm(const GraphNode& n, const Graph& g, const Target& t);

}  // namespace priortune::compiler::internal

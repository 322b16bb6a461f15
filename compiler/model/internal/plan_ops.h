// The simple ops' kernels of a model plan that model_plan.cpp does not hold itself:
// data movement (Transpose, Slice, Pad), reductions (ReduceMean/Sum, Softmax) and
// LayerNorm, all on NCHW (unblocked) tensors of any rank (model_plan_ops.cpp).
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

// The outer two loops fused and parallel for a large output, the rest as written (data
// movement and broadcasting ops: one fused loop turns their index arithmetic into per-lane
// gathers; SqueezeNet 1.1 ran about 2x slower with it for concat).
void ScheduleOuterParallel(Schedule& s, const Tensor& out);

// kTranspose, kSlice, kPad: each output element from the input element SourceCoords names
// (kPad: the value outside the input).
StatusOr<LoweredFunc> LowerMove(const GraphNode& n, const Graph& g);
// kReduce: the sum over the axes, then the mean's scale.
StatusOr<LoweredFunc> LowerReduce(const GraphNode& n, const Graph& g);
// kSoftmax along n.axis: the line's max, exp(x - max), their sum and the quotient.
StatusOr<LoweredFunc> LowerSoftmax(const GraphNode& n, const Graph& g, const Target& t);
// kLayerNorm: each group's mean and variance, then the normalised, scaled and shifted value.
StatusOr<LoweredFunc> LowerLayerNorm(const GraphNode& n, const Graph& g, const Target& t);

}  // namespace priortune::compiler::internal

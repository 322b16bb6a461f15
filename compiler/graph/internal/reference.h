// The reference runner's one-node evaluation and its index arithmetic, shared with the
// importer's constant folding (graph_fold.cpp) and the pattern pass (graph_patterns.cpp).
#pragma once

#include <vector>

#include "compiler/graph/graph.h"

namespace priortune::compiler::internal {

// Node n's output computed by the reference runner from its inputs, which are constants
// of g (float values).
std::vector<float> EvaluateNode(const GraphNode& n, const Graph& g);

// The coordinates of row-major flat index `flat` in `shape`.
std::vector<int64_t> CoordsOf(int64_t flat, const std::vector<int64_t>& shape);
// The row-major flat index of coordinates `c` in `shape`, or -1 when they lie outside.
int64_t FlatIndex(const std::vector<int64_t>& c, const std::vector<int64_t>& shape);
// The flat index into a tensor of `shape` broadcast to `out` (numpy's rule; shape has no
// more axes than out) of the element at flat index `i` of `out`.
int64_t BroadcastIndex(int64_t i, const std::vector<int64_t>& out, const std::vector<int64_t>& shape);
// A float tensor's values broadcast to `shape` (numpy's rule; the caller checked it applies).
std::vector<float> BroadcastTo(const GraphTensor& t, const std::vector<int64_t>& shape);

}  // namespace priortune::compiler::internal

// The reference runner's one-node evaluation, for the importer's constant folding
// (graph_fold.cpp).
#pragma once

#include <vector>

#include "compiler/graph/graph.h"

namespace priortune::compiler::internal {

// Node n's output computed by the reference runner from its inputs, which are constants
// of g (float values).
std::vector<float> EvaluateNode(const GraphNode& n, const Graph& g);

}  // namespace priortune::compiler::internal

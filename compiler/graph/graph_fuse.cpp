// Epilogue fusion: the elementwise operators that only consume a convolution's or dense
// layer's output become part of its epilogue (Workload::residual, relu, relu6), so the
// output is written once, already final, instead of once per operator.
#include <algorithm>
#include <map>
#include <set>

#include "compiler/graph/graph.h"

namespace priortune::compiler {
namespace {

bool Tunable(const GraphNode& n) {
  return n.op == GraphOp::kConv2d || n.op == GraphOp::kDepthwiseConv2d || n.op == GraphOp::kDense;
}

}  // namespace

void FuseEpilogues(Graph& g) {
  const size_t count = g.nodes.size();
  // readers[tensor]: the nodes that read it; graph outputs count as a reader (-1).
  std::map<std::string, std::vector<int64_t>> readers;
  for (size_t i = 0; i < count; ++i)
    for (const auto& in : g.nodes[i].inputs) readers[in].push_back(static_cast<int64_t>(i));
  for (const auto& out : g.outputs) readers[out].push_back(-1);
  std::vector<bool> removed(count, false);
  std::vector<size_t> position(count);  // where each node runs: the last node it absorbed
  for (size_t i = 0; i < count; ++i) position[i] = i;

  for (size_t i = 0; i < count; ++i) {
    GraphNode& n = g.nodes[i];
    if (removed[i] || !Tunable(n) || !n.workload) continue;
    Workload& w = *n.workload;
    for (;;) {
      const std::string out = n.outputs[0];
      const auto& r = readers[out];
      if (r.size() != 1 || r[0] < 0) break;
      const size_t j = static_cast<size_t>(r[0]);
      GraphNode& c = g.nodes[j];
      const bool activated = w.relu || w.relu6;
      if (c.op == GraphOp::kAdd && !w.residual && !activated && c.inputs.size() == 2 && c.inputs[0] != c.inputs[1]) {
        const std::string other = c.inputs[0] == out ? c.inputs[1] : c.inputs[0];
        if (g.tensors.at(other).shape != g.tensors.at(out).shape) break;
        n.inputs.push_back(other);
        for (auto& x : readers[other])
          if (x == static_cast<int64_t>(j)) x = static_cast<int64_t>(i);
        w.residual = true;
      } else if (c.op == GraphOp::kRelu && !activated) {
        w.relu = true;
      } else if (c.op == GraphOp::kClip && !activated && c.clip_min == 0.0f && c.clip_max == 6.0f) {
        w.relu6 = true;
      } else {
        break;
      }
      // n now writes c's output, where c ran.
      g.tensors.erase(out);
      n.outputs[0] = c.outputs[0];
      n.fused.push_back(c.name);
      removed[j] = true;
      position[i] = position[j];
      ++g.epilogues_fused;
    }
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < count; ++i)
    if (!removed[i]) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return position[a] < position[b]; });
  std::vector<GraphNode> nodes;
  nodes.reserve(order.size());
  for (size_t i : order) nodes.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(nodes);
}

}  // namespace priortune::compiler

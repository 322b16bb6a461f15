// Epilogue fusion: the elementwise operators that only consume a convolution's or dense
// layer's output become part of its epilogue (Workload::residual, relu, relu6, silu,
// hardswish, gelu, gelu_tanh), so the output is written once, already final, instead of once per operator.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "compiler/graph/graph.h"

namespace priortune::compiler {
namespace {

bool Tunable(const GraphNode& n) {
  return n.op == GraphOp::kConv2d || n.op == GraphOp::kDepthwiseConv2d || n.op == GraphOp::kDense;
}

using Readers = std::map<std::string, std::vector<int64_t>>;  // tensor -> reading nodes (-1: a graph output)

// A gated activation as exported: the two readers of node i's output are a gate of it and
// the Mul of it by that gate (which nothing else reads). SiLU's gate is a Sigmoid,
// HardSwish's a HardSigmoid(1/6, 1/2) (PyTorch's export before opset 14).
struct Gate {
  size_t gate, mul;  // the nodes
  bool hardswish;    // else SiLU
};

bool IsGate(const GraphNode& n, bool* hardswish) {
  if (n.op != GraphOp::kUnary) return false;
  *hardswish = n.unary == UnaryOp::kHardSigmoid;
  return n.unary == UnaryOp::kSigmoid || (*hardswish && std::fabs(n.alpha - 1.0f / 6.0f) <= 1e-6f && n.beta == 0.5f);
}

std::optional<Gate> GateReaders(const Graph& g, const Readers& readers, size_t i) {
  const auto found = readers.find(g.nodes[i].outputs[0]);
  if (found == readers.end()) return std::nullopt;
  const std::string& out = found->first;
  const auto& r = found->second;
  if (r.size() != 2 || r[0] < 0 || r[1] < 0) return std::nullopt;
  size_t s = static_cast<size_t>(r[0]), m = static_cast<size_t>(r[1]);
  if (g.nodes[s].op != GraphOp::kUnary) std::swap(s, m);
  const GraphNode &gate = g.nodes[s], &mul = g.nodes[m];
  bool hardswish = false;
  if (!IsGate(gate, &hardswish) || mul.op != GraphOp::kBinary || mul.binary != BinaryOp::kMul) return std::nullopt;
  const auto it = readers.find(gate.outputs[0]);
  const bool pair = (mul.inputs == std::vector<std::string>{out, gate.outputs[0]}) ||
                    (mul.inputs == std::vector<std::string>{gate.outputs[0], out});
  if (!pair || it == readers.end() || it->second != std::vector<int64_t>{static_cast<int64_t>(m)}) return std::nullopt;
  return Gate{s, m, hardswish};
}

}  // namespace

void FuseEpilogues(Graph& g) {
  const size_t count = g.nodes.size();
  // readers[tensor]: the nodes that read it; graph outputs count as a reader (-1).
  Readers readers;
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
      const bool activated = w.Activations() > 0;
      if (auto gated = activated ? std::nullopt : GateReaders(g, readers, i)) {
        // Both nodes go: n writes the Mul's output, where the Mul ran.
        const GraphNode &gate = g.nodes[gated->gate], &mul = g.nodes[gated->mul];
        (gated->hardswish ? w.hardswish : w.silu) = true;
        g.tensors.erase(out);
        g.tensors.erase(gate.outputs[0]);
        n.outputs[0] = mul.outputs[0];
        n.fused.insert(n.fused.end(), {gate.name, mul.name});
        removed[gated->gate] = removed[gated->mul] = true;
        position[i] = position[gated->mul];
        g.epilogues_fused += 2;
        continue;
      }
      if (r.size() != 1 || r[0] < 0) break;
      const size_t j = static_cast<size_t>(r[0]);
      GraphNode& c = g.nodes[j];
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
      } else if (c.op == GraphOp::kUnary && c.unary == UnaryOp::kHardSwish && !activated) {
        w.hardswish = true;
      } else if (c.op == GraphOp::kUnary && c.unary == UnaryOp::kGelu && !activated) {
        w.gelu = true;
      } else if (c.op == GraphOp::kUnary && c.unary == UnaryOp::kGeluTanh && !activated) {
        w.gelu_tanh = true;
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

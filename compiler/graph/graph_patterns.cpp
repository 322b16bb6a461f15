// Patterns an exporter spells out operator by operator, recognised as the one node they
// compute: LayerNorm from opset 13's decomposition (ReduceMean, Sub, Pow 2, ReduceMean,
// Add eps, Sqrt, Div, then an optional Mul by a scale and Add of a bias), GELU from its
// erf form (Div by sqrt(2) or Mul by 1/sqrt(2), Erf, Add 1, Mul by x, Mul by 0.5) and from
// its tanh form (GPT-2's: x^3 as Pow 3 or two Muls, Mul by 0.044715, Add x, Mul by
// sqrt(2 / pi), Tanh, Add 1, Mul by x, Mul by 0.5). A
// pattern is taken only when its inner tensors have no reader outside it and are not
// graph outputs; the one node runs where the pattern's first node ran.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "compiler/graph/graph.h"
#include "compiler/graph/internal/reference.h"

namespace priortune::compiler {
namespace {

class Patterns {
 public:
  explicit Patterns(Graph& g) : g_(g), removed_(g.nodes.size(), false) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& in : g.nodes[i].inputs) readers_[in].push_back(static_cast<int64_t>(i));
    for (const auto& out : g.outputs) readers_[out].push_back(-1);
    for (size_t i = 0; i < g.nodes.size(); ++i) producer_[g.nodes[i].outputs[0]] = i;
  }

  void Run() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (removed_[i]) continue;
      if (LayerNorm(i))
        ++g_.layernorms_recognised;
      else if (Gelu(i) || GeluTanh(i))
        ++g_.gelus_recognised;
    }
    std::vector<GraphNode> kept;
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (!removed_[i]) kept.push_back(std::move(g_.nodes[i]));
    g_.nodes = std::move(kept);
  }

 private:
  // The node that alone reads tensor t (and t is no graph output), if it has op `op`.
  GraphNode* Sole(const std::string& t, GraphOp op, size_t* at = nullptr) {
    auto it = readers_.find(t);
    if (it == readers_.end() || it->second.size() != 1 || it->second[0] < 0) return nullptr;
    const size_t j = static_cast<size_t>(it->second[0]);
    if (removed_[j] || g_.nodes[j].op != op) return nullptr;
    if (at) *at = j;
    return &g_.nodes[j];
  }
  const GraphTensor* Constant(const std::string& t) const {
    const GraphTensor& c = g_.tensors.at(t);
    return c.constant && !c.data.empty() ? &c : nullptr;
  }
  // For a binary node reading `t`: its other operand when that is a constant.
  const GraphTensor* OtherConstant(const GraphNode& n, const std::string& t, std::string* name = nullptr) const {
    if (n.inputs.size() != 2) return nullptr;
    const std::string& other = n.inputs[0] == t ? n.inputs[1] : n.inputs[0];
    if (name) *name = other;
    return (n.inputs[0] == t || n.inputs[1] == t) && other != t ? Constant(other) : nullptr;
  }
  static bool Scalar(const GraphTensor* c, double want) {
    return c && c->data.size() == 1 && std::fabs(c->data[0] - want) <= 1e-4 * std::max(1.0, std::fabs(want));
  }
  static bool Is(const GraphNode* n, BinaryOp op) {
    return n && ((n->op == GraphOp::kBinary && n->binary == op) || (op == BinaryOp::kAdd && n->op == GraphOp::kAdd));
  }
  GraphNode* SoleBinary(const std::string& t, BinaryOp op, size_t* at) {
    GraphNode* n = Sole(t, GraphOp::kBinary, at);
    if (!n && op == BinaryOp::kAdd) n = Sole(t, GraphOp::kAdd, at);
    return Is(n, op) ? n : nullptr;
  }
  // The normalised axes of a mean: trailing ones, kept in the output.
  bool TrailingMean(const GraphNode& n) const {
    if (n.op != GraphOp::kReduce || n.reduce != ReduceOp::kMean || n.axes.empty()) return false;
    const size_t rank = g_.tensors.at(n.inputs[0]).shape.size();
    for (size_t k = 0; k < n.axes.size(); ++k)
      if (n.axes[k] != static_cast<int64_t>(rank - n.axes.size() + k)) return false;
    return g_.tensors.at(n.outputs[0]).shape.size() == rank;
  }

  bool LayerNorm(size_t i) {
    GraphNode& mean = g_.nodes[i];
    if (!TrailingMean(mean)) return false;
    const std::string x = mean.inputs[0];
    size_t sub_at, pow_at, var_at, eps_at, sqrt_at, div_at;
    GraphNode* sub = SoleBinary(mean.outputs[0], BinaryOp::kSub, &sub_at);
    if (!sub || sub->inputs != std::vector<std::string>{x, mean.outputs[0]}) return false;
    const std::string d = sub->outputs[0];
    const auto& dr = readers_[d];
    if (dr.size() != 2 || dr[0] < 0 || dr[1] < 0) return false;
    pow_at = static_cast<size_t>(g_.nodes[dr[0]].op == GraphOp::kUnary ? dr[0] : dr[1]);
    div_at = static_cast<size_t>(pow_at == static_cast<size_t>(dr[0]) ? dr[1] : dr[0]);
    GraphNode& pow = g_.nodes[pow_at];
    if (pow.op != GraphOp::kUnary || pow.unary != UnaryOp::kPow || pow.alpha != 2.0f) return false;
    GraphNode* var = Sole(pow.outputs[0], GraphOp::kReduce, &var_at);
    if (!var || !TrailingMean(*var) || var->axes != mean.axes) return false;
    GraphNode* eps = SoleBinary(var->outputs[0], BinaryOp::kAdd, &eps_at);
    const GraphTensor* e = eps ? OtherConstant(*eps, var->outputs[0]) : nullptr;
    if (!e || e->data.size() != 1 || !(e->data[0] >= 0)) return false;
    GraphNode* root = Sole(eps->outputs[0], GraphOp::kUnary, &sqrt_at);
    if (!root || root->unary != UnaryOp::kSqrt) return false;
    GraphNode& div = g_.nodes[div_at];
    if (!Is(&div, BinaryOp::kDiv) || div.inputs != std::vector<std::string>{d, root->outputs[0]}) return false;
    std::vector<size_t> matched = {i, sub_at, pow_at, var_at, eps_at, sqrt_at, div_at};
    // The affine part: a Mul by a constant scale, then an Add of a constant bias.
    const auto& xs = g_.tensors.at(x).shape;
    const std::vector<int64_t> norm(xs.end() - static_cast<int64_t>(mean.axes.size()), xs.end());
    std::string out = div.outputs[0];
    size_t size = 1;
    for (int64_t d : norm) size *= static_cast<size_t>(d);
    std::vector<std::vector<float>> affine = {std::vector<float>(size, 1.0f), std::vector<float>(size, 0.0f)};
    for (int k = 0; k < 2; ++k) {
      size_t at;
      GraphNode* a = SoleBinary(out, k == 0 ? BinaryOp::kMul : BinaryOp::kAdd, &at);
      const GraphTensor* c = a ? OtherConstant(*a, out) : nullptr;
      std::optional<std::vector<float>> values = c ? OverNorm(*c, norm) : std::nullopt;
      if (!values) break;
      affine[k] = std::move(*values);
      matched.push_back(at);
      out = a->outputs[0];
    }
    GraphNode ln;
    ln.name = mean.name;
    ln.op_type = "LayerNormalization (recognised)";
    ln.op = GraphOp::kLayerNorm;
    ln.axis = static_cast<int64_t>(xs.size() - mean.axes.size());
    ln.alpha = e->data[0];
    ln.outputs = {out};
    const std::string scale = out + "::ln_scale", bias = out + "::ln_bias";
    for (int k = 0; k < 2; ++k) {
      GraphTensor t;
      t.constant = true;
      t.shape = norm;
      t.data = std::move(affine[k]);
      g_.tensors[k == 0 ? scale : bias] = std::move(t);
    }
    ln.inputs = {x, scale, bias};
    Replace(matched, std::move(ln));
    return true;
  }

  bool Gelu(size_t i) {
    GraphNode& first = g_.nodes[i];
    std::string x;
    if (Is(&first, BinaryOp::kDiv) && Scalar(Constant(first.inputs[1]), M_SQRT2)) {
      x = first.inputs[0];
    } else if (Is(&first, BinaryOp::kMul)) {
      for (int k = 0; k < 2; ++k)
        if (Scalar(Constant(first.inputs[k]), M_SQRT1_2)) x = first.inputs[1 - k];
    }
    if (x.empty() || g_.tensors.at(x).constant) return false;
    size_t erf_at;
    GraphNode* erf = Sole(first.outputs[0], GraphOp::kUnary, &erf_at);
    if (!erf || erf->unary != UnaryOp::kErf) return false;
    std::vector<size_t> matched = {i, erf_at};
    return GeluTail(erf->outputs[0], x, first.name, UnaryOp::kGelu, matched);
  }

  // Both GELU forms end alike: t (the erf or the tanh), + 1, * x, * 0.5. When they do,
  // the matched nodes become one kUnary `op` of x named `name`.
  bool GeluTail(const std::string& t, const std::string& x, const std::string& name, UnaryOp op,
                std::vector<size_t>& matched) {
    size_t add_at, mul_at, half_at;
    GraphNode* add = SoleBinary(t, BinaryOp::kAdd, &add_at);
    if (!add || !Scalar(OtherConstant(*add, t), 1.0)) return false;
    GraphNode* mul = SoleBinary(add->outputs[0], BinaryOp::kMul, &mul_at);
    std::string other;
    if (!mul || (OtherConstant(*mul, add->outputs[0], &other), other != x)) return false;
    GraphNode* half = SoleBinary(mul->outputs[0], BinaryOp::kMul, &half_at);
    if (!half || !Scalar(OtherConstant(*half, mul->outputs[0]), 0.5)) return false;
    matched.insert(matched.end(), {add_at, mul_at, half_at});
    GraphNode gelu;
    gelu.name = name;
    gelu.op_type = op == UnaryOp::kGelu ? "Gelu (recognised)" : "Gelu tanh (recognised)";
    gelu.op = GraphOp::kUnary;
    gelu.unary = op;
    gelu.inputs = {x};
    gelu.outputs = {half->outputs[0]};
    Replace(matched, std::move(gelu));
    return true;
  }

  // The node that writes t, when node `reader` alone reads t (and t is no graph output).
  GraphNode* Feeding(const std::string& t, size_t reader, size_t* at) {
    auto p = producer_.find(t);
    auto r = readers_.find(t);
    if (p == producer_.end() || removed_[p->second] || r == readers_.end() ||
        r->second != std::vector<int64_t>{static_cast<int64_t>(reader)})
      return nullptr;
    *at = p->second;
    return &g_.nodes[p->second];
  }
  // A Mul of t by the constant `c`, feeding only `reader`: t, else "".
  std::string ScaledBy(const std::string& t, size_t reader, double c, size_t* at) {
    GraphNode* m = Feeding(t, reader, at);
    if (!Is(m, BinaryOp::kMul) || m->inputs.size() != 2) return "";
    for (int k = 0; k < 2; ++k)
      if (Scalar(Constant(m->inputs[k]), c) && !Constant(m->inputs[1 - k])) return m->inputs[1 - k];
    return "";
  }
  // Whether `t` is x^3 feeding only `reader`: Pow(x, 3), or x * (x * x) either way round.
  bool Cube(const std::string& t, const std::string& x, size_t reader, std::vector<size_t>& matched) {
    size_t at, sq_at;
    GraphNode* c = Feeding(t, reader, &at);
    if (c && c->op == GraphOp::kUnary && c->unary == UnaryOp::kPow && c->alpha == 3.0f && c->inputs[0] == x) {
      matched.push_back(at);
      return true;
    }
    if (!Is(c, BinaryOp::kMul) || c->inputs.size() != 2) return false;
    const int k = c->inputs[0] == x ? 1 : 0;
    if (c->inputs[1 - k] != x) return false;
    GraphNode* sq = Feeding(c->inputs[k], at, &sq_at);
    if (!Is(sq, BinaryOp::kMul) || sq->inputs != std::vector<std::string>{x, x}) return false;
    matched.insert(matched.end(), {at, sq_at});
    return true;
  }

  bool GeluTanh(size_t i) {
    GraphNode& tanh = g_.nodes[i];
    if (tanh.op != GraphOp::kUnary || tanh.unary != UnaryOp::kTanh) return false;
    std::vector<size_t> matched = {i};
    size_t at, sum_at;
    const std::string inner = ScaledBy(tanh.inputs[0], i, 0.7978845608, &at);  // sqrt(2 / pi)
    if (inner.empty()) return false;
    matched.push_back(at);
    GraphNode* sum = Feeding(inner, at, &sum_at);
    if (!Is(sum, BinaryOp::kAdd) || sum->inputs.size() != 2) return false;
    matched.push_back(sum_at);
    std::string x;
    for (int k = 0; k < 2 && x.empty(); ++k) {
      std::vector<size_t> part;
      const std::string cube = ScaledBy(sum->inputs[k], sum_at, 0.044715, &at);
      if (!cube.empty() && Cube(cube, sum->inputs[1 - k], at, part)) {
        x = sum->inputs[1 - k];
        matched.push_back(at);
        matched.insert(matched.end(), part.begin(), part.end());
      }
    }
    if (x.empty() || g_.tensors.at(x).constant) return false;
    return GeluTail(tanh.outputs[0], x, tanh.name, UnaryOp::kGeluTanh, matched);
  }

  // The first matched node becomes `n`; the others are removed.
  void Replace(const std::vector<size_t>& matched, GraphNode n) {
    const size_t at = *std::min_element(matched.begin(), matched.end());
    for (size_t j : matched) removed_[j] = j != at;
    g_.nodes[at] = std::move(n);
  }

  // c's values over `norm` when c broadcasts to it from the trailing side alone (leading
  // axes of 1 beyond norm's rank dropped), else nullopt.
  static std::optional<std::vector<float>> OverNorm(const GraphTensor& c, const std::vector<int64_t>& norm) {
    GraphTensor t = c;
    while (t.shape.size() > norm.size() && t.shape.front() == 1) t.shape.erase(t.shape.begin());
    const auto b = BroadcastShape(norm, t.shape);
    if (!b || *b != norm) return std::nullopt;
    return internal::BroadcastTo(t, norm);
  }

  Graph& g_;
  std::vector<bool> removed_;
  std::map<std::string, std::vector<int64_t>> readers_;  // graph outputs: -1
  std::map<std::string, size_t> producer_;
};

}  // namespace

void RecognisePatterns(Graph& graph) { Patterns(graph).Run(); }

}  // namespace priortune::compiler

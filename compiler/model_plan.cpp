// PlanModel: a graph's nodes as lowered functions over the model's buffers. Tunable nodes
// go through their op template with the config ChooseConfig picks; the simple ops are
// small tensor-expression computations here, each with a default schedule: the output's
// axes fused, vectors along the innermost, the outer part on the thread pool when there
// is enough of it.
#include <cmath>
#include <limits>
#include <map>

#include "compiler/model.h"
#include "compiler/schedule.h"

namespace priortune::compiler {
namespace {

// Elements below which a simple op stays on one thread (the pool's fork and join would
// cost more than the work).
constexpr int64_t kParallelElements = 16384;

// The whole output as one loop: vectors of the target's lanes, the outer loop parallel.
void ScheduleFlat(Schedule& s, const Tensor& out, const Target& t) {
  Stage& st = s[out];
  IterVar f = st.axis(0);
  for (size_t i = 1; i < out.shape().size(); ++i) f = st.fuse(f, st.axis(i));
  const int64_t lanes = t.vector_lanes();
  if (out.size() < lanes) return;
  auto [outer, inner] = st.split(f, lanes);
  st.vectorize(inner);
  if (out.size() >= kParallelElements) st.parallel(outer);
}

// An NCHW output row by row: (n, c, y) fused and parallel, the row in vectors.
void ScheduleRows(Schedule& s, const Tensor& out, const Target& t) {
  Stage& st = s[out];
  IterVar rows = st.fuse(st.fuse(st.axis(0), st.axis(1)), st.axis(2));
  const int64_t width = out.shape()[3], lanes = t.vector_lanes();
  if (width >= lanes) {
    auto [outer, inner] = st.split(st.axis(3), lanes);
    (void)outer;
    st.vectorize(inner);
  }
  if (out.size() >= kParallelElements) st.parallel(rows);
}

const std::vector<int64_t>& ShapeOf(const Graph& g, const std::string& name) { return g.tensors.at(name).shape; }

StatusOr<LoweredFunc> LowerPool(const GraphNode& n, const Graph& g, const Target& t) {
  const auto& xs = ShapeOf(g, n.inputs[0]);
  const auto& ys = ShapeOf(g, n.outputs[0]);
  const int64_t H = xs[2], W = xs[3], K = n.kernel, S = n.stride, P = n.pad;
  Tensor x = Placeholder("x", xs);
  const bool max = n.op == GraphOp::kMaxPool;
  Tensor y = Compute(max ? "max_pool" : "avg_pool", ys, [&](Expr b, Expr c, Expr oy, Expr ox) {
    Expr acc;
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < K; ++j) {
        Expr h = oy * S + (i - P), w = ox * S + (j - P);
        Expr v = x(b, c, h, w);
        if (P > 0)
          v = Select(h >= 0 && h < H && w >= 0 && w < W, v,
                     FloatImm(max ? -std::numeric_limits<float>::infinity() : 0.0));
        acc = !acc.get() ? v : max ? Max(acc, v) : acc + v;
      }
    if (max) return acc;
    if (P == 0) return acc * FloatImm(1.0 / static_cast<double>(K * K));
    // count_include_pad 0: divide by the window's part inside the image.
    Expr h0 = Max(oy * S - P, IntImm(0)), h1 = Min(oy * S - P + K, IntImm(H));
    Expr w0 = Max(ox * S - P, IntImm(0)), w1 = Min(ox * S - P + K, IntImm(W));
    return acc / Cast(DType::kFloat32, (h1 - h0) * (w1 - w0));
  });
  Schedule s({y});
  ScheduleRows(s, y, t);
  return Lower(s, max ? "max_pool" : "avg_pool", {x, y});
}

StatusOr<LoweredFunc> LowerGlobalAveragePool(const GraphNode& n, const Graph& g, const Target& t) {
  const auto& xs = ShapeOf(g, n.inputs[0]);
  const auto& ys = ShapeOf(g, n.outputs[0]);
  Tensor x = Placeholder("x", xs);
  IterVar rh = ReduceAxis(xs[2], "rh"), rw = ReduceAxis(xs[3], "rw");
  Tensor sum = Compute("sum", {xs[0], xs[1]}, [&](Expr b, Expr c) { return Sum(x(b, c, rh->var, rw->var), {rh, rw}); });
  const double inv = 1.0 / static_cast<double>(xs[2] * xs[3]);
  Tensor y = Compute("global_avg_pool", ys, [&](const std::vector<Expr>& i) { return sum(i[0], i[1]) * FloatImm(inv); });
  Schedule s({y});
  Stage& st = s[y];
  IterVar f = st.axis(0);
  for (size_t i = 1; i < ys.size(); ++i) f = st.fuse(f, st.axis(i));
  if (xs[0] * xs[1] * xs[2] * xs[3] >= kParallelElements) st.parallel(f);
  s[sum].compute_at(st, f);
  return Lower(s, "global_avg_pool", {x, y});
}

StatusOr<LoweredFunc> LowerElementwise(const GraphNode& n, const Graph& g, const Target& t) {
  const auto& ys = ShapeOf(g, n.outputs[0]);
  Tensor x = Placeholder("x", ShapeOf(g, n.inputs[0]));
  std::vector<Tensor> args = {x};
  Tensor other, scale, shift;
  std::string name;
  std::function<Expr(const std::vector<Expr>&)> body;
  switch (n.op) {
    case GraphOp::kRelu:
      name = "relu";
      body = [&](const std::vector<Expr>& i) { return Max(x(i), FloatImm(0.0)); };
      break;
    case GraphOp::kClip:
      name = "clip";
      body = [&](const std::vector<Expr>& i) {
        Expr v = x(i);
        if (std::isfinite(n.clip_min)) v = Max(v, FloatImm(n.clip_min));
        if (std::isfinite(n.clip_max)) v = Min(v, FloatImm(n.clip_max));
        return v;
      };
      break;
    case GraphOp::kAdd:
      name = "add";
      other = Placeholder("y", ShapeOf(g, n.inputs[1]));
      args.push_back(other);
      body = [&](const std::vector<Expr>& i) { return x(i) + other(i); };
      break;
    case GraphOp::kBatchNorm:
      name = "batch_norm";
      scale = Placeholder("scale", {ys[1]});
      shift = Placeholder("shift", {ys[1]});
      args.push_back(scale);
      args.push_back(shift);
      body = [&](const std::vector<Expr>& i) { return x(i) * scale(i[1]) + shift(i[1]); };
      break;
    default:
      return Internal("not an elementwise op: " + n.op_type);
  }
  Tensor y = Compute(name, ys, body);
  args.push_back(y);
  Schedule s({y});
  ScheduleFlat(s, y, t);
  return Lower(s, name, args);
}

// Softmax over the last axis of [rows, cols]: the row's max, exp(x - max), their sum and
// the quotient.
StatusOr<LoweredFunc> LowerSoftmax(const GraphNode& n, const Graph& g, const Target& t) {
  const auto& xs = ShapeOf(g, n.inputs[0]);
  int64_t cols = xs.back(), rows = 1;
  for (size_t i = 0; i + 1 < xs.size(); ++i) rows *= xs[i];
  Tensor x = Placeholder("x", {rows, cols});
  IterVar rm = ReduceAxis(cols, "rm"), rs = ReduceAxis(cols, "rs");
  Tensor mx = Compute("row_max", {rows}, [&](Expr r) { return Reduce(ReduceKind::kMax, x(r, rm->var), {rm}); });
  Tensor e = Compute("exp", {rows, cols}, [&](Expr r, Expr c) { return Exp(x(r, c) - mx(r)); });
  Tensor sum = Compute("row_sum", {rows}, [&](Expr r) { return Sum(e(r, rs->var), {rs}); });
  Tensor y = Compute("softmax", {rows, cols}, [&](Expr r, Expr c) { return e(r, c) / sum(r); });
  // Each stage whole, one after the other: a classifier's few rows of logits.
  Schedule s({y});
  if (rows * cols >= kParallelElements)
    for (const Tensor& t : {mx, e, sum, y}) s[t].parallel(s[t].axis(0));
  return Lower(s, "softmax", {x, y});
}

}  // namespace

StatusOr<ModelPlan> PlanModel(const Graph& g, const Target& t, ConfigSource& source) {
  if (g.inputs.size() != 1 || g.outputs.size() != 1)
    return InvalidArgument("a compiled model has one input and one output; this graph has " +
                           std::to_string(g.inputs.size()) + " and " + std::to_string(g.outputs.size()));
  ModelPlan plan;
  plan.target = t;
  std::map<std::string, int> index;
  auto buffer = [&](const std::string& name) -> int {
    auto it = index.find(name);
    if (it != index.end()) return it->second;
    const GraphTensor& gt = g.tensors.at(name);
    PlanBuffer b;
    b.name = name;
    b.shape = gt.shape;
    b.elements = gt.elements();
    b.constant = gt.constant;
    if (gt.constant) b.data = gt.data;
    plan.buffers.push_back(std::move(b));
    return index[name] = static_cast<int>(plan.buffers.size()) - 1;
  };
  plan.input = buffer(g.inputs[0]);
  for (const GraphNode& n : g.nodes) {
    const std::string where = "node '" + n.name + "' (" + n.op_type + ")";
    if (n.op == GraphOp::kFlatten) {
      int in = buffer(n.inputs[0]), out = buffer(n.outputs[0]);
      plan.buffers[out].view_of = plan.buffers[in].view_of >= 0 ? plan.buffers[in].view_of : in;
      continue;
    }
    PlanStep step;
    step.name = n.name;
    StatusOr<LoweredFunc> f = Internal("unplanned");
    if (n.workload) {
      const Workload& w = *n.workload;
      auto choice = ChooseConfig(w, t, source);
      if (!choice.ok()) return Status(choice.status().code(), where + ": " + choice.status().message());
      step.choice = std::move(*choice);
      step.workload = w;
      step.op = w.op;
      PT_ASSIGN_OR_RETURN(const OpTemplate* tmpl, FindTemplate(w.op));
      step.flops = tmpl->Flops(w);
      f = LowerWorkload(w, t, step.choice.config);
      if (!f.ok() && step.choice.level != "hand-picked") {
        step.choice.skipped.push_back(step.choice.level + ": " + f.status().message());
        step.choice.level = "hand-picked";
        step.choice.config = tmpl->HandPickedConfig(w, t);
        step.choice.cost_seconds = 0;
        f = LowerWorkload(w, t, step.choice.config);
      }
      // The node's inputs are the template's: data, weight, bias, then the residual.
      for (const auto& in : n.inputs) step.args.push_back(buffer(in));
    } else {
      switch (n.op) {
        case GraphOp::kMaxPool:
        case GraphOp::kAveragePool: f = LowerPool(n, g, t); break;
        case GraphOp::kGlobalAveragePool: f = LowerGlobalAveragePool(n, g, t); break;
        case GraphOp::kSoftmax: f = LowerSoftmax(n, g, t); break;
        case GraphOp::kRelu:
        case GraphOp::kClip:
        case GraphOp::kAdd:
        case GraphOp::kBatchNorm: f = LowerElementwise(n, g, t); break;
        default: return InvalidArgument(where + ": the compiled runtime cannot run this operator");
      }
      for (const auto& in : n.inputs) step.args.push_back(buffer(in));
      if (f.ok()) step.op = f->name;
    }
    if (!f.ok()) return Status(f.status().code(), where + ": " + f.status().message());
    step.func = std::move(*f);
    step.args.push_back(buffer(n.outputs[0]));
    if (step.args.size() != step.func.args.size())
      return Internal(where + ": " + std::to_string(step.args.size()) + " buffers for " +
                      std::to_string(step.func.args.size()) + " kernel arguments");
    for (size_t i = 0; i < step.args.size(); ++i) {
      // A prepacked input takes the caller's layout: the prepack's input.
      const LoweredArg* arg = &step.func.args[i];
      for (const auto& p : step.func.prepacks)
        if (p.arg == i) arg = &p.func.args[0];
      int64_t want = 1;
      for (int64_t d : arg->shape) want *= d;
      if (plan.buffers[step.args[i]].elements != want)
        return Internal(where + ": argument " + arg->name + " takes " + std::to_string(want) +
                        " elements, buffer '" + plan.buffers[step.args[i]].name + "' has " +
                        std::to_string(plan.buffers[step.args[i]].elements));
    }
    step.func.name = "step" + std::to_string(plan.steps.size()) + "_" + step.func.name;
    plan.steps.push_back(std::move(step));
  }
  plan.output = buffer(g.outputs[0]);
  return plan;
}

}  // namespace priortune::compiler

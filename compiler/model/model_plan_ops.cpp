#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "compiler/model/internal/plan_ops.h"
#include "compiler/ops/blocked_layout.h"

namespace priortune::compiler::internal {
namespace {

const std::vector<int64_t>& ShapeOf(const Graph& g, const std::string& name) { return g.tensors.at(name).shape; }

int64_t Product(const std::vector<int64_t>& s, size_t from = 0, size_t to = SIZE_MAX) {
  int64_t p = 1;
  for (size_t d = from; d < s.size() && d < to; ++d) p *= s[d];
  return p;
}

// Each stage whole, one after the other, its outer axis parallel when the work is large.
void ScheduleStages(Schedule& s, const std::vector<Tensor>& stages, int64_t work, const Target& t) {
  for (const Tensor& st : stages) {
    if (work >= kParallelElements) s[st].parallel(s[st].axis(0));
    const int64_t inner = st.shape().back();
    if (st.shape().size() > 1 && inner >= t.vector_lanes() && inner % t.vector_lanes() == 0)
      VectorizeInNativeChunks(s[st], s[st].axis(st.shape().size() - 1), inner, t);
  }
}

// The outer two loops fused and parallel for a large output, the rest as written (data
// movement and broadcasting ops: one fused loop turns their index arithmetic into per-lane
// gathers; SqueezeNet 1.1 ran about 2x slower with it for concat).
void ScheduleOuterParallel(Schedule& s, const Tensor& out) {
  if (out.size() >= kParallelElements && out.shape().size() > 1)
    s[out].parallel(s[out].fuse(s[out].axis(0), s[out].axis(1)));
}

}  // namespace

StatusOr<LoweredFunc> LowerConcat(const GraphNode& n, const Graph& g) {
  std::vector<Tensor> args;
  std::vector<int64_t> begin;  // each input's first index along the axis
  int64_t at = 0;
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const auto& s = ShapeOf(g, n.inputs[k]);
    args.push_back(Placeholder("x" + std::to_string(k), s));
    begin.push_back(at);
    at += s[n.axis];
  }
  const auto& ys = ShapeOf(g, n.outputs[0]);
  const size_t a = static_cast<size_t>(n.axis);
  Tensor y = Compute("concat", ys, [&](const std::vector<Expr>& i) {
    auto from = [&](size_t k) {
      std::vector<Expr> j = i;
      j[a] = i[a] - IntImm(begin[k]);
      return args[k](j);
    };
    Expr v = from(args.size() - 1);
    for (size_t k = args.size() - 1; k-- > 0;) v = Select(i[a] < IntImm(begin[k + 1]), from(k), v);
    return v;
  });
  Schedule s({y});
  ScheduleOuterParallel(s, y);
  args.push_back(y);
  return Lower(s, "concat", args);
}

namespace {

// Input `in` read at output index `i`, broadcast as numpy does (a dimension of 1 at 0).
Expr ReadBroadcast(const Tensor& in, const std::vector<Expr>& i) {
  const auto& s = in.shape();
  std::vector<Expr> j;
  for (size_t d = 0; d < s.size(); ++d) j.push_back(s[d] == 1 ? IntImm(0) : i[i.size() - s.size() + d]);
  return in(j);
}

}  // namespace

StatusOr<LoweredFunc> LowerBinary(const GraphNode& n, const Graph& g) {
  const auto& ys = ShapeOf(g, n.outputs[0]);
  std::vector<Tensor> args;
  for (size_t k = 0; k < 2; ++k) args.push_back(Placeholder(k == 0 ? "a" : "b", ShapeOf(g, n.inputs[k])));
  static const char* kNames[] = {"add", "sub", "mul", "div", "min", "max"};
  const char* name = kNames[static_cast<int>(n.binary)];
  Tensor y = Compute(name, ys, [&](const std::vector<Expr>& i) {
    return BinaryValue(n.binary, ReadBroadcast(args[0], i), ReadBroadcast(args[1], i));
  });
  Schedule s({y});
  ScheduleOuterParallel(s, y);
  args.push_back(y);
  return Lower(s, name, args);
}

StatusOr<LoweredFunc> LowerWhere(const GraphNode& n, const Graph& g) {
  std::vector<Tensor> args;
  for (size_t k = 0; k < n.inputs.size(); ++k)
    args.push_back(Placeholder(std::string(1, "cab"[k]), ShapeOf(g, n.inputs[k])));
  const bool where = n.op == GraphOp::kWhere;
  const char* name = where ? "where" : "expand";
  Tensor y = Compute(name, ShapeOf(g, n.outputs[0]), [&](const std::vector<Expr>& i) {
    if (!where) return ReadBroadcast(args[0], i);
    return Select(ReadBroadcast(args[0], i) != FloatImm(0.0), ReadBroadcast(args[1], i), ReadBroadcast(args[2], i));
  });
  Schedule s({y});
  ScheduleOuterParallel(s, y);
  args.push_back(y);
  return Lower(s, name, args);
}

StatusOr<LoweredFunc> LowerGather(const GraphNode& n, const Graph& g) {
  const auto& ds = ShapeOf(g, n.inputs[0]);
  const auto& is = ShapeOf(g, n.inputs[1]);
  const auto& ys = ShapeOf(g, n.outputs[0]);
  const size_t axis = static_cast<size_t>(n.axis), q = is.size();
  const int64_t rows = ds[axis];
  Tensor data = Placeholder("data", ds), idx = Placeholder("indices", is);
  Tensor y = Compute("gather", ys, [&](const std::vector<Expr>& i) {
    // The index (held as a float) as an integer, negative ones from the end, clamped into
    // the table: the kernel never reads outside it, whatever the caller's checks let in.
    Expr r = Cast(DType::kInt64, idx(std::vector<Expr>(i.begin() + axis, i.begin() + axis + q)));
    r = Select(r < IntImm(0), r + IntImm(rows), r);
    r = Max(IntImm(0), Min(IntImm(rows - 1), r));
    std::vector<Expr> j(i.begin(), i.begin() + axis);
    j.push_back(r);
    j.insert(j.end(), i.begin() + axis + q, i.end());
    return data(j);
  });
  Schedule s({y});
  ScheduleOuterParallel(s, y);
  return Lower(s, "gather", {data, idx, y});
}

StatusOr<LoweredFunc> LowerMove(const GraphNode& n, const Graph& g) {
  const auto& xs = ShapeOf(g, n.inputs[0]);
  const auto& ys = ShapeOf(g, n.outputs[0]);
  const char* name = n.op == GraphOp::kTranspose ? "transpose" : n.op == GraphOp::kSlice ? "slice" : "pad";
  Tensor x = Placeholder("x", xs);
  Tensor y = Compute(name, ys, [&](const std::vector<Expr>& i) {
    const std::vector<Expr> j = SourceCoords(n, i);
    Expr v = x(j), inside;
    if (n.op != GraphOp::kPad) return v;
    for (size_t d = 0; d < xs.size(); ++d) {
      if (n.pads[d] == 0 && n.pads[xs.size() + d] == 0) continue;
      Expr in = j[d] >= 0 && j[d] < xs[d];
      inside = inside.get() ? (inside && in) : in;
    }
    return inside.get() ? Select(inside, v, FloatImm(n.alpha)) : v;
  });
  Schedule s({y});
  ScheduleOuterParallel(s, y);
  return Lower(s, name, {x, y});
}

StatusOr<LoweredFunc> LowerReduce(const GraphNode& n, const Graph& g) {
  const auto& xs = ShapeOf(g, n.inputs[0]);
  std::vector<int64_t> keep = xs;  // the output with the axes kept as 1: the same elements
  std::vector<IterVar> r;
  int64_t count = 1;
  for (int64_t a : n.axes) {
    keep[a] = 1;
    count *= xs[a];
    r.push_back(ReduceAxis(xs[a], "r" + std::to_string(a)));
  }
  Tensor x = Placeholder("x", xs);
  Tensor sum = Compute("sum", keep, [&](const std::vector<Expr>& i) {
    std::vector<Expr> j = i;
    for (size_t k = 0; k < r.size(); ++k) j[n.axes[k]] = r[k]->var;
    return Sum(n.reduce == ReduceOp::kL2 ? x(j) * x(j) : x(j), r);
  });
  const double scale = n.reduce == ReduceOp::kMean ? 1.0 / static_cast<double>(count) : 1.0;
  Tensor y = Compute("reduce", keep, [&](const std::vector<Expr>& i) {
    return n.reduce == ReduceOp::kL2 ? Sqrt(sum(i)) : sum(i) * FloatImm(scale);
  });
  Schedule s({y});
  Stage& st = s[y];
  IterVar f = st.axis(0);
  for (size_t d = 1; d < keep.size(); ++d) f = st.fuse(f, st.axis(d));
  if (Product(xs) >= kParallelElements && Product(keep) > 1) st.parallel(f);
  s[sum].compute_at(st, f);
  return Lower(s, "reduce", {x, y});
}

namespace {

// A reduction of each of `outer` lines of `len` values (`at(o, j)`: value j of line o),
// appended to `stages`. Where the line is whole vectors, in two steps: a vector of partial
// results over the line's chunks (lane l: values l, l + lanes, ...), then across its
// lanes, instead of one serial chain of `len` scalar steps.
Tensor LineReduce(const std::string& name, ReduceKind kind, int64_t outer, int64_t len,
                  const std::function<Expr(Expr, Expr)>& at, const Target& t, std::vector<Tensor>& stages) {
  const int64_t lanes = t.vector_lanes();
  if (len % lanes != 0 || len <= lanes) {
    IterVar r = ReduceAxis(len, name + "_r");
    stages.push_back(Compute(name, {outer}, [&](Expr o) { return Reduce(kind, at(o, r->var), {r}); }));
    return stages.back();
  }
  IterVar c = ReduceAxis(len / lanes, name + "_c"), l = ReduceAxis(lanes, name + "_l");
  Tensor part = Compute(name + "_lanes", {outer, lanes},
                        [&](Expr o, Expr i) { return Reduce(kind, at(o, c->var * IntImm(lanes) + i), {c}); });
  stages.push_back(part);
  stages.push_back(Compute(name, {outer}, [&](Expr o) { return Reduce(kind, part(o, l->var), {l}); }));
  return stages.back();
}

// ScheduleStages, then each LineReduce's partial results with their lanes innermost (o,
// chunk, lanes: each chunk one vector step).
void ScheduleLines(Schedule& s, const std::vector<Tensor>& stages, int64_t work, const Target& t) {
  ScheduleStages(s, stages, work, t);
  for (const Tensor& st : stages)
    if (st.shape().size() == 2 && st.shape()[1] == t.vector_lanes() && !st.op()->reduce_axes.empty())
      s[st].reorder({s[st].axis(0), s[st].reduce_axis(0), s[st].axis(1)});
}

// Softmax over the last axis (attention's): lines of `len` values, [outer, len], so that
// the exp and the division run along the line in vectors (over [outer, len, 1] the last
// axis is 1 wide: one libm expf call per element, BERT-base's 12 softmaxes 17.7 of 345 ms).
StatusOr<LoweredFunc> LowerSoftmaxLastAxis(int64_t outer, int64_t len, const Target& t) {
  Tensor x = Placeholder("x", {outer, len});
  std::vector<Tensor> stages;
  Tensor mx = LineReduce(
      "line_max", ReduceKind::kMax, outer, len, [&](Expr o, Expr j) { return x(o, j); }, t, stages);
  Tensor e = Compute("exp", {outer, len}, [&](Expr o, Expr j) { return Exp(x(o, j) - mx(o)); });
  stages.push_back(e);
  Tensor sum = LineReduce(
      "line_sum", ReduceKind::kSum, outer, len, [&](Expr o, Expr j) { return e(o, j); }, t, stages);
  Tensor y = Compute("softmax", {outer, len}, [&](Expr o, Expr j) { return e(o, j) / sum(o); });
  stages.push_back(y);
  Schedule s({y});
  ScheduleLines(s, stages, outer * len, t);
  return Lower(s, "softmax", {x, y});
}

}  // namespace

StatusOr<LoweredFunc> LowerSoftmax(const GraphNode& n, const Graph& g, const Target& t) {
  const auto& xs = ShapeOf(g, n.inputs[0]);
  const size_t a = static_cast<size_t>(n.axis);
  const int64_t outer = Product(xs, 0, a), len = xs[a], inner = Product(xs, a + 1);
  if (inner == 1) return LowerSoftmaxLastAxis(outer, len, t);
  Tensor x = Placeholder("x", {outer, len, inner});
  IterVar rm = ReduceAxis(len, "rm"), rs = ReduceAxis(len, "rs");
  Tensor mx = Compute("line_max", {outer, inner},
                      [&](Expr o, Expr i) { return Reduce(ReduceKind::kMax, x(o, rm->var, i), {rm}); });
  Tensor e = Compute("exp", {outer, len, inner}, [&](Expr o, Expr j, Expr i) { return Exp(x(o, j, i) - mx(o, i)); });
  Tensor sum = Compute("line_sum", {outer, inner}, [&](Expr o, Expr i) { return Sum(e(o, rs->var, i), {rs}); });
  Tensor y = Compute("softmax", {outer, len, inner}, [&](Expr o, Expr j, Expr i) { return e(o, j, i) / sum(o, i); });
  Schedule s({y});
  ScheduleStages(s, {mx, e, sum, y}, Product(xs), t);
  return Lower(s, "softmax", {x, y});
}

StatusOr<LoweredFunc> LowerLayerNorm(const GraphNode& n, const Graph& g, const Target& t) {
  const auto& xs = ShapeOf(g, n.inputs[0]);
  const int64_t size = Product(xs, static_cast<size_t>(n.axis)), groups = Product(xs) / size;
  Tensor x = Placeholder("x", {groups, size});
  Tensor scale = Placeholder("scale", {size}), bias = Placeholder("bias", {size});
  const double inv = 1.0 / static_cast<double>(size);
  std::vector<Tensor> stages;
  Tensor sum = LineReduce(
      "sum", ReduceKind::kSum, groups, size, [&](Expr r, Expr j) { return x(r, j); }, t, stages);
  Tensor sq = LineReduce(
      "sq_dev", ReduceKind::kSum, groups, size,
      [&](Expr r, Expr j) {
        Expr d = x(r, j) - sum(r) * FloatImm(inv);
        return d * d;
      },
      t, stages);
  Tensor y = Compute("layer_norm", {groups, size}, [&](Expr r, Expr i) {
    Expr rstd = FloatImm(1.0) / Sqrt(sq(r) * FloatImm(inv) + FloatImm(n.alpha));
    return (x(r, i) - sum(r) * FloatImm(inv)) * rstd * scale(i) + bias(i);
  });
  stages.push_back(y);
  Schedule s({y});
  ScheduleLines(s, stages, Product(xs), t);
  return Lower(s, "layer_norm", {x, scale, bias, y});
}

}  // namespace priortune::compiler::internal

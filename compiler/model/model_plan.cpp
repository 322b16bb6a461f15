// PlanModel: a graph's nodes as lowered functions over the model's buffers. Tunable nodes
// go through their op template with the config ChooseConfig picks; the simple ops are
// small tensor-expression computations here, each with a default schedule: the output's
// axes fused, vectors along the innermost, the outer part on the thread pool when there
// is enough of it. Between kernels that compute in channel blocks the activations stay
// blocked (PlanOptions::propagate_layouts); the simple ops read and write either layout.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "compiler/ir/schedule.h"
#include "compiler/model/internal/plan_ops.h"
#include "compiler/model/model.h"
#include "compiler/ops/blocked_layout.h"

namespace priortune::compiler {
namespace {

using internal::kParallelElements;

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

// A blocked (NCHW{b}c) output row by row: (n, c / b, y) fused and parallel, the channel
// lanes of each column in vectors.
void ScheduleBlockedRows(Schedule& s, const Tensor& out, const Target& t) {
  Stage& st = s[out];
  IterVar rows = st.fuse(st.fuse(st.axis(0), st.axis(1)), st.axis(2));
  VectorizeInNativeChunks(st, st.axis(4), out.shape()[4], t);
  if (out.size() >= kParallelElements) st.parallel(rows);
}

const std::vector<int64_t>& ShapeOf(const Graph& g, const std::string& name) { return g.tensors.at(name).shape; }

// An output element's coordinates in its layout (`block` 0: [n, c, h, w]; else
// [n, c / block, h, w, c % block]), the channel held as block and lane.
struct Coords {
  Expr n, cb, ci, h, w;
  int64_t cbn = 0;
  Coords(const std::vector<Expr>& i, int64_t block)
      : n(i[0]), cb(i[1]), ci(block ? i[4] : Expr()), h(i[2]), w(i[3]), cbn(block) {}
  Expr channel() const { return cbn ? cb * cbn + ci : cb; }
};

// Element (c.n, c.channel(), h, w) of x, stored in `block`.
Expr Read(const Tensor& x, int64_t block, const Coords& c, const Expr& h, const Expr& w) {
  return ChannelRead(x, block, c.n, c.cb, c.cbn, c.ci, h, w);
}

std::vector<int64_t> Stored(const std::vector<int64_t>& shape, int64_t block) {
  return block == 0 ? shape : LayoutShape(shape[0], shape[1], shape[2], shape[3], block);
}

// `bi`, `bo`: the input's and the output's block (0: NCHW).
StatusOr<LoweredFunc> LowerPool(const GraphNode& n, const Graph& g, const Target& t, int64_t bi, int64_t bo) {
  const auto& xs = ShapeOf(g, n.inputs[0]);
  const auto& ys = ShapeOf(g, n.outputs[0]);
  const int64_t H = xs[2], W = xs[3], K = n.kernel, S = n.stride, P = n.pad;
  // A window may leave the image: padding, or ceil_mode's last window.
  const bool edges = P > 0 || (ys[2] - 1) * S - P + K > H || (ys[3] - 1) * S - P + K > W;
  Tensor x = Placeholder("x", Stored(xs, bi));
  const bool max = n.op == GraphOp::kMaxPool;
  Tensor y = Compute(max ? "max_pool" : "avg_pool", Stored(ys, bo), [&](const std::vector<Expr>& i) {
    Coords c(i, bo);
    Expr oy = c.h, ox = c.w, acc;
    for (int64_t a = 0; a < K; ++a)
      for (int64_t b = 0; b < K; ++b) {
        Expr h = oy * S + (a - P), w = ox * S + (b - P);
        Expr v = Read(x, bi, c, h, w);
        if (edges)
          v = Select(h >= 0 && h < H && w >= 0 && w < W, v,
                     FloatImm(max ? -std::numeric_limits<float>::infinity() : 0.0));
        acc = !acc.get() ? v : max ? Max(acc, v) : acc + v;
      }
    if (max) return acc;
    if (!edges) return acc * FloatImm(1.0 / static_cast<double>(K * K));
    // Divide by the window's part inside the image (count_include_pad 0) or inside the
    // padded image (1).
    const int64_t lo = n.count_include_pad ? -P : 0, hh = n.count_include_pad ? H + P : H,
                  hw = n.count_include_pad ? W + P : W;
    Expr h0 = Max(oy * S - P, IntImm(lo)), h1 = Min(oy * S - P + K, IntImm(hh));
    Expr w0 = Max(ox * S - P, IntImm(lo)), w1 = Min(ox * S - P + K, IntImm(hw));
    return acc / Cast(DType::kFloat32, (h1 - h0) * (w1 - w0));
  });
  Schedule s({y});
  if (bo) {
    ScheduleBlockedRows(s, y, t);
  } else if (bi) {
    // Blocked in, NCHW out: walk the input's layout, (n, c / bi, y) rows, then x, then the
    // channel lanes in vectors: each window read is a contiguous vector and each output
    // vector one strided store, where NCHW rows would gather every read.
    Stage& st = s[y];
    auto [co, ci] = st.split(st.axis(1), bi);
    st.reorder({st.axis(0), co, st.axis(2), st.axis(3), ci});
    IterVar rows = st.fuse(st.fuse(st.axis(0), co), st.axis(2));
    VectorizeInNativeChunks(st, ci, bi, t);
    if (y.size() >= kParallelElements) st.parallel(rows);
  } else {
    ScheduleRows(s, y, t);
  }
  return Lower(s, max ? "max_pool" : "avg_pool", {x, y});
}

// The output is NCHW ([N, C, 1, 1] or [N, C]) whatever the input's block `bi`.
StatusOr<LoweredFunc> LowerGlobalAveragePool(const GraphNode& n, const Graph& g, const Target& t, int64_t bi) {
  const auto& xs = ShapeOf(g, n.inputs[0]);
  const auto& ys = ShapeOf(g, n.outputs[0]);
  Tensor x = Placeholder("x", Stored(xs, bi));
  IterVar rh = ReduceAxis(xs[2], "rh"), rw = ReduceAxis(xs[3], "rw");
  Tensor sum = Compute("sum", {xs[0], xs[1]}, [&](Expr b, Expr c) {
    return Sum(ChannelRead(x, bi, b, c, 0, Expr(), rh->var, rw->var), {rh, rw});
  });
  const double inv = 1.0 / static_cast<double>(xs[2] * xs[3]);
  Tensor y =
      Compute("global_avg_pool", ys, [&](const std::vector<Expr>& i) { return sum(i[0], i[1]) * FloatImm(inv); });
  Schedule s({y});
  Stage& st = s[y];
  IterVar f = st.axis(0);
  for (size_t i = 1; i < ys.size(); ++i) f = st.fuse(f, st.axis(i));
  if (xs[0] * xs[1] * xs[2] * xs[3] >= kParallelElements) st.parallel(f);
  s[sum].compute_at(st, f);
  return Lower(s, "global_avg_pool", {x, y});
}

const char* UnaryName(UnaryOp op) {
  switch (op) {
    case UnaryOp::kSigmoid:
      return "sigmoid";
    case UnaryOp::kHardSigmoid:
      return "hard_sigmoid";
    case UnaryOp::kHardSwish:
      return "hard_swish";
    case UnaryOp::kTanh:
      return "tanh";
    case UnaryOp::kErf:
      return "erf";
    case UnaryOp::kSqrt:
      return "sqrt";
    case UnaryOp::kPow:
      return "pow";
    case UnaryOp::kGelu:
      return "gelu";
    case UnaryOp::kGeluTanh:
      return "gelu_tanh";
    case UnaryOp::kTrunc:
      return "trunc";
    case UnaryOp::kNonZero:
      return "nonzero";
    case UnaryOp::kExp:
      return "exp";
    case UnaryOp::kLog:
      return "log";
  }
  return "unary";
}

// v ^ e for the exponents the importer takes: whole numbers -4..4 by products, +-0.5 by
// square roots.
Expr PowExpr(Expr v, float e) {
  if (e == 0.5f || e == -0.5f) return e > 0 ? Sqrt(v) : FloatImm(1.0) / Sqrt(v);
  Expr p = FloatImm(1.0);
  for (int k = 0; k < std::abs(static_cast<int>(e)); ++k) p = k == 0 ? v : p * v;
  return e < 0 ? FloatImm(1.0) / p : p;
}

// kUnary's function of v (graph.h's UnaryValue, as expressions).
Expr UnaryExpr(const GraphNode& n, Expr v) {
  auto clamp01 = [](Expr e) { return Max(FloatImm(0.0), Min(FloatImm(1.0), e)); };
  switch (n.unary) {
    case UnaryOp::kSigmoid:
      return FloatImm(1.0) / (FloatImm(1.0) + Exp(FloatImm(0.0) - v));
    case UnaryOp::kHardSigmoid:
      return clamp01(v * FloatImm(n.alpha) + FloatImm(n.beta));
    case UnaryOp::kHardSwish:
      return v * clamp01(v * FloatImm(1.0 / 6.0) + FloatImm(0.5));
    case UnaryOp::kTanh:
      return Tanh(v);
    case UnaryOp::kErf:
      return Erf(v);
    case UnaryOp::kSqrt:
      return Sqrt(v);
    case UnaryOp::kPow:
      return PowExpr(v, n.alpha);
    case UnaryOp::kGelu:
      return Gelu(v);
    case UnaryOp::kGeluTanh:
      return GeluTanh(v);
    case UnaryOp::kTrunc: {  // through int64, clamped first (a conversion out of range is undefined)
      Expr c = Max(FloatImm(-1e18), Min(FloatImm(1e18), v));
      return Cast(DType::kFloat32, Cast(DType::kInt64, c));
    }
    case UnaryOp::kNonZero:
      return Select(v != FloatImm(0.0), FloatImm(1.0), FloatImm(0.0));
    case UnaryOp::kExp:
      return Exp(v);
    case UnaryOp::kLog:  // LowerUntuned refuses it (the importer folds Log of constants)
      return v;
  }
  return v;
}

// `blocks`: each input's block, then the output's (0: NCHW). An input in the output's
// block is read element for element, one in another through its channel.
StatusOr<LoweredFunc> LowerElementwise(const GraphNode& n, const Graph& g, const Target& t,
                                       const std::vector<int64_t>& blocks) {
  const auto& ys = ShapeOf(g, n.outputs[0]);
  const int64_t bo = blocks.back();
  auto read = [&](const Tensor& in, int64_t b, const std::vector<Expr>& i) {
    return b == bo ? in(i) : Read(in, b, Coords(i, bo), i[2], i[3]);
  };
  Tensor x = Placeholder("x", Stored(ShapeOf(g, n.inputs[0]), blocks[0]));
  std::vector<Tensor> args = {x};
  Tensor other, scale, shift;
  std::string name;
  std::function<Expr(const std::vector<Expr>&)> body;
  switch (n.op) {
    case GraphOp::kRelu:
      name = "relu";
      body = [&](const std::vector<Expr>& i) { return Max(read(x, blocks[0], i), FloatImm(0.0)); };
      break;
    case GraphOp::kClip:
      name = "clip";
      body = [&](const std::vector<Expr>& i) {
        Expr v = read(x, blocks[0], i);
        if (std::isfinite(n.clip_min)) v = Max(v, FloatImm(n.clip_min));
        if (std::isfinite(n.clip_max)) v = Min(v, FloatImm(n.clip_max));
        return v;
      };
      break;
    case GraphOp::kUnary:
      name = UnaryName(n.unary);
      body = [&](const std::vector<Expr>& i) { return UnaryExpr(n, read(x, blocks[0], i)); };
      break;
    case GraphOp::kAdd:
      name = "add";
      other = Placeholder("y", Stored(ShapeOf(g, n.inputs[1]), blocks[1]));
      args.push_back(other);
      body = [&](const std::vector<Expr>& i) { return read(x, blocks[0], i) + read(other, blocks[1], i); };
      break;
    case GraphOp::kBatchNorm:
      name = "batch_norm";
      scale = Placeholder("scale", {ys[1]});
      shift = Placeholder("shift", {ys[1]});
      args.push_back(scale);
      args.push_back(shift);
      body = [&](const std::vector<Expr>& i) {
        Expr c = bo ? Coords(i, bo).channel() : i[1];
        return read(x, blocks[0], i) * scale(c) + shift(c);
      };
      break;
    default:
      return Internal("not an elementwise op: " + n.op_type);
  }
  Tensor y = Compute(name, Stored(ys, bo), body);
  args.push_back(y);
  Schedule s({y});
  ScheduleFlat(s, y, t);
  return Lower(s, name, args);
}

std::string Where(const GraphNode& n) { return "node '" + n.name + "' (" + n.op_type + ")"; }

// The tunable nodes' configs, each lowered in NCHW: a stored config that does not lower
// falls back to hand-picked before the layouts are chosen from the configs. `native`:
// each node's NativeBlock of its config (0: none).
StatusOr<std::vector<PlanStep>> TunedSteps(const Graph& g, const Target& t, ConfigSource& source,
                                           std::vector<int64_t>& native) {
  std::vector<PlanStep> tuned(g.nodes.size());
  native.assign(g.nodes.size(), 0);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const GraphNode& n = g.nodes[i];
    if (!n.workload) continue;
    const Workload& w = *n.workload;
    PlanStep& step = tuned[i];
    auto choice = ChooseConfig(w, t, source);
    if (!choice.ok()) return Status(choice.status().code(), Where(n) + ": " + choice.status().message());
    step.choice = std::move(*choice);
    step.workload = w;
    step.op = w.op;
    PT_ASSIGN_OR_RETURN(const OpTemplate* tmpl, FindTemplate(w.op));
    step.flops = tmpl->Flops(w);
    auto f = LowerWorkload(w, t, step.choice.config);
    if (!f.ok() && step.choice.level != "hand-picked") {
      step.choice.skipped.push_back(step.choice.level + ": " + f.status().message());
      step.choice.level = "hand-picked";
      step.choice.config = tmpl->HandPickedConfig(w, t);
      step.choice.cost_seconds = 0;
      f = LowerWorkload(w, t, step.choice.config);
    }
    if (!f.ok()) return Status(f.status().code(), Where(n) + ": " + f.status().message());
    step.func = std::move(*f);
    native[i] = tmpl->NativeBlock(w, t, step.choice.config);
  }
  return tuned;
}

// Whether input `k` of node `i` reads a blocked tensor: a blocked kernel's data and
// residual, pooling, the elementwise ops, global average pooling.
bool TakesBlocked(const Graph& g, const std::vector<int64_t>& native, size_t i, size_t k) {
  const GraphNode& n = g.nodes[i];
  if (n.workload) return native[i] > 0 && (k == 0 || (n.workload->residual && k + 1 == n.inputs.size()));
  switch (n.op) {
    case GraphOp::kMaxPool:
    case GraphOp::kAveragePool:
    case GraphOp::kGlobalAveragePool:
    case GraphOp::kRelu:
    case GraphOp::kClip:
    case GraphOp::kUnary:
    case GraphOp::kAdd:
      return true;
    case GraphOp::kBatchNorm:
      return k == 0;
    default:
      return false;
  }
}

// Layouts: a tensor is blocked when every reader takes it (TakesBlocked), in its
// producer's block: a blocked kernel's, or for pooling and elementwise ops their first
// input's. The graph's output is NCHW. The block of each blocked tensor; absent: NCHW.
std::map<std::string, int64_t> ChooseLayouts(const Graph& g, const std::vector<int64_t>& native) {
  std::map<std::string, std::vector<std::pair<size_t, size_t>>> readers;  // (node, input)
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (size_t k = 0; k < g.nodes[i].inputs.size(); ++k) readers[g.nodes[i].inputs[k]].push_back({i, k});
  std::map<std::string, int64_t> block;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const GraphNode& n = g.nodes[i];
    const std::string& out = n.outputs[0];
    if (ShapeOf(g, out).size() != 4 || out == g.outputs[0]) continue;
    int64_t b = 0;
    if (n.workload) {
      b = native[i];
    } else {
      switch (n.op) {
        case GraphOp::kMaxPool:
        case GraphOp::kAveragePool:
        case GraphOp::kRelu:
        case GraphOp::kClip:
        case GraphOp::kUnary:
        case GraphOp::kAdd:
        case GraphOp::kBatchNorm:
          b = block.count(n.inputs[0]) ? block[n.inputs[0]] : 0;
          break;
        default:
          break;
      }
    }
    if (b == 0) continue;
    bool all = true;
    for (auto [r, k] : readers[out]) all = all && TakesBlocked(g, native, r, k);
    if (all) block[out] = b;
  }
  return block;
}

// The graph inputs whose values reach a kGather's indices through views only (Reshape,
// Unsqueeze, a Cast between integer types): the table's rows (the smallest, if several).
std::map<std::string, int64_t> IndexBounds(const Graph& g) {
  std::map<std::string, std::string> view_of;  // a view's tensor -> what it views
  for (const GraphNode& n : g.nodes)
    if (n.op == GraphOp::kReshape) view_of[n.outputs[0]] = n.inputs[0];
  std::map<std::string, int64_t> bounds;
  for (const GraphNode& n : g.nodes) {
    if (n.op != GraphOp::kGather) continue;
    std::string from = n.inputs[1];
    while (view_of.count(from)) from = view_of.at(from);
    if (std::find(g.inputs.begin(), g.inputs.end(), from) == g.inputs.end()) continue;
    const int64_t rows = g.tensors.at(n.inputs[0]).shape[static_cast<size_t>(n.axis)];
    auto [it, fresh] = bounds.emplace(from, rows);
    if (!fresh) it->second = std::min(it->second, rows);
  }
  return bounds;
}

// The plan as its steps are added: buffers by tensor name.
struct PlanBuilder {
  const Graph& g;
  const Target& t;
  std::map<std::string, int64_t> block;  // ChooseLayouts
  ModelPlan plan;
  std::map<std::string, int> index;

  int64_t BlockOf(const std::string& name) const {
    auto it = block.find(name);
    return it == block.end() ? int64_t{0} : it->second;
  }

  int Buffer(const std::string& name) {
    auto it = index.find(name);
    if (it != index.end()) return it->second;
    const GraphTensor& gt = g.tensors.at(name);
    PlanBuffer b;
    b.name = name;
    b.shape = gt.shape;
    b.elements = gt.elements();
    b.constant = gt.constant;
    b.block = BlockOf(name);
    if (b.block) ++plan.blocked_buffers;
    if (gt.constant) {
      b.data = gt.data;
      if (b.data.empty()) b.data.assign(gt.ints.begin(), gt.ints.end());  // an integer constant, as floats
    }
    plan.buffers.push_back(std::move(b));
    return index[name] = static_cast<int>(plan.buffers.size()) - 1;
  }

  // An untuned node's kernel, its tensors in their layouts.
  StatusOr<LoweredFunc> LowerUntuned(const GraphNode& n) {
    std::vector<int64_t> blocks;
    for (const auto& in : n.inputs) blocks.push_back(BlockOf(in));
    const int64_t bo = BlockOf(n.outputs[0]);
    blocks.push_back(bo);
    if (n.op == GraphOp::kUnary && n.unary == UnaryOp::kLog)
      return InvalidArgument(Where(n) + ": Log of a run-time tensor is not supported (only of constants)");
    switch (n.op) {
      case GraphOp::kMaxPool:
      case GraphOp::kAveragePool:
        return LowerPool(n, g, t, blocks[0], bo);
      case GraphOp::kGlobalAveragePool:
        return LowerGlobalAveragePool(n, g, t, blocks[0]);
      case GraphOp::kSoftmax:
        return internal::LowerSoftmax(n, g, t);
      case GraphOp::kTranspose:
      case GraphOp::kSlice:
      case GraphOp::kPad:
        return internal::LowerMove(n, g);
      case GraphOp::kReduce:
        return internal::LowerReduce(n, g);
      case GraphOp::kLayerNorm:
        return internal::LowerLayerNorm(n, g, t);
      case GraphOp::kConcat:
        return internal::LowerConcat(n, g);
      case GraphOp::kBinary:
        return internal::LowerBinary(n, g);
      case GraphOp::kWhere:
      case GraphOp::kExpand:
        return internal::LowerWhere(n, g);
      case GraphOp::kGather:
        return internal::LowerGather(n, g);
      case GraphOp::kRelu:
      case GraphOp::kClip:
      case GraphOp::kUnary:
      case GraphOp::kAdd:
      case GraphOp::kBatchNorm:
        return LowerElementwise(n, g, t, blocks);
      default:
        return InvalidArgument(Where(n) + ": the compiled runtime cannot run this operator");
    }
  }

  // Each argument's buffer holds as many elements as the kernel takes, in its layout (a
  // prepacked input takes the caller's layout: the prepack's input).
  Status CheckArgs(const GraphNode& n, const PlanStep& step) const {
    if (step.args.size() != step.func.args.size())
      return Internal(Where(n) + ": " + std::to_string(step.args.size()) + " buffers for " +
                      std::to_string(step.func.args.size()) + " kernel arguments");
    for (size_t i = 0; i < step.args.size(); ++i) {
      const LoweredArg* arg = &step.func.args[i];
      for (const auto& p : step.func.prepacks)
        if (p.arg == i) arg = &p.func.args[0];
      int64_t want = 1;
      for (int64_t d : arg->shape) want *= d;
      const PlanBuffer& b = plan.buffers[step.args[i]];
      if (b.elements != want)
        return Internal(Where(n) + ": argument " + arg->name + " takes " + std::to_string(want) +
                        " elements, buffer '" + b.name + "' has " + std::to_string(b.elements));
      // A blocked argument is the 5-D form of a 4-D tensor (a 5-D tensor's own is plain).
      const bool blocked_arg = !b.constant && arg->shape.size() == 5 && b.shape.size() == 4;
      if (!b.constant && (blocked_arg != (b.block > 0) || (blocked_arg && arg->shape[4] != b.block)))
        return Internal(Where(n) + ": argument " + arg->name + " and buffer '" + b.name + "' (block " +
                        std::to_string(b.block) + ") disagree on the layout");
    }
    return OkStatus();
  }

  // Node `n`'s step (`tuned`: its TunedSteps entry, used if it has a workload).
  Status AddStep(const GraphNode& n, PlanStep tuned) {
    if (n.op == GraphOp::kReshape) {
      int in = Buffer(n.inputs[0]), out = Buffer(n.outputs[0]);
      if (plan.buffers[in].block) return Internal(Where(n) + ": flattens a blocked tensor");
      plan.buffers[out].view_of = plan.buffers[in].view_of >= 0 ? plan.buffers[in].view_of : in;
      return OkStatus();
    }
    PlanStep step;
    StatusOr<LoweredFunc> f = Internal("unplanned");
    if (n.workload) {
      step = std::move(tuned);
      step.layouts.data = BlockOf(n.inputs[0]);
      step.layouts.residual = n.workload->residual ? BlockOf(n.inputs.back()) : 0;
      step.layouts.out = BlockOf(n.outputs[0]);
      f = step.layouts.plain() ? std::move(step.func) : LowerWorkload(*n.workload, t, step.choice.config, step.layouts);
    } else {
      f = LowerUntuned(n);
      if (f.ok()) step.op = f->name;
    }
    step.name = n.name;
    // The node's inputs are the kernel's: data, weight, bias, then the residual.
    for (const auto& in : n.inputs) step.args.push_back(Buffer(in));
    if (!f.ok()) return Status(f.status().code(), Where(n) + ": " + f.status().message());
    step.func = std::move(*f);
    step.args.push_back(Buffer(n.outputs[0]));
    PT_RETURN_IF_ERROR(CheckArgs(n, step));
    step.func.name = "step" + std::to_string(plan.steps.size()) + "_" + step.func.name;
    plan.steps.push_back(std::move(step));
    return OkStatus();
  }
};

}  // namespace

StatusOr<ModelPlan> PlanModel(const Graph& g, const Target& t, ConfigSource& source, const PlanOptions& options) {
  if (g.inputs.empty() || g.outputs.empty()) return InvalidArgument("the graph has no input or no output");
  std::vector<int64_t> native;
  PT_ASSIGN_OR_RETURN(std::vector<PlanStep> tuned, TunedSteps(g, t, source, native));
  PlanBuilder b{g, t};
  if (options.propagate_layouts) b.block = ChooseLayouts(g, native);
  b.plan.target = t;
  const std::map<std::string, int64_t> bounds = IndexBounds(g);
  for (const auto& name : g.inputs) {
    const GraphTensor& x = g.tensors.at(name);
    auto bound = bounds.find(name);
    b.plan.inputs.push_back({name, x.dtype, x.shape, bound == bounds.end() ? 0 : bound->second});
    b.plan.input_buffers.push_back(b.Buffer(name));
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) PT_RETURN_IF_ERROR(b.AddStep(g.nodes[i], std::move(tuned[i])));
  for (const auto& name : g.outputs) {
    const GraphTensor& y = g.tensors.at(name);
    b.plan.outputs.push_back({name, y.dtype, y.shape, 0});
    b.plan.output_buffers.push_back(b.Buffer(name));
  }
  return std::move(b.plan);
}

}  // namespace priortune::compiler

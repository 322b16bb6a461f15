// ONNX import of the layers with weights and windows: Conv (plain, grouped, depthwise),
// BatchNormalization (folded into the Conv before it, or a node of its own), Gemm and
// MatMul with a constant weight, MaxPool, AveragePool, GlobalAveragePool.
#include <algorithm>
#include <cmath>

#include "compiler/graph/internal/importer.h"
#include "compiler/ops/op_template.h"

namespace priortune::compiler::internal {

StatusOr<WindowDims> Importer::Window(const onnx::NodeProto& n, int64_t kh, int64_t kw, GraphNode& g, bool square) {
  std::vector<int64_t> strides = AttrInts(n, "strides"), pads = AttrInts(n, "pads"), dil = AttrInts(n, "dilations");
  if (square && kh != kw)
    return InvalidArgument(Where(n) + ": a " + std::to_string(kh) + "x" + std::to_string(kw) +
                           " window (only square windows)");
  for (int64_t d : dil)
    if (d != 1) return InvalidArgument(Where(n) + ": dilation " + std::to_string(d) + " (only 1)");
  if (!strides.empty() && (strides.size() != 2 || (square && strides[0] != strides[1])))
    return InvalidArgument(Where(n) + (square ? ": strides must be two equal values" : ": strides must be two values"));
  if (!pads.empty() && (pads.size() != 4 || pads[0] != pads[2] || pads[1] != pads[3] || (square && pads[0] != pads[1])))
    return InvalidArgument(Where(n) + (square ? ": pads must be symmetric and equal on both axes"
                                              : ": pads must be symmetric (top = bottom, left = right)"));
  const onnx::AttributeProto* auto_pad = Attr(n, "auto_pad");
  if (auto_pad && auto_pad->s() != "NOTSET" && auto_pad->s() != "VALID")
    return InvalidArgument(Where(n) + ": auto_pad " + auto_pad->s() + " (give explicit pads)");
  const int64_t ceil_mode = AttrInt(n, "ceil_mode", 0);
  if (ceil_mode != 0 && ceil_mode != 1)
    return InvalidArgument(Where(n) + ": ceil_mode " + std::to_string(ceil_mode) + " (0 or 1)");
  g.ceil_mode = ceil_mode == 1;
  WindowDims w{kh, kw, 1, 1, 0, 0};
  if (!strides.empty()) w = {kh, kw, strides[0], strides[1], 0, 0};
  if (!pads.empty()) w.ph = pads[0], w.pw = pads[1];
  if (w.sh < 1 || w.sw < 1 || w.ph < 0 || w.pw < 0)
    return InvalidArgument(Where(n) + ": strides must be positive and pads non-negative");
  g.kernel = kh;
  g.stride = w.sh;
  g.pad = w.ph;
  return w;
}

std::vector<int64_t> Importer::Pooled(const std::vector<int64_t>& x, int64_t channels, const WindowDims& w,
                                      bool ceil_mode) {
  auto out = [&](int64_t in, int64_t k, int64_t s, int64_t p) {
    const int64_t span = in + 2 * p - k;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p) --o;  // a window starting in the padding only
    return o;
  };
  return {x[0], channels, out(x[2], w.kh, w.sh, w.ph), out(x[3], w.kw, w.sw, w.pw)};
}

Status Importer::Pool(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  const bool max = n.op_type() == "MaxPool";
  if (xs.size() != 4) return InvalidArgument(Where(n) + ": input is not NCHW");
  std::vector<int64_t> k = AttrInts(n, "kernel_shape");
  if (k.size() != 2) return InvalidArgument(Where(n) + ": kernel_shape must have two values");
  GraphNode g = Make(n, max ? GraphOp::kMaxPool : GraphOp::kAveragePool);
  PT_ASSIGN_OR_RETURN(WindowDims w, Window(n, k[0], k[1], g, /*square=*/true));
  g.count_include_pad = !max && AttrInt(n, "count_include_pad", 0) != 0;
  std::vector<int64_t> shape = Pooled(xs, xs[1], w, g.ceil_mode);
  if (shape[2] < 1 || shape[3] < 1)
    return InvalidArgument(Where(n) + ": the " + std::to_string(g.kernel) + "x" + std::to_string(g.kernel) +
                           " window is larger than the padded input");
  return Out(std::move(g), shape);
}

Status Importer::GlobalAveragePool(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  if (xs.size() != 4) return InvalidArgument(Where(n) + ": input is not NCHW");
  return Out(Make(n, GraphOp::kGlobalAveragePool), {xs[0], xs[1], 1, 1});
}

Status Importer::Conv(const onnx::NodeProto& n) {
  PT_ASSIGN_OR_RETURN(const GraphTensor* x, In(n, 0));
  PT_ASSIGN_OR_RETURN(const GraphTensor* w, In(n, 1));
  if (x->shape.size() != 4) return InvalidArgument(Where(n) + ": input is not NCHW");
  if (!w->constant || w->shape.size() != 4)
    return InvalidArgument(Where(n) + ": the weight must be a constant OIHW tensor");
  int64_t groups = AttrInt(n, "group", 1);
  int64_t c = x->shape[1], o = w->shape[0];
  const bool depthwise = groups == c && o == c && groups > 1;
  GraphNode g = Make(n, depthwise ? GraphOp::kDepthwiseConv2d : GraphOp::kConv2d);
  PT_ASSIGN_OR_RETURN(WindowDims win, Window(n, w->shape[2], w->shape[3], g, /*square=*/false));
  if (g.ceil_mode) return InvalidArgument(Where(n) + ": ceil_mode is a pooling attribute");
  if (groups < 1 || c % groups != 0 || o % groups != 0)
    return InvalidArgument(Where(n) + ": group " + std::to_string(groups) + " does not divide the " +
                           std::to_string(c) + " input and " + std::to_string(o) + " output channels");
  if (w->shape[1] != c / groups)
    return InvalidArgument(Where(n) + ": weight has " + std::to_string(w->shape[1]) +
                           " input channels per group, the input " + std::to_string(c / groups));
  std::vector<int64_t> shape = Pooled(x->shape, o, win, false);
  if (shape[2] < 1 || shape[3] < 1) return InvalidArgument(Where(n) + ": the output would be empty");
  // A bias tensor of its own (it may be rewritten when a BatchNormalization is folded).
  std::string bias = g.outputs[0] + "::bias";
  GraphTensor b;
  b.constant = true;
  b.shape = {o};
  b.data.assign(static_cast<size_t>(o), 0.0f);
  if (n.input_size() > 2 && !n.input(2).empty()) {
    PT_ASSIGN_OR_RETURN(const GraphTensor* given, In(n, 2));
    if (!given->constant || given->elements() != o) return InvalidArgument(Where(n) + ": bias must be constant [O]");
    b.data = given->data;
  }
  std::string weight = g.outputs[0] + "::weight";
  TakeOrCopy(n.input(1), weight);
  graph_.tensors[bias] = std::move(b);
  g.inputs = {g.inputs[0], weight, bias};
  const auto& xs = x->shape;
  if (depthwise)
    g.workload = DepthwiseConv2dWorkload(xs[0], c, xs[2], xs[3], win.kh, win.kw, win.sh, win.ph);
  else if (groups > 1)
    g.workload = GroupConv2dWorkload(xs[0], c, xs[2], xs[3], o, win.kh, win.kw, win.sh, win.ph, groups);
  else
    g.workload = Conv2dWorkload(xs[0], c, xs[2], xs[3], o, win.kh, win.kw, win.sh, win.ph);
  g.workload->dims["SW"] = win.sw;  // the constructors take one stride and pad for both axes
  g.workload->dims["PW"] = win.pw;
  g.workload->bias = true;
  return Out(std::move(g), shape);
}

StatusOr<std::vector<const GraphTensor*>> Importer::BatchNormParams(const onnx::NodeProto& n, int64_t channels) {
  if (n.input_size() != 5) return InvalidArgument(Where(n) + ": expected 5 inputs");
  std::vector<const GraphTensor*> p;
  for (int i = 1; i <= 4; ++i) {
    PT_ASSIGN_OR_RETURN(const GraphTensor* t, In(n, i));
    if (!t->constant) return InvalidArgument(Where(n) + ": scale, bias, mean and variance must be constants");
    if (t->elements() != channels) return InvalidArgument(Where(n) + ": parameters must have one value per channel");
    p.push_back(t);
  }
  return p;
}

bool Importer::OnlyReader(const std::string& name) { return Resolve(name) == name && readers_[name] == 1; }

GraphNode* Importer::ProducerOf(const std::string& tensor) {
  GraphNode* producer = nullptr;
  for (auto& g : graph_.nodes)
    if (g.outputs[0] == tensor) producer = &g;
  return producer;
}

void Importer::Absorb(GraphNode& producer, const std::string& out) {
  GraphTensor t = std::move(graph_.tensors.at(producer.outputs[0]));
  graph_.tensors.erase(producer.outputs[0]);
  producer.outputs[0] = out;
  graph_.tensors[out] = std::move(t);
}

void Importer::TakeOrCopy(const std::string& from, const std::string& to) {
  if (OnlyReader(from)) {
    graph_.tensors[to] = std::move(graph_.tensors[from]);
    graph_.tensors.erase(from);
  } else {
    graph_.tensors[to] = graph_.tensors.at(Resolve(from));
  }
}

Status Importer::BatchNorm(const onnx::NodeProto& n) {
  PT_ASSIGN_OR_RETURN(const GraphTensor* x, In(n, 0));
  if (x->shape.size() != 4) return InvalidArgument(Where(n) + ": input is not NCHW");
  std::vector<int64_t> xs = x->shape;
  PT_ASSIGN_OR_RETURN(std::vector<const GraphTensor*> p, BatchNormParams(n, xs[1]));
  const float eps = AttrFloat(n, "epsilon", 1e-5f);
  GraphTensor scale, shift;
  scale.constant = shift.constant = true;
  scale.shape = shift.shape = {xs[1]};
  for (int64_t c = 0; c < xs[1]; ++c) {
    float s = p[0]->data[c] / std::sqrt(p[3]->data[c] + eps);
    scale.data.push_back(s);
    shift.data.push_back(p[1]->data[c] - p[2]->data[c] * s);
  }
  GraphNode g = Make(n, GraphOp::kBatchNorm);
  std::string sn = g.outputs[0] + "::scale", hn = g.outputs[0] + "::shift";
  graph_.tensors[sn] = std::move(scale);
  graph_.tensors[hn] = std::move(shift);
  g.inputs = {g.inputs[0], sn, hn};
  return Out(std::move(g), xs);
}

Status Importer::FoldBatchNorm(const onnx::NodeProto& n) {
  GraphNode* conv = ProducerOf(Resolve(n.input(0)));
  // Not right after a Conv whose output nothing else reads (DenseNet's, after a Concat):
  // a node of its own.
  if (!conv || (conv->op != GraphOp::kConv2d && conv->op != GraphOp::kDepthwiseConv2d) || readers_[n.input(0)] != 1)
    return BatchNorm(n);
  GraphTensor& w = graph_.tensors[conv->inputs[1]];
  GraphTensor& b = graph_.tensors[conv->inputs[2]];
  const int64_t o = w.shape[0];
  PT_ASSIGN_OR_RETURN(std::vector<const GraphTensor*> p, BatchNormParams(n, o));
  const float eps = AttrFloat(n, "epsilon", 1e-5f);
  const int64_t per = w.elements() / o;
  for (int64_t c = 0; c < o; ++c) {
    float s = p[0]->data[c] / std::sqrt(p[3]->data[c] + eps);
    for (int64_t i = 0; i < per; ++i) w.data[c * per + i] *= s;
    b.data[c] = (b.data[c] - p[2]->data[c]) * s + p[1]->data[c];
  }
  conv->folded_batchnorm = true;
  ++graph_.batchnorms_folded;
  Absorb(*conv, n.output(0));
  return OkStatus();
}

Status Importer::Dense(const onnx::NodeProto& n) {
  PT_ASSIGN_OR_RETURN(const GraphTensor* a, In(n, 0));
  PT_ASSIGN_OR_RETURN(const GraphTensor* w, In(n, 1));
  // Gemm: [N, K]; MatMul: [..., K], the leading axes as rows (a Linear on [N, H, W, C]).
  if (a->shape.size() != 2 && (n.op_type() == "Gemm" || a->shape.size() < 2))
    return InvalidArgument(Where(n) + ": the activation must be [N, K]" +
                           (n.op_type() == "MatMul" ? " or [..., K]" : ""));
  if (n.op_type() == "MatMul" && !w->constant) return BatchMatMul(n, *a, *w);
  if (!w->constant || w->shape.size() != 2)
    return InvalidArgument(Where(n) + ": the weight must be a constant 2-D tensor (Gemm) or an activation (MatMul)");
  bool trans_a = AttrInt(n, "transA", 0) != 0, trans_b = AttrInt(n, "transB", 0) != 0;
  if (trans_a) return InvalidArgument(Where(n) + ": transA 1");
  if (AttrFloat(n, "alpha", 1) != 1 || AttrFloat(n, "beta", 1) != 1)
    return InvalidArgument(Where(n) + ": alpha and beta must be 1");
  int64_t k = a->shape.back(), m = trans_b ? w->shape[0] : w->shape[1];
  if ((trans_b ? w->shape[1] : w->shape[0]) != k)
    return InvalidArgument(Where(n) + ": weight does not match K = " + std::to_string(k));
  GraphNode g = Make(n, GraphOp::kDense);
  // The weight as [K, M], row-major, whatever the model's layout.
  GraphTensor kw;
  kw.constant = true;
  kw.shape = {k, m};
  kw.data.resize(static_cast<size_t>(k * m));
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < m; ++j) kw.data[i * m + j] = trans_b ? w->data[j * k + i] : w->data[i * m + j];
  GraphTensor bias;
  bias.constant = true;
  bias.shape = {m};
  bias.data.assign(static_cast<size_t>(m), 0.0f);
  if (n.op_type() == "Gemm" && n.input_size() > 2 && !n.input(2).empty()) {
    PT_ASSIGN_OR_RETURN(const GraphTensor* c, In(n, 2));
    if (!c->constant || c->elements() != m) return InvalidArgument(Where(n) + ": C must be a constant [M] bias");
    bias.data = c->data;
  }
  std::string wname = g.outputs[0] + "::weight", bname = g.outputs[0] + "::bias";
  graph_.tensors[wname] = std::move(kw);
  if (OnlyReader(n.input(1))) graph_.tensors.erase(n.input(1));  // its only reader made its own copy
  graph_.tensors[bname] = std::move(bias);
  g.inputs = {g.inputs[0], wname, bname};
  std::vector<int64_t> shape = a->shape;
  shape.back() = m;
  const int64_t rows = a->elements() / k;
  g.workload = MatmulWorkload(rows, m, k, /*bias=*/true);
  return Out(std::move(g), shape);
}

namespace {

std::string Dims(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

Status Importer::BatchMatMul(const onnx::NodeProto& n, const GraphTensor& a, const GraphTensor& b) {
  const size_t ra = a.shape.size(), rb = b.shape.size();
  if (ra < 2 || rb < 2) return InvalidArgument(Where(n) + ": both operands must have 2 or more axes");
  const int64_t m = a.shape[ra - 2], k = a.shape[ra - 1], nn = b.shape[rb - 1];
  if (b.shape[rb - 2] != k)
    return InvalidArgument(Where(n) + ": A's last axis (" + std::to_string(k) + ") does not match B's second last (" +
                           std::to_string(b.shape[rb - 2]) + ")");
  // The batch axes, left-padded with 1s to the longer operand's.
  const size_t rank = std::max(ra, rb);
  std::vector<int64_t> ba(rank - 2, 1), bb(rank - 2, 1);
  std::copy(a.shape.begin(), a.shape.end() - 2, ba.end() - static_cast<std::ptrdiff_t>(ra - 2));
  std::copy(b.shape.begin(), b.shape.end() - 2, bb.end() - static_cast<std::ptrdiff_t>(rb - 2));
  const bool one_b = std::all_of(bb.begin(), bb.end(), [](int64_t d) { return d == 1; });
  if (ba != bb && !one_b)
    return InvalidArgument(Where(n) + ": batch axes that broadcast A against several B's are not supported (A " +
                           Dims(a.shape) + ", B " + Dims(b.shape) + ")");
  int64_t batches = 1;
  for (int64_t d : ba) batches *= d;
  std::vector<int64_t> shape = ba;
  shape.insert(shape.end(), {m, nn});
  GraphNode g = Make(n, GraphOp::kBatchMatMul);
  // One B for every batch: A's batches are rows of one product.
  g.workload = ba == bb ? BatchMatmulWorkload(batches, m, nn, k) : BatchMatmulWorkload(1, batches * m, nn, k);
  return Out(std::move(g), shape);
}

// The einsum's operand `term` (its letters) as `order`: the tensor itself, or a kTranspose
// of it named `name`.
StatusOr<std::string> Importer::Arranged(const onnx::NodeProto& n, const std::string& input, const std::string& term,
                                         const std::string& order, const std::string& name) {
  std::vector<int64_t> perm;
  for (char c : order) perm.push_back(static_cast<int64_t>(term.find(c)));
  bool identity = true;
  for (size_t d = 0; d < perm.size(); ++d) identity = identity && perm[d] == static_cast<int64_t>(d);
  if (identity) return input;
  const std::vector<int64_t> xs = graph_.tensors.at(input).shape;
  std::vector<int64_t> shape;
  for (int64_t p : perm) shape.push_back(xs[static_cast<size_t>(p)]);
  GraphNode t = Make(n, GraphOp::kTranspose);
  t.inputs = {input};
  t.outputs = {name};
  t.perm = perm;
  PT_RETURN_IF_ERROR(Out(std::move(t), shape));
  return name;
}

Status Importer::Einsum(const onnx::NodeProto& n) {
  const auto* eq = Attr(n, "equation");
  std::string e;
  for (char c : eq ? eq->s() : std::string())
    if (c != ' ') e += c;
  const size_t arrow = e.find("->"), comma = e.find(',');
  const std::string refuse = Where(n) + ": equation '" + e +
                             "' (only a batched matrix product: two operands, one contracted index, the same "
                             "batch indices in the same order)";
  if (arrow == std::string::npos || comma == std::string::npos || comma > arrow || n.input_size() != 2 ||
      e.find('.') != std::string::npos)
    return InvalidArgument(refuse);
  const std::string la = e.substr(0, comma), lb = e.substr(comma + 1, arrow - comma - 1), lo = e.substr(arrow + 2);
  std::string batch, k, m, nn;
  for (char c : la) {
    const bool in_b = lb.find(c) != std::string::npos, in_o = lo.find(c) != std::string::npos;
    (in_b && in_o ? batch : in_b ? k : in_o ? m : k) += c;
    if (!in_b && !in_o) return InvalidArgument(refuse);  // a summed-out index of one operand
  }
  for (char c : lb)
    if (la.find(c) == std::string::npos) nn += c;
  if (k.size() != 1 || m.size() != 1 || nn.size() != 1 || lo != batch + m + nn || la.size() != batch.size() + 2 ||
      lb.size() != batch.size() + 2)
    return InvalidArgument(refuse);
  PT_ASSIGN_OR_RETURN(const GraphTensor* a, In(n, 0));
  PT_ASSIGN_OR_RETURN(const GraphTensor* b, In(n, 1));
  if (a->shape.size() != la.size() || b->shape.size() != lb.size())
    return InvalidArgument(Where(n) + ": the operands' ranks do not match the equation '" + e + "'");
  onnx::NodeProto mm = n;
  PT_ASSIGN_OR_RETURN(std::string ta, Arranged(n, Resolve(n.input(0)), la, batch + m + k, n.output(0) + "::a"));
  PT_ASSIGN_OR_RETURN(std::string tb, Arranged(n, Resolve(n.input(1)), lb, batch + k + nn, n.output(0) + "::b"));
  mm.set_input(0, ta);
  mm.set_input(1, tb);
  return BatchMatMul(mm, graph_.tensors.at(ta), graph_.tensors.at(tb));
}

}  // namespace priortune::compiler::internal

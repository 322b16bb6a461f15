// ONNX import: ModelProto -> Graph. One pass over the nodes in order (ONNX requires a
// topological order), inferring each output's shape from its inputs' and refusing what
// the runtime cannot run, naming the node. BatchNormalization is folded into the
// convolution that feeds it (when that convolution's output has no other reader).
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "compiler/graph/graph.h"
#include "compiler/ops/op_template.h"

namespace priortune::compiler {
namespace {

std::string Where(const onnx::NodeProto& n) {
  return "node '" + (n.name().empty() ? n.output_size() ? n.output(0) : "?" : n.name()) + "' (" + n.op_type() + ")";
}

const onnx::AttributeProto* Attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
int64_t AttrInt(const onnx::NodeProto& n, const std::string& name, int64_t def) {
  const auto* a = Attr(n, name);
  return a ? a->i() : def;
}
float AttrFloat(const onnx::NodeProto& n, const std::string& name, float def) {
  const auto* a = Attr(n, name);
  return a ? a->f() : def;
}
std::vector<int64_t> AttrInts(const onnx::NodeProto& n, const std::string& name) {
  const auto* a = Attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

// A tensor's values, from the typed field or from raw little-endian bytes.
template <typename T, typename Field>
Status ReadValues(const onnx::TensorProto& t, const Field& typed, int64_t n, const std::string& where, const char* what,
                  std::vector<T>& out) {
  if (typed.size() > 0) {
    out.assign(typed.begin(), typed.end());
    return OkStatus();
  }
  if (static_cast<int64_t>(t.raw_data().size()) != n * static_cast<int64_t>(sizeof(T)))
    return Status(StatusCode::kDataLoss, where + ": tensor '" + t.name() + "' holds " +
                                             std::to_string(t.raw_data().size()) + " bytes for " + std::to_string(n) +
                                             " " + what);
  out.resize(static_cast<size_t>(n));
  std::memcpy(out.data(), t.raw_data().data(), t.raw_data().size());
  return OkStatus();
}

StatusOr<GraphTensor> FromTensorProto(const onnx::TensorProto& t, const std::string& where) {
  GraphTensor g;
  g.constant = true;
  g.shape.assign(t.dims().begin(), t.dims().end());
  int64_t n = g.elements();
  if (t.data_type() == onnx::TensorProto::FLOAT) {
    PT_RETURN_IF_ERROR(ReadValues(t, t.float_data(), n, where, "floats", g.data));
  } else if (t.data_type() == onnx::TensorProto::INT64) {
    PT_RETURN_IF_ERROR(ReadValues(t, t.int64_data(), n, where, "int64s", g.ints));
  } else {
    return InvalidArgument(where + ": tensor '" + t.name() + "' has data type " + std::to_string(t.data_type()) +
                           " (only float32 weights and int64 shapes are supported)");
  }
  if (static_cast<int64_t>(g.data.size() + g.ints.size()) != n)
    return Status(StatusCode::kDataLoss, where + ": tensor '" + t.name() + "' holds the wrong number of values");
  return g;
}

class Importer {
 public:
  explicit Importer(const ImportOptions& options) : options_(options) {}
  StatusOr<Graph> Run(const onnx::ModelProto& model) {
    const onnx::GraphProto& g = model.graph();
    for (const auto& init : g.initializer()) {
      PT_ASSIGN_OR_RETURN(GraphTensor t, FromTensorProto(init, "initializer"));
      graph_.tensors[init.name()] = std::move(t);
    }
    for (const auto& in : g.input()) {
      if (graph_.tensors.count(in.name())) continue;  // an initializer listed as input
      const auto& type = in.type().tensor_type();
      if (type.elem_type() != onnx::TensorProto::FLOAT)
        return InvalidArgument("input '" + in.name() + "': only float32 inputs are supported");
      GraphTensor t;
      for (const auto& d : type.shape().dim()) {
        if (!d.has_dim_value() || d.dim_value() <= 0)
          return InvalidArgument("input '" + in.name() + "': dynamic dimension '" + d.dim_param() +
                                 "'; export the model with a fixed shape");
        t.shape.push_back(d.dim_value());
      }
      graph_.tensors[in.name()] = std::move(t);
      graph_.inputs.push_back(in.name());
    }
    if (graph_.inputs.empty()) return InvalidArgument("the model has no input");
    for (const auto& n : g.node())
      for (const auto& i : n.input()) ++readers_[i];
    for (const auto& o : g.output()) ++readers_[o.name()];
    for (const auto& n : g.node()) PT_RETURN_IF_ERROR(Node(n));
    for (const auto& o : g.output()) {
      std::string name = Resolve(o.name());
      if (!graph_.tensors.count(name)) return InvalidArgument("output '" + o.name() + "' is never computed");
      graph_.outputs.push_back(name);
    }
    if (options_.fuse_epilogues) FuseEpilogues(graph_);
    return std::move(graph_);
  }

 private:
  std::string Resolve(const std::string& name) const {
    auto it = alias_.find(name);
    return it == alias_.end() ? name : it->second;
  }
  StatusOr<const GraphTensor*> In(const onnx::NodeProto& n, int i) {
    if (i >= n.input_size() || n.input(i).empty())
      return InvalidArgument(Where(n) + ": input " + std::to_string(i) + " is missing");
    auto it = graph_.tensors.find(Resolve(n.input(i)));
    if (it == graph_.tensors.end())
      return InvalidArgument(Where(n) + ": input '" + n.input(i) + "' is not computed before it");
    return &it->second;
  }
  void Out(GraphNode node, std::vector<int64_t> shape) {
    GraphTensor t;
    t.shape = std::move(shape);
    graph_.tensors[node.outputs[0]] = std::move(t);
    graph_.nodes.push_back(std::move(node));
  }
  GraphNode Make(const onnx::NodeProto& n, GraphOp op) {
    GraphNode g;
    g.name = n.name().empty() ? n.output(0) : n.name();
    g.op_type = n.op_type();
    g.op = op;
    for (const auto& i : n.input())
      if (!i.empty()) g.inputs.push_back(Resolve(i));
    g.outputs.assign(n.output().begin(), n.output().end());
    return g;
  }
  // Square kernel, equal strides, symmetric equal pads, dilation 1: what the templates take.
  Status Window(const onnx::NodeProto& n, int64_t kh, int64_t kw, GraphNode& g) {
    std::vector<int64_t> strides = AttrInts(n, "strides"), pads = AttrInts(n, "pads"), dil = AttrInts(n, "dilations");
    if (kh != kw)
      return InvalidArgument(Where(n) + ": a " + std::to_string(kh) + "x" + std::to_string(kw) +
                             " kernel (only square kernels)");
    for (int64_t d : dil)
      if (d != 1) return InvalidArgument(Where(n) + ": dilation " + std::to_string(d) + " (only 1)");
    if (!strides.empty() && (strides.size() != 2 || strides[0] != strides[1]))
      return InvalidArgument(Where(n) + ": strides must be two equal values");
    if (!pads.empty() && (pads.size() != 4 || pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3]))
      return InvalidArgument(Where(n) + ": pads must be symmetric and equal on both axes");
    const onnx::AttributeProto* auto_pad = Attr(n, "auto_pad");
    if (auto_pad && auto_pad->s() != "NOTSET" && auto_pad->s() != "VALID")
      return InvalidArgument(Where(n) + ": auto_pad " + auto_pad->s() + " (give explicit pads)");
    const int64_t ceil_mode = AttrInt(n, "ceil_mode", 0);
    if (ceil_mode != 0 && ceil_mode != 1)
      return InvalidArgument(Where(n) + ": ceil_mode " + std::to_string(ceil_mode) + " (0 or 1)");
    g.ceil_mode = ceil_mode == 1;
    g.kernel = kh;
    g.stride = strides.empty() ? 1 : strides[0];
    g.pad = pads.empty() ? 0 : pads[0];
    return OkStatus();
  }
  static std::vector<int64_t> Pooled(const std::vector<int64_t>& x, int64_t channels, const GraphNode& g) {
    auto out = [&](int64_t in) {
      const int64_t span = in + 2 * g.pad - g.kernel;
      int64_t o = (g.ceil_mode ? (span + g.stride - 1) / g.stride : span / g.stride) + 1;
      if (g.ceil_mode && (o - 1) * g.stride >= in + g.pad) --o;  // a window starting in the padding only
      return o;
    };
    return {x[0], channels, out(x[2]), out(x[3])};
  }

  Status Node(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (n.output_size() < 1) return InvalidArgument(Where(n) + ": no output");
    if (op == "Constant") {
      const auto* v = Attr(n, "value");
      if (!v || !v->has_t()) return InvalidArgument(Where(n) + ": only tensor constants are supported");
      PT_ASSIGN_OR_RETURN(GraphTensor t, FromTensorProto(v->t(), Where(n)));
      graph_.tensors[n.output(0)] = std::move(t);
      return OkStatus();
    }
    if (op == "Identity" || op == "Dropout") {
      alias_[n.output(0)] = Resolve(n.input(0));
      return OkStatus();
    }
    if (op == "Conv") return Conv(n);
    if (op == "Concat") return Concat(n);
    if (op == "BatchNormalization") return options_.fold_batchnorm ? FoldBatchNorm(n) : BatchNorm(n);
    if (op == "Gemm" || op == "MatMul") return Dense(n);
    PT_ASSIGN_OR_RETURN(const GraphTensor* x, In(n, 0));
    const std::vector<int64_t> xs = x->shape;
    if (op == "Relu") {
      Out(Make(n, GraphOp::kRelu), xs);
      return OkStatus();
    }
    if (op == "Clip") return Clip(n, xs);
    if (op == "Sigmoid" || op == "HardSigmoid" || op == "HardSwish" || op == "Tanh" || op == "Erf") return Unary(n, xs);
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return Binary(n, xs);
    if (op == "MaxPool" || op == "AveragePool") return Pool(n, xs);
    if (op == "GlobalAveragePool" || op == "ReduceMean") return GlobalAveragePool(n, xs);
    if (op == "Flatten" || op == "Reshape") return Flatten(n, xs);
    if (op == "Softmax") {
      GraphNode g = Make(n, GraphOp::kSoftmax);
      g.axis = AttrInt(n, "axis", -1);
      if (g.axis < 0) g.axis += static_cast<int64_t>(xs.size());
      if (g.axis != static_cast<int64_t>(xs.size()) - 1)
        return InvalidArgument(Where(n) + ": softmax only over the last axis");
      Out(std::move(g), xs);
      return OkStatus();
    }
    return InvalidArgument(Where(n) +
                           ": operator not supported (supported: Conv, BatchNormalization, Gemm, MatMul, "
                           "Concat, Relu, Clip, Sigmoid, HardSigmoid, HardSwish, Tanh, Erf, Add, Sub, Mul, Div (numpy "
                           "broadcasting), MaxPool, AveragePool, "
                           "GlobalAveragePool, ReduceMean over H and W, "
                           "Flatten, Reshape to [N, -1], Softmax, Constant, Identity, Dropout)");
  }

  // Clip: min and max from the attributes (opset < 11) or constant scalar inputs.
  Status Clip(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
    GraphNode g = Make(n, GraphOp::kClip);
    g.clip_min = AttrFloat(n, "min", -INFINITY);
    g.clip_max = AttrFloat(n, "max", INFINITY);
    for (int i = 1; i <= 2 && i < n.input_size(); ++i) {
      if (n.input(i).empty()) continue;
      PT_ASSIGN_OR_RETURN(const GraphTensor* b, In(n, i));
      if (!b->constant || b->data.size() != 1)
        return InvalidArgument(Where(n) + ": min and max must be constant scalars");
      (i == 1 ? g.clip_min : g.clip_max) = b->data[0];
    }
    g.inputs.resize(1);
    Out(std::move(g), xs);
    return OkStatus();
  }

  // Sigmoid, HardSigmoid (alpha, beta), HardSwish, Tanh, Erf: elementwise, same shape.
  Status Unary(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
    static const std::pair<const char*, UnaryOp> kOps[] = {{"Sigmoid", UnaryOp::kSigmoid},
                                                           {"HardSigmoid", UnaryOp::kHardSigmoid},
                                                           {"HardSwish", UnaryOp::kHardSwish},
                                                           {"Tanh", UnaryOp::kTanh},
                                                           {"Erf", UnaryOp::kErf}};
    GraphNode g = Make(n, GraphOp::kUnary);
    for (const auto& [name, unary] : kOps)
      if (n.op_type() == name) g.unary = unary;
    g.alpha = AttrFloat(n, "alpha", 0.2f);
    g.beta = AttrFloat(n, "beta", 0.5f);
    if (!std::isfinite(g.alpha) || !std::isfinite(g.beta))
      return InvalidArgument(Where(n) + ": alpha and beta must be finite");
    g.inputs.resize(1);
    Out(std::move(g), xs);
    return OkStatus();
  }

  // Add of two same-shaped tensors (a residual: kAdd, fusable); Add, Sub, Mul, Div
  // otherwise, broadcast as numpy does (kBinary).
  Status Binary(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
    PT_ASSIGN_OR_RETURN(const GraphTensor* y, In(n, 1));
    if (n.op_type() == "Add" && y->shape == xs) {
      Out(Make(n, GraphOp::kAdd), xs);
      return OkStatus();
    }
    auto shape = BroadcastShape(xs, y->shape);
    if (!shape) return InvalidArgument(Where(n) + ": operand shapes do not broadcast");
    static const std::pair<const char*, BinaryOp> kOps[] = {
        {"Add", BinaryOp::kAdd}, {"Sub", BinaryOp::kSub}, {"Mul", BinaryOp::kMul}, {"Div", BinaryOp::kDiv}};
    GraphNode g = Make(n, GraphOp::kBinary);
    for (const auto& [name, binary] : kOps)
      if (n.op_type() == name) g.binary = binary;
    g.inputs.resize(2);
    Out(std::move(g), *shape);
    return OkStatus();
  }

  // Concat: every input of one rank, equal but for `axis` (negative counts from the end).
  Status Concat(const onnx::NodeProto& n) {
    if (n.input_size() < 1) return InvalidArgument(Where(n) + ": no input");
    GraphNode g = Make(n, GraphOp::kConcat);
    std::vector<int64_t> shape;
    for (int i = 0; i < n.input_size(); ++i) {
      PT_ASSIGN_OR_RETURN(const GraphTensor* t, In(n, i));
      const int64_t rank = static_cast<int64_t>(t->shape.size());
      if (i == 0) {
        const onnx::AttributeProto* a = Attr(n, "axis");
        if (!a) return InvalidArgument(Where(n) + ": no axis");
        g.axis = a->i() < 0 ? a->i() + rank : a->i();
        if (g.axis < 0 || g.axis >= rank)
          return InvalidArgument(Where(n) + ": axis " + std::to_string(a->i()) + " out of range for rank " +
                                 std::to_string(rank));
        shape = t->shape;
        continue;
      }
      bool fits = rank == static_cast<int64_t>(shape.size());
      for (int64_t d = 0; fits && d < rank; ++d) fits = d == g.axis || t->shape[d] == shape[d];
      if (!fits)
        return InvalidArgument(Where(n) + ": input " + std::to_string(i) +
                               " differs from the first in a dimension other than the axis");
      shape[g.axis] += t->shape[g.axis];
    }
    Out(std::move(g), shape);
    return OkStatus();
  }

  Status Pool(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
    const bool max = n.op_type() == "MaxPool";
    if (xs.size() != 4) return InvalidArgument(Where(n) + ": input is not NCHW");
    std::vector<int64_t> k = AttrInts(n, "kernel_shape");
    if (k.size() != 2) return InvalidArgument(Where(n) + ": kernel_shape must have two values");
    GraphNode g = Make(n, max ? GraphOp::kMaxPool : GraphOp::kAveragePool);
    PT_RETURN_IF_ERROR(Window(n, k[0], k[1], g));
    if (!max && AttrInt(n, "count_include_pad", 0) != 0 && g.pad > 0)
      return InvalidArgument(Where(n) + ": count_include_pad 1 with padding");
    std::vector<int64_t> shape = Pooled(xs, xs[1], g);
    if (shape[2] < 1 || shape[3] < 1)
      return InvalidArgument(Where(n) + ": the " + std::to_string(g.kernel) + "x" + std::to_string(g.kernel) +
                             " window is larger than the padded input");
    Out(std::move(g), shape);
    return OkStatus();
  }

  // GlobalAveragePool, and ReduceMean over H and W (which may drop them).
  Status GlobalAveragePool(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
    if (n.op_type() == "GlobalAveragePool") {
      if (xs.size() != 4) return InvalidArgument(Where(n) + ": input is not NCHW");
      Out(Make(n, GraphOp::kGlobalAveragePool), {xs[0], xs[1], 1, 1});
      return OkStatus();
    }
    std::vector<int64_t> axes = AttrInts(n, "axes");
    if (xs.size() != 4 || axes != std::vector<int64_t>{2, 3})
      return InvalidArgument(Where(n) + ": only the mean over H and W of an NCHW tensor (a global average pool)");
    bool keep = AttrInt(n, "keepdims", 1) != 0;
    Out(Make(n, GraphOp::kGlobalAveragePool),
        keep ? std::vector<int64_t>{xs[0], xs[1], 1, 1} : std::vector<int64_t>{xs[0], xs[1]});
    return OkStatus();
  }

  // Flatten, and a Reshape to [N, -1] with a constant shape.
  Status Flatten(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
    int64_t axis = 1;
    if (n.op_type() == "Flatten") {
      axis = AttrInt(n, "axis", 1);
    } else {
      PT_ASSIGN_OR_RETURN(const GraphTensor* s, In(n, 1));
      if (!s->constant || s->ints.size() != 2 || s->ints[0] != xs[0])
        return InvalidArgument(Where(n) + ": only a reshape to [N, -1] with a constant shape (a flatten)");
    }
    if (axis < 0) axis += static_cast<int64_t>(xs.size());
    if (axis < 1 || axis > static_cast<int64_t>(xs.size())) return InvalidArgument(Where(n) + ": axis out of range");
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < xs.size(); ++i) (static_cast<int64_t>(i) < axis ? outer : inner) *= xs[i];
    GraphNode g = Make(n, GraphOp::kFlatten);
    g.inputs.resize(1);
    Out(std::move(g), {outer, inner});
    return OkStatus();
  }

  Status Conv(const onnx::NodeProto& n) {
    PT_ASSIGN_OR_RETURN(const GraphTensor* x, In(n, 0));
    PT_ASSIGN_OR_RETURN(const GraphTensor* w, In(n, 1));
    if (x->shape.size() != 4) return InvalidArgument(Where(n) + ": input is not NCHW");
    if (!w->constant || w->shape.size() != 4)
      return InvalidArgument(Where(n) + ": the weight must be a constant OIHW tensor");
    int64_t groups = AttrInt(n, "group", 1);
    int64_t c = x->shape[1], o = w->shape[0];
    const bool depthwise = groups == c && o == c && groups > 1;
    GraphNode g = Make(n, depthwise ? GraphOp::kDepthwiseConv2d : GraphOp::kConv2d);
    PT_RETURN_IF_ERROR(Window(n, w->shape[2], w->shape[3], g));
    if (groups < 1 || c % groups != 0 || o % groups != 0)
      return InvalidArgument(Where(n) + ": group " + std::to_string(groups) + " does not divide the " +
                             std::to_string(c) + " input and " + std::to_string(o) + " output channels");
    if (w->shape[1] != c / groups)
      return InvalidArgument(Where(n) + ": weight has " + std::to_string(w->shape[1]) +
                             " input channels per group, the input " + std::to_string(c / groups));
    std::vector<int64_t> shape = Pooled(x->shape, o, g);
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
    graph_.tensors[weight] = *w;
    graph_.tensors[bias] = std::move(b);
    g.inputs = {g.inputs[0], weight, bias};
    const auto& xs = x->shape;
    if (depthwise)
      g.workload = DepthwiseConv2dWorkload(xs[0], c, xs[2], xs[3], g.kernel, g.kernel, g.stride, g.pad);
    else if (groups > 1)
      g.workload = GroupConv2dWorkload(xs[0], c, xs[2], xs[3], o, g.kernel, g.kernel, g.stride, g.pad, groups);
    else
      g.workload = Conv2dWorkload(xs[0], c, xs[2], xs[3], o, g.kernel, g.kernel, g.stride, g.pad, /*bias=*/true);
    g.workload->bias = true;
    Out(std::move(g), shape);
    return OkStatus();
  }

  // The BatchNormalization parameters of node `n`, checked: scale, bias, mean, variance,
  // one value per channel of `channels`.
  StatusOr<std::vector<const GraphTensor*>> BatchNormParams(const onnx::NodeProto& n, int64_t channels) {
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

  // Unfolded: y = x * scale'[c] + shift'[c] with the statistics folded into scale' and
  // shift' (inference mode).
  Status BatchNorm(const onnx::NodeProto& n) {
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
    Out(std::move(g), xs);
    return OkStatus();
  }

  Status FoldBatchNorm(const onnx::NodeProto& n) {
    std::string in = Resolve(n.input(0));
    GraphNode* conv = nullptr;
    for (auto& g : graph_.nodes)
      if (g.outputs[0] == in && (g.op == GraphOp::kConv2d || g.op == GraphOp::kDepthwiseConv2d)) conv = &g;
    // Not right after a Conv whose output nothing else reads (DenseNet's, after a Concat):
    // a node of its own.
    if (!conv || readers_[n.input(0)] != 1) return BatchNorm(n);
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
    // The convolution now writes the BatchNormalization's output.
    GraphTensor out = graph_.tensors[in];
    graph_.tensors.erase(in);
    conv->outputs[0] = n.output(0);
    graph_.tensors[n.output(0)] = std::move(out);
    return OkStatus();
  }

  Status Dense(const onnx::NodeProto& n) {
    PT_ASSIGN_OR_RETURN(const GraphTensor* a, In(n, 0));
    PT_ASSIGN_OR_RETURN(const GraphTensor* w, In(n, 1));
    if (a->shape.size() != 2) return InvalidArgument(Where(n) + ": the activation must be [N, K]");
    if (!w->constant || w->shape.size() != 2)
      return InvalidArgument(Where(n) + ": the weight must be a constant 2-D tensor");
    bool trans_a = AttrInt(n, "transA", 0) != 0, trans_b = AttrInt(n, "transB", 0) != 0;
    if (trans_a) return InvalidArgument(Where(n) + ": transA 1");
    if (AttrFloat(n, "alpha", 1) != 1 || AttrFloat(n, "beta", 1) != 1)
      return InvalidArgument(Where(n) + ": alpha and beta must be 1");
    int64_t k = a->shape[1], m = trans_b ? w->shape[0] : w->shape[1];
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
    graph_.tensors[bname] = std::move(bias);
    g.inputs = {g.inputs[0], wname, bname};
    int64_t rows = a->shape[0];
    g.workload = MatmulWorkload(rows, m, k, /*bias=*/true);
    Out(std::move(g), {rows, m});
    return OkStatus();
  }

  ImportOptions options_;
  Graph graph_;
  std::map<std::string, std::string> alias_;
  std::map<std::string, int> readers_;
};

}  // namespace

int64_t GraphTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

StatusOr<Graph> ImportOnnxBytes(const std::string& bytes, const std::string& name, const ImportOptions& options) {
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    return Status(StatusCode::kDataLoss, name + ": not an ONNX model (protobuf parse failed)");
  Importer importer(options);
  auto g = importer.Run(model);
  if (!g.ok()) return Status(g.status().code(), name + ": " + g.status().message());
  return g;
}

StatusOr<Graph> ImportOnnx(const std::string& path, const ImportOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return ImportOnnxBytes(s.str(), path, options);
}

std::vector<GraphTask> ExtractTasks(const Graph& graph) {
  std::map<std::string, GraphTask> by_key;
  double total = 0;
  for (const GraphNode& n : graph.nodes) {
    if (!n.workload) continue;
    auto tmpl = FindTemplate(n.workload->op);
    double flops = tmpl.ok() ? (*tmpl)->Flops(*n.workload) : 0;
    GraphTask& t = by_key[n.workload->Key()];
    t.workload = *n.workload;
    ++t.count;
    t.flops += flops;
    total += flops;
  }
  std::vector<GraphTask> out;
  for (auto& [k, t] : by_key) {
    t.flop_share = total > 0 ? t.flops / total : 0;
    out.push_back(t);
  }
  std::sort(out.begin(), out.end(), [](const GraphTask& a, const GraphTask& b) {
    return a.flops != b.flops ? a.flops > b.flops : a.workload.Key() < b.workload.Key();
  });
  return out;
}

}  // namespace priortune::compiler

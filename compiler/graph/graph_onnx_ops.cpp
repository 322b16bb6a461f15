// ONNX import of the operators without weights: elementwise (Clip, the activations,
// broadcasting arithmetic), structure (Concat, Flatten and Reshape) and reductions.
#include <algorithm>
#include <cmath>

#include "compiler/graph/internal/importer.h"
#include "compiler/graph/internal/reference.h"
#include "compiler/ops/op_template.h"

namespace priortune::compiler::internal {

Status Importer::Clip(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
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
  return Out(std::move(g), xs);
}

Status Importer::Unary(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  static const std::pair<const char*, UnaryOp> kOps[] = {{"Sigmoid", UnaryOp::kSigmoid},
                                                         {"HardSigmoid", UnaryOp::kHardSigmoid},
                                                         {"HardSwish", UnaryOp::kHardSwish},
                                                         {"Tanh", UnaryOp::kTanh},
                                                         {"Erf", UnaryOp::kErf},
                                                         {"Sqrt", UnaryOp::kSqrt},
                                                         {"Exp", UnaryOp::kExp},
                                                         {"Log", UnaryOp::kLog}};
  GraphNode g = Make(n, GraphOp::kUnary);
  for (const auto& [name, unary] : kOps)
    if (n.op_type() == name) g.unary = unary;
  g.alpha = AttrFloat(n, "alpha", 0.2f);
  g.beta = AttrFloat(n, "beta", 0.5f);
  if (n.op_type() == "Pow") {  // a constant scalar exponent
    PT_ASSIGN_OR_RETURN(const GraphTensor* e, In(n, 1));
    if (!e->constant || e->elements() != 1)
      return InvalidArgument(Where(n) + ": the exponent must be a constant scalar");
    g.unary = UnaryOp::kPow;
    g.alpha = e->data.empty() ? static_cast<float>(e->ints[0]) : e->data[0];
    const bool whole = g.alpha == std::round(g.alpha) && std::fabs(g.alpha) <= 4;
    if (!whole && std::fabs(g.alpha) != 0.5f)
      return InvalidArgument(Where(n) + ": exponent " + std::to_string(g.alpha) +
                             " (only whole numbers from -4 to 4 and +-0.5)");
  }
  if (!std::isfinite(g.alpha) || !std::isfinite(g.beta))
    return InvalidArgument(Where(n) + ": alpha and beta must be finite");
  g.inputs.resize(1);
  return Out(std::move(g), xs);
}

Status Importer::Binary(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  PT_ASSIGN_OR_RETURN(const GraphTensor* y, In(n, 1));
  PT_ASSIGN_OR_RETURN(bool folded, FoldDenseBias(n));
  if (folded) return OkStatus();
  if (n.op_type() == "Add" && y->shape == xs) {
    return Out(Make(n, GraphOp::kAdd), xs);
  }
  auto shape = BroadcastShape(xs, y->shape);
  if (!shape) return InvalidArgument(Where(n) + ": operand shapes do not broadcast");
  static const std::pair<const char*, BinaryOp> kOps[] = {{"Add", BinaryOp::kAdd}, {"Sub", BinaryOp::kSub},
                                                          {"Mul", BinaryOp::kMul}, {"Div", BinaryOp::kDiv},
                                                          {"Min", BinaryOp::kMin}, {"Max", BinaryOp::kMax}};
  if (n.input_size() != 2) return InvalidArgument(Where(n) + ": two inputs needed");
  GraphNode g = Make(n, GraphOp::kBinary);
  for (const auto& [name, binary] : kOps)
    if (n.op_type() == name) g.binary = binary;
  const GraphTensor& a = graph_.tensors.at(g.inputs[0]);
  if (g.binary == BinaryOp::kDiv && a.dtype != ElemType::kFloat32 && !(a.constant && y->constant))
    return InvalidArgument(Where(n) + ": integer division at run time is not supported");
  g.inputs.resize(2);
  return Out(std::move(g), *shape);
}

StatusOr<bool> Importer::FoldDenseBias(const onnx::NodeProto& n) {
  if (n.op_type() != "Add" || n.input_size() != 2) return false;
  for (int k = 0; k < 2; ++k) {
    PT_ASSIGN_OR_RETURN(const GraphTensor* c, In(n, 1 - k));
    if (!OnlyReader(n.input(k)) || !c->constant || c->data.empty()) continue;
    GraphNode* dense = ProducerOf(n.input(k));
    if (!dense || dense->op != GraphOp::kDense || dense->workload->residual) continue;
    GraphTensor& bias = graph_.tensors.at(dense->inputs[2]);
    // Only a constant that is one value per output column: [M], or [1, ..., 1, M].
    bool column = c->elements() == bias.elements() && !c->shape.empty() && c->shape.back() == bias.elements();
    if (!column) continue;
    for (size_t j = 0; j < bias.data.size(); ++j) bias.data[j] += c->data[j];
    dense->fused.push_back(n.name().empty() ? n.output(0) : n.name());
    Absorb(*dense, n.output(0));
    return true;
  }
  return false;
}

Status Importer::Concat(const onnx::NodeProto& n) {
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
  return Out(std::move(g), shape);
}

StatusOr<std::vector<int64_t>> Importer::ConstInts(const onnx::NodeProto& n, int i, const char* what) {
  PT_ASSIGN_OR_RETURN(const GraphTensor* t, In(n, i));
  if (!t->constant || t->elements() != static_cast<int64_t>(t->ints.size()))
    return InvalidArgument(Where(n) + ": " + what + " must be a constant int64 tensor (computed from weights and " +
                           "static shapes only)");
  return t->ints;
}

StatusOr<std::vector<int64_t>> Importer::Axes(const onnx::NodeProto& n, int input, size_t rank) {
  std::vector<int64_t> axes = AttrInts(n, "axes");
  if (!Attr(n, "axes") && input < n.input_size() && !n.input(input).empty()) {
    PT_ASSIGN_OR_RETURN(axes, ConstInts(n, input, "axes"));
  }
  for (int64_t& a : axes) {
    const int64_t r = static_cast<int64_t>(rank);
    if (a < -r || a >= r)
      return InvalidArgument(Where(n) + ": axis " + std::to_string(a) + " out of range for rank " + std::to_string(r));
    if (a < 0) a += r;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    return InvalidArgument(Where(n) + ": an axis is given twice");
  return axes;
}

Status Importer::View(const onnx::NodeProto& n, const std::vector<int64_t>& xs, std::vector<int64_t> shape) {
  int64_t in = 1, out = 1;
  for (int64_t d : xs) in *= d;
  for (int64_t d : shape) out *= d;
  if (in != out)
    return InvalidArgument(Where(n) + ": " + std::to_string(in) + " elements cannot be viewed as " +
                           std::to_string(out));
  GraphNode g = Make(n, GraphOp::kReshape);
  g.inputs.resize(1);
  return Out(std::move(g), std::move(shape));
}

Status Importer::Reshape(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  const int64_t rank = static_cast<int64_t>(xs.size());
  const std::string& op = n.op_type();
  std::vector<int64_t> shape;
  if (op == "Flatten") {
    int64_t axis = AttrInt(n, "axis", 1);
    if (axis < -rank || axis > rank) return InvalidArgument(Where(n) + ": axis out of range");
    if (axis < 0) axis += rank;
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : inner) *= xs[i];
    return View(n, xs, {outer, inner});
  }
  if (op == "Squeeze" || op == "Unsqueeze") {
    const bool squeeze = op == "Squeeze";
    const size_t out_rank = squeeze ? xs.size() : xs.size() + AttrInts(n, "axes").size();
    std::vector<int64_t> axes;
    if (squeeze || Attr(n, "axes")) {
      PT_ASSIGN_OR_RETURN(axes, Axes(n, 1, out_rank));
    } else {
      PT_ASSIGN_OR_RETURN(std::vector<int64_t> given, ConstInts(n, 1, "axes"));
      PT_ASSIGN_OR_RETURN(axes, Axes(n, 1, xs.size() + given.size()));
    }
    if (squeeze) {
      for (int64_t d = 0; d < rank; ++d) {
        const bool listed = std::binary_search(axes.begin(), axes.end(), d);
        if (listed && xs[d] != 1)
          return InvalidArgument(Where(n) + ": axis " + std::to_string(d) + " has size " + std::to_string(xs[d]));
        if (!(listed || (axes.empty() && xs[d] == 1))) shape.push_back(xs[d]);
      }
    } else {
      size_t next = 0;
      for (size_t d = 0; d < xs.size() + axes.size(); ++d)
        shape.push_back(std::binary_search(axes.begin(), axes.end(), static_cast<int64_t>(d)) ? 1 : xs[next++]);
    }
    return View(n, xs, shape);
  }
  // Reshape: 0 copies the input's dimension (unless allowzero), -1 takes what is left.
  PT_ASSIGN_OR_RETURN(shape, ConstInts(n, 1, "the shape"));
  const bool allowzero = AttrInt(n, "allowzero", 0) != 0;
  int64_t known = 1, infer = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0 && !allowzero) {
      if (d >= xs.size()) return InvalidArgument(Where(n) + ": 0 copies an axis the input does not have");
      shape[d] = xs[d];
    }
    if (shape[d] == -1) {
      if (infer >= 0) return InvalidArgument(Where(n) + ": more than one -1 in the shape");
      infer = static_cast<int64_t>(d);
    } else if (shape[d] < 0) {
      return InvalidArgument(Where(n) + ": dimension " + std::to_string(shape[d]) + " in the shape");
    } else {
      known *= shape[d];
    }
  }
  int64_t total = 1;
  for (int64_t d : xs) total *= d;
  if (infer >= 0) {
    if (known == 0 || total % known != 0)
      return InvalidArgument(Where(n) + ": " + std::to_string(total) + " elements do not fill the shape");
    shape[infer] = total / known;
  }
  return View(n, xs, shape);
}

Status Importer::Transpose(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  GraphNode g = Make(n, GraphOp::kTranspose);
  g.perm = AttrInts(n, "perm");
  const size_t rank = xs.size();
  if (g.perm.empty())
    for (size_t d = rank; d-- > 0;) g.perm.push_back(static_cast<int64_t>(d));
  std::vector<int64_t> sorted = g.perm;
  std::sort(sorted.begin(), sorted.end());
  for (size_t d = 0; d < sorted.size(); ++d)
    if (sorted.size() != rank || sorted[d] != static_cast<int64_t>(d))
      return InvalidArgument(Where(n) + ": perm is not a permutation of the " + std::to_string(rank) + " axes");
  std::vector<int64_t> shape;
  for (int64_t p : g.perm) shape.push_back(xs[p]);
  return Out(std::move(g), shape);
}

// One kSlice node: [begin, end) of every step-th element along `axis` (the other axes whole).
Status Importer::SliceNode(GraphNode g, std::vector<int64_t> starts, std::vector<int64_t> steps,
                           std::vector<int64_t> shape) {
  g.op = GraphOp::kSlice;
  g.inputs.resize(1);
  g.starts = std::move(starts);
  g.steps = std::move(steps);
  return Out(std::move(g), std::move(shape));
}

Status Importer::Slice(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  const size_t rank = xs.size();
  std::vector<int64_t> starts = AttrInts(n, "starts"), ends = AttrInts(n, "ends"), axes, steps;
  if (!Attr(n, "starts")) {  // opset 10 on: inputs
    PT_ASSIGN_OR_RETURN(starts, ConstInts(n, 1, "starts"));
    PT_ASSIGN_OR_RETURN(ends, ConstInts(n, 2, "ends"));
    if (n.input_size() > 4 && !n.input(4).empty()) {
      PT_ASSIGN_OR_RETURN(steps, ConstInts(n, 4, "steps"));
    }
  }
  if (n.input_size() > 3 && !n.input(3).empty()) {
    PT_ASSIGN_OR_RETURN(axes, ConstInts(n, 3, "axes"));
  } else {
    axes = AttrInts(n, "axes");
  }
  if (axes.empty())
    for (size_t d = 0; d < starts.size(); ++d) axes.push_back(static_cast<int64_t>(d));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return InvalidArgument(Where(n) + ": starts, ends, axes and steps differ in length");
  std::vector<int64_t> begin(rank, 0), step(rank, 1), shape = xs;
  std::vector<bool> seen(rank, false);
  for (size_t k = 0; k < axes.size(); ++k) {
    int64_t a = axes[k] < 0 ? axes[k] + static_cast<int64_t>(rank) : axes[k];
    if (a < 0 || a >= static_cast<int64_t>(rank) || seen[a])
      return InvalidArgument(Where(n) + ": axis " + std::to_string(axes[k]) + " out of range or repeated");
    seen[a] = true;
    const int64_t dim = xs[a], st = steps[k];
    if (st == 0) return InvalidArgument(Where(n) + ": step 0");
    // ONNX's clamping: negative indices count from the end; then into [0, dim] going
    // forward, [-1, dim - 1] going backward.
    auto clamp = [&](int64_t v, bool is_end) {
      if (v < 0) v += dim;
      if (st > 0) return std::max<int64_t>(0, std::min(v, dim));
      return std::max<int64_t>(is_end ? -1 : 0, std::min(v, dim - 1));
    };
    const int64_t b = clamp(starts[k], false), e = clamp(ends[k], true);
    const int64_t count = st > 0 ? (e - b + st - 1) / st : (b - e - st - 1) / -st;
    // An empty slice of a constant is an empty constant (shape arithmetic: Swin's padding
    // of a size that needs none); of an activation it would be an empty tensor.
    if (count <= 0 && !graph_.tensors.at(Resolve(n.input(0))).constant)
      return InvalidArgument(Where(n) + ": the slice of axis " + std::to_string(a) + " is empty");
    begin[a] = b;
    step[a] = st;
    shape[a] = std::max<int64_t>(count, 0);
  }
  return SliceNode(Make(n, GraphOp::kSlice), begin, step, shape);
}

Status Importer::GatherSlice(const onnx::NodeProto& n, const std::vector<int64_t>& xs, int64_t axis) {
  const int64_t rank = static_cast<int64_t>(xs.size());
  PT_ASSIGN_OR_RETURN(const GraphTensor* it, In(n, 1));
  const bool scalar = it->shape.empty();
  if (it->shape.size() > 1) return GatherRows(n, xs, axis);
  PT_ASSIGN_OR_RETURN(std::vector<int64_t> idx, ConstInts(n, 1, "indices"));
  for (int64_t& v : idx) {
    if (v < -xs[axis] || v >= xs[axis])
      return InvalidArgument(Where(n) + ": index " + std::to_string(v) + " out of range for axis " +
                             std::to_string(axis) + " (" + std::to_string(xs[axis]) + ")");
    if (v < 0) v += xs[axis];
  }
  if (idx.empty()) return InvalidArgument(Where(n) + ": no indices");
  const int64_t step = idx.size() > 1 ? idx[1] - idx[0] : 1;
  for (size_t k = 1; k < idx.size(); ++k)
    if (step == 0 || idx[k] - idx[k - 1] != step) return GatherRows(n, xs, axis);
  std::vector<int64_t> begin(rank, 0), steps(rank, 1), shape = xs;
  begin[axis] = idx[0];
  steps[axis] = step;
  shape[axis] = static_cast<int64_t>(idx.size());
  GraphNode g = Make(n, GraphOp::kSlice);
  if (!scalar) return SliceNode(std::move(g), begin, steps, shape);
  const std::string sliced = n.output(0) + "::slice";
  g.outputs = {sliced};
  PT_RETURN_IF_ERROR(SliceNode(std::move(g), begin, steps, shape));
  GraphNode view = Make(n, GraphOp::kReshape);
  view.inputs = {sliced};
  shape.erase(shape.begin() + axis);
  return Out(std::move(view), shape);
}

Status Importer::Gather(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  const int64_t rank = static_cast<int64_t>(xs.size());
  int64_t axis = AttrInt(n, "axis", 0);
  if (axis < -rank || axis >= rank) return InvalidArgument(Where(n) + ": axis out of range");
  if (axis < 0) axis += rank;
  PT_ASSIGN_OR_RETURN(const GraphTensor* it, In(n, 1));
  return it->constant ? GatherSlice(n, xs, axis) : GatherRows(n, xs, axis);
}

Status Importer::GatherRows(const onnx::NodeProto& n, const std::vector<int64_t>& xs, int64_t axis) {
  PT_ASSIGN_OR_RETURN(const GraphTensor* it, In(n, 1));
  if (it->dtype != ElemType::kInt64 && it->dtype != ElemType::kInt32)
    return InvalidArgument(Where(n) + ": indices of type " + ElemTypeName(it->dtype) + " (int64 or int32 needed)");
  if (it->constant)
    for (int64_t v : it->ints)
      if (v < -xs[axis] || v >= xs[axis])
        return InvalidArgument(Where(n) + ": index " + std::to_string(v) + " out of range for axis " +
                               std::to_string(axis) + " (" + std::to_string(xs[axis]) + ")");
  GraphNode g = Make(n, GraphOp::kGather);
  g.axis = axis;
  std::vector<int64_t> shape(xs.begin(), xs.begin() + axis);
  shape.insert(shape.end(), it->shape.begin(), it->shape.end());
  shape.insert(shape.end(), xs.begin() + axis + 1, xs.end());
  return Out(std::move(g), shape);
}

Status Importer::CastAtRunTime(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  const int64_t code = AttrInt(n, "to", 0);
  ElemType to = ElemType::kFloat32;
  if (!ElemTypeFromCode(code, to))
    return InvalidArgument(Where(n) + ": cast to data type " + std::to_string(code) +
                           " at run time (float32, int64, int32 and bool are supported)");
  PT_ASSIGN_OR_RETURN(const GraphTensor* x, In(n, 0));
  GraphNode g = Make(n, GraphOp::kReshape);
  const bool integer = to == ElemType::kInt64 || to == ElemType::kInt32;
  if (to == ElemType::kBool && x->dtype != ElemType::kBool) {
    g.op = GraphOp::kUnary;
    g.unary = UnaryOp::kNonZero;
  } else if (integer && x->dtype == ElemType::kFloat32) {
    g.op = GraphOp::kUnary;
    g.unary = UnaryOp::kTrunc;
  }
  return Out(std::move(g), xs, to);
}

Status Importer::ExpandAtRunTime(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  PT_ASSIGN_OR_RETURN(std::vector<int64_t> to, ConstInts(n, 1, "shape"));
  auto shape = BroadcastShape(xs, to);
  if (!shape) return InvalidArgument(Where(n) + ": the input does not broadcast to the shape");
  GraphNode g = Make(n, GraphOp::kExpand);
  g.inputs.resize(1);
  return Out(std::move(g), *shape);
}

Status Importer::WhereAtRunTime(const onnx::NodeProto& n) {
  if (n.input_size() != 3) return InvalidArgument(Where(n) + ": three inputs needed");
  std::vector<int64_t> shape;
  ElemType dtype = ElemType::kFloat32;  // the values'
  for (int i = 0; i < 3; ++i) {
    PT_ASSIGN_OR_RETURN(const GraphTensor* t, In(n, i));
    auto b = BroadcastShape(shape, t->shape);
    if (!b) return InvalidArgument(Where(n) + ": the condition and values do not broadcast");
    shape = *b;
    if (i == 1) dtype = t->dtype;
  }
  return Out(Make(n, GraphOp::kWhere), shape, dtype);
}

// Split: one kSlice node per output, each named after the Split node and its output.
Status Importer::Split(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  const int64_t rank = static_cast<int64_t>(xs.size());
  int64_t axis = AttrInt(n, "axis", 0);
  if (axis < -rank || axis >= rank) return InvalidArgument(Where(n) + ": axis out of range");
  if (axis < 0) axis += rank;
  std::vector<int64_t> sizes = AttrInts(n, "split");
  if (sizes.empty() && n.input_size() > 1 && !n.input(1).empty()) {
    PT_ASSIGN_OR_RETURN(sizes, ConstInts(n, 1, "split"));
  }
  const int64_t outs = n.output_size();
  if (sizes.empty()) {  // equal parts (the last one smaller when they do not divide)
    const int64_t part = (xs[axis] + outs - 1) / outs;
    for (int64_t k = 0; k < outs; ++k) sizes.push_back(std::min(part, xs[axis] - k * part));
  }
  int64_t total = 0;
  for (int64_t v : sizes) total += v;
  if (static_cast<int64_t>(sizes.size()) != outs || total != xs[axis] ||
      std::any_of(sizes.begin(), sizes.end(), [](int64_t v) { return v <= 0; }))
    return InvalidArgument(Where(n) + ": the split sizes do not cover axis " + std::to_string(axis) + " (" +
                           std::to_string(xs[axis]) + ") in " + std::to_string(outs) + " non-empty parts");
  int64_t at = 0;
  for (int64_t k = 0; k < outs; ++k) {
    GraphNode g = Make(n, GraphOp::kSlice);
    g.name += "/" + std::to_string(k);
    g.outputs = {n.output(static_cast<int>(k))};
    std::vector<int64_t> begin(rank, 0), shape = xs;
    begin[axis] = at;
    shape[axis] = sizes[k];
    at += sizes[k];
    PT_RETURN_IF_ERROR(SliceNode(std::move(g), begin, std::vector<int64_t>(rank, 1), shape));
  }
  return OkStatus();
}

Status Importer::Pad(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  const onnx::AttributeProto* mode = Attr(n, "mode");
  if (mode && mode->s() != "constant")
    return InvalidArgument(Where(n) + ": mode " + mode->s() + " (only constant padding)");
  const size_t rank = xs.size();
  GraphNode g = Make(n, GraphOp::kPad);
  std::vector<int64_t> pads = AttrInts(n, "pads");
  g.alpha = AttrFloat(n, "value", 0);
  if (!Attr(n, "pads")) {
    PT_ASSIGN_OR_RETURN(pads, ConstInts(n, 1, "pads"));
    if (n.input_size() > 2 && !n.input(2).empty()) {
      PT_ASSIGN_OR_RETURN(const GraphTensor* v, In(n, 2));
      if (!v->constant || v->data.size() != 1)
        return InvalidArgument(Where(n) + ": the constant value must be a float scalar");
      g.alpha = v->data[0];
    }
  }
  std::vector<int64_t> axes;
  PT_ASSIGN_OR_RETURN(axes, Axes(n, 3, rank));
  if (axes.empty())
    for (size_t d = 0; d < rank; ++d) axes.push_back(static_cast<int64_t>(d));
  if (pads.size() != 2 * axes.size())
    return InvalidArgument(Where(n) + ": " + std::to_string(pads.size()) + " pads for " + std::to_string(axes.size()) +
                           " axes");
  g.pads.assign(2 * rank, 0);
  std::vector<int64_t> shape = xs;
  for (size_t k = 0; k < axes.size(); ++k) {
    const int64_t b = pads[k], e = pads[k + axes.size()];
    if (b < 0 || e < 0) return InvalidArgument(Where(n) + ": negative pads (cropping) are not supported");
    g.pads[axes[k]] = b;
    g.pads[rank + axes[k]] = e;
    shape[axes[k]] += b + e;
  }
  g.inputs.resize(1);
  return Out(std::move(g), shape);
}

// ReduceMean and ReduceSum over any axes; the mean over H and W of an NCHW tensor stays a
// global average pool (it reads blocked layouts).
Status Importer::Reduce(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  std::vector<int64_t> axes;
  PT_ASSIGN_OR_RETURN(axes, Axes(n, 1, xs.size()));
  const bool keep = AttrInt(n, "keepdims", 1) != 0;
  if (axes.empty()) {
    if (AttrInt(n, "noop_with_empty_axes", 0) != 0) {
      alias_[n.output(0)] = Resolve(n.input(0));
      return OkStatus();
    }
    for (size_t d = 0; d < xs.size(); ++d) axes.push_back(static_cast<int64_t>(d));
  }
  GraphNode g = Make(n, GraphOp::kReduce);
  g.reduce = n.op_type() == "ReduceSum" ? ReduceOp::kSum : n.op_type() == "ReduceL2" ? ReduceOp::kL2 : ReduceOp::kMean;
  std::vector<int64_t> shape;
  for (size_t d = 0; d < xs.size(); ++d) {
    const bool reduced = std::binary_search(axes.begin(), axes.end(), static_cast<int64_t>(d));
    if (!reduced || keep) shape.push_back(reduced ? 1 : xs[d]);
  }
  if (g.reduce == ReduceOp::kMean && xs.size() == 4 && axes == std::vector<int64_t>{2, 3})
    g.op = GraphOp::kGlobalAveragePool;
  g.axes = std::move(axes);
  g.inputs.resize(1);
  return Out(std::move(g), shape);
}

Status Importer::Softmax(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  GraphNode g = Make(n, GraphOp::kSoftmax);
  const int64_t rank = static_cast<int64_t>(xs.size());
  g.axis = AttrInt(n, "axis", opset_ < 13 ? 1 : -1);
  if (g.axis < -rank || g.axis >= rank) return InvalidArgument(Where(n) + ": axis out of range");
  if (g.axis < 0) g.axis += rank;
  // Before opset 13 Softmax normalised the input flattened to 2-D from the axis on: the
  // same as over one axis only when that axis is the last.
  if (opset_ < 13 && g.axis != rank - 1)
    return InvalidArgument(Where(n) + ": opset " + std::to_string(opset_) + " softmax over the flattened axes from " +
                           std::to_string(g.axis) + " (export with opset 13 or later)");
  return Out(std::move(g), xs);
}

// LayerNormalization (opset 17): over the axes from `axis` on, Scale and B broadcast to them.
Status Importer::LayerNorm(const onnx::NodeProto& n, const std::vector<int64_t>& xs) {
  const int64_t rank = static_cast<int64_t>(xs.size());
  GraphNode g = Make(n, GraphOp::kLayerNorm);
  g.axis = AttrInt(n, "axis", -1);
  if (g.axis < -rank || g.axis >= rank) return InvalidArgument(Where(n) + ": axis out of range");
  if (g.axis < 0) g.axis += rank;
  g.alpha = AttrFloat(n, "epsilon", 1e-5f);
  if (!(g.alpha >= 0)) return InvalidArgument(Where(n) + ": epsilon must be non-negative");
  if (n.output_size() > 1 && (!n.output(1).empty() || (n.output_size() > 2 && !n.output(2).empty())))
    return InvalidArgument(Where(n) + ": only the normalised output (not the mean and inverse deviation)");
  std::vector<int64_t> norm(xs.begin() + g.axis, xs.end());
  std::vector<std::string> params;
  for (int i = 1; i <= 2; ++i) {
    GraphTensor p;
    p.constant = true;
    p.shape = norm;
    if (i < n.input_size() && !n.input(i).empty()) {
      PT_ASSIGN_OR_RETURN(const GraphTensor* t, In(n, i));
      auto b = BroadcastShape(norm, t->shape);
      if (!t->constant || t->data.empty() || !b || *b != norm)
        return InvalidArgument(Where(n) + ": scale and bias must be constants that broadcast to the normalised axes");
      p.data = BroadcastTo(*t, norm);
    } else {
      p.data.assign(static_cast<size_t>(p.elements()), i == 1 ? 1.0f : 0.0f);
    }
    params.push_back(g.outputs[0] + (i == 1 ? "::scale" : "::bias"));
    graph_.tensors[params.back()] = std::move(p);
  }
  g.inputs = {g.inputs[0], params[0], params[1]};
  g.outputs.resize(1);
  return Out(std::move(g), xs);
}

}  // namespace priortune::compiler::internal

// Constants computed at import: a node whose inputs are all constants (weights, and the
// shape vectors a traced export computes from static shapes) becomes a constant, so the
// graph keeps only what depends on the input. Float values go through the reference
// runner's own code; int64 shape vectors through the structure ops and integer
// arithmetic here. Shape, ConstantOfShape, Equal, Range, Mod, Not and ScatterND
// exist only here: they are folded or refused (Gather, Where, Cast and Expand have run-time
// forms).
#include <algorithm>
#include <cmath>
#include <functional>

#include "compiler/graph/internal/importer.h"
#include "compiler/graph/internal/reference.h"

namespace priortune::compiler::internal {
namespace {

bool HoldsInts(const GraphTensor& t) { return t.data.empty() && t.elements() == static_cast<int64_t>(t.ints.size()); }

GraphTensor IntTensor(std::vector<int64_t> shape, std::vector<int64_t> values) {
  GraphTensor t;
  t.constant = true;
  t.shape = std::move(shape);
  t.ints = std::move(values);
  return t;
}

// Gather on constants: the output's shape (*shape) and, for each of its elements, the
// flat index in the data it is taken from.
StatusOr<std::vector<int64_t>> GatherSources(const onnx::NodeProto& n, const std::vector<const GraphTensor*>& in,
                                             std::vector<int64_t>& shape) {
  const GraphTensor& x = *in[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0) return InvalidArgument(Where(n) + ": gathers from a scalar");
  int64_t axis = AttrInt(n, "axis", 0);
  if (in.size() != 2 || !HoldsInts(*in[1]) || axis < -rank || axis >= rank)
    return InvalidArgument(Where(n) + ": int64 indices and an axis in range are needed");
  if (axis < 0) axis += rank;
  const GraphTensor& idx = *in[1];
  shape.assign(x.shape.begin(), x.shape.begin() + axis);
  shape.insert(shape.end(), idx.shape.begin(), idx.shape.end());
  shape.insert(shape.end(), x.shape.begin() + axis + 1, x.shape.end());
  for (int64_t i : idx.ints)
    if (i < -x.shape[axis] || i >= x.shape[axis])
      return InvalidArgument(Where(n) + ": index " + std::to_string(i) + " out of range");
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  std::vector<int64_t> from(static_cast<size_t>(count));
  const size_t q = idx.shape.size();
  for (int64_t k = 0; k < count; ++k) {
    std::vector<int64_t> c = CoordsOf(k, shape), j(x.shape.size());
    std::vector<int64_t> ic(c.begin() + axis, c.begin() + axis + static_cast<std::ptrdiff_t>(q));
    int64_t i = idx.ints[FlatIndex(ic, idx.shape)];
    if (i < 0) i += x.shape[axis];
    for (int64_t d = 0; d < axis; ++d) j[d] = c[d];
    j[axis] = i;
    for (size_t d = axis + 1; d < x.shape.size(); ++d) j[d] = c[d - 1 + q];
    from[k] = FlatIndex(j, x.shape);
  }
  return from;
}

// ScatterND on constants (Swin's shifted-window mask, written region by region): data
// with each index tuple's slice replaced by its update (reduction "none" only).
StatusOr<GraphTensor> FoldScatterND(const onnx::NodeProto& n, const std::vector<const GraphTensor*>& in) {
  if (in.size() != 3 || !HoldsInts(*in[1]) || in[1]->shape.empty())
    return InvalidArgument(Where(n) + ": data, int64 indices and updates are needed");
  const auto* reduction = Attr(n, "reduction");
  if (reduction && reduction->s() != "none") return InvalidArgument(Where(n) + ": reduction " + reduction->s());
  const GraphTensor &data = *in[0], &idx = *in[1], &upd = *in[2];
  const size_t k = static_cast<size_t>(idx.shape.back()), r = data.shape.size();
  std::vector<int64_t> want(idx.shape.begin(), idx.shape.end() - 1);
  want.insert(want.end(), data.shape.begin() + static_cast<std::ptrdiff_t>(std::min(k, r)), data.shape.end());
  if (k == 0 || k > r || upd.shape != want || HoldsInts(data) != HoldsInts(upd))
    return InvalidArgument(Where(n) + ": indices' last axis or the updates' shape does not fit the data");
  GraphTensor t = data;
  int64_t slice = 1;
  for (size_t d = k; d < r; ++d) slice *= data.shape[d];
  const int64_t tuples = idx.elements() / static_cast<int64_t>(k);
  for (int64_t q = 0; q < tuples; ++q) {
    std::vector<int64_t> at(r, 0);
    for (size_t d = 0; d < k; ++d) {
      int64_t v = idx.ints[q * static_cast<int64_t>(k) + static_cast<int64_t>(d)];
      at[d] = v < 0 ? v + data.shape[d] : v;
    }
    const int64_t base = FlatIndex(at, data.shape);
    if (base < 0) return InvalidArgument(Where(n) + ": an index out of range");
    for (int64_t e = 0; e < slice; ++e) {
      if (HoldsInts(t))
        t.ints[base + e] = upd.ints[q * slice + e];
      else
        t.data[base + e] = upd.data[q * slice + e];
    }
  }
  return t;
}

}  // namespace

Status Importer::FoldNode(GraphNode& node) {
  GraphTensor& out = graph_.tensors[node.outputs[0]];
  out.constant = true;
  bool ints = false, floats = false;
  for (const auto& in : node.inputs) (HoldsInts(graph_.tensors.at(in)) ? ints : floats) = true;
  if (!ints) {
    out.data = EvaluateNode(node, graph_);
    return OkStatus();
  }
  if (floats && node.op != GraphOp::kConcat)
    return InvalidArgument("node '" + node.name + "' (" + node.op_type + "): mixes int64 and float constants");
  const GraphTensor& x = graph_.tensors.at(node.inputs[0]);
  const int64_t count = out.elements();
  out.ints.resize(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    const std::vector<int64_t> c = CoordsOf(k, out.shape);
    switch (node.op) {
      case GraphOp::kReshape:
        out.ints[k] = x.ints[k];
        break;
      case GraphOp::kSlice:
      case GraphOp::kTranspose:
      case GraphOp::kPad: {
        const int64_t at = FlatIndex(SourceCoords(node, c), x.shape);
        out.ints[k] = at < 0 ? static_cast<int64_t>(node.alpha) : x.ints[at];
        break;
      }
      case GraphOp::kConcat: {
        std::vector<int64_t> j = c;
        for (const auto& in : node.inputs) {
          const GraphTensor& t = graph_.tensors.at(in);
          if (j[node.axis] < t.shape[node.axis]) {
            const int64_t at = FlatIndex(j, t.shape);
            out.ints[k] = HoldsInts(t) ? t.ints[at] : static_cast<int64_t>(t.data[at]);
            break;
          }
          j[node.axis] -= t.shape[node.axis];
        }
        break;
      }
      case GraphOp::kAdd:
      case GraphOp::kBinary: {
        const GraphTensor& y = graph_.tensors.at(node.inputs[1]);
        const int64_t a = x.ints[BroadcastIndex(k, out.shape, x.shape)],
                      b = y.ints[BroadcastIndex(k, out.shape, y.shape)];
        if (node.binary == BinaryOp::kDiv && b == 0)
          return InvalidArgument("node '" + node.name + "' (" + node.op_type + "): integer division by zero");
        out.ints[k] = node.op == GraphOp::kAdd ? a + b : BinaryValue(node.binary, a, b);
        break;
      }
      default:
        return InvalidArgument("node '" + node.name + "' (" + node.op_type +
                               "): cannot compute it on int64 constants at import");
    }
  }
  return OkStatus();
}

StatusOr<bool> Importer::Fold(const onnx::NodeProto& n) {
  const std::string& op = n.op_type();
  static const char* kOps[] = {"Shape", "Gather", "ConstantOfShape", "Expand", "Equal", "Where", "Cast", "Range",
                               "Mod",   "Not",    "ScatterND"};
  if (std::none_of(std::begin(kOps), std::end(kOps), [&](const char* o) { return op == o; })) return false;
  std::vector<const GraphTensor*> in;
  for (int i = 0; i < n.input_size(); ++i) {
    if (n.input(i).empty()) continue;
    PT_ASSIGN_OR_RETURN(const GraphTensor* t, In(n, i));
    if (!t->constant && op != "Shape") {
      // Run-time forms: Gather and Where of any input, Cast and Expand of their data (an
      // Expand's shape must be constant).
      if (op == "Gather" || op == "Where" || ((op == "Cast" || op == "Expand") && i == 0)) return false;
      return InvalidArgument(Where(n) + ": input '" + n.input(i) +
                             "' depends on the model's input; only shapes and weights are computed at import");
    }
    in.push_back(t);
  }
  if (in.empty()) return InvalidArgument(Where(n) + ": no input");
  PT_ASSIGN_OR_RETURN(GraphTensor t, FoldValue(n, in));
  if (!HoldsInts(t)) {
    t.dtype = ElemType::kFloat32;
  } else if (op == "Cast") {
    ElemType to = ElemType::kInt64;
    t.dtype = ElemTypeFromCode(AttrInt(n, "to", 0), to) ? to : ElemType::kInt64;
  } else {
    t.dtype = op == "Equal" || op == "Not" ? ElemType::kBool : ElemType::kInt64;
  }
  graph_.tensors[n.output(0)] = std::move(t);
  return true;
}

StatusOr<GraphTensor> Importer::FoldValue(const onnx::NodeProto& n, const std::vector<const GraphTensor*>& in) {
  const std::string& op = n.op_type();
  const GraphTensor& x = *in[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (op == "Shape") {  // opset 15's start and end too
    int64_t start = AttrInt(n, "start", 0), end = AttrInt(n, "end", rank);
    start = std::clamp(start < 0 ? start + rank : start, int64_t{0}, rank);
    end = std::clamp(end < 0 ? end + rank : end, int64_t{0}, rank);
    return IntTensor({std::max<int64_t>(0, end - start)},
                     std::vector<int64_t>(x.shape.begin() + start, x.shape.begin() + std::max(start, end)));
  }
  if (op == "Cast") {
    const int64_t to = AttrInt(n, "to", 0);
    GraphTensor t = x;
    if (to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32 || to == onnx::TensorProto::BOOL) {
      if (!HoldsInts(x))
        for (float v : x.data) t.ints.push_back(static_cast<int64_t>(v));
      t.data.clear();
      if (to == onnx::TensorProto::BOOL)
        for (auto& v : t.ints) v = v != 0;
    } else if (to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE) {
      if (HoldsInts(x))
        for (int64_t v : x.ints) t.data.push_back(static_cast<float>(v));
      t.ints.clear();
    } else {
      return InvalidArgument(Where(n) + ": cast to data type " + std::to_string(to));
    }
    return t;
  }
  if (op == "ScatterND") return FoldScatterND(n, in);
  if (op == "Range") {
    if (in.size() != 3 || !HoldsInts(*in[0]) || !HoldsInts(*in[1]) || !HoldsInts(*in[2]) || in[2]->ints.at(0) == 0)
      return InvalidArgument(Where(n) + ": only an int64 range with a non-zero step");
    std::vector<int64_t> v;
    const int64_t s = in[2]->ints[0];
    for (int64_t i = in[0]->ints.at(0); s > 0 ? i < in[1]->ints.at(0) : i > in[1]->ints.at(0); i += s) v.push_back(i);
    return IntTensor({static_cast<int64_t>(v.size())}, v);
  }
  return FoldShaped(n, in);
}

// Gather, ConstantOfShape, Expand, Equal, Where, Mod and Not: an output of a shape computed here,
// then element by element.
StatusOr<GraphTensor> Importer::FoldShaped(const onnx::NodeProto& n, const std::vector<const GraphTensor*>& in) {
  const std::string& op = n.op_type();
  const GraphTensor& x = *in[0];
  GraphTensor t;
  t.constant = true;
  std::function<double(int64_t)> value;
  bool ints = HoldsInts(x);
  auto at = [](const GraphTensor& g, int64_t i) { return HoldsInts(g) ? double(g.ints[i]) : double(g.data[i]); };
  if (op == "Gather") {
    PT_ASSIGN_OR_RETURN(std::vector<int64_t> from, GatherSources(n, in, t.shape));
    value = [&, from = std::move(from)](int64_t k) { return at(x, from[k]); };
  } else if (op == "ConstantOfShape") {
    if (!HoldsInts(x)) return InvalidArgument(Where(n) + ": the shape must be int64");
    t.shape = x.ints;
    GraphTensor fill = IntTensor({1}, {0});
    fill.ints.clear();
    fill.data = {0.0f};
    if (const auto* v = Attr(n, "value"); v && v->has_t()) {
      PT_ASSIGN_OR_RETURN(fill, FromTensorProto(v->t(), Where(n)));
    }
    ints = HoldsInts(fill);
    const double f = at(fill, 0);
    value = [f](int64_t) { return f; };
  } else if (op == "Expand" || op == "Equal" || op == "Where" || op == "Mod" || op == "Not") {
    const size_t arity = op == "Where" ? 3u : op == "Not" ? 1u : 2u;
    if (in.size() != arity || (op == "Expand" && !HoldsInts(*in[1])))
      return InvalidArgument(Where(n) + ": missing inputs, or a shape that is not int64");
    std::vector<int64_t> shape = op == "Expand" ? in[1]->ints : x.shape;
    for (size_t i = op == "Expand" ? 0 : 1; i < in.size(); ++i) {
      if (op == "Expand" && i == 1) continue;
      auto b = BroadcastShape(shape, in[i]->shape);
      if (!b) return InvalidArgument(Where(n) + ": shapes do not broadcast");
      shape = *b;
    }
    t.shape = shape;
    if (op == "Where") ints = HoldsInts(*in[1]) && HoldsInts(*in[2]);
    if (op == "Equal" || op == "Not") ints = true;
    if (op == "Mod") {
      ints = HoldsInts(x) && HoldsInts(*in[1]);
      const bool fmod = AttrInt(n, "fmod", 0) != 0;
      if (ints && fmod) return InvalidArgument(Where(n) + ": fmod 1 on integers");
      if (!ints && !fmod) return InvalidArgument(Where(n) + ": fmod 0 on floats");
      for (int64_t d : in[1]->ints)
        if (d == 0) return InvalidArgument(Where(n) + ": integer modulo by zero");
    }
    value = [&, op](int64_t k) {
      auto get = [&](size_t i) { return at(*in[i], BroadcastIndex(k, t.shape, in[i]->shape)); };
      if (op == "Expand") return get(0);
      if (op == "Equal") return get(0) == get(1) ? 1.0 : 0.0;
      if (op == "Not") return get(0) == 0 ? 1.0 : 0.0;
      if (op == "Mod") {  // integers: the divisor's sign (Python's %); floats: C's fmod
        const double a = get(0), b = get(1), r = std::fmod(a, b);
        return ints && r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
      }
      return get(0) != 0 ? get(1) : get(2);
    };
  }
  const int64_t count = t.elements();
  for (int64_t k = 0; k < count; ++k) {
    const double v = value(k);
    if (ints)
      t.ints.push_back(static_cast<int64_t>(v));
    else
      t.data.push_back(static_cast<float>(v));
  }
  return t;
}

}  // namespace priortune::compiler::internal

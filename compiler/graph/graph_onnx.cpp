// ONNX import: ModelProto -> Graph (internal/importer.h): the initializers and inputs,
// the node dispatch, the public calls, and ExtractTasks. The operators' rules are in
// graph_onnx_layers.cpp and graph_onnx_ops.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "compiler/graph/graph.h"
#include "compiler/graph/internal/importer.h"
#include "compiler/ops/op_template.h"

namespace priortune::compiler::internal {
namespace {

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

}  // namespace

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

// A float32 tensor stored beside the model (ONNX's external data, for models past the
// 2 GB protobuf limit): `location` relative to the model's folder, `offset`, `length`.
Status ReadExternal(const onnx::TensorProto& t, const std::string& dir, int64_t n, const std::string& where,
                    std::vector<float>& out) {
  std::string location;
  int64_t offset = 0, length = -1;
  bool numbers = true;
  for (const auto& e : t.external_data()) {
    if (e.key() == "location") location = e.value();
    int64_t* field = e.key() == "offset" ? &offset : e.key() == "length" ? &length : nullptr;
    if (!field) continue;
    const std::string& v = e.value();
    numbers = numbers && !v.empty() && v.size() < 19 && v.find_first_not_of("0123456789") == std::string::npos;
    if (numbers) *field = std::stoll(v);
  }
  const std::string what = where + ": tensor '" + t.name() + "' in external data '" + location + "'";
  if (!numbers) return Status(StatusCode::kDataLoss, what + ": offset and length must be non-negative integers");
  if (t.data_type() != onnx::TensorProto::FLOAT) return InvalidArgument(what + ": only float32 external data");
  if (location.empty() || location.find("..") != std::string::npos || location[0] == '/')
    return Status(StatusCode::kDataLoss, what + ": the location must be a file beside the model");
  if (dir.empty()) return InvalidArgument(what + ": a model with external data must be read from its file");
  const int64_t bytes = n * static_cast<int64_t>(sizeof(float));
  if (length >= 0 && length != bytes)
    return Status(StatusCode::kDataLoss,
                  what + " holds " + std::to_string(length) + " bytes for " + std::to_string(n) + " floats");
  std::ifstream in(dir + "/" + location, std::ios::binary);
  if (!in) return NotFound(what + ": cannot read " + dir + "/" + location);
  out.resize(static_cast<size_t>(n));
  in.seekg(offset);
  in.read(reinterpret_cast<char*>(out.data()), bytes);
  if (in.gcount() != bytes)
    return Status(StatusCode::kDataLoss, what + ": the file ends before " + std::to_string(bytes) +
                                             " bytes from offset " + std::to_string(offset));
  return OkStatus();
}

StatusOr<GraphTensor> FromTensorProto(const onnx::TensorProto& t, const std::string& where, const std::string& dir) {
  GraphTensor g;
  g.constant = true;
  g.shape.assign(t.dims().begin(), t.dims().end());
  ElemTypeFromCode(t.data_type(), g.dtype);  // else float32: a float64 constant becomes one
  int64_t n = g.elements();
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    PT_RETURN_IF_ERROR(ReadExternal(t, dir, n, where, g.data));
  } else if (t.data_type() == onnx::TensorProto::FLOAT) {
    PT_RETURN_IF_ERROR(ReadValues(t, t.float_data(), n, where, "floats", g.data));
  } else if (t.data_type() == onnx::TensorProto::DOUBLE) {  // a constant the exporter left in double: as float
    std::vector<double> d;
    PT_RETURN_IF_ERROR(ReadValues(t, t.double_data(), n, where, "doubles", d));
    g.data.assign(d.begin(), d.end());
  } else if (t.data_type() == onnx::TensorProto::INT64) {
    PT_RETURN_IF_ERROR(ReadValues(t, t.int64_data(), n, where, "int64s", g.ints));
  } else if (t.data_type() == onnx::TensorProto::INT32 || t.data_type() == onnx::TensorProto::BOOL) {
    // Shape arithmetic's other integer types, held as int64 (bools are stored in int32_data).
    std::vector<int32_t> i32;
    std::vector<uint8_t> b8;
    if (t.data_type() == onnx::TensorProto::INT32 || t.int32_data_size() > 0) {
      PT_RETURN_IF_ERROR(ReadValues(t, t.int32_data(), n, where, "int32s", i32));
      g.ints.assign(i32.begin(), i32.end());
    } else {
      PT_RETURN_IF_ERROR(ReadValues(t, t.int32_data(), n, where, "bools", b8));
      g.ints.assign(b8.begin(), b8.end());
    }
  } else {
    return InvalidArgument(where + ": tensor '" + t.name() + "' has data type " + std::to_string(t.data_type()) +
                           " (only float32 (or float64) weights and int64, int32 or bool shapes are supported)");
  }
  if (static_cast<int64_t>(g.data.size() + g.ints.size()) != n)
    return Status(StatusCode::kDataLoss, where + ": tensor '" + t.name() + "' holds the wrong number of values");
  return g;
}

StatusOr<Graph> Importer::Run(onnx::ModelProto& model) {
  onnx::GraphProto& g = *model.mutable_graph();
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
  for (auto& init : *g.mutable_initializer()) {
    PT_ASSIGN_OR_RETURN(GraphTensor t, FromTensorProto(init, "initializer", dir_));
    graph_.tensors[init.name()] = std::move(t);
    // Each weight is held once, as the graph's tensor: the proto's copy is freed (clear()
    // would keep the string's capacity).
    std::string().swap(*init.mutable_raw_data());
    google::protobuf::RepeatedField<float>().Swap(init.mutable_float_data());
  }
  for (const auto& in : g.input()) {
    if (graph_.tensors.count(in.name())) continue;  // an initializer listed as input
    const auto& type = in.type().tensor_type();
    GraphTensor t;
    if (!ElemTypeFromCode(type.elem_type(), t.dtype))
      return InvalidArgument("input '" + in.name() + "': data type " + std::to_string(type.elem_type()) +
                             " (only float32, int64, int32 and bool inputs are supported)");
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
  if (options_.recognise_patterns) RecognisePatterns(graph_);
  if (options_.fuse_epilogues) FuseEpilogues(graph_);
  return std::move(graph_);
}

std::string Importer::Resolve(const std::string& name) const {
  auto it = alias_.find(name);
  return it == alias_.end() ? name : it->second;
}

StatusOr<const GraphTensor*> Importer::In(const onnx::NodeProto& n, int i) {
  if (i >= n.input_size() || n.input(i).empty())
    return InvalidArgument(Where(n) + ": input " + std::to_string(i) + " is missing");
  auto it = graph_.tensors.find(Resolve(n.input(i)));
  if (it == graph_.tensors.end())
    return InvalidArgument(Where(n) + ": input '" + n.input(i) + "' is not computed before it");
  return &it->second;
}

Status Importer::Out(GraphNode node, std::vector<int64_t> shape, std::optional<ElemType> dtype) {
  GraphTensor t;
  t.shape = std::move(shape);
  t.dtype = dtype ? *dtype : node.inputs.empty() ? ElemType::kFloat32 : graph_.tensors.at(node.inputs[0]).dtype;
  graph_.tensors[node.outputs[0]] = std::move(t);
  bool constant = !node.workload;
  for (const auto& in : node.inputs) constant = constant && graph_.tensors.at(in).constant;
  if (constant) return FoldNode(node);
  graph_.nodes.push_back(std::move(node));
  return OkStatus();
}

GraphNode Importer::Make(const onnx::NodeProto& n, GraphOp op) {
  GraphNode g;
  g.name = n.name().empty() ? n.output(0) : n.name();
  g.op_type = n.op_type();
  g.op = op;
  for (const auto& i : n.input())
    if (!i.empty()) g.inputs.push_back(Resolve(i));
  g.outputs.assign(n.output().begin(), n.output().end());
  return g;
}

Status Importer::Node(const onnx::NodeProto& n) {
  const std::string& op = n.op_type();
  if (n.output_size() < 1) return InvalidArgument(Where(n) + ": no output");
  if (op == "Constant") {
    const auto* v = Attr(n, "value");
    if (!v || !v->has_t()) return InvalidArgument(Where(n) + ": only tensor constants are supported");
    PT_ASSIGN_OR_RETURN(GraphTensor t, FromTensorProto(v->t(), Where(n), dir_));
    graph_.tensors[n.output(0)] = std::move(t);
    return OkStatus();
  }
  if (op == "Identity" || op == "Dropout") {
    alias_[n.output(0)] = Resolve(n.input(0));
    return OkStatus();
  }
  if (op == "Conv") return Conv(n);
  PT_ASSIGN_OR_RETURN(bool folded, Fold(n));
  if (folded) return OkStatus();
  if (op == "Concat") return Concat(n);
  if (op == "BatchNormalization") return options_.fold_batchnorm ? FoldBatchNorm(n) : BatchNorm(n);
  if (op == "Gemm" || op == "MatMul") return Dense(n);
  if (op == "Einsum") return Einsum(n);
  PT_ASSIGN_OR_RETURN(const GraphTensor* x, In(n, 0));
  const std::vector<int64_t> xs = x->shape;
  if (op == "Relu") {
    return Out(Make(n, GraphOp::kRelu), xs);
  }
  if (op == "Clip") return Clip(n, xs);
  if (op == "Sigmoid" || op == "HardSigmoid" || op == "HardSwish" || op == "Tanh" || op == "Erf" || op == "Sqrt" ||
      op == "Pow" || op == "Exp" || op == "Log")
    return Unary(n, xs);
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Min" || op == "Max") return Binary(n, xs);
  if (op == "MaxPool" || op == "AveragePool") return Pool(n, xs);
  if (op == "GlobalAveragePool") return GlobalAveragePool(n, xs);
  if (op == "ReduceMean" || op == "ReduceSum" || op == "ReduceL2") return Reduce(n, xs);
  if (op == "Flatten" || op == "Reshape" || op == "Squeeze" || op == "Unsqueeze") return Reshape(n, xs);
  if (op == "Transpose") return Transpose(n, xs);
  if (op == "Slice") return Slice(n, xs);
  if (op == "Gather") return Gather(n, xs);
  if (op == "Cast") return CastAtRunTime(n, xs);
  if (op == "Where") return WhereAtRunTime(n);
  if (op == "Expand") return ExpandAtRunTime(n, xs);
  if (op == "Split") return Split(n, xs);
  if (op == "Pad") return Pad(n, xs);
  if (op == "Softmax") return Softmax(n, xs);
  if (op == "LayerNormalization") return LayerNorm(n, xs);
  return InvalidArgument(
      Where(n) +
      ": operator not supported (supported: Conv (any groups), BatchNormalization, Gemm, MatMul (a constant "
      "weight or two activations), Einsum (a batched matrix product), LayerNormalization, Relu, Clip, Sigmoid, "
      "HardSigmoid, HardSwish, Tanh, Erf, Sqrt, Pow, Exp, Log (of constants), Add, Sub, Mul, Div, Min, Max (numpy "
      "broadcasting), MaxPool, AveragePool, GlobalAveragePool, ReduceMean, ReduceSum, ReduceL2, Softmax, Concat, "
      "Split, Slice, Gather, Where, Cast, Expand, Pad, Transpose, Flatten, Reshape, Squeeze, Unsqueeze, Constant, "
      "Identity, Dropout; folded at import: Shape, ConstantOfShape, Equal, Range, Mod, Not, ScatterND and "
      "arithmetic on constants)");
}

}  // namespace priortune::compiler::internal

namespace priortune::compiler {

using internal::Importer;

int64_t GraphTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {
StatusOr<Graph> ImportModel(onnx::ModelProto& model, const std::string& name, const std::string& dir,
                            const ImportOptions& options) {
  Importer importer(options, dir);
  auto g = importer.Run(model);
  if (!g.ok()) return Status(g.status().code(), name + ": " + g.status().message());
  return g;
}
}  // namespace

StatusOr<Graph> ImportOnnxBytes(const std::string& bytes, const std::string& name, const ImportOptions& options) {
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    return Status(StatusCode::kDataLoss, name + " (" + std::to_string(bytes.size()) +
                                             " bytes): not an ONNX model, or a truncated or corrupt one (the "
                                             "protobuf parse failed)");
  return ImportModel(model, name, "", options);
}

StatusOr<Graph> ImportOnnx(const std::string& path, const ImportOptions& options) {
  // Parsed from the file as it is read (no copy of the whole file in memory).
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return NotFound("cannot read '" + path + "'");
  const auto bytes = static_cast<int64_t>(in.tellg());
  in.seekg(0);
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&in))
    return Status(StatusCode::kDataLoss, path + " (" + std::to_string(bytes) +
                                             " bytes): not an ONNX model, or a truncated or corrupt one (the "
                                             "protobuf parse failed)");
  const size_t slash = path.find_last_of('/');
  return ImportModel(model, path, slash == std::string::npos ? "." : path.substr(0, slash), options);
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

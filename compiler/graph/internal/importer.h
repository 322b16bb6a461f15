// The ONNX importer's class, shared by its files: graph_onnx.cpp (the model, the node
// dispatch and the public calls), graph_onnx_layers.cpp (convolution, pooling, batch
// norm, dense), graph_onnx_ops.cpp (elementwise, structure and reduction operators) and
// graph_fold.cpp (constants computed at import). Internal: protobuf and ONNX headers stay
// inside compiler/graph.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/graph/graph.h"

namespace priortune::compiler::internal {

// "node 'name' (OpType)": how every error names a node.
std::string Where(const onnx::NodeProto& n);
const onnx::AttributeProto* Attr(const onnx::NodeProto& n, const std::string& name);
int64_t AttrInt(const onnx::NodeProto& n, const std::string& name, int64_t def);
float AttrFloat(const onnx::NodeProto& n, const std::string& name, float def);
std::vector<int64_t> AttrInts(const onnx::NodeProto& n, const std::string& name);
// A float32 or int64 (int32, bool) tensor's values: typed fields, raw little-endian bytes,
// or external data in a file of the model's folder `dir` ("": the model has no file).
StatusOr<GraphTensor> FromTensorProto(const onnx::TensorProto& t, const std::string& where,
                                      const std::string& dir = "");

// A convolution's or pool's window: kernel, stride and padding per axis.
struct WindowDims {
  int64_t kh, kw, sh, sw, ph, pw;
};

// One pass over the nodes in order (ONNX requires a topological order), inferring each
// output's shape from its inputs' and refusing what the runtime cannot run, naming the
// node.
class Importer {
 public:
  // `dir`: the model file's folder (external data), "" for a model given as bytes.
  Importer(const ImportOptions& options, std::string dir) : options_(options), dir_(std::move(dir)) {}
  // Imports `model`, releasing each initializer's data from it as it is read.
  StatusOr<Graph> Run(onnx::ModelProto& model);

 private:
  std::string Resolve(const std::string& name) const;
  StatusOr<const GraphTensor*> In(const onnx::NodeProto& n, int i);
  // Adds the node and its output's shape; a node of constants only is computed now and
  // its output stored as a constant instead (graph_fold.cpp's FoldNode).
  // The output's type: `dtype`, else the first input's.
  Status Out(GraphNode node, std::vector<int64_t> shape, std::optional<ElemType> dtype = std::nullopt);
  Status FoldNode(GraphNode& node);
  GraphNode Make(const onnx::NodeProto& n, GraphOp op);
  // A window of kh x kw: dilation 1, pads symmetric per axis (`square`, pooling: one
  // size, stride and pad for both axes); g's kernel, stride, pad (the H axis's) and
  // ceil_mode set.
  StatusOr<WindowDims> Window(const onnx::NodeProto& n, int64_t kh, int64_t kw, GraphNode& g, bool square);
  // The NCHW output shape of a window over x.
  static std::vector<int64_t> Pooled(const std::vector<int64_t>& x, int64_t channels, const WindowDims& w,
                                     bool ceil_mode);
  Status Node(const onnx::NodeProto& n);
  // Clip: min and max from the attributes (opset < 11) or constant scalar inputs.
  Status Clip(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  // Sigmoid, HardSigmoid (alpha, beta), HardSwish, Tanh, Erf, Sqrt, Pow (a constant
  // exponent): elementwise, same shape.
  Status Unary(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  // Add of two same-shaped tensors (a residual: kAdd, fusable); Add, Sub, Mul, Div
  // otherwise, broadcast as numpy does (kBinary).
  Status Binary(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  // An Add of a constant [M] to a dense layer's output that nothing else reads (a Linear
  // exported as MatMul then Add) goes into the dense layer's bias: true when it did.
  StatusOr<bool> FoldDenseBias(const onnx::NodeProto& n);
  // Concat: every input of one rank, equal but for `axis` (negative counts from the end).
  Status Concat(const onnx::NodeProto& n);
  Status Pool(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  Status GlobalAveragePool(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  // Input i's constant int64 values, or InvalidArgument naming the node and `what`.
  StatusOr<std::vector<int64_t>> ConstInts(const onnx::NodeProto& n, int i, const char* what);
  // The node's axes (attribute, else constant input `input`) for `rank`: negative ones
  // counted from the end, ascending; InvalidArgument for one out of range or repeated.
  StatusOr<std::vector<int64_t>> Axes(const onnx::NodeProto& n, int input, size_t rank);
  // A kReshape view of the input as `shape` (the same element count).
  Status View(const onnx::NodeProto& n, const std::vector<int64_t>& xs, std::vector<int64_t> shape);
  // Flatten, Reshape (0 and -1 as ONNX says), Squeeze, Unsqueeze: views.
  Status Reshape(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  Status Transpose(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  // `g` as a kSlice of every steps[d]-th element from starts[d], of `shape`.
  Status SliceNode(GraphNode g, std::vector<int64_t> starts, std::vector<int64_t> steps, std::vector<int64_t> shape);
  Status Slice(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  // Gather from an activation with constant indices, a scalar or evenly spaced along the
  // axis (ViT's class token x[:, 0]): a kSlice, then for a scalar a view without the axis;
  // other constant indices: GatherRows.
  Status GatherSlice(const onnx::NodeProto& n, const std::vector<int64_t>& xs, int64_t axis);
  // Gather at run time: indices computed from the model's inputs (token ids into an
  // embedding table) as a kGather; constant indices as GatherSlice.
  Status Gather(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  // A kGather along `axis` (0 <= axis < rank): run-time indices, or constant ones that no
  // slice takes (Swin v2's relative-position bias from a computed table).
  Status GatherRows(const onnx::NodeProto& n, const std::vector<int64_t>& xs, int64_t axis);
  // Cast at run time: to bool a kUnary kNonZero, float to an integer type a kUnary
  // kTrunc, anything else a view (the values are held as float32 either way).
  Status CastAtRunTime(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  // Where at run time: a kWhere of the three broadcast inputs, typed as its second.
  Status WhereAtRunTime(const onnx::NodeProto& n);
  // Expand at run time (Swin v2's norm broadcast to its rows): a kExpand; the shape constant.
  Status ExpandAtRunTime(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  Status Split(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  // Pad: constant mode only, non-negative pads.
  Status Pad(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  Status Reduce(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  Status Softmax(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  Status LayerNorm(const onnx::NodeProto& n, const std::vector<int64_t>& xs);
  // Folds node `n` at import when its value depends on constants and static shapes only
  // (graph_fold.cpp): true when it did.
  StatusOr<bool> Fold(const onnx::NodeProto& n);
  // The folded value of Shape, Cast, Range (here) and the ops FoldShaped computes.
  StatusOr<GraphTensor> FoldValue(const onnx::NodeProto& n, const std::vector<const GraphTensor*>& in);
  StatusOr<GraphTensor> FoldShaped(const onnx::NodeProto& n, const std::vector<const GraphTensor*>& in);
  Status Conv(const onnx::NodeProto& n);
  // The BatchNormalization parameters of node `n`, checked: scale, bias, mean, variance,
  // one value per channel of `channels`.
  StatusOr<std::vector<const GraphTensor*>> BatchNormParams(const onnx::NodeProto& n, int64_t channels);
  // Unfolded: y = x * scale'[c] + shift'[c] with the statistics folded into scale' and
  // shift' (inference mode).
  Status BatchNorm(const onnx::NodeProto& n);
  Status FoldBatchNorm(const onnx::NodeProto& n);
  // Whether the node being imported is the only reader of `name` (not an alias).
  bool OnlyReader(const std::string& name);
  // The node that writes `tensor` so far, or null.
  GraphNode* ProducerOf(const std::string& tensor);
  // `producer` writes `out` instead of its own output (a node folded into it).
  void Absorb(GraphNode& producer, const std::string& out);
  // The constant `from` as the node's own tensor `to`: moved when this node is its only
  // reader (a weight is then held once), else copied.
  void TakeOrCopy(const std::string& from, const std::string& to);
  Status Dense(const onnx::NodeProto& n);
  // MatMul of two activations, A [..., M, K] and B [..., K, N]: the same batch axes (after
  // numpy's left-padding with 1s), or B's all 1 (one B for every batch: A's batches become
  // rows). A batch_matmul workload over the flattened batch axes.
  Status BatchMatMul(const onnx::NodeProto& n, const GraphTensor& a, const GraphTensor& b);
  // Einsum of a batched matrix product (MaxViT's "BGHID,BGHJD->BGHIJ" and
  // "BGHIJ,BGHJD->BGHID"): each operand transposed into [batch..., M, K] and [batch...,
  // K, N] where its letters say so, then BatchMatMul.
  Status Einsum(const onnx::NodeProto& n);
  StatusOr<std::string> Arranged(const onnx::NodeProto& n, const std::string& input, const std::string& term,
                                 const std::string& order, const std::string& name);

  ImportOptions options_;
  std::string dir_;
  Graph graph_;
  std::map<std::string, std::string> alias_;
  std::map<std::string, int> readers_;
  int64_t opset_ = 13;  // the model's default-domain opset
};

}  // namespace priortune::compiler::internal

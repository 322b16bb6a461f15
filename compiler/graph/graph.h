// A model as a graph of operators, imported from ONNX: every tensor's shape inferred,
// weights read from the initializers, BatchNormalization folded into the convolution
// before it, and the elementwise operators after a convolution or dense layer (a residual
// Add, then Relu or Clip(0, 6)) fused into its epilogue. The tunable nodes (conv2d,
// depthwise conv2d, dense) carry their Workload, epilogue included; ExtractTasks lists
// the distinct ones with their share of the model's FLOPs.
// ONNX and protobuf headers stay in graph_onnx.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ops/workload.h"
#include "compiler/support/status.h"
#include "compiler/support/tensor_io.h"

namespace priortune::compiler {

enum class GraphOp : uint8_t {
  kConv2d,           // a convolution, groups 1 or grouped (group_conv2d) (BN folded, bias)
  kDepthwiseConv2d,  // groups == channels == output channels
  kDense,            // Gemm / MatMul of a [N, K] activation with a constant [K, M] weight
  kRelu,
  kClip,  // min/max attributes (ReLU6 when 0 and 6)
  kAdd,   // elementwise, same shapes (a residual)
  kMaxPool,
  kAveragePool,
  kGlobalAveragePool,  // also ReduceMean over H and W
  kReshape,            // a view, same elements in the same order: Flatten, Reshape, Squeeze, Unsqueeze
  kSoftmax,            // over GraphNode::axis
  kBatchNorm,          // only when not folded (ImportOptions): y = x * scale[c] + shift[c]
  kUnary,              // an elementwise activation of one input: GraphNode::unary
  kConcat,             // its inputs side by side along GraphNode::axis (NCHW: channels when 1)
  kBinary,             // GraphNode::binary of two inputs, broadcast as numpy does (kAdd: same shapes)
  kTranspose,          // output axis d is input axis GraphNode::perm[d]
  kSlice,              // every GraphNode::steps[d]-th element from GraphNode::starts[d] (Split: one per output)
  kPad,                // GraphNode::pads (begins, then ends, per axis) of value GraphNode::alpha
  kReduce,             // GraphNode::reduce over GraphNode::axes (the output keeps or drops them)
  kLayerNorm,          // (x - mean) / sqrt(var + alpha) * scale + bias over the axes from GraphNode::axis on
  kBatchMatMul,        // MatMul of two activations [..., M, K] x [..., K, N] (attention): a batch_matmul task
  kGather,             // rows of input 0 along GraphNode::axis at the run-time indices of input 1 (embeddings)
  kWhere,              // input 1 where input 0 (a condition) is nonzero, else input 2, broadcast as numpy does
  kExpand,             // input 0 broadcast to the output's shape (Expand at run time)
};

// kReduce's function.
enum class ReduceOp : uint8_t { kMean, kSum, kL2 };  // kL2: sqrt of the sum of squares

// kBinary's function.
enum class BinaryOp : uint8_t { kAdd, kSub, kMul, kDiv, kMin, kMax };
// kMin and kMax of numbers (the kernels' Expr has its own Min and Max).
inline float Min(float a, float b) { return a < b ? a : b; }
inline float Max(float a, float b) { return a < b ? b : a; }
inline int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t Max(int64_t a, int64_t b) { return a < b ? b : a; }
// kBinary's function, for the reference (float) and the kernels (Expr) alike.
template <class T>
T BinaryValue(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kDiv:
      return a / b;
    case BinaryOp::kMin:
      return Min(a, b);
    case BinaryOp::kMax:
      return Max(a, b);
  }
  return a;
}
// The numpy broadcast of two shapes (aligned at the last dimension; a dimension of 1
// stretches), or nullopt when they do not broadcast.
std::optional<std::vector<int64_t>> BroadcastShape(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

// kUnary's function of x.
enum class UnaryOp : uint8_t {
  kSigmoid,      // 1 / (1 + exp(-x))
  kHardSigmoid,  // max(0, min(1, alpha * x + beta)); ONNX's defaults alpha 0.2, beta 0.5
  kHardSwish,    // x * max(0, min(1, x / 6 + 1 / 2))
  kTanh,
  kErf,
  kSqrt,
  kPow,       // x ^ alpha, alpha a constant (x * x for 2)
  kGelu,      // x / 2 * (1 + erf(x / sqrt(2))), recognised from its opset-13 pattern
  kGeluTanh,  // x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))), GPT-2's, recognised likewise
  kTrunc,     // toward zero: Cast from float to an integer type
  kNonZero,   // 1 if x != 0, else 0: Cast to bool
  kExp,
  kLog,  // on constants only (folded at import: Swin v2's log-spaced coordinates)
};

// kUnary's value at x (the reference runner's; the compiled kernels compute the same).
float UnaryValue(UnaryOp op, float alpha, float beta, float x);

struct GraphNode;
// The input coordinates that the element at output coordinates `i` of a kTranspose,
// kSlice or kPad node reads (kPad: they may lie outside the input, in the padding), for
// the reference (int64_t) and the kernels (Expr) alike.
template <class T>
std::vector<T> SourceCoords(const GraphNode& n, const std::vector<T>& i);

// A run-time tensor of an integer or bool type (token ids, masks) is held as float32
// values (exact to 2^24; tensor_io.h checks inputs), so every kernel computes in float32;
// `dtype` says what the values are (Cast, the model's inputs and outputs).
struct GraphTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;    // float constants (weights) only
  std::vector<int64_t> ints;  // integer and bool constants (shapes, indices, masks); kernels read them as floats
  bool constant = false;
  ElemType dtype = ElemType::kFloat32;
  int64_t elements() const;
};

struct GraphNode {
  std::string name, op_type;  // as in the model: what error messages name
  GraphOp op = GraphOp::kRelu;
  std::vector<std::string> inputs, outputs;
  // kMaxPool/kAveragePool: kernel, stride, pad (square). Convolutions: the same for the
  // H axis (their workload has both axes' KH, KW, SH, SW, PH, PW), and the weight [O, C/groups, K, K] and bias [O]
  // tensor names, then the residual when the epilogue adds one (workload->residual). kDense: the input, the weight [K,
  // M], the bias [M] (and the residual). kBatchNorm: the input, scale, shift.
  int64_t kernel = 1, stride = 1, pad = 0;
  // kMaxPool/kAveragePool: the output rounds up (a last window may hang over the bottom
  // and right edges; it counts what is inside), unless it would start past the input
  // and its padding (ONNX Runtime's and PyTorch's rule).
  bool ceil_mode = false;
  // kAveragePool: divide by the window's part inside the padded input (ONNX's
  // count_include_pad 1), not the part inside the input.
  bool count_include_pad = false;
  float clip_min = 0, clip_max = 0;
  int64_t axis = 1;                    // kSoftmax, kConcat, kLayerNorm, kGather (0 <= axis < rank)
  UnaryOp unary = UnaryOp::kSigmoid;   // kUnary
  BinaryOp binary = BinaryOp::kAdd;    // kBinary
  float alpha = 0, beta = 0;           // kUnary: kHardSigmoid's, kPow's exponent; kPad's value; kLayerNorm's epsilon
  std::vector<int64_t> perm;           // kTranspose
  std::vector<int64_t> starts, steps;  // kSlice, per input axis
  std::vector<int64_t> pads;           // kPad: rank begins, then rank ends (non-negative)
  std::vector<int64_t> axes;           // kReduce: ascending
  ReduceOp reduce = ReduceOp::kMean;   // kReduce
  std::optional<Workload> workload;    // the tunable nodes; its epilogue says what is fused
  bool folded_batchnorm = false;       // a BatchNormalization was folded into this conv
  std::vector<std::string> fused;      // the nodes fused into this one's epilogue (their names)
};

template <class T>
std::vector<T> SourceCoords(const GraphNode& n, const std::vector<T>& i) {
  std::vector<T> j = i;
  for (size_t d = 0; d < i.size(); ++d) {
    if (n.op == GraphOp::kTranspose) j[static_cast<size_t>(n.perm[d])] = i[d];
    if (n.op == GraphOp::kSlice) j[d] = i[d] * n.steps[d] + n.starts[d];
    if (n.op == GraphOp::kPad) j[d] = i[d] - n.pads[d];
  }
  return j;
}

struct Graph {
  std::vector<GraphNode> nodes;  // in execution order
  std::map<std::string, GraphTensor> tensors;
  std::vector<std::string> inputs, outputs;  // graph inputs (not initializers), outputs
  int batchnorms_folded = 0;
  int epilogues_fused = 0;                              // nodes fused into an epilogue
  int layernorms_recognised = 0, gelus_recognised = 0;  // RecognisePatterns
};

struct ImportOptions {
  bool fold_batchnorm = true;      // else a kBatchNorm node each
  bool fuse_epilogues = true;      // FuseEpilogues
  bool recognise_patterns = true;  // RecognisePatterns
};

// Reads an ONNX model. InvalidArgument naming the node (name and op type) for an
// operator priortune does not support, an attribute it does not (dilation, asymmetric
// padding, groups that do not divide the channels) or a dynamic or unknown shape;
// NotFound / DataLoss for a file that cannot be read or parsed.
StatusOr<Graph> ImportOnnx(const std::string& path, const ImportOptions& options = {});
StatusOr<Graph> ImportOnnxBytes(const std::string& bytes, const std::string& name = "model",
                                const ImportOptions& options = {});

// Replaces what an exporter spells out op by op with the one node it computes: opset
// 13's LayerNorm decomposition (ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div,
// and an optional constant Mul and Add) by kLayerNorm over the trailing axes it reduces;
// GELU's erf form (x / sqrt(2) or x * 1/sqrt(2), Erf, + 1, * x, * 0.5) by kUnary kGelu,
// its tanh form (0.044715 x^3 + x, * sqrt(2 / pi), Tanh, + 1, * x, * 0.5) by kGeluTanh.
// Only when the inner tensors have no other reader and are not graph outputs.
void RecognisePatterns(Graph& graph);

// Fuses into each conv2d, depthwise conv2d and dense node the nodes that only consume its
// output: an Add with a tensor of the same shape (the residual, when the epilogue has
// none yet and no activation), then a Relu, a Clip(0, 6), a HardSwish, or SiLU as
// exported (a Sigmoid of the output and the Mul of the output by it; HardSwish the same
// with a HardSigmoid(1/6, 1/2), as PyTorch exports it before opset 14). A fused node runs where the
// last node it absorbed ran, so that a residual computed after it is ready; a tensor
// that is a graph output or has other readers is never fused away.
void FuseEpilogues(Graph& graph);

// Runs the graph with plain loops (no schedule, no JIT), one tensor per graph input in
// its order and shape (integers and bools as float values), returning every graph output
// in order: the reference the compiled model is checked against. InvalidArgument if an
// input has the wrong size. A Gather index outside its table is clamped into it, as the
// compiled kernel does (a model's inputs are checked before it runs: tensor_io.h).
StatusOr<std::vector<std::vector<float>>> RunGraphReference(const Graph& graph,
                                                            const std::vector<std::vector<float>>& inputs);
// One input, the first output.
StatusOr<std::vector<float>> RunGraphReference(const Graph& graph, const std::vector<float>& input);

// The distinct tunable workloads of a graph, most FLOPs first.
struct GraphTask {
  Workload workload;
  int count = 0;          // nodes with this workload
  double flops = 0;       // of all those nodes
  double flop_share = 0;  // of the model's tunable FLOPs
};
std::vector<GraphTask> ExtractTasks(const Graph& graph);

}  // namespace priortune::compiler

// The graph's reference run: every operator as plain loops over NCHW float tensors, in
// the order the importer stored. Slow and obviously right, the yardstick for the compiled
// model.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "compiler/graph/graph.h"
#include "compiler/graph/internal/reference.h"

namespace priortune::compiler {
namespace {

using Values = std::map<std::string, std::vector<float>>;

// A fused epilogue after the bias: + residual[i], then the activation.
float Epilogue(const Workload& w, float v, const std::vector<float>* residual, size_t i) {
  if (w.residual) v += (*residual)[i];
  if (w.relu) v = std::max(v, 0.0f);
  if (w.relu6) v = std::min(std::max(v, 0.0f), 6.0f);
  if (w.silu) v *= UnaryValue(UnaryOp::kSigmoid, 0, 0, v);
  if (w.hardswish) v = UnaryValue(UnaryOp::kHardSwish, 0, 0, v);
  if (w.gelu) v = UnaryValue(UnaryOp::kGelu, 0, 0, v);
  if (w.gelu_tanh) v = UnaryValue(UnaryOp::kGeluTanh, 0, 0, v);
  return v;
}

void Conv(const GraphNode& n, const Graph& g, const std::vector<float>& x, const std::vector<float>* residual,
          std::vector<float>& y) {
  const auto& xs = g.tensors.at(n.inputs[0]).shape;
  const auto& ws = g.tensors.at(n.inputs[1]).shape;
  const auto& w = g.tensors.at(n.inputs[1]).data;
  const auto& b = g.tensors.at(n.inputs[2]).data;
  const auto& ys = g.tensors.at(n.outputs[0]).shape;
  const Workload& wl = *n.workload;  // the window per axis
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], OH = ys[2], OW = ys[3];
  const int64_t KH = wl.dim("KH"), KW = wl.dim("KW"), SH = wl.dim("SH"), SW = wl.dim("SW");
  const int64_t PH = wl.dim("PH"), PW = wl.dim("PW");
  // Grouped (depthwise too): output channel o reads the cin input channels of its group.
  const int64_t cin = ws[1], og = O / (C / cin);
  y.assign(static_cast<size_t>(N * O * OH * OW), 0.0f);
  for (int64_t b0 = 0; b0 < N; ++b0)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b[o];
          for (int64_t ci = 0; ci < cin; ++ci) {
            int64_t c = (o / og) * cin + ci;
            for (int64_t kh = 0; kh < KH; ++kh) {
              int64_t ih = oh * SH - PH + kh;
              if (ih < 0 || ih >= H) continue;
              for (int64_t kw = 0; kw < KW; ++kw) {
                int64_t iw = ow * SW - PW + kw;
                if (iw < 0 || iw >= W) continue;
                acc +=
                    static_cast<double>(x[((b0 * C + c) * H + ih) * W + iw]) * w[((o * cin + ci) * KH + kh) * KW + kw];
              }
            }
          }
          size_t at = static_cast<size_t>(((b0 * O + o) * OH + oh) * OW + ow);
          y[at] = Epilogue(*n.workload, static_cast<float>(acc), residual, at);
        }
}

void Pool(const GraphNode& n, const Graph& g, const std::vector<float>& x, std::vector<float>& y) {
  const auto& xs = g.tensors.at(n.inputs[0]).shape;
  const auto& ys = g.tensors.at(n.outputs[0]).shape;
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], OH = ys[2], OW = ys[3];
  const bool max = n.op == GraphOp::kMaxPool;
  y.assign(static_cast<size_t>(N * C * OH * OW), 0.0f);
  for (int64_t p = 0; p < N * C; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double acc = max ? -std::numeric_limits<double>::infinity() : 0;
        int count = 0;
        for (int64_t kh = 0; kh < n.kernel; ++kh)
          for (int64_t kw = 0; kw < n.kernel; ++kw) {
            int64_t ih = oh * n.stride - n.pad + kh, iw = ow * n.stride - n.pad + kw;
            // count_include_pad: the padding counts, what hangs past it (ceil_mode) does not.
            const int64_t lo = -n.pad, hh = H + n.pad, hw = W + n.pad;
            if (n.count_include_pad && ih >= lo && ih < hh && iw >= lo && iw < hw &&
                (ih < 0 || ih >= H || iw < 0 || iw >= W)) {
              ++count;
              continue;
            }
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            double v = x[(p * H + ih) * W + iw];
            acc = max ? std::max(acc, v) : acc + v;
            ++count;
          }
        y[(p * OH + oh) * OW + ow] = static_cast<float>(max ? acc : acc / std::max(1, count));
      }
}

void Dense(const GraphNode& n, const Graph& g, const std::vector<float>& x, const std::vector<float>* residual,
           std::vector<float>& y) {
  const auto& xs = g.tensors.at(n.inputs[0]).shape;
  const auto& w = g.tensors.at(n.inputs[1]);
  const auto& b = g.tensors.at(n.inputs[2]).data;
  int64_t k = w.shape[0], m = w.shape[1], rows = 1;
  for (int64_t d : xs) rows *= d;
  rows /= k;
  y.assign(static_cast<size_t>(rows * m), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < m; ++j) {
      double acc = b[j];
      for (int64_t i = 0; i < k; ++i) acc += static_cast<double>(x[r * k + i]) * w.data[i * m + j];
      y[r * m + j] = Epilogue(*n.workload, static_cast<float>(acc), residual, r * m + j);
    }
}

// A [B, M, K] x B [B, K, N] as the node's batch_matmul workload flattens them.
void BatchMatMul(const Workload& w, const std::vector<float>& a, const std::vector<float>& b, std::vector<float>& y) {
  const int64_t bt = w.dim("B"), m = w.dim("M"), n = w.dim("N"), k = w.dim("K");
  y.assign(static_cast<size_t>(bt * m * n), 0.0f);
  for (int64_t p = 0; p < bt; ++p)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t x = 0; x < k; ++x) acc += static_cast<double>(a[(p * m + i) * k + x]) * b[(p * k + x) * n + j];
        y[(p * m + i) * n + j] = static_cast<float>(acc);
      }
}

void GlobalAveragePool(const std::vector<int64_t>& xs, const std::vector<float>& x, std::vector<float>& y) {
  int64_t planes = xs[0] * xs[1], hw = xs[2] * xs[3];
  y.assign(static_cast<size_t>(planes), 0.0f);
  for (int64_t p = 0; p < planes; ++p) {
    double acc = 0;
    for (int64_t i = 0; i < hw; ++i) acc += x[p * hw + i];
    y[p] = static_cast<float>(acc / hw);
  }
}

void BatchNorm(const GraphNode& n, const Graph& g, const std::vector<float>& x, std::vector<float>& y) {
  const auto& xs = g.tensors.at(n.inputs[0]).shape;
  const auto& scale = g.tensors.at(n.inputs[1]).data;
  const auto& shift = g.tensors.at(n.inputs[2]).data;
  int64_t c = xs[1], hw = xs[2] * xs[3];
  y = x;
  for (size_t i = 0; i < y.size(); ++i) {
    int64_t ch = static_cast<int64_t>(i) / hw % c;
    y[i] = y[i] * scale[ch] + shift[ch];
  }
}

// The sizes before, along and after `axis` of `shape`.
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
  AxisSplit(const std::vector<int64_t>& shape, int64_t axis) {
    for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d)
      (d < axis ? outer : d == axis ? n : inner) *= shape[d];
  }
};

// Softmax along `axis`: each line of the axis, its max subtracted.
void Softmax(const std::vector<int64_t>& xs, int64_t axis, const std::vector<float>& x, std::vector<float>& y) {
  const AxisSplit a(xs, axis);
  y = x;
  for (int64_t o = 0; o < a.outer; ++o)
    for (int64_t i = 0; i < a.inner; ++i) {
      float* line = y.data() + o * a.n * a.inner + i;
      float mx = -INFINITY;
      for (int64_t j = 0; j < a.n; ++j) mx = std::max(mx, line[j * a.inner]);
      double sum = 0;
      for (int64_t j = 0; j < a.n; ++j) sum += (line[j * a.inner] = std::exp(line[j * a.inner] - mx));
      for (int64_t j = 0; j < a.n; ++j) line[j * a.inner] = static_cast<float>(line[j * a.inner] / sum);
    }
}

// LayerNorm over the axes from n.axis on: mean and (biased) variance of each group.
void LayerNorm(const GraphNode& n, const Graph& g, const std::vector<float>& x, std::vector<float>& y) {
  const auto& scale = g.tensors.at(n.inputs[1]).data;
  const auto& bias = g.tensors.at(n.inputs[2]).data;
  const int64_t size = static_cast<int64_t>(scale.size()), groups = static_cast<int64_t>(x.size()) / size;
  y.resize(x.size());
  for (int64_t r = 0; r < groups; ++r) {
    const float* in = x.data() + r * size;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < size; ++i) mean += in[i];
    mean /= size;
    for (int64_t i = 0; i < size; ++i) var += (in[i] - mean) * (in[i] - mean);
    var /= size;
    const double inv = 1.0 / std::sqrt(var + n.alpha);
    for (int64_t i = 0; i < size; ++i) y[r * size + i] = static_cast<float>((in[i] - mean) * inv * scale[i] + bias[i]);
  }
}

// ReduceMean / ReduceSum over n.axes: each output element the sum of the input elements
// whose coordinates off those axes are its own.
void Reduce(const GraphNode& n, const std::vector<int64_t>& xs, const std::vector<float>& x, std::vector<float>& y) {
  std::vector<int64_t> keep = xs;  // the output with the axes kept as 1
  int64_t count = 1;
  for (int64_t a : n.axes) {
    count *= xs[a];
    keep[a] = 1;
  }
  int64_t outs = 1;
  for (int64_t d : keep) outs *= d;
  std::vector<double> acc(static_cast<size_t>(outs), 0.0);
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) {
    int64_t rest = i, at = 0, stride = 1;
    for (size_t d = xs.size(); d-- > 0;) {
      const int64_t c = rest % xs[d];
      rest /= xs[d];
      at += (keep[d] == 1 ? 0 : c) * stride;
      stride *= keep[d];
    }
    acc[at] += n.reduce == ReduceOp::kL2 ? static_cast<double>(x[i]) * x[i] : x[i];
  }
  y.resize(acc.size());
  for (size_t i = 0; i < acc.size(); ++i)
    y[i] = static_cast<float>(n.reduce == ReduceOp::kMean ? acc[i] / count
                              : n.reduce == ReduceOp::kL2 ? std::sqrt(acc[i])
                                                          : acc[i]);
}

// Transpose, Slice, Pad: each output element from the input element SourceCoords names.
void Move(const GraphNode& n, const Graph& g, const std::vector<float>& x, std::vector<float>& y) {
  const auto& xs = g.tensors.at(n.inputs[0]).shape;
  const auto& ys = g.tensors.at(n.outputs[0]).shape;
  y.resize(static_cast<size_t>(g.tensors.at(n.outputs[0]).elements()));
  for (int64_t k = 0; k < static_cast<int64_t>(y.size()); ++k) {
    const int64_t at = internal::FlatIndex(SourceCoords(n, internal::CoordsOf(k, ys)), xs);
    y[k] = at >= 0 ? x[at] : n.alpha;
  }
}

// Gather: output [data before axis, indices, data after axis], each index clamped into
// the axis (negative ones counted from its end first).
void Gather(const GraphNode& n, const Graph& g, const std::vector<float>& data, const std::vector<float>& idx,
            std::vector<float>& y) {
  const auto& ds = g.tensors.at(n.inputs[0]).shape;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(ds.size()); ++d)
    if (d != n.axis) (d < n.axis ? outer : inner) *= ds[d];
  const int64_t rows = ds[n.axis], count = static_cast<int64_t>(idx.size());
  y.resize(static_cast<size_t>(outer * count * inner));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < count; ++k) {
      int64_t r = static_cast<int64_t>(idx[k]);
      r = std::min(std::max(r < 0 ? r + rows : r, int64_t{0}), rows - 1);
      std::copy_n(data.begin() + (o * rows + r) * inner, inner, y.begin() + (o * count + k) * inner);
    }
}

}  // namespace

float UnaryValue(UnaryOp op, float alpha, float beta, float x) {
  switch (op) {
    case UnaryOp::kSigmoid:
      return 1.0f / (1.0f + std::exp(-x));
    case UnaryOp::kHardSigmoid:
      return std::max(0.0f, std::min(1.0f, alpha * x + beta));
    case UnaryOp::kHardSwish:
      return x * std::max(0.0f, std::min(1.0f, x / 6.0f + 0.5f));
    case UnaryOp::kTanh:
      return std::tanh(x);
    case UnaryOp::kErf:
      return std::erf(x);
    case UnaryOp::kSqrt:
      return std::sqrt(x);
    case UnaryOp::kPow:
      return alpha == 2.0f ? x * x : std::pow(x, alpha);
    case UnaryOp::kGelu:
      return 0.5f * x * (1.0f + std::erf(x * static_cast<float>(M_SQRT1_2)));
    case UnaryOp::kGeluTanh:
      return 0.5f * x * (1.0f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
    case UnaryOp::kTrunc:
      return std::trunc(x);
    case UnaryOp::kNonZero:
      return x != 0.0f ? 1.0f : 0.0f;
    case UnaryOp::kExp:
      return std::exp(x);
    case UnaryOp::kLog:
      return std::log(x);
  }
  return x;
}

std::optional<std::vector<int64_t>> BroadcastShape(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> out(std::max(a.size(), b.size()), 1);
  for (size_t k = 0; k < out.size(); ++k) {
    const int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1, db = k < b.size() ? b[b.size() - 1 - k] : 1;
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[out.size() - 1 - k] = std::max(da, db);
  }
  return out;
}

namespace {

// Concat: for each index outside the axis, each input's run along it, in turn.
template <class Get>
void Concat(const GraphNode& n, const Graph& g, const Get& get, std::vector<float>& y) {
  const auto& ys = g.tensors.at(n.outputs[0]).shape;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < n.axis; ++d) outer *= ys[d];
  for (size_t d = static_cast<size_t>(n.axis) + 1; d < ys.size(); ++d) inner *= ys[d];
  y.clear();
  y.reserve(static_cast<size_t>(outer * ys[n.axis] * inner));
  for (int64_t o = 0; o < outer; ++o)
    for (const auto& in : n.inputs) {
      const int64_t run = g.tensors.at(in).shape[n.axis] * inner;
      const std::vector<float>& x = get(in);
      y.insert(y.end(), x.begin() + o * run, x.begin() + (o + 1) * run);
    }
}

// kBinary, kWhere and kExpand: each output element from its inputs' broadcast elements.
template <class Get>
void Broadcasting(const GraphNode& n, const Graph& g, const Get& get, std::vector<float>& y) {
  const auto& ys = g.tensors.at(n.outputs[0]).shape;
  std::vector<const std::vector<float>*> in;
  std::vector<const std::vector<int64_t>*> shapes;
  for (const auto& name : n.inputs) {
    in.push_back(&get(name));
    shapes.push_back(&g.tensors.at(name).shape);
  }
  auto at = [&](size_t i, int64_t k) { return (*in[i])[internal::BroadcastIndex(k, ys, *shapes[i])]; };
  y.resize(static_cast<size_t>(g.tensors.at(n.outputs[0]).elements()));
  for (int64_t k = 0; k < static_cast<int64_t>(y.size()); ++k)
    y[k] = n.op == GraphOp::kExpand  ? at(0, k)
           : n.op == GraphOp::kWhere ? (at(0, k) != 0.0f ? at(1, k) : at(2, k))
                                     : BinaryValue(n.binary, at(0, k), at(1, k));
}

// One node: its output from its inputs' values (`get`).
template <class Get>
void RunNode(const GraphNode& n, const Graph& g, const Get& get, std::vector<float>& y) {
  const std::vector<float>& x = get(n.inputs[0]);
  const auto& xs = g.tensors.at(n.inputs[0]).shape;
  const std::vector<float>* residual = n.workload && n.workload->residual ? &get(n.inputs[3]) : nullptr;
  switch (n.op) {
    case GraphOp::kConv2d:
    case GraphOp::kDepthwiseConv2d:
      Conv(n, g, x, residual, y);
      break;
    case GraphOp::kDense:
      Dense(n, g, x, residual, y);
      break;
    case GraphOp::kBatchMatMul:
      BatchMatMul(*n.workload, x, get(n.inputs[1]), y);
      break;
    case GraphOp::kRelu:
      y = x;
      for (auto& e : y) e = std::max(e, 0.0f);
      break;
    case GraphOp::kClip:
      y = x;
      for (auto& e : y) e = std::min(std::max(e, n.clip_min), n.clip_max);
      break;
    case GraphOp::kUnary:
      y = x;
      for (auto& e : y) e = UnaryValue(n.unary, n.alpha, n.beta, e);
      break;
    case GraphOp::kAdd: {
      const std::vector<float>& b = get(n.inputs[1]);
      y = x;
      for (size_t i = 0; i < y.size(); ++i) y[i] += b[i];
      break;
    }
    case GraphOp::kMaxPool:
    case GraphOp::kAveragePool:
      Pool(n, g, x, y);
      break;
    case GraphOp::kGlobalAveragePool:
      GlobalAveragePool(xs, x, y);
      break;
    case GraphOp::kBatchNorm:
      BatchNorm(n, g, x, y);
      break;
    case GraphOp::kReshape:
      y = x;
      break;
    case GraphOp::kSoftmax:
      Softmax(xs, n.axis, x, y);
      break;
    case GraphOp::kTranspose:
    case GraphOp::kSlice:
    case GraphOp::kPad:
      Move(n, g, x, y);
      break;
    case GraphOp::kReduce:
      Reduce(n, xs, x, y);
      break;
    case GraphOp::kLayerNorm:
      LayerNorm(n, g, x, y);
      break;
    case GraphOp::kConcat:
      Concat(n, g, get, y);
      break;
    case GraphOp::kGather:
      Gather(n, g, x, get(n.inputs[1]), y);
      break;
    case GraphOp::kWhere:
    case GraphOp::kExpand:
    case GraphOp::kBinary:
      Broadcasting(n, g, get, y);
      break;
  }
}

}  // namespace

namespace internal {

std::vector<int64_t> CoordsOf(int64_t flat, const std::vector<int64_t>& shape) {
  std::vector<int64_t> c(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    c[d] = flat % shape[d];
    flat /= shape[d];
  }
  return c;
}

int64_t FlatIndex(const std::vector<int64_t>& c, const std::vector<int64_t>& shape) {
  int64_t at = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (c[d] < 0 || c[d] >= shape[d]) return -1;
    at = at * shape[d] + c[d];
  }
  return at;
}

int64_t BroadcastIndex(int64_t i, const std::vector<int64_t>& out, const std::vector<int64_t>& shape) {
  int64_t index = 0, stride = 1;
  for (size_t k = 0; k < shape.size(); ++k) {
    const size_t d = shape.size() - 1 - k, od = out.size() - 1 - k;
    const int64_t coord = i % out[od];
    i /= out[od];
    if (shape[d] != 1) index += coord * stride;
    stride *= shape[d];
  }
  return index;
}

std::vector<float> BroadcastTo(const GraphTensor& t, const std::vector<int64_t>& shape) {
  std::vector<float> v(1);
  for (int64_t d : shape) v.resize(v.size() * static_cast<size_t>(d));
  for (size_t k = 0; k < v.size(); ++k) v[k] = t.data[BroadcastIndex(static_cast<int64_t>(k), shape, t.shape)];
  return v;
}

std::vector<float> EvaluateNode(const GraphNode& n, const Graph& g) {
  std::vector<float> y;
  RunNode(
      n, g, [&](const std::string& name) -> const std::vector<float>& { return g.tensors.at(name).data; }, y);
  return y;
}
}  // namespace internal

StatusOr<std::vector<float>> RunGraphReference(const Graph& g, const std::vector<float>& input) {
  PT_ASSIGN_OR_RETURN(auto outputs, RunGraphReference(g, std::vector<std::vector<float>>{input}));
  return std::move(outputs[0]);
}

StatusOr<std::vector<std::vector<float>>> RunGraphReference(const Graph& g,
                                                            const std::vector<std::vector<float>>& inputs) {
  if (g.inputs.empty() || g.outputs.empty()) return InvalidArgument("the graph has no input or output");
  if (inputs.size() != g.inputs.size())
    return InvalidArgument(std::to_string(inputs.size()) + " inputs given, the model takes " +
                           std::to_string(g.inputs.size()));
  Values v;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const GraphTensor& in = g.tensors.at(g.inputs[i]);
    if (static_cast<int64_t>(inputs[i].size()) != in.elements())
      return InvalidArgument("input '" + g.inputs[i] + "': " + std::to_string(inputs[i].size()) +
                             " values, the model takes " + std::to_string(in.elements()));
    v[g.inputs[i]] = inputs[i];
  }
  // Integer constants a node reads at run time (a mask, a Where's condition) as floats.
  for (const GraphNode& n : g.nodes)
    for (const auto& name : n.inputs) {
      const GraphTensor& t = g.tensors.at(name);
      if (t.constant && t.data.empty() && !t.ints.empty() && !v.count(name))
        v[name].assign(t.ints.begin(), t.ints.end());
    }
  auto get = [&](const std::string& name) -> const std::vector<float>& {
    auto it = v.find(name);
    return it != v.end() ? it->second : g.tensors.at(name).data;
  };
  for (const GraphNode& n : g.nodes) {
    std::vector<float> y;
    RunNode(n, g, get, y);
    v[n.outputs[0]] = std::move(y);
  }
  std::vector<std::vector<float>> outputs;
  for (const auto& o : g.outputs) outputs.push_back(get(o));
  return outputs;
}

}  // namespace priortune::compiler

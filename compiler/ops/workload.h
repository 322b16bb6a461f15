// A workload is one operator instance: op name, named sizes, dtype and fused epilogue.
// Its key is a hash of its canonical JSON, so the same instance always has the same key.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "compiler/support/status.h"

namespace priortune::compiler {

struct Workload {
  std::string op;                       // "matmul", "batch_matmul", "conv2d", ...
  std::map<std::string, int64_t> dims;  // op-specific named sizes, see the op templates
  std::string dtype = "float32";
  bool bias = false;  // fused epilogue: + bias per output channel / column
  // then + residual: an input of the output's shape (a skip connection), added before
  // the activation
  bool residual = false;
  bool relu = false;   // then max(x, 0)
  bool relu6 = false;  // or min(max(x, 0), 6) (MobileNet's ReLU6); not with relu
  // or x * sigmoid(x) (SiLU, EfficientNet's), or x * min(max(x / 6 + 1/2, 0), 1)
  // (HardSwish, MobileNetV3's): one activation at most
  bool silu = false;
  bool hardswish = false;
  // or GELU, x / 2 * (1 + erf(x / sqrt 2)) (BERT's, ViT's), or its tanh form
  // x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) (GPT-2's)
  bool gelu = false;
  bool gelu_tanh = false;

  // How many activations the epilogue has (Validate refuses more than one), and whether
  // it has anything at all.
  int Activations() const { return relu + relu6 + silu + hardswish + gelu + gelu_tanh; }
  bool HasEpilogue() const { return bias || residual || Activations() > 0; }

  // The activations of the epilogue agree (relu, relu6, silu, hardswish, gelu, gelu_tanh) with o's, and
  // its bias and residual.
  bool SameEpilogue(const Workload& o) const {
    return bias == o.bias && residual == o.residual && relu == o.relu && relu6 == o.relu6 && silu == o.silu &&
           hardswish == o.hardswish && gelu == o.gelu && gelu_tanh == o.gelu_tanh;
  }

  // The value of a dim; aborts if absent (validate first with the op template).
  int64_t dim(const std::string& name) const;
  std::string ToJson() const;  // canonical: sorted keys, no whitespace
  std::string Key() const;     // HashKey(ToJson())
  // Parses the canonical JSON (or any JSON object with the same fields).
  static StatusOr<Workload> FromJson(const std::string& json);
  // "matmul 512x512x512" style summary for logs and tables.
  std::string ShortName() const;
};

// Row-major C[M,N] = A[M,K] * B[K,N].
Workload MatmulWorkload(int64_t m, int64_t n, int64_t k, bool bias = false, bool relu = false);
// C[b,M,N] = A[b,M,K] * B[b,K,N].
Workload BatchMatmulWorkload(int64_t b, int64_t m, int64_t n, int64_t k);
// NCHW input [N,C,H,W], OIHW weight [O,C,KH,KW], output [N,O,OH,OW].
Workload Conv2dWorkload(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kh, int64_t kw, int64_t stride,
                        int64_t pad, bool bias = false, bool relu = false);
// G groups: NCHW input, weight [O,C/G,KH,KW], output [N,O,OH,OW]; output channel o reads
// the input channels of its group o / (O/G).
Workload GroupConv2dWorkload(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kh, int64_t kw,
                             int64_t stride, int64_t pad, int64_t groups);
// NCHW input, weight [C,1,KH,KW], output [N,C,OH,OW].
Workload DepthwiseConv2dWorkload(int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t stride,
                                 int64_t pad);

// Parses the command line's --shape for an op:
//   matmul: MxNxK; batch_matmul: BxMxNxK;
//   conv2d: CinxCoutxHxKxSxP (batch 1, square image and kernel, as in bench-suite.md);
//   group_conv2d: CinxCoutxHxKxSxPxG;
//   depthwise_conv2d: CxHxKxSxP.
// Fails with InvalidArgument naming the op and the text that does not fit.
StatusOr<Workload> ParseWorkload(const std::string& op, const std::string& shape);

}  // namespace priortune::compiler

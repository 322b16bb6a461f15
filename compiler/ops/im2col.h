// im2col: how BLAS-based peers compute an NCHW conv2d (batch 1) as one GEMM,
// out[O][OH*OW] = weight[O][C*KH*KW] x col[C*KH*KW][OH*OW]. The one implementation the
// benchmark and `tune`'s final comparison both time (bench-suite.md: "conv as im2col +
// sgemm", im2col included in the time).
#pragma once

#include <cstdint>

namespace priortune::compiler {

struct ConvGeometry {
  int64_t c, h, w;  // input channels and size
  int64_t kh, kw;   // kernel
  int64_t sh, sw;   // stride
  int64_t ph, pw;   // zero padding
  int64_t oh() const { return (h + 2 * ph - kh) / sh + 1; }
  int64_t ow() const { return (w + 2 * pw - kw) / sw + 1; }
  int64_t rows() const { return c * kh * kw; }  // the GEMM's reduction
  int64_t cols() const { return oh() * ow(); }
};

// Fills rows [row_begin, row_end) of `col` (rows() x cols(), row-major) from the NCHW
// input `in`: col[(ci*KH + i)*KW + j][y*OW + x] = in[ci][y*SH + i - PH][x*SW + j - PW],
// 0 in the padding. Rows are independent: callers may fill them in parallel.
void Im2colRows(const ConvGeometry& g, const float* in, float* col, int64_t row_begin, int64_t row_end);

}  // namespace priortune::compiler

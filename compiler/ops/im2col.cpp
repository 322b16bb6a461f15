#include "compiler/ops/im2col.h"

namespace priortune::compiler {

void Im2colRows(const ConvGeometry& g, const float* in, float* col, int64_t row_begin, int64_t row_end) {
  const int64_t oh = g.oh(), ow = g.ow(), cols = g.cols();
  for (int64_t r = row_begin; r < row_end; ++r) {
    int64_t ci = r / (g.kh * g.kw), i = (r / g.kw) % g.kh, j = r % g.kw;
    float* out = col + r * cols;
    for (int64_t y = 0; y < oh; ++y) {
      int64_t yy = y * g.sh + i - g.ph;
      for (int64_t x = 0; x < ow; ++x) {
        int64_t xx = x * g.sw + j - g.pw;
        out[y * ow + x] = (yy >= 0 && yy < g.h && xx >= 0 && xx < g.w) ? in[(ci * g.h + yy) * g.w + xx] : 0.0f;
      }
    }
  }
}

}  // namespace priortune::compiler

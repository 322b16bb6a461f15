// Compiled with -O3 -march=native: what a compiler does with the plain loop nest.
#include "peers.h"

namespace bench {

Run NaiveGemm(GemmShape s, const float* a, const float* b, float* c) {
  return [=] {
#pragma omp parallel for
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        float acc = 0;
        for (int64_t k = 0; k < s.k; ++k) acc += a[i * s.k + k] * b[k * s.n + j];
        c[i * s.n + j] = acc;
      }
  };
}

Run NaiveConv(ConvShape s, const float* in, const float* w, float* out) {
  return [=] {
    int64_t oh = s.oh();
#pragma omp parallel for
    for (int64_t o = 0; o < s.o; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < oh; ++x) {
          float acc = 0;
          for (int64_t c = 0; c < s.c; ++c)
            for (int64_t i = 0; i < s.k; ++i)
              for (int64_t j = 0; j < s.k; ++j) {
                int64_t hh = y * s.s + i - s.p, ww = x * s.s + j - s.p;
                if (hh >= 0 && hh < s.h && ww >= 0 && ww < s.h)
                  acc += in[(c * s.h + hh) * s.h + ww] * w[((o * s.c + c) * s.k + i) * s.k + j];
              }
          out[(o * oh + y) * oh + x] = acc;
        }
  };
}

}  // namespace bench

#include "server/peer_blas.h"

#include <dlfcn.h>

#include <vector>

namespace priortune::server {
namespace {

// cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
using SetThreadsFn = void (*)(int);
constexpr int kRowMajor = 101, kNoTrans = 111;

struct OpenBlas {
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_threads = nullptr;
};

const OpenBlas* Load() {
  static const OpenBlas lib = [] {
    OpenBlas l;
    void* h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) h = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) return l;
    l.sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
    l.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
    return l;
  }();
  return lib.sgemm ? &lib : nullptr;
}

}  // namespace

std::optional<double> TimeOpenBlas(const compiler::Workload& w, int threads,
                                   const compiler::TimingOptions& timing) {
  const OpenBlas* blas = Load();
  if (!blas || w.bias || w.relu) return std::nullopt;
  if (blas->set_threads) blas->set_threads(threads);
  std::vector<float> a, b, c, col;
  std::function<void()> run;
  if (w.op == "matmul") {
    int m = static_cast<int>(w.dim("M")), n = static_cast<int>(w.dim("N")), k = static_cast<int>(w.dim("K"));
    a.assign(static_cast<size_t>(m) * k, 0.5f);
    b.assign(static_cast<size_t>(k) * n, 0.25f);
    c.assign(static_cast<size_t>(m) * n, 0.0f);
    run = [&, m, n, k] {
      blas->sgemm(kRowMajor, kNoTrans, kNoTrans, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f,
                  c.data(), n);
    };
  } else if (w.op == "conv2d" && w.dim("N") == 1) {
    int64_t ch = w.dim("C"), h = w.dim("H"), wd = w.dim("W"), o = w.dim("O"), kh = w.dim("KH"),
            kw = w.dim("KW"), sh = w.dim("SH"), sw = w.dim("SW"), ph = w.dim("PH"), pw = w.dim("PW");
    int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (wd + 2 * pw - kw) / sw + 1;
    int64_t rows = ch * kh * kw, cols = oh * ow;
    a.assign(static_cast<size_t>(ch * h * wd), 0.5f);    // input
    b.assign(static_cast<size_t>(o * rows), 0.25f);      // weights [O, C*KH*KW]
    c.assign(static_cast<size_t>(o * cols), 0.0f);
    col.assign(static_cast<size_t>(rows * cols), 0.0f);
    run = [&, ch, h, wd, o, kh, kw, sh, sw, ph, pw, oh, ow, rows, cols] {
      for (int64_t r = 0; r < rows; ++r) {  // im2col, timed as part of the peer
        int64_t ci = r / (kh * kw), i = (r / kw) % kh, j = r % kw;
        for (int64_t y = 0; y < oh; ++y)
          for (int64_t x = 0; x < ow; ++x) {
            int64_t yy = y * sh + i - ph, xx = x * sw + j - pw;
            col[r * cols + y * ow + x] =
                (yy >= 0 && yy < h && xx >= 0 && xx < wd) ? a[(ci * h + yy) * wd + xx] : 0.0f;
          }
      }
      blas->sgemm(kRowMajor, kNoTrans, kNoTrans, static_cast<int>(o), static_cast<int>(cols),
                  static_cast<int>(rows), 1.0f, b.data(), static_cast<int>(rows), col.data(),
                  static_cast<int>(cols), 0.0f, c.data(), static_cast<int>(cols));
    };
  } else {
    return std::nullopt;
  }
  return compiler::TimeFunction(run, timing).median;
}

}  // namespace priortune::server

#include "server/cli/peer_blas.h"

#include <dlfcn.h>

#include <vector>

#include "compiler/ops/im2col.h"

namespace priortune::server {
namespace {

// cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
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

std::optional<double> TimeOpenBlas(const compiler::Workload& w, int threads, const compiler::TimingOptions& timing) {
  const OpenBlas* blas = Load();
  if (!blas || w.HasEpilogue()) return std::nullopt;  // sgemm computes no epilogue
  if (blas->set_threads) blas->set_threads(threads);
  std::vector<float> a, b, c, col;
  std::function<void()> run;
  if (w.op == "matmul") {
    int m = static_cast<int>(w.dim("M")), n = static_cast<int>(w.dim("N")), k = static_cast<int>(w.dim("K"));
    a.assign(static_cast<size_t>(m) * k, 0.5f);
    b.assign(static_cast<size_t>(k) * n, 0.25f);
    c.assign(static_cast<size_t>(m) * n, 0.0f);
    run = [&, m, n, k] {
      blas->sgemm(kRowMajor, kNoTrans, kNoTrans, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    };
  } else if (w.op == "conv2d" && w.dim("N") == 1) {
    compiler::ConvGeometry g{w.dim("C"),  w.dim("H"),  w.dim("W"),  w.dim("KH"), w.dim("KW"),
                             w.dim("SH"), w.dim("SW"), w.dim("PH"), w.dim("PW")};
    int64_t o = w.dim("O"), rows = g.rows(), cols = g.cols();
    a.assign(static_cast<size_t>(g.c * g.h * g.w), 0.5f);  // input
    b.assign(static_cast<size_t>(o * rows), 0.25f);        // weights [O, C*KH*KW]
    c.assign(static_cast<size_t>(o * cols), 0.0f);
    col.assign(static_cast<size_t>(rows * cols), 0.0f);
    run = [&, g, o, rows, cols] {
      compiler::Im2colRows(g, a.data(), col.data(), 0, rows);  // timed as part of the peer
      blas->sgemm(kRowMajor, kNoTrans, kNoTrans, static_cast<int>(o), static_cast<int>(cols), static_cast<int>(rows),
                  1.0f, b.data(), static_cast<int>(rows), col.data(), static_cast<int>(cols), 0.0f, c.data(),
                  static_cast<int>(cols));
    };
  } else {
    return std::nullopt;
  }
  return compiler::TimeFunction(run, timing).median;
}

}  // namespace priortune::server

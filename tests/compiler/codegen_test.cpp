#include <gtest/gtest.h>

#include <random>

#include "compiler/jit.h"
#include "compiler/lower.h"
#include "compiler/schedule.h"

namespace priortune::compiler {
namespace {

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

TEST(Codegen, SmokeMatmul) {
  int64_t M = 37, N = 45, K = 29;
  Tensor A = Placeholder("A", {M, K}), B = Placeholder("B", {K, N});
  IterVar k = ReduceAxis(K, "k");
  Tensor C = Compute("C", {M, N}, [&](Expr i, Expr j) { return Sum(A(i, k->var) * B(k->var, j), {k}); });
  Schedule s({C});
  Tensor CL = s.cache_write(C);
  auto [mo, mi] = s[C].split(s[C].axis(0), 4);
  auto [no, ni] = s[C].split(s[C].axis(1), 16);
  s[C].reorder({mo, no, mi, ni});
  s[C].vectorize(ni);
  s[C].parallel(mo);
  s[CL].compute_at(s[C], no);
  s[CL].reorder({s[CL].reduce_axis(0), s[CL].axis(0), s[CL].axis(1)});
  s[CL].unroll(s[CL].axis(0));
  s[CL].vectorize(s[CL].axis(1));
  auto f = Lower(s, "mm", {A, B, C});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  auto jit = Jit::Default();
  ASSERT_TRUE(jit.ok());
  auto kern = (*jit)->Compile(*f);
  ASSERT_TRUE(kern.ok()) << kern.status().ToString();
  auto a = Random(M * K, 1), b = Random(K * N, 2);
  std::vector<float> c(M * N, 0);
  kern->Run({a.data(), b.data(), c.data()});
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float ref = 0;
      for (int64_t x = 0; x < K; ++x) ref += a[i * K + x] * b[x * N + j];
      ASSERT_NEAR(c[i * N + j], ref, 1e-4) << i << "," << j;
    }
}

}  // namespace
}  // namespace priortune::compiler

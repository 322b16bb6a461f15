// The FMA peak probe (shared/bench-suite.md): 12 independent FMA chains per thread, the
// physical limit of fp32 arithmetic on a core. AVX-512 where the host has it, else
// AVX2 + FMA; chosen at run time, so the binary runs on either.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "peers.h"

namespace bench {
namespace {

constexpr int64_t kIterations = 20'000'000;

// Each iteration: 12 dependent-chain FMAs of `lanes` floats, 2 flops per lane.
#define PT_FMA12(fma, x) \
  x0 = fma(x0, m, a);    \
  x1 = fma(x1, m, a);    \
  x2 = fma(x2, m, a);    \
  x3 = fma(x3, m, a);    \
  x4 = fma(x4, m, a);    \
  x5 = fma(x5, m, a);    \
  x6 = fma(x6, m, a);    \
  x7 = fma(x7, m, a);    \
  x8 = fma(x8, m, a);    \
  x9 = fma(x9, m, a);    \
  x10 = fma(x10, m, a);  \
  x11 = fma(x11, m, a)

__attribute__((target("avx512f"))) float Chains512() {
  __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  __m512 x0 = _mm512_set1_ps(0), x1 = _mm512_set1_ps(1), x2 = _mm512_set1_ps(2), x3 = _mm512_set1_ps(3),
         x4 = _mm512_set1_ps(4), x5 = _mm512_set1_ps(5), x6 = _mm512_set1_ps(6), x7 = _mm512_set1_ps(7),
         x8 = _mm512_set1_ps(8), x9 = _mm512_set1_ps(9), x10 = _mm512_set1_ps(10), x11 = _mm512_set1_ps(11);
  for (int64_t i = 0; i < kIterations; ++i) {
    PT_FMA12(_mm512_fmadd_ps, x);
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(x0, x1), _mm512_add_ps(x2, x3)),
                           _mm512_add_ps(_mm512_add_ps(x4, x5), _mm512_add_ps(x6, x7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(x8, x9), _mm512_add_ps(x10, x11)));
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) float Chains256() {
  __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  __m256 x0 = _mm256_set1_ps(0), x1 = _mm256_set1_ps(1), x2 = _mm256_set1_ps(2), x3 = _mm256_set1_ps(3),
         x4 = _mm256_set1_ps(4), x5 = _mm256_set1_ps(5), x6 = _mm256_set1_ps(6), x7 = _mm256_set1_ps(7),
         x8 = _mm256_set1_ps(8), x9 = _mm256_set1_ps(9), x10 = _mm256_set1_ps(10), x11 = _mm256_set1_ps(11);
  for (int64_t i = 0; i < kIterations; ++i) {
    PT_FMA12(_mm256_fmadd_ps, x);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                           _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(x8, x9), _mm256_add_ps(x10, x11)));
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0] + out[7];
}

#undef PT_FMA12

}  // namespace

PeakProbe FmaPeak(int threads) {
  bool wide = __builtin_cpu_supports("avx512f");
  PeakProbe p;
  p.isa = wide ? "AVX-512" : "AVX2+FMA";
  int lanes = wide ? 16 : 8;
  double flops = 2.0 * 12 * lanes * kIterations * threads;
  // Best of 3 rounds: the probe measures the machine's limit, so the least disturbed
  // round is the one that counts. A round's time is the wall time of all threads.
  for (int round = 0; round < 3; ++round) {
    std::vector<float> sink(threads);
    std::vector<std::thread> pool;
    auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sink[t] = wide ? Chains512() : Chains256(); });
    for (auto& th : pool) th.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    p.gflops = std::max(p.gflops, flops / seconds / 1e9);
    p.checksum += sink[0];
  }
  return p;
}

}  // namespace bench

// The peers priortune is measured against: OpenBLAS, oneDNN (plain and blocked layouts),
// and a naive loop nest. Each prepares once and returns a callable that runs one call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace bench {

struct GemmShape {
  int64_t m, n, k;
};
// groups = c (and o = c) is a depthwise convolution: one k x k filter per channel.
struct ConvShape {
  int64_t c, o, h, k, s, p, groups = 1;
  int64_t oh() const { return (h + 2 * p - k) / s + 1; }
};

using Run = std::function<void()>;
// Buffers are caller-owned, row-major / NCHW / OIHW.
Run OpenBlasGemm(GemmShape s, const float* a, const float* b, float* c);
Run OpenBlasConv(ConvShape s, const float* in, const float* w, float* out);  // im2col + sgemm
// blocked: oneDNN picks the weight (and, for conv, activation) layouts; reorders are done
// here, once, and not timed.
Run DnnlGemm(GemmShape s, const float* a, const float* b, float* c, bool blocked);
Run DnnlConv(ConvShape s, const float* in, const float* w, float* out, bool blocked);
Run NaiveGemm(GemmShape s, const float* a, const float* b, float* c);
Run NaiveConv(ConvShape s, const float* in, const float* w, float* out);
void SetPeerThreads(int n);

// The FMA peak probe: 12 independent FMA chains per thread on `threads` threads at once,
// AVX-512 if the host has it, else AVX2 + FMA. GFLOPS summed over the threads.
struct PeakProbe {
  const char* isa = "";
  double gflops = 0;
  float checksum = 0;  // keeps the chains from being optimised away
};
PeakProbe FmaPeak(int threads);

}  // namespace bench

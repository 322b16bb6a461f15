// OpenBLAS as a peer for `priortune tune`'s final report, loaded at run time with dlopen
// so that priortune does not depend on it: matmul as cblas_sgemm, conv2d as im2col +
// sgemm (as shared/bench-suite.md defines the OpenBLAS conv peer).
#pragma once

#include <optional>

#include "compiler/ops/workload.h"
#include "compiler/support/timing.h"

namespace priortune::server {

// Seconds per call of OpenBLAS on `w` with `threads` threads, timed with `timing`;
// nullopt when libopenblas is not installed or the op has no OpenBLAS form (epilogues,
// batch matmul, depthwise).
std::optional<double> TimeOpenBlas(const compiler::Workload& w, int threads, const compiler::TimingOptions& timing);

}  // namespace priortune::server

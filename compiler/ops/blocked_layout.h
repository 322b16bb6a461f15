// Channel-blocked (NCHWc) layouts and the vectorisation helper that the templates and the
// model planner's layout-conversion kernels share: a layout's shape, an element read
// from a blocked tensor, and vectorising an axis in the target's native vector widths.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/schedule.h"
#include "compiler/support/status.h"
#include "compiler/target/target.h"

namespace priortune::compiler {

// An NCHW tensor's shape in `block` (TensorLayouts): [n, c, h, w], or [n, c/block, h, w, block].
std::vector<int64_t> LayoutShape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t block);
// InvalidArgument unless `block` is 0 or divides `channels`; `what` names the tensor.
Status CheckBlock(const std::string& what, int64_t block, int64_t channels);
// Element (n, c, h, w) of `x`, stored in `block`, where the channel is given as
// c = cb * cbn + ci (cbn == 0: c = cb and ci unused), the way a blocked loop nest holds
// it. Equal or nested blocks index without a division by a variable.
Expr ChannelRead(const Tensor& x, int64_t block, const Expr& n, const Expr& cb, int64_t cbn, const Expr& ci,
                 const Expr& h, const Expr& w);

// Vectorizes `axis` (extent `extent`) of `stage`. A width of 3 (or any non-power-of-two
// number of) native vectors is split, the outer part unrolled, so that it becomes native
// vectors rather than one <48 x float> value, which LLVM legalises with scalar inserts
// (measured on AVX-512, matmul 512^3: an 8 x 48 tile went from 23 to 217 GFLOPS; with
// AVX2 4 x 24 from 38 to 108). Power-of-two widths stay one wide vector, which LLVM
// splits well and which handles a tail with one mask (splitting them cost 6% on 500^3),
// up to kMaxVectorLanes (what lowering takes).
void VectorizeInNativeChunks(Stage& stage, IterVar axis, int64_t extent, const Target& t);

}  // namespace priortune::compiler

#include "compiler/ops/blocked_layout.h"

#include "compiler/ir/lower.h"

namespace priortune::compiler {

std::vector<int64_t> LayoutShape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t block) {
  if (block == 0) return {n, c, h, w};
  return {n, c / block, h, w, block};
}

Status CheckBlock(const std::string& what, int64_t block, int64_t channels) {
  if (block < 0 || (block > 0 && channels % block != 0))
    return InvalidArgument(what + " block " + std::to_string(block) + " does not divide its " +
                           std::to_string(channels) + " channels");
  return OkStatus();
}

Expr ChannelRead(const Tensor& x, int64_t block, const Expr& n, const Expr& cb, int64_t cbn, const Expr& ci,
                 const Expr& h, const Expr& w) {
  Expr c = cbn == 0 ? cb : cb * cbn + ci;
  if (block == 0) return x(n, c, h, w);
  if (cbn == block) return x(n, cb, h, w, ci);
  if (cbn > 0 && cbn % block == 0) return x(n, cb * (cbn / block) + ci / block, h, w, ci % block);
  if (cbn > 0 && block % cbn == 0) {
    const int64_t r = block / cbn;
    return x(n, cb / r, h, w, (cb % r) * cbn + ci);
  }
  return x(n, c / block, h, w, c % block);
}

void VectorizeInNativeChunks(Stage& stage, IterVar axis, int64_t extent, const Target& t) {
  int64_t v = t.vector_lanes(), vecs = extent / v;
  // Past lowering's limit (a LayerNorm over 128 channels) native chunks too.
  if (extent > v && extent % v == 0 && ((vecs & (vecs - 1)) != 0 || extent > kMaxVectorLanes)) {
    auto [outer, inner] = stage.split(axis, v);
    stage.unroll(outer);
    stage.vectorize(inner);
  } else {
    stage.vectorize(axis);
  }
}

}  // namespace priortune::compiler

#include "compiler/ops/internal/conv_common.h"

#include <algorithm>
#include <functional>

namespace priortune::compiler::internal {

ConvDims Dims(const Workload& w, bool depthwise) {
  ConvDims d;
  d.n = w.dim("N");
  d.c = w.dim("C");
  d.h = w.dim("H");
  d.w = w.dim("W");
  d.o = depthwise ? d.c : w.dim("O");
  d.kh = w.dim("KH");
  d.kw = w.dim("KW");
  d.sh = w.dim("SH");
  d.sw = w.dim("SW");
  d.ph = w.dim("PH");
  d.pw = w.dim("PW");
  d.oh = (d.h + 2 * d.ph - d.kh) / d.sh + 1;
  d.ow = (d.w + 2 * d.pw - d.kw) / d.sw + 1;
  d.g = depthwise ? d.c : w.dims.count("G") ? w.dims.at("G") : 1;
  return d;
}

Status ValidateConv(const Workload& w, bool depthwise) {
  if (depthwise) {
    PT_RETURN_IF_ERROR(RequireDims(w, {"N", "C", "H", "W", "KH", "KW", "SH", "SW"}, {"PH", "PW"}));
  } else if (w.op == "group_conv2d") {
    PT_RETURN_IF_ERROR(RequireDims(w, {"N", "C", "H", "W", "O", "KH", "KW", "SH", "SW", "G"}, {"PH", "PW"}));
  } else {
    PT_RETURN_IF_ERROR(RequireDims(w, {"N", "C", "H", "W", "O", "KH", "KW", "SH", "SW"}, {"PH", "PW"}));
  }
  PT_RETURN_IF_ERROR(ValidateEpilogue(w, /*bias_ok=*/true, /*residual_ok=*/true));
  ConvDims d = Dims(w, depthwise);
  if (d.c % d.g != 0 || d.o % d.g != 0)
    return InvalidArgument(w.op + ": " + std::to_string(d.g) + " groups do not divide both the " + std::to_string(d.c) +
                           " input and the " + std::to_string(d.o) + " output channels");
  if (d.h + 2 * d.ph < d.kh || d.w + 2 * d.pw < d.kw)
    return InvalidArgument(w.op + ": kernel " + std::to_string(d.kh) + "x" + std::to_string(d.kw) +
                           " is larger than the padded input " + std::to_string(d.h + 2 * d.ph) + "x" +
                           std::to_string(d.w + 2 * d.pw));
  if (d.ph >= d.kh || d.pw >= d.kw)
    return InvalidArgument(w.op + ": padding " + std::to_string(d.ph) + "," + std::to_string(d.pw) +
                           " must be smaller than the kernel");
  return OkStatus();
}

Expr PaddedRead(const Tensor& data, const ConvDims& d, Expr n, Expr c, Expr h, Expr w, bool past_row) {
  Expr hh = h - d.ph, ww = w - d.pw;
  Expr v = data(n, c, hh, ww);
  if (d.ph == 0 && d.pw == 0 && !past_row) return v;
  return Select(hh >= 0 && hh < d.h && ww >= 0 && ww < d.w, v, FloatImm(0.0));
}

Expr PaddedRead(const Tensor& data, int64_t block, const ConvDims& d, Expr n, Expr cb, int64_t cbn, Expr ci, Expr h,
                Expr w) {
  Expr hh = h - d.ph, ww = w - d.pw;
  Expr v = ChannelRead(data, block, n, cb, cbn, ci, hh, ww);
  if (d.ph == 0 && d.pw == 0) return v;
  return Select(hh >= 0 && hh < d.h && ww >= 0 && ww < d.w, v, FloatImm(0.0));
}

Status CheckLayoutBlocks(const Workload& w, bool depthwise, const TensorLayouts& layouts) {
  const ConvDims d = Dims(w, depthwise);
  PT_RETURN_IF_ERROR(CheckBlock(w.op + " data", layouts.data, d.c));
  return CheckBlock(w.op + " residual", layouts.residual, d.o);
}

Workload SampleConv(const std::string& op, bool depthwise, std::mt19937_64& rng, double max_macs) {
  auto pick = [&](std::initializer_list<int64_t> v) {
    return *(v.begin() + std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng));
  };
  for (;;) {
    Workload w;
    w.op = op;
    const int64_t n = SampleCoin(rng, 0.15) ? 2 : 1;
    const int64_t c = SampleExtent(rng, depthwise ? 512 : 256), o = depthwise ? c : SampleExtent(rng, 256);
    const int64_t h = SampleExtent(rng, 112), wd = SampleCoin(rng, 0.6) ? h : SampleExtent(rng, 112);
    const int64_t kh = pick({1, 1, 2, 3, 3, 3, 4, 5, 7}), kw = SampleCoin(rng, 0.8) ? kh : pick({1, 2, 3, 5, 7});
    const int64_t sh = pick({1, 1, 1, 2, 2, 3, 4}), sw = SampleCoin(rng, 0.8) ? sh : pick({1, 2, 3, 4});
    const int64_t ph = std::uniform_int_distribution<int64_t>(0, kh - 1)(rng);
    const int64_t pw =
        SampleCoin(rng, 0.7) ? std::min(ph, kw - 1) : std::uniform_int_distribution<int64_t>(0, kw - 1)(rng);
    w.dims = {{"N", n},   {"C", c},   {"H", h},   {"W", wd},  {"KH", kh},
              {"KW", kw}, {"SH", sh}, {"SW", sw}, {"PH", ph}, {"PW", pw}};
    if (!depthwise) w.dims["O"] = o;
    int64_t groups = 1;
    if (op == "group_conv2d") {
      // Groups of 1-64 channels in and out (ResNeXt's 4, RegNet's 8-232), 2-64 of them.
      groups = pick({2, 3, 4, 8, 16, 32, 64});
      w.dims["G"] = groups;
      w.dims["C"] = groups * std::max<int64_t>(1, c / 16);
      w.dims["O"] = groups * std::max<int64_t>(1, o / 16);
    }
    SampleEpilogue(w, rng);
    if (h + 2 * ph < kh || wd + 2 * pw < kw) continue;
    const double oh = static_cast<double>((h + 2 * ph - kh) / sh + 1),
                 ow = static_cast<double>((wd + 2 * pw - kw) / sw + 1);
    const double macs = n * oh * ow * w.dims.at(depthwise ? "C" : "O") *
                        (depthwise ? 1.0 : static_cast<double>(w.dims.at("C") / groups)) * kh * kw;
    if (macs <= max_macs) return w;
  }
}

void ReferenceConv(const Workload& w, bool depthwise, const std::vector<const float*>& args, float* out) {
  const ConvDims d = Dims(w, depthwise);
  const float *in = args[0], *wt = args[1], *bias = w.bias ? args[2] : nullptr;
  const float* residual = w.residual ? args[w.bias ? 3 : 2] : nullptr;
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t o = 0; o < d.o; ++o)
      for (int64_t y = 0; y < d.oh; ++y)
        for (int64_t x = 0; x < d.ow; ++x) {
          double s = 0;
          // The input channels of o's group; the weight is [O, C / groups, KH, KW].
          const int64_t c0 = (o / d.og()) * d.cg();
          for (int64_t c = c0; c < c0 + d.cg(); ++c)
            for (int64_t i = 0; i < d.kh; ++i)
              for (int64_t j = 0; j < d.kw; ++j) {
                int64_t hh = y * d.sh + i - d.ph, ww = x * d.sw + j - d.pw;
                if (hh < 0 || hh >= d.h || ww < 0 || ww >= d.w) continue;
                float wv = wt[((o * d.cg() + (c - c0)) * d.kh + i) * d.kw + j];
                s += static_cast<double>(in[((n * d.c + c) * d.h + hh) * d.w + ww]) * wv;
              }
          int64_t at = ((n * d.o + o) * d.oh + y) * d.ow + x;
          out[at] =
              ApplyEpilogue(w, static_cast<float>(s), bias ? bias + o : nullptr, residual ? residual + at : nullptr);
        }
}

std::vector<int64_t> RegNCandidates(int64_t ow, const Target& t) {
  int64_t budget = AccumulatorBudget(t);
  std::vector<int64_t> c = Divisors(ow, budget);
  for (int64_t x = 4; x <= budget; x += 4) c.push_back(std::min(x, ow));
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

std::vector<int64_t> ChannelBlocks(int64_t channels, const Target& t) {
  return Divisors(channels, kMaxTileVectors * t.vector_lanes());
}

std::vector<int64_t> WidthTiles(const Target& t) {
  std::vector<int64_t> tile;
  for (int64_t x = std::max(1, t.vector_lanes() / 4); x <= kMaxTileVectors * t.vector_lanes(); x *= 2)
    tile.push_back(x);
  return tile;
}

std::vector<int64_t> DwRowCandidates(int64_t oh, const Target& t) {
  std::vector<int64_t> c = Divisors(oh, AccumulatorBudget(t));
  for (int64_t x = 1; x <= 4; ++x) c.push_back(std::min(x, oh));
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

std::vector<std::vector<int64_t>> OwTiles(int64_t ow, const Target& t) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t reg : RegNCandidates(ow, t))
    for (int64_t block : BlockMultiples(reg, ow)) out.push_back({block, reg});
  return out;
}

std::vector<int64_t> WidthVectors(int64_t ow, const Target& t) {
  std::vector<int64_t> c;
  int64_t v = t.vector_lanes();
  for (int64_t k = 1; k <= kMaxTileVectors && k * v <= std::max(ow, v); ++k) c.push_back(k * v);
  return c;
}

std::vector<int64_t> RegHCandidates(int64_t oh, const Target& t) {
  std::vector<int64_t> c = Divisors(oh, AccumulatorBudget(t));
  for (int64_t x = 2; x <= 4; ++x) c.push_back(std::min(x, oh));
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

}  // namespace priortune::compiler::internal

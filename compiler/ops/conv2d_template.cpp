// conv2d (NCHW / OIHW, stride, padding) and depthwise conv2d, each with an optional fused
// epilogue: + bias, + residual, then relu or relu6 (ApplyEpilogue).
//
// conv2d computes in blocked layouts, TVM's conv2d_NCHWc recipe, with the output copied
// back to NCHW one block of rows at a time so the caller sees plain NCHW:
//
//   data_vec[n][C/ic_bn][H+2p][W+2p][ic_bn]      padded, channel-blocked input (root), or
//                                                read from NCHW in place (data_layout)
//   kernel_vec[O/oc_bn][C/ic_bn][KH][KW][ic_bn][oc_bn]   packed weights: a prepack, run
//                                                once when the kernel is bound to its
//                                                weights (Kernel::Prepare), not per call
//   parallel for (n, ob, oh / reg_h, ow / ow_bn): blocks of reg_h rows x ow_bn columns
//     conv_out[reg_h][ow_bn][oc_bn]              in L1
//       for owo: acc[reg_h][reg_n][oc_bn]        register tile: reg_h x reg_n x oc_bn/lanes
//         for the reduction (icb, kh, kw, ici in `reduce_order`; kh/kw unrolled or not):
//           for y, x (unrolled): acc[y][x][:] += data * kernel_vec[...][:]
//     out[n][ob*oc_bn + oi][oh][:] = conv_out[:][:][oi]  (+bias, relu)
//
// In a compiled model the activations between blocked kernels stay blocked
// (TensorLayouts, model.h): data_vec then reads an NCHW{b}c input of any block b, the
// residual is read in its own block, and `out` is written in oc_bn blocks as they are,
// vectors along the channels, with no copy back to NCHW. depthwise_conv2d's NCHWc
// layout does the same with c_bn.
//
// The other layout (`layout` = nchw-width, Width() below) vectorises along the output
// width in plain NCHW, with oc_bn output channels x reg_h rows x w_x columns in registers
// and broadcast weights: no input blocking and no copy back, which suits few input
// channels (the stem) and 1x1 convolutions.
//
// reg_h > 1 gives 2-D register tiles, which small maps (7x7) need to fill the registers.
// A 1x1 convolution is the GEMM out[o][p] = W[o][c] * X[c][p]; read in place it has no
// copy of the input at all (stride 2 reads a quarter of it).
#include <algorithm>
#include <functional>

#include "compiler/ops/internal/templates.h"
#include "compiler/ir/schedule.h"

namespace priortune::compiler::internal {
namespace {

struct ConvDims {
  int64_t n, c, h, w, o, kh, kw, sh, sw, ph, pw, oh, ow;
};

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
  return d;
}

Status ValidateConv(const Workload& w, bool depthwise) {
  if (depthwise) {
    PT_RETURN_IF_ERROR(RequireDims(w, {"N", "C", "H", "W", "KH", "KW", "SH", "SW"}, {"PH", "PW"}));
  } else {
    PT_RETURN_IF_ERROR(
        RequireDims(w, {"N", "C", "H", "W", "O", "KH", "KW", "SH", "SW"}, {"PH", "PW"}));
  }
  PT_RETURN_IF_ERROR(ValidateEpilogue(w, /*bias_ok=*/true, /*residual_ok=*/true));
  ConvDims d = Dims(w, depthwise);
  if (d.h + 2 * d.ph < d.kh || d.w + 2 * d.pw < d.kw)
    return InvalidArgument(w.op + ": kernel " + std::to_string(d.kh) + "x" + std::to_string(d.kw) +
                           " is larger than the padded input " + std::to_string(d.h + 2 * d.ph) +
                           "x" + std::to_string(d.w + 2 * d.pw));
  if (d.ph >= d.kh || d.pw >= d.kw)
    return InvalidArgument(w.op + ": padding " + std::to_string(d.ph) + "," + std::to_string(d.pw) +
                           " must be smaller than the kernel");
  return OkStatus();
}

// The padded input element, zero outside the image. `past_row`: the caller also reads
// columns beyond the padded row, so the bounds are checked even without padding.
Expr PaddedRead(const Tensor& data, const ConvDims& d, Expr n, Expr c, Expr h, Expr w,
                bool past_row = false) {
  Expr hh = h - d.ph, ww = w - d.pw;
  Expr v = data(n, c, hh, ww);
  if (d.ph == 0 && d.pw == 0 && !past_row) return v;
  return Select(hh >= 0 && hh < d.h && ww >= 0 && ww < d.w, v, FloatImm(0.0));
}

// The same from data stored in `block` (TensorLayouts), channel cb * cbn + ci.
Expr PaddedRead(const Tensor& data, int64_t block, const ConvDims& d, Expr n, Expr cb, int64_t cbn, Expr ci,
                Expr h, Expr w) {
  Expr hh = h - d.ph, ww = w - d.pw;
  Expr v = ChannelRead(data, block, n, cb, cbn, ci, hh, ww);
  if (d.ph == 0 && d.pw == 0) return v;
  return Select(hh >= 0 && hh < d.h && ww >= 0 && ww < d.w, v, FloatImm(0.0));
}

// The data block divides the input channels and the residual block the output's.
Status CheckLayoutBlocks(const Workload& w, bool depthwise, const TensorLayouts& layouts) {
  const ConvDims d = Dims(w, depthwise);
  PT_RETURN_IF_ERROR(CheckBlock(w.op + " data", layouts.data, d.c));
  return CheckBlock(w.op + " residual", layouts.residual, d.o);
}

// `in`: the template's inputs (data, weight, then the epilogue's).
// A random conv workload for the fuzzer (OpTemplate::SampleWorkload): any stride and
// padding the template takes, square and oblong kernels and images, odd channel counts.
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
    const int64_t pw = SampleCoin(rng, 0.7) ? std::min(ph, kw - 1) : std::uniform_int_distribution<int64_t>(0, kw - 1)(rng);
    w.dims = {{"N", n}, {"C", c}, {"H", h}, {"W", wd}, {"KH", kh}, {"KW", kw},
              {"SH", sh}, {"SW", sw}, {"PH", ph}, {"PW", pw}};
    if (!depthwise) w.dims["O"] = o;
    SampleEpilogue(w, rng);
    if (h + 2 * ph < kh || wd + 2 * pw < kw) continue;
    const double oh = static_cast<double>((h + 2 * ph - kh) / sh + 1), ow = static_cast<double>((wd + 2 * pw - kw) / sw + 1);
    const double macs = n * oh * ow * o * (depthwise ? 1.0 : static_cast<double>(c)) * kh * kw;
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
          int64_t c0 = depthwise ? o : 0, c1 = depthwise ? o + 1 : d.c;
          for (int64_t c = c0; c < c1; ++c)
            for (int64_t i = 0; i < d.kh; ++i)
              for (int64_t j = 0; j < d.kw; ++j) {
                int64_t hh = y * d.sh + i - d.ph, ww = x * d.sw + j - d.pw;
                if (hh < 0 || hh >= d.h || ww < 0 || ww >= d.w) continue;
                float wv = depthwise ? wt[(o * d.kh + i) * d.kw + j]
                                     : wt[((o * d.c + c) * d.kh + i) * d.kw + j];
                s += static_cast<double>(in[((n * d.c + c) * d.h + hh) * d.w + ww]) * wv;
              }
          int64_t at = ((n * d.o + o) * d.oh + y) * d.ow + x;
          out[at] = ApplyEpilogue(w, static_cast<float>(s), bias ? bias + o : nullptr,
                                  residual ? residual + at : nullptr);
        }
}

// Output columns per register tile: the divisors of the output width (no tail) and
// multiples of 4 (tails are fine), up to the accumulators the target has.
std::vector<int64_t> RegNCandidates(int64_t ow, const Target& t) {
  int64_t budget = AccumulatorBudget(t);
  std::vector<int64_t> c = Divisors(ow, budget);
  for (int64_t x = 4; x <= budget; x += 4) c.push_back(std::min(x, ow));
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

// Output-channel blocks: divisors of the channel count up to the widest register tile.
std::vector<int64_t> ChannelBlocks(int64_t channels, const Target& t) {
  return Divisors(channels, kMaxTileVectors * t.vector_lanes());
}

// Depthwise NCHW width tiles: powers of two from a quarter vector to the widest register
// tile.
std::vector<int64_t> WidthTiles(const Target& t) {
  std::vector<int64_t> tile;
  for (int64_t x = std::max(1, t.vector_lanes() / 4); x <= kMaxTileVectors * t.vector_lanes(); x *= 2)
    tile.push_back(x);
  return tile;
}

// Depthwise NCHW rows per register tile: 1-4 and the divisors of the output height, up
// to the accumulators the target has.
std::vector<int64_t> DwRowCandidates(int64_t oh, const Target& t) {
  std::vector<int64_t> c = Divisors(oh, AccumulatorBudget(t));
  for (int64_t x = 1; x <= 4; ++x) c.push_back(std::min(x, oh));
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

// (ow_bn, reg_n) pairs: register tiles of reg_n columns in blocks of ow_bn columns.
std::vector<std::vector<int64_t>> OwTiles(int64_t ow, const Target& t) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t reg : RegNCandidates(ow, t))
    for (int64_t block : BlockMultiples(reg, ow)) out.push_back({block, reg});
  return out;
}

// nchw-width: output columns per register tile, 1-4 vectors no wider than the row (one
// vector when the row is narrower). Width() computes the last tile of a row whole. Wider
// tiles measured slow (r18-ds, 2 vectors for a 28-wide row: 4.8 GFLOPS against 69-88 for
// one vector), so the search does not spend trials on them.
std::vector<int64_t> WidthVectors(int64_t ow, const Target& t) {
  std::vector<int64_t> c;
  int64_t v = t.vector_lanes();
  for (int64_t k = 1; k <= kMaxTileVectors && k * v <= std::max(ow, v); ++k) c.push_back(k * v);
  return c;
}

// Output rows per register tile: 1-4 and the divisors of the output height, up to the
// accumulators the target has.
std::vector<int64_t> RegHCandidates(int64_t oh, const Target& t) {
  std::vector<int64_t> c = Divisors(oh, AccumulatorBudget(t));
  for (int64_t x = 2; x <= 4; ++x) c.push_back(std::min(x, oh));
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

class Conv2d : public OpTemplate {
 public:
  std::string op() const override { return "conv2d"; }
  Status Validate(const Workload& w) const override {
    if (w.op != op()) return InvalidArgument("workload op " + w.op + " given to conv2d");
    return ValidateConv(w, false);
  }
  std::vector<std::vector<int64_t>> ArgShapes(const Workload& w) const override {
    ConvDims d = Dims(w, false);
    std::vector<std::vector<int64_t>> s = {{d.n, d.c, d.h, d.w}, {d.o, d.c, d.kh, d.kw}};
    AppendEpilogueShapes(w, {d.o}, {d.n, d.o, d.oh, d.ow}, s);
    s.push_back({d.n, d.o, d.oh, d.ow});
    return s;
  }
  double Flops(const Workload& w) const override {
    ConvDims d = Dims(w, false);
    return 2.0 * d.n * d.o * d.oh * d.ow * d.c * d.kh * d.kw;
  }
  // v3: the weights are packed once per set of weights (a prepack), not in every call, so
  // v2's costs (which include the packing) are not comparable; the nchw-width layout.
  int version() const override { return 3; }

  std::vector<KnobDef> Knobs(const Workload& w, const Target& t) const override {
    ConvDims d = Dims(w, false);
    return {
        {"layout", KnobKind::kEnum, {0, 1}, {"nchwc", "nchw-width"},
         "vectors along output channels in NCHWc blocks, or along the output width in NCHW"},
        {"ic_bn", KnobKind::kSplit, Divisors(d.c, d.c), {}, "input-channel block (NCHWc): any divisor"},
        {"oc_bn", KnobKind::kSplit, ChannelBlocks(d.o, t), {},
         "output-channel block: vector lanes (nchwc), or rows of the register tile (nchw-width)"},
        {"w_x", KnobKind::kSplit, WidthVectors(d.ow, t), {}, "nchw-width: output columns per register tile"},
        {"w_order", KnobKind::kOrder, {0, 1}, {"ob.oh.ow", "oh.ow.ob"},
         "nchw-width: channel blocks outside the output rows, or inside the columns"},
        TileKnob("tile_ow", {"ow_bn", "reg_n"}, OwTiles(d.ow, t),
                 "output columns: block in L1 (ow_bn) x register tile (reg_n)"),
        {"reg_h", KnobKind::kSplit, RegHCandidates(d.oh, t), {}, "output rows per register tile"},
        {"reduce_order", KnobKind::kOrder, {0, 1, 2}, {"icb.kh.kw.ici", "kh.kw.icb.ici", "icb.ici.kh.kw"},
         "order of the reduction loops"},
        {"unroll_kh", KnobKind::kAnnotation, {0, 1}, {}, "unroll the kernel-height loop"},
        {"unroll_kw", KnobKind::kAnnotation, {0, 1}, {}, "unroll the kernel-width loop"},
        {"data_layout", KnobKind::kEnum, {0, 1}, {"packed", "in-place"},
         "copy the input to padded NCHWc first, or read NCHW in place (padding by a select)"},
        {"parallel", KnobKind::kAnnotation, {0, 1}, {}, "run blocks of output rows on the thread pool"},
    };
  }
  std::vector<ConfigConstraint> Constraints(const Workload& w, const Target& t) const override {
    ConvDims d = Dims(w, false);
    int64_t budget = AccumulatorBudget(t), first_wx = WidthVectors(d.ow, t).front();
    std::vector<int64_t> first_tile = OwTiles(d.ow, t).front();
    return {{"register tile fits in " + std::to_string(budget) +
                 " accumulators (nchwc: reg_h x reg_n x oc_bn/lanes, nchw-width: reg_h x oc_bn x "
                 "w_x/lanes); each layout leaves the other's tile knob at its first value",
             [=](const Config& c) {
               if (c.at("layout") == 0)
                 return c.at("w_x") == first_wx && c.at("w_order") == 0 &&
                        c.at("reg_h") * c.at("reg_n") * VectorsFor(t, c.at("oc_bn")) <= budget;
               return c.at("ow_bn") == first_tile[0] && c.at("reg_n") == first_tile[1] &&
                      c.at("reg_h") * c.at("oc_bn") * VectorsFor(t, c.at("w_x")) <= budget;
             },
             {"layout", "oc_bn", "w_x", "w_order", "tile_ow", "reg_h"}}};
  }
  Config DefaultConfig(const Workload& w, const Target& t) const override {
    ConvDims d = Dims(w, false);
    return {{"layout", 0},
            {"ic_bn", Closest(Divisors(d.c, d.c), t.vector_lanes() / 2)},
            {"oc_bn", Closest(ChannelBlocks(d.o, t), t.vector_lanes())},
            {"w_x", WidthVectors(d.ow, t).front()},
            {"w_order", 0},
            {"reg_n", RegNCandidates(d.ow, t).front()},
            {"ow_bn", BlockMultiples(RegNCandidates(d.ow, t).front(), d.ow).back()},
            {"reg_h", 1},
            {"reduce_order", 0},
            {"unroll_kh", 0},
            {"unroll_kw", 0},
            {"data_layout", 0},
            {"parallel", 1}};
  }
  Config HandPickedConfig(const Workload& w, const Target& t) const override {
    ConvDims d = Dims(w, false);
    int64_t v = t.vector_lanes();
    Config c = DefaultConfig(w, t);
    c["ic_bn"] = Closest(Divisors(d.c, d.c), v);
    c["unroll_kw"] = 1;
    // A register tile of reg_n output columns x oc_bn channels (1 or 2 vectors) with up to
    // two thirds of the accumulators (the rest keeps kernel vectors and loads in flight):
    // 7 x 32 channels on AVX-512, 4 x 16 with AVX2 for a 28-wide map. Columns that
    // divide the output width come first (no tail), then the most accumulators, then the
    // wider channel block.
    int64_t limit = std::max<int64_t>(1, AccumulatorBudget(t) * 2 / 3);
    auto cands = RegNCandidates(d.ow, t);
    int64_t best_acc = 0;
    for (bool tails : {false, true}) {
      for (int64_t vecs = 1; vecs <= 2; ++vecs) {
        int64_t ocbn = vecs * v;
        if (d.o % ocbn != 0 || ocbn > kMaxTileVectors * v) continue;
        for (int64_t reg : cands) {
          if (reg * vecs > limit || (!tails && d.ow % reg != 0)) continue;
          if (reg * vecs >= best_acc) {  // >=: the wider block wins a tie
            best_acc = reg * vecs;
            c["oc_bn"] = ocbn;
            c["reg_n"] = reg;
          }
        }
      }
      // A divisor that small wastes the registers: allow a tail instead.
      if (best_acc * 3 >= limit) break;
    }
    c["ow_bn"] = BlockMultiples(c["reg_n"], d.ow).back();  // whole rows
    // The nchw-width tile: one vector of w_x columns, the most output channels that fit
    // the accumulator limit, all input channels in one block, the nchwc knobs at their
    // first value.
    auto width_tile = [&](int64_t w_x) {
      c["layout"] = 1;
      c["reg_n"] = OwTiles(d.ow, t).front()[1];
      c["ow_bn"] = OwTiles(d.ow, t).front()[0];
      c["reg_h"] = 1;
      c["w_x"] = w_x;
      c["oc_bn"] = 1;
      for (int64_t ocbn : ChannelBlocks(d.o, t))
        if (ocbn <= limit) c["oc_bn"] = ocbn;
      c["ic_bn"] = d.c;
    };
    if (d.kh == 1 && d.kw == 1 && d.ph == 0 && d.pw == 0) {
      // A 1x1 convolution as the GEMM it is: out[o][p] = W[o][c] * X[c][p], the input read
      // in place, the channel blocks inside the column tiles so the input slab a tile reads
      // stays in L1 (r18-ds, AVX-512, 1 thread: 47 GFLOPS in NCHWc, 88.3 this way).
      width_tile(WidthVectors(d.ow, t).front());
      c["w_order"] = 1;
      c["data_layout"] = 1;
      c["unroll_kw"] = 0;
    } else if (d.c < v && d.ow >= v) {
      // A few input channels (the stem) make NCHWc input blocks tiny: vectors along the
      // output width instead, one vector per output channel of the tile, the padded input
      // copied once (r18-c1, AVX-512: 84.6 -> 102.0 GFLOPS, 1 thread).
      width_tile(v);
      c["data_layout"] = 0;
    }
    return c;
  }

  StatusOr<LoweredFunc> Instantiate(const Workload& w, const Target& t,
                                    const Config& cfg) const override {
    return cfg.at("layout") == 1 ? Width(w, t, cfg) : Blocked(w, t, cfg, {});
  }
  int64_t NativeBlock(const Workload& w, const Target& t, const Config& cfg) const override {
    return cfg.at("layout") == 0 ? cfg.at("oc_bn") : 0;
  }
  StatusOr<LoweredFunc> InstantiateLayouts(const Workload& w, const Target& t, const Config& cfg,
                                           const TensorLayouts& layouts) const override {
    PT_RETURN_IF_ERROR(CheckLayoutBlocks(w, false, layouts));
    return Blocked(w, t, cfg, layouts);
  }

  Workload SampleWorkload(std::mt19937_64& rng, double max_macs) const override {
    return SampleConv(op(), false, rng, max_macs);
  }
  void Reference(const Workload& w, const std::vector<const float*>& in,
                 float* out) const override {
    ReferenceConv(w, false, in, out);
  }

 private:
  // `lay`: the tensors' layouts; lay.out is 0 or oc_bn (InstantiateLayouts).
  StatusOr<LoweredFunc> Blocked(const Workload& w, const Target& t, const Config& cfg,
                                const TensorLayouts& lay) const {
    ConvDims d = Dims(w, false);
    int64_t icbn = cfg.at("ic_bn"), ocbn = cfg.at("oc_bn"), regn = std::min(cfg.at("reg_n"), d.ow);
    int64_t owbn = std::min(cfg.at("ow_bn"), d.ow);
    int64_t regh = std::min(cfg.at("reg_h"), d.oh), order = cfg.at("reduce_order");
    bool par = cfg.at("parallel") != 0, in_place = cfg.at("data_layout") == 1;
    // Unpadded data already in ic_bn blocks: the packed copy would be the data itself.
    if (lay.data == icbn && d.ph == 0 && d.pw == 0) in_place = true;
    int64_t icb = d.c / icbn, ocb = d.o / ocbn;
    Tensor data = Placeholder("data", LayoutShape(d.n, d.c, d.h, d.w, lay.data));
    Tensor weight = Placeholder("weight", {d.o, d.c, d.kh, d.kw});
    EpilogueInputs epi(w, {d.o}, LayoutShape(d.n, d.o, d.oh, d.ow, lay.residual));
    Tensor dv = Compute("data_vec", {d.n, icb, d.h + 2 * d.ph, d.w + 2 * d.pw, icbn},
                        [&](Expr n, Expr cb, Expr h, Expr x, Expr ci) {
                          return PaddedRead(data, lay.data, d, n, cb, icbn, ci, h, x);
                        });
    // The packed weights are an argument of the main function: the prepack below fills
    // them once per set of weights, not in every call.
    std::vector<int64_t> kv_shape = {ocb, icb, d.kh, d.kw, icbn, ocbn};
    Tensor kv = Placeholder("kernel_vec", kv_shape);
    IterVar rc = ReduceAxis(icb, "icb"), rkh = ReduceAxis(d.kh, "kh"),
            rkw = ReduceAxis(d.kw, "kw"), rci = ReduceAxis(icbn, "ici");
    Tensor co = Compute("conv_out", {d.n, ocb, d.oh, d.ow, ocbn},
                        [&](Expr n, Expr ob, Expr y, Expr x, Expr oi) {
                          return Sum(dv(n, rc->var, y * d.sh + rkh->var, x * d.sw + rkw->var,
                                        rci->var) *
                                         kv(ob, rc->var, rkh->var, rkw->var, rci->var, oi),
                                     {rc, rkh, rkw, rci});
                        });
    // NCHW: the blocks copied back one block of rows at a time, vectors along the width;
    // blocked (lay.out == oc_bn): copied as they are, vectors along the channels.
    Tensor out = lay.out == 0 ? Compute("out", {d.n, d.o, d.oh, d.ow}, [&](Expr n, Expr o, Expr y, Expr x) {
      return ApplyEpilogue(w, co(n, o / ocbn, y, x, o % ocbn), epi.bias ? epi.bias(o) : Expr(),
                           epi.residual ? ChannelRead(epi.residual, lay.residual, n, o, 0, Expr(), y, x) : Expr());
    }) : Compute("out", {d.n, ocb, d.oh, d.ow, ocbn}, [&](Expr n, Expr ob, Expr y, Expr x, Expr oi) {
      return ApplyEpilogue(w, co(n, ob, y, x, oi), epi.bias ? epi.bias(ob * ocbn + oi) : Expr(),
                           epi.residual ? ChannelRead(epi.residual, lay.residual, n, ob, ocbn, oi, y, x) : Expr());
    });

    Schedule s({out});
    Tensor acc = s.cache_write(co);
    int64_t v = t.vector_lanes();

    Stage& so = s[out];
    IterVar rows;
    if (lay.out == 0) {
      auto [ob, oi] = so.split(so.axis(1), ocbn);
      auto [yo, yi] = so.split(so.axis(2), regh);
      auto [xo, x_in] = so.split(so.axis(3), owbn);
      auto [owo, owi] = so.split(x_in, std::min(v, owbn));
      so.reorder({so.axis(0), ob, yo, xo, yi, oi, owo, owi});
      rows = so.fuse(so.fuse(so.fuse(so.axis(0), ob), yo), xo);
      so.vectorize(owi);
    } else {
      auto [yo, yi] = so.split(so.axis(2), regh);
      auto [xo, xi] = so.split(so.axis(3), owbn);
      so.reorder({so.axis(0), so.axis(1), yo, xo, yi, xi, so.axis(4)});
      rows = so.fuse(so.fuse(so.fuse(so.axis(0), so.axis(1)), yo), xo);
      VectorizeInNativeChunks(so, so.axis(4), ocbn, t);
    }
    if (par) so.parallel(rows);

    Stage& sc = s[co];
    sc.compute_at(so, rows);
    auto [cwo, cwi] = sc.split(sc.axis(3), regn);
    sc.reorder({sc.axis(0), sc.axis(1), cwo, sc.axis(2), cwi, sc.axis(4)});
    sc.unroll(cwi);
    VectorizeInNativeChunks(sc, sc.axis(4), ocbn, t);

    Stage& sa = s[acc];
    sa.compute_at(sc, cwo);
    ScheduleRegisterTile(sa, 2, order, cfg, ocbn, t);

    Stage& sd = s[dv];
    if (in_place) {
      sd.compute_inline();
    } else {
      IterVar drows = sd.fuse(sd.fuse(sd.axis(0), sd.axis(1)), sd.axis(2));
      if (par) sd.parallel(drows);
    }
    std::vector<Tensor> args = {data, kv};
    epi.AppendArgs(args);
    args.push_back(out);
    PT_ASSIGN_OR_RETURN(LoweredFunc f, Lower(s, "conv2d", args));
    // kernel_vec[ob][icb][kh][kw][ici][oi] = weight[ob * oc_bn + oi][icb * ic_bn + ici][kh][kw]
    PT_RETURN_IF_ERROR(AddWeightPrepack(f, weight, "kernel_vec", kv_shape, par, t, [&](const std::vector<Expr>& i) {
      return weight(i[0] * ocbn + i[5], i[1] * icbn + i[4], i[2], i[3]);
    }));
    return f;
  }

  // NCHW with vectors along the output width, the direct convolution of width-vectorised
  // libraries; a 1x1 convolution is then the GEMM out[o][p] = W[o][c] * X[c][p] with the
  // input read in place (stride 2: masked wide loads and a shuffle, no copy of the input):
  //   kernel_w[O/oc_bn][C][KH][KW][oc_bn]            packed weights (a prepack)
  //   parallel for (n, ob, oh / reg_h): for xo (w_x columns):
  //     acc[oc_bn][reg_h][w_x]                      register tile: oc_bn x reg_h x w_x/lanes
  //       for the reduction (icb, kh, kw, ici in `reduce_order`):
  //         acc[o][y][:] += kernel_w[..][o] (broadcast) * data[c][y*s + kh][x*s + kw : w_x]
  //     out[n][o][y][x] = acc (+bias, relu)
  StatusOr<LoweredFunc> Width(const Workload& w, const Target& t, const Config& cfg) const {
    ConvDims d = Dims(w, false);
    int64_t icbn = cfg.at("ic_bn"), ocbn = cfg.at("oc_bn"), order = cfg.at("reduce_order");
    int64_t regh = std::min(cfg.at("reg_h"), d.oh), wx = cfg.at("w_x");
    bool par = cfg.at("parallel") != 0, in_place = cfg.at("data_layout") == 1;
    int64_t icb = d.c / icbn, ocb = d.o / ocbn;
    Tensor data = Placeholder("data", {d.n, d.c, d.h, d.w});
    Tensor weight = Placeholder("weight", {d.o, d.c, d.kh, d.kw});
    EpilogueInputs epi(w, {d.o}, {d.n, d.o, d.oh, d.ow});
    // The last column tile is computed whole (owp columns, the extra ones read zeros and
    // are not stored): a tail tile's accumulator would be narrower than its vectors,
    // and LLVM keeps such a tile in memory (r18-ds, oc_bn 16 x w_x 16, 1 thread, Zen 4:
    // 43-49 GFLOPS with the 12-wide tail tile, 69.2 computed whole).
    int64_t owp = (d.ow + wx - 1) / wx * wx;
    int64_t pw_cols = std::max(d.w + 2 * d.pw, (owp - 1) * d.sw + d.kw);
    Tensor pad = Compute("data_pad", {d.n, d.c, d.h + 2 * d.ph, pw_cols}, [&](Expr n, Expr c, Expr h, Expr x) {
      return PaddedRead(data, d, n, c, h, x, /*past_row=*/owp != d.ow);
    });
    std::vector<int64_t> kw_shape = {ocb, d.c, d.kh, d.kw, ocbn};
    Tensor kw = Placeholder("kernel_w", kw_shape);
    IterVar rc = ReduceAxis(icb, "icb"), rkh = ReduceAxis(d.kh, "kh"),
            rkw = ReduceAxis(d.kw, "kw"), rci = ReduceAxis(icbn, "ici");
    Tensor co = Compute("conv_out", {d.n, d.o, d.oh, owp}, [&](Expr n, Expr o, Expr y, Expr x) {
      Expr c = rc->var * icbn + rci->var;
      return Sum(pad(n, c, y * d.sh + rkh->var, x * d.sw + rkw->var) *
                     kw(o / ocbn, c, rkh->var, rkw->var, o % ocbn),
                 {rc, rkh, rkw, rci});
    });
    Tensor out = Compute("out", {d.n, d.o, d.oh, d.ow}, [&](Expr n, Expr o, Expr y, Expr x) {
      return ApplyEpilogue(w, co(n, o, y, x), epi.bias ? epi.bias(o) : Expr(),
                           epi.residual ? epi.residual(n, o, y, x) : Expr());
    });

    Schedule s({out});
    Tensor acc = s.cache_write(co);
    Stage& so = s[out];
    auto [ob, oi] = so.split(so.axis(1), ocbn);
    auto [yo, yi] = so.split(so.axis(2), regh);
    auto [xo, xi] = so.split(so.axis(3), wx);
    // w_order 0: channel blocks outside the rows (a block's weights stay in L1 along its
    // rows); 1: inside the columns (the input slab a tile reads stays in L1 across blocks).
    bool blocks_inside = cfg.at("w_order") == 1;
    IterVar tile = blocks_inside ? ob : xo, rows;
    if (blocks_inside) {
      so.reorder({so.axis(0), yo, xo, ob, oi, yi, xi});
      rows = so.fuse(so.fuse(so.axis(0), yo), xo);
    } else {
      so.reorder({so.axis(0), ob, yo, xo, oi, yi, xi});
      rows = so.fuse(so.fuse(so.axis(0), ob), yo);
    }
    if (par) so.parallel(rows);
    VectorizeInNativeChunks(so, xi, wx, t);
    s[co].compute_inline();

    Stage& sa = s[acc];
    sa.compute_at(so, tile);
    ScheduleRegisterTile(sa, 1, order, cfg, wx, t);

    Stage& sp = s[pad];
    if (in_place) {
      sp.compute_inline();
    } else {
      IterVar prows = sp.fuse(sp.fuse(sp.axis(0), sp.axis(1)), sp.axis(2));
      if (par) sp.parallel(prows);
    }

    std::vector<Tensor> args = {data, kw};
    epi.AppendArgs(args);
    args.push_back(out);
    PT_ASSIGN_OR_RETURN(LoweredFunc f, Lower(s, "conv2d", args));
    // kernel_w[ob][c][kh][kw][oi] = weight[ob * oc_bn + oi][c][kh][kw]
    PT_RETURN_IF_ERROR(AddWeightPrepack(f, weight, "kernel_w", kw_shape, par, t, [&](const std::vector<Expr>& i) {
      return weight(i[0] * ocbn + i[4], i[1], i[2], i[3]);
    }));
    return f;
  }

  // Adds the prepack that fills argument 1 of `f` (the packed weights, `name` of `shape`,
  // element `at`) from the OIHW weights: parallel over the outer block, vectors along the
  // innermost (output-channel) axis.
  static Status AddWeightPrepack(LoweredFunc& f, const Tensor& weight, const std::string& name,
                                 const std::vector<int64_t>& shape, bool par, const Target& t,
                                 const std::function<Expr(const std::vector<Expr>&)>& at) {
    Tensor packed = Compute(name, shape, at);
    Schedule s({packed});
    Stage& sp = s[packed];
    if (par) sp.parallel(sp.axis(0));
    VectorizeInNativeChunks(sp, sp.axis(shape.size() - 1), shape.back(), t);
    PT_ASSIGN_OR_RETURN(LoweredFunc pack, Lower(s, "conv2d_pack_weight", {weight, packed}));
    f.prepacks.push_back({1, std::move(pack)});
    return OkStatus();
  }

  // The accumulator of a register tile: its first `outer` spatial axes, then the reduction
  // loops (icb, kh, kw, ici) in `order`, then the tile (two unrolled axes and a vector axis
  // of `lanes` elements); kh / kw unrolled as the config says.
  static void ScheduleRegisterTile(Stage& sa, size_t outer, int64_t order, const Config& cfg,
                                   int64_t lanes, const Target& t) {
    IterVar r_icb = sa.reduce_axis(0), r_kh = sa.reduce_axis(1), r_kw = sa.reduce_axis(2),
            r_ici = sa.reduce_axis(3);
    std::vector<IterVar> aorder;
    for (size_t i = 0; i < outer; ++i) aorder.push_back(sa.axis(i));
    std::vector<IterVar> reduce = order == 0   ? std::vector<IterVar>{r_icb, r_kh, r_kw, r_ici}
                                  : order == 1 ? std::vector<IterVar>{r_kh, r_kw, r_icb, r_ici}
                                               : std::vector<IterVar>{r_icb, r_ici, r_kh, r_kw};
    aorder.insert(aorder.end(), reduce.begin(), reduce.end());
    aorder.insert(aorder.end(), {sa.axis(outer), sa.axis(outer + 1), sa.axis(outer + 2)});
    sa.reorder(aorder);
    if (cfg.at("unroll_kh")) sa.unroll(r_kh);
    if (cfg.at("unroll_kw")) sa.unroll(r_kw);
    sa.unroll(sa.axis(outer));
    sa.unroll(sa.axis(outer + 1));
    VectorizeInNativeChunks(sa, sa.axis(outer + 2), lanes, t);
  }
};

class DepthwiseConv2d : public OpTemplate {
 public:
  std::string op() const override { return "depthwise_conv2d"; }
  Status Validate(const Workload& w) const override {
    if (w.op != op()) return InvalidArgument("workload op " + w.op + " given to depthwise_conv2d");
    return ValidateConv(w, true);
  }
  std::vector<std::vector<int64_t>> ArgShapes(const Workload& w) const override {
    ConvDims d = Dims(w, true);
    std::vector<std::vector<int64_t>> s = {{d.n, d.c, d.h, d.w}, {d.c, 1, d.kh, d.kw}};
    AppendEpilogueShapes(w, {d.c}, {d.n, d.c, d.oh, d.ow}, s);
    s.push_back({d.n, d.c, d.oh, d.ow});
    return s;
  }
  double Flops(const Workload& w) const override {
    ConvDims d = Dims(w, true);
    return 2.0 * d.n * d.c * d.oh * d.ow * d.kh * d.kw;
  }
  int version() const override { return 3; }  // v3: dw_reg_h (NCHW row tiles)

  std::vector<KnobDef> Knobs(const Workload& w, const Target& t) const override {
    ConvDims d = Dims(w, true);
    return {
        {"layout", KnobKind::kEnum, {0, 1}, {"nchw", "nchwc"},
         "vectorise along the output width in NCHW, or along channels in NCHWc blocks"},
        {"tile_ow", KnobKind::kSplit, WidthTiles(t), {}, "nchw: output columns per vector tile"},
        {"dw_reg_h", KnobKind::kSplit, DwRowCandidates(d.oh, t), {},
         "nchw: output rows per register tile (unrolled, so rows share their input loads)", 1},
        {"inline_pad", KnobKind::kEnum, {0, 1}, {"padded-copy", "inline"}, "pad in a copy or on the fly"},
        {"c_bn", KnobKind::kSplit, ChannelBlocks(d.c, t), {}, "nchwc: channel block (vector lanes)"},
        {"reg_n", KnobKind::kSplit, RegNCandidates(d.ow, t), {}, "nchwc: output columns per register tile"},
        {"unroll_kh", KnobKind::kAnnotation, {0, 1}, {}, "unroll the kernel-height loop"},
        {"unroll_kw", KnobKind::kAnnotation, {0, 1}, {}, "unroll the kernel-width loop"},
        {"parallel", KnobKind::kAnnotation, {0, 1}, {}, "run channels on the thread pool"},
    };
  }
  std::vector<ConfigConstraint> Constraints(const Workload& w, const Target& t) const override {
    ConvDims d = Dims(w, true);
    int64_t budget = AccumulatorBudget(t), first_cbn = ChannelBlocks(d.c, t).front(),
            first_reg = RegNCandidates(d.ow, t).front(), first_tile = WidthTiles(t).front();
    return {{"register tile fits in " + std::to_string(budget) +
                 " accumulators (nchw: dw_reg_h x tile_ow/lanes, nchwc: reg_n x c_bn/lanes); each "
                 "layout leaves the other's knobs at their first value",
             [=](const Config& c) {
               if (c.at("layout") == 0)
                 return c.at("c_bn") == first_cbn && c.at("reg_n") == first_reg &&
                        c.at("dw_reg_h") * VectorsFor(t, c.at("tile_ow")) <= budget;
               return c.at("tile_ow") == first_tile && c.at("dw_reg_h") == 1 &&
                      c.at("reg_n") * VectorsFor(t, c.at("c_bn")) <= budget;
             },
             {"layout", "tile_ow", "dw_reg_h", "c_bn", "reg_n"}}};
  }
  Config DefaultConfig(const Workload& w, const Target& t) const override {
    ConvDims d = Dims(w, true);
    return {{"layout", 0},  {"tile_ow", t.vector_lanes() / 2}, {"dw_reg_h", 1}, {"inline_pad", 0},
            {"c_bn", ChannelBlocks(d.c, t).front()}, {"reg_n", RegNCandidates(d.ow, t).front()},
            {"unroll_kh", 0}, {"unroll_kw", 0}, {"parallel", 1}};
  }
  Config HandPickedConfig(const Workload& w, const Target& t) const override {
    ConvDims d = Dims(w, true);
    Config c = DefaultConfig(w, t);
    int64_t v = t.vector_lanes();
    c["unroll_kw"] = 1;
    // NCHW width vectors (stride 2: masked wide loads and a shuffle) with a tile of rows,
    // unrolled with kh so that neighbouring rows share input loads and the tile holds
    // enough independent accumulators to hide the FMA latency of the 9-tap chains.
    // Measured on AVX-512, 1 thread: mbv2-dw-a 25.5 GFLOPS with 1 row, 54.3 with 8;
    // mbv2-dw-c 26.8 -> 53.5 with 7; mbv2-dw-b (stride 2) 9.5 in NCHWc (reg_n 14 x 16
    // channels, the hand-pick before), 23.3 with 4 rows x 32 columns.
    // A row of up to 2 vectors is one tile, and the rows per tile divide the output
    // height: a tile that is mostly tail costs more (mbv2-dw-c with AVX2: 8-wide tiles
    // 4.2 GFLOPS, one 16-wide tile of 2 rows 40.5, of 4 rows (a row tail) 3.5).
    bool strided = d.sh > 1 || d.sw > 1;
    c["tile_ow"] = strided ? 2 * v : v;
    if (!strided && d.ow > v && d.ow <= 2 * v) c["tile_ow"] = 2 * v;
    c["inline_pad"] = 1;
    c["unroll_kh"] = 1;
    for (int64_t r : DwRowCandidates(d.oh, t))
      if (d.oh % r == 0 && r <= (strided ? 4 : 8) &&
          r * VectorsFor(t, c["tile_ow"]) <= AccumulatorBudget(t))
        c["dw_reg_h"] = r;
    return c;
  }
  StatusOr<LoweredFunc> Instantiate(const Workload& w, const Target& t,
                                    const Config& cfg) const override {
    return cfg.at("layout") == 1 ? Blocked(w, t, cfg, {}) : Plain(w, t, cfg);
  }
  int64_t NativeBlock(const Workload& w, const Target& t, const Config& cfg) const override {
    return cfg.at("layout") == 1 ? cfg.at("c_bn") : 0;
  }
  StatusOr<LoweredFunc> InstantiateLayouts(const Workload& w, const Target& t, const Config& cfg,
                                           const TensorLayouts& layouts) const override {
    PT_RETURN_IF_ERROR(CheckLayoutBlocks(w, true, layouts));
    return Blocked(w, t, cfg, layouts);
  }

  Workload SampleWorkload(std::mt19937_64& rng, double max_macs) const override {
    return SampleConv(op(), true, rng, max_macs);
  }
  void Reference(const Workload& w, const std::vector<const float*>& in,
                 float* out) const override {
    ReferenceConv(w, true, in, out);
  }

 private:
  StatusOr<LoweredFunc> Plain(const Workload& w, const Target& t, const Config& cfg) const {
    ConvDims d = Dims(w, true);
    Tensor data = Placeholder("data", {d.n, d.c, d.h, d.w});
    Tensor weight = Placeholder("weight", {d.c, 1, d.kh, d.kw});
    Tensor pad = Compute("data_pad", {d.n, d.c, d.h + 2 * d.ph, d.w + 2 * d.pw},
                         [&](Expr n, Expr c, Expr h, Expr x) { return PaddedRead(data, d, n, c, h, x); });
    IterVar rkh = ReduceAxis(d.kh, "kh"), rkw = ReduceAxis(d.kw, "kw");
    const bool epilogue = HasEpilogue(w);
    EpilogueInputs epi(w, {d.c}, {d.n, d.c, d.oh, d.ow});
    Tensor conv = Compute(epilogue ? "conv_out" : "out", {d.n, d.c, d.oh, d.ow}, [&](Expr n, Expr c, Expr y, Expr x) {
      return Sum(pad(n, c, y * d.sh + rkh->var, x * d.sw + rkw->var) * weight(c, 0, rkh->var, rkw->var),
                 {rkh, rkw});
    });
    // With an epilogue, the sum is inlined into it and its accumulator is the cache below,
    // so the loop nest is the one without.
    Tensor out = !epilogue ? conv : Compute("out", {d.n, d.c, d.oh, d.ow}, [&](Expr n, Expr c, Expr y, Expr x) {
      return ApplyEpilogue(w, conv(n, c, y, x), epi.bias ? epi.bias(c) : Expr(),
                           epi.residual ? epi.residual(n, c, y, x) : Expr());
    });
    Schedule s({out});
    Tensor acc = s.cache_write(conv);
    if (epilogue) s[conv].compute_inline();
    Stage& so = s[out];
    // A tile of dw_reg_h rows x tile_ow columns; its rows unrolled, so rows that read the
    // same input row share the load.
    auto [yo, yi] = so.split(so.axis(2), std::min(cfg.at("dw_reg_h"), d.oh));
    auto [owo, owi] = so.split(so.axis(3), std::min(cfg.at("tile_ow"), d.ow));
    so.reorder({so.axis(0), so.axis(1), yo, owo, yi, owi});
    IterVar rows = so.fuse(so.fuse(so.axis(0), so.axis(1)), yo);
    if (cfg.at("parallel")) so.parallel(rows);
    so.vectorize(owi);
    Stage& sa = s[acc];
    sa.compute_at(so, owo);
    sa.reorder({sa.axis(0), sa.axis(1), sa.reduce_axis(0), sa.reduce_axis(1), sa.axis(2), sa.axis(3)});
    sa.unroll(sa.axis(2));
    sa.vectorize(sa.axis(3));
    if (cfg.at("unroll_kh")) sa.unroll(sa.reduce_axis(0));
    if (cfg.at("unroll_kw")) sa.unroll(sa.reduce_axis(1));
    Stage& sp = s[pad];
    if (cfg.at("inline_pad")) {
      sp.compute_inline();
    } else {
      IterVar prow = sp.fuse(sp.axis(0), sp.axis(1));
      if (cfg.at("parallel")) sp.parallel(prow);
    }
    std::vector<Tensor> args = {data, weight};
    epi.AppendArgs(args);
    args.push_back(out);
    return Lower(s, "depthwise_conv2d", args);
  }

  // NCHWc: channel vectors, so strided and unstrided maps both load contiguous vectors.
  //   data_vec[n][C/c_bn][H+2p][W+2p][c_bn]; kernel_vec[C/c_bn][KH][KW][c_bn]
  //   parallel for (n, cb, oh): for owo: acc[reg_n][c_bn] over kh, kw; out = NCHW copy
  //   (blocked output, lay.out == c_bn: the blocks as they are, vectors along the channels)
  StatusOr<LoweredFunc> Blocked(const Workload& w, const Target& t, const Config& cfg,
                                const TensorLayouts& lay) const {
    ConvDims d = Dims(w, true);
    int64_t cbn = cfg.at("c_bn"), regn = std::min(cfg.at("reg_n"), d.ow), cb = d.c / cbn;
    bool par = cfg.at("parallel") != 0;
    Tensor data = Placeholder("data", LayoutShape(d.n, d.c, d.h, d.w, lay.data));
    Tensor weight = Placeholder("weight", {d.c, 1, d.kh, d.kw});
    Tensor dv = Compute("data_vec", {d.n, cb, d.h + 2 * d.ph, d.w + 2 * d.pw, cbn},
                        [&](Expr n, Expr b, Expr h, Expr x, Expr ci) {
                          return PaddedRead(data, lay.data, d, n, b, cbn, ci, h, x);
                        });
    Tensor kv = Compute("kernel_vec", {cb, d.kh, d.kw, cbn}, [&](Expr b, Expr i, Expr j, Expr ci) {
      return weight(b * cbn + ci, 0, i, j);
    });
    IterVar rkh = ReduceAxis(d.kh, "kh"), rkw = ReduceAxis(d.kw, "kw");
    Tensor co = Compute("conv_out", {d.n, cb, d.oh, d.ow, cbn}, [&](Expr n, Expr b, Expr y, Expr x, Expr ci) {
      return Sum(dv(n, b, y * d.sh + rkh->var, x * d.sw + rkw->var, ci) * kv(b, rkh->var, rkw->var, ci),
                 {rkh, rkw});
    });
    EpilogueInputs epi(w, {d.c}, LayoutShape(d.n, d.c, d.oh, d.ow, lay.residual));
    Tensor out = lay.out == 0 ? Compute("out", {d.n, d.c, d.oh, d.ow}, [&](Expr n, Expr c, Expr y, Expr x) {
      return ApplyEpilogue(w, co(n, c / cbn, y, x, c % cbn), epi.bias ? epi.bias(c) : Expr(),
                           epi.residual ? ChannelRead(epi.residual, lay.residual, n, c, 0, Expr(), y, x) : Expr());
    }) : Compute("out", {d.n, cb, d.oh, d.ow, cbn}, [&](Expr n, Expr b, Expr y, Expr x, Expr ci) {
      return ApplyEpilogue(w, co(n, b, y, x, ci), epi.bias ? epi.bias(b * cbn + ci) : Expr(),
                           epi.residual ? ChannelRead(epi.residual, lay.residual, n, b, cbn, ci, y, x) : Expr());
    });
    Schedule s({out});
    Tensor acc = s.cache_write(co);
    int64_t v = t.vector_lanes();
    Stage& so = s[out];
    IterVar rows;
    if (lay.out == 0) {
      auto [ob, oi] = so.split(so.axis(1), cbn);
      auto [owo, owi] = so.split(so.axis(3), std::min(v, d.ow));
      so.reorder({so.axis(0), ob, so.axis(2), oi, owo, owi});
      rows = so.fuse(so.fuse(so.axis(0), ob), so.axis(2));
      so.vectorize(owi);
    } else {
      rows = so.fuse(so.fuse(so.axis(0), so.axis(1)), so.axis(2));
      VectorizeInNativeChunks(so, so.axis(4), cbn, t);
    }
    if (par) so.parallel(rows);
    Stage& sc = s[co];
    sc.compute_at(so, rows);
    auto [cwo, cwi] = sc.split(sc.axis(3), regn);
    sc.reorder({sc.axis(0), sc.axis(1), sc.axis(2), cwo, cwi, sc.axis(4)});
    sc.unroll(cwi);
    VectorizeInNativeChunks(sc, sc.axis(4), cbn, t);
    Stage& sa = s[acc];
    sa.compute_at(sc, cwo);
    sa.reorder({sa.axis(0), sa.axis(1), sa.axis(2), sa.reduce_axis(0), sa.reduce_axis(1), sa.axis(3), sa.axis(4)});
    if (cfg.at("unroll_kh")) sa.unroll(sa.reduce_axis(0));
    if (cfg.at("unroll_kw")) sa.unroll(sa.reduce_axis(1));
    sa.unroll(sa.axis(3));
    VectorizeInNativeChunks(sa, sa.axis(4), cbn, t);
    Stage& sd = s[dv];
    if (cfg.at("inline_pad")) {
      sd.compute_inline();
    } else {
      IterVar drows = sd.fuse(sd.fuse(sd.axis(0), sd.axis(1)), sd.axis(2));
      if (par) sd.parallel(drows);
    }
    VectorizeInNativeChunks(s[kv], s[kv].axis(3), cbn, t);
    std::vector<Tensor> args = {data, weight};
    epi.AppendArgs(args);
    args.push_back(out);
    return Lower(s, "depthwise_conv2d", args);
  }
};

}  // namespace

const OpTemplate* Conv2dTemplate() {
  static const Conv2d t;
  return &t;
}

const OpTemplate* DepthwiseConv2dTemplate() {
  static const DepthwiseConv2d t;
  return &t;
}

}  // namespace priortune::compiler::internal

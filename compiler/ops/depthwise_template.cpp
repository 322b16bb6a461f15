// depthwise_conv2d (NCHW / C1HW, stride, padding, one filter per channel) with an optional
// fused epilogue, in plain NCHW or channel-blocked (c_bn) like conv2d's NCHWc layout
// (conv2d_template.cpp describes the layouts); the helpers both share are in
// internal/conv_common.h.
#include <algorithm>
#include <functional>

#include "compiler/ir/schedule.h"
#include "compiler/ops/internal/conv_common.h"

namespace priortune::compiler::internal {
namespace {

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
        {"layout",
         KnobKind::kEnum,
         {0, 1},
         {"nchw", "nchwc"},
         "vectorise along the output width in NCHW, or along channels in NCHWc blocks"},
        {"tile_ow", KnobKind::kSplit, WidthTiles(t), {}, "nchw: output columns per vector tile"},
        {"dw_reg_h",
         KnobKind::kSplit,
         DwRowCandidates(d.oh, t),
         {},
         "nchw: output rows per register tile (unrolled, so rows share their input loads)",
         1},
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
    return {{"layout", 0},
            {"tile_ow", t.vector_lanes() / 2},
            {"dw_reg_h", 1},
            {"inline_pad", 0},
            {"c_bn", ChannelBlocks(d.c, t).front()},
            {"reg_n", RegNCandidates(d.ow, t).front()},
            {"unroll_kh", 0},
            {"unroll_kw", 0},
            {"parallel", 1}};
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
      if (d.oh % r == 0 && r <= (strided ? 4 : 8) && r * VectorsFor(t, c["tile_ow"]) <= AccumulatorBudget(t))
        c["dw_reg_h"] = r;
    return c;
  }
  StatusOr<LoweredFunc> Instantiate(const Workload& w, const Target& t, const Config& cfg) const override {
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
  void Reference(const Workload& w, const std::vector<const float*>& in, float* out) const override {
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
      return Sum(pad(n, c, y * d.sh + rkh->var, x * d.sw + rkw->var) * weight(c, 0, rkh->var, rkw->var), {rkh, rkw});
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
  StatusOr<LoweredFunc> Blocked(const Workload& w, const Target& t, const Config& cfg, const TensorLayouts& lay) const {
    ConvDims d = Dims(w, true);
    int64_t cbn = cfg.at("c_bn"), regn = std::min(cfg.at("reg_n"), d.ow), cb = d.c / cbn;
    bool par = cfg.at("parallel") != 0;
    Tensor data = Placeholder("data", LayoutShape(d.n, d.c, d.h, d.w, lay.data));
    Tensor weight = Placeholder("weight", {d.c, 1, d.kh, d.kw});
    Tensor dv = Compute(
        "data_vec", {d.n, cb, d.h + 2 * d.ph, d.w + 2 * d.pw, cbn},
        [&](Expr n, Expr b, Expr h, Expr x, Expr ci) { return PaddedRead(data, lay.data, d, n, b, cbn, ci, h, x); });
    Tensor kv = Compute("kernel_vec", {cb, d.kh, d.kw, cbn},
                        [&](Expr b, Expr i, Expr j, Expr ci) { return weight(b * cbn + ci, 0, i, j); });
    IterVar rkh = ReduceAxis(d.kh, "kh"), rkw = ReduceAxis(d.kw, "kw");
    Tensor co = Compute("conv_out", {d.n, cb, d.oh, d.ow, cbn}, [&](Expr n, Expr b, Expr y, Expr x, Expr ci) {
      return Sum(dv(n, b, y * d.sh + rkh->var, x * d.sw + rkw->var, ci) * kv(b, rkh->var, rkw->var, ci), {rkh, rkw});
    });
    EpilogueInputs epi(w, {d.c}, LayoutShape(d.n, d.c, d.oh, d.ow, lay.residual));
    Tensor out =
        lay.out == 0
            ? Compute("out", {d.n, d.c, d.oh, d.ow},
                      [&](Expr n, Expr c, Expr y, Expr x) {
                        return ApplyEpilogue(
                            w, co(n, c / cbn, y, x, c % cbn), epi.bias ? epi.bias(c) : Expr(),
                            epi.residual ? ChannelRead(epi.residual, lay.residual, n, c, 0, Expr(), y, x) : Expr());
                      })
            : Compute("out", {d.n, cb, d.oh, d.ow, cbn}, [&](Expr n, Expr b, Expr y, Expr x, Expr ci) {
                return ApplyEpilogue(
                    w, co(n, b, y, x, ci), epi.bias ? epi.bias(b * cbn + ci) : Expr(),
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

const OpTemplate* DepthwiseConv2dTemplate() {
  static const DepthwiseConv2d t;
  return &t;
}

}  // namespace priortune::compiler::internal

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
#include <algorithm>
#include <functional>

#include "compiler/ir/schedule.h"
#include "compiler/ops/internal/conv_common.h"

namespace priortune::compiler::internal {
namespace {

// `grouped`: group_conv2d, G groups of C/G input and O/G output channels (ResNeXt,
// RegNet); the same kernels with each output block reading its group's input channels,
// and knobs from the group's sizes. conv2d is the case G = 1.
class Conv2d : public OpTemplate {
 public:
  explicit Conv2d(bool grouped) : grouped_(grouped) {}
  std::string op() const override { return grouped_ ? "group_conv2d" : "conv2d"; }
  Status Validate(const Workload& w) const override {
    if (w.op != op()) return InvalidArgument("workload op " + w.op + " given to " + op());
    return ValidateConv(w, false);
  }
  std::vector<std::vector<int64_t>> ArgShapes(const Workload& w) const override {
    ConvDims d = Dims(w, false);
    std::vector<std::vector<int64_t>> s = {{d.n, d.c, d.h, d.w}, {d.o, d.cg(), d.kh, d.kw}};
    AppendEpilogueShapes(w, {d.o}, {d.n, d.o, d.oh, d.ow}, s);
    s.push_back({d.n, d.o, d.oh, d.ow});
    return s;
  }
  double Flops(const Workload& w) const override {
    ConvDims d = Dims(w, false);
    return 2.0 * d.n * d.o * d.oh * d.ow * d.cg() * d.kh * d.kw;
  }
  // v3: the weights are packed once per set of weights (a prepack), not in every call, so
  // v2's costs (which include the packing) are not comparable; the nchw-width layout.
  int version() const override { return 3; }

  std::vector<KnobDef> Knobs(const Workload& w, const Target& t) const override {
    ConvDims d = Dims(w, false);
    const int64_t cg = d.cg(), og = d.og();
    return {
        {"layout",
         KnobKind::kEnum,
         {0, 1},
         {"nchwc", "nchw-width"},
         "vectors along output channels in NCHWc blocks, or along the output width in NCHW"},
        {"ic_bn", KnobKind::kSplit, Divisors(cg, cg), {}, "input-channel block (NCHWc): any divisor"},
        {"oc_bn",
         KnobKind::kSplit,
         ChannelBlocks(og, t),
         {},
         "output-channel block: vector lanes (nchwc), or rows of the register tile (nchw-width)"},
        {"w_x", KnobKind::kSplit, WidthVectors(d.ow, t), {}, "nchw-width: output columns per register tile"},
        {"w_order",
         KnobKind::kOrder,
         {0, 1},
         {"ob.oh.ow", "oh.ow.ob"},
         "nchw-width: channel blocks outside the output rows, or inside the columns"},
        TileKnob("tile_ow", {"ow_bn", "reg_n"}, OwTiles(d.ow, t),
                 "output columns: block in L1 (ow_bn) x register tile (reg_n)"),
        {"reg_h", KnobKind::kSplit, RegHCandidates(d.oh, t), {}, "output rows per register tile"},
        {"reduce_order",
         KnobKind::kOrder,
         {0, 1, 2},
         {"icb.kh.kw.ici", "kh.kw.icb.ici", "icb.ici.kh.kw"},
         "order of the reduction loops"},
        {"unroll_kh", KnobKind::kAnnotation, {0, 1}, {}, "unroll the kernel-height loop"},
        {"unroll_kw", KnobKind::kAnnotation, {0, 1}, {}, "unroll the kernel-width loop"},
        {"data_layout",
         KnobKind::kEnum,
         {0, 1},
         {"packed", "in-place"},
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
            {"ic_bn", Closest(Divisors(d.cg(), d.cg()), t.vector_lanes() / 2)},
            {"oc_bn", Closest(ChannelBlocks(d.og(), t), t.vector_lanes())},
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
    const int64_t cg = d.cg(), og = d.og();
    c["ic_bn"] = Closest(Divisors(cg, cg), v);
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
        if (og % ocbn != 0 || ocbn > kMaxTileVectors * v) continue;
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
      for (int64_t ocbn : ChannelBlocks(og, t))
        if (ocbn <= limit) c["oc_bn"] = ocbn;
      c["ic_bn"] = cg;
    };
    if (d.kh == 1 && d.kw == 1 && d.ph == 0 && d.pw == 0) {
      // A 1x1 convolution as the GEMM it is: out[o][p] = W[o][c] * X[c][p], the input read
      // in place, the channel blocks inside the column tiles so the input slab a tile reads
      // stays in L1 (r18-ds, AVX-512, 1 thread: 47 GFLOPS in NCHWc, 88.3 this way).
      width_tile(WidthVectors(d.ow, t).front());
      c["w_order"] = 1;
      c["data_layout"] = 1;
      c["unroll_kw"] = 0;
    } else if ((cg < v || (grouped_ && og < v)) && d.ow >= v) {
      // A few input channels (the stem) make NCHWc input blocks tiny: vectors along the
      // output width instead, one vector per output channel of the tile, the padded input
      // copied once (r18-c1, AVX-512: 84.6 -> 102.0 GFLOPS, 1 thread).
      width_tile(v);
      c["data_layout"] = 0;
    }
    return c;
  }

  StatusOr<LoweredFunc> Instantiate(const Workload& w, const Target& t, const Config& cfg) const override {
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
  void Reference(const Workload& w, const std::vector<const float*>& in, float* out) const override {
    ReferenceConv(w, false, in, out);
  }

 private:
  bool grouped_;

  // The blocked kernel's output, from conv_out's blocks with the epilogue. NCHW: the
  // blocks copied back one block of rows at a time, vectors along the width; blocked
  // (lay.out == oc_bn): copied as they are, vectors along the channels.
  static Tensor BlockedOut(const Workload& w, const ConvDims& d, const TensorLayouts& lay, int64_t ocbn,
                           const Tensor& co, const EpilogueInputs& epi) {
    if (lay.out == 0)
      return Compute("out", {d.n, d.o, d.oh, d.ow}, [&](Expr n, Expr o, Expr y, Expr x) {
        return ApplyEpilogue(w, co(n, o / ocbn, y, x, o % ocbn), epi.bias ? epi.bias(o) : Expr(),
                             epi.residual ? ChannelRead(epi.residual, lay.residual, n, o, 0, Expr(), y, x) : Expr());
      });
    return Compute("out", {d.n, d.o / ocbn, d.oh, d.ow, ocbn}, [&](Expr n, Expr ob, Expr y, Expr x, Expr oi) {
      return ApplyEpilogue(w, co(n, ob, y, x, oi), epi.bias ? epi.bias(ob * ocbn + oi) : Expr(),
                           epi.residual ? ChannelRead(epi.residual, lay.residual, n, ob, ocbn, oi, y, x) : Expr());
    });
  }

  // The output's loops (BlockedOut's layout); the fused outer loop over rows of blocks.
  static IterVar ScheduleBlockedOut(Stage& so, const TensorLayouts& lay, int64_t ocbn, int64_t regh, int64_t owbn,
                                    int64_t v, const Target& t) {
    if (lay.out == 0) {
      auto [ob, oi] = so.split(so.axis(1), ocbn);
      auto [yo, yi] = so.split(so.axis(2), regh);
      auto [xo, x_in] = so.split(so.axis(3), owbn);
      auto [owo, owi] = so.split(x_in, std::min(v, owbn));
      so.reorder({so.axis(0), ob, yo, xo, yi, oi, owo, owi});
      IterVar rows = so.fuse(so.fuse(so.fuse(so.axis(0), ob), yo), xo);
      so.vectorize(owi);
      return rows;
    }
    auto [yo, yi] = so.split(so.axis(2), regh);
    auto [xo, xi] = so.split(so.axis(3), owbn);
    so.reorder({so.axis(0), so.axis(1), yo, xo, yi, xi, so.axis(4)});
    IterVar rows = so.fuse(so.fuse(so.fuse(so.axis(0), so.axis(1)), yo), xo);
    VectorizeInNativeChunks(so, so.axis(4), ocbn, t);
    return rows;
  }

  // `lay`: the tensors' layouts; lay.out is 0 or oc_bn (InstantiateLayouts).
  StatusOr<LoweredFunc> Blocked(const Workload& w, const Target& t, const Config& cfg, const TensorLayouts& lay) const {
    ConvDims d = Dims(w, false);
    int64_t icbn = cfg.at("ic_bn"), ocbn = cfg.at("oc_bn"), regn = std::min(cfg.at("reg_n"), d.ow);
    int64_t owbn = std::min(cfg.at("ow_bn"), d.ow);
    int64_t regh = std::min(cfg.at("reg_h"), d.oh), order = cfg.at("reduce_order");
    bool par = cfg.at("parallel") != 0, in_place = cfg.at("data_layout") == 1;
    // Unpadded data already in ic_bn blocks: the packed copy would be the data itself.
    if (lay.data == icbn && d.ph == 0 && d.pw == 0) in_place = true;
    // data_vec holds every input channel (icb blocks); the reduction covers a group's
    // (gicb blocks), from the group of the output block.
    int64_t icb = d.c / icbn, gicb = d.cg() / icbn, ocb = d.o / ocbn;
    Tensor data = Placeholder("data", LayoutShape(d.n, d.c, d.h, d.w, lay.data));
    Tensor weight = Placeholder("weight", {d.o, d.cg(), d.kh, d.kw});
    EpilogueInputs epi(w, {d.o}, LayoutShape(d.n, d.o, d.oh, d.ow, lay.residual));
    Tensor dv = Compute(
        "data_vec", {d.n, icb, d.h + 2 * d.ph, d.w + 2 * d.pw, icbn},
        [&](Expr n, Expr cb, Expr h, Expr x, Expr ci) { return PaddedRead(data, lay.data, d, n, cb, icbn, ci, h, x); });
    // The packed weights are an argument of the main function: the prepack below fills
    // them once per set of weights, not in every call.
    std::vector<int64_t> kv_shape = {ocb, gicb, d.kh, d.kw, icbn, ocbn};
    Tensor kv = Placeholder("kernel_vec", kv_shape);
    IterVar rc = ReduceAxis(gicb, "icb"), rkh = ReduceAxis(d.kh, "kh"), rkw = ReduceAxis(d.kw, "kw"),
            rci = ReduceAxis(icbn, "ici");
    Tensor co = Compute("conv_out", {d.n, ocb, d.oh, d.ow, ocbn}, [&](Expr n, Expr ob, Expr y, Expr x, Expr oi) {
      Expr cb = d.g == 1 ? Expr(rc->var) : ob / (d.og() / ocbn) * gicb + rc->var;
      return Sum(dv(n, cb, y * d.sh + rkh->var, x * d.sw + rkw->var, rci->var) *
                     kv(ob, rc->var, rkh->var, rkw->var, rci->var, oi),
                 {rc, rkh, rkw, rci});
    });
    Tensor out = BlockedOut(w, d, lay, ocbn, co, epi);

    Schedule s({out});
    Tensor acc = s.cache_write(co);
    int64_t v = t.vector_lanes();

    Stage& so = s[out];
    IterVar rows = ScheduleBlockedOut(so, lay, ocbn, regh, owbn, v, t);
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
    int64_t icb = d.cg() / icbn, ocb = d.o / ocbn;
    Tensor data = Placeholder("data", {d.n, d.c, d.h, d.w});
    Tensor weight = Placeholder("weight", {d.o, d.cg(), d.kh, d.kw});
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
    std::vector<int64_t> kw_shape = {ocb, d.cg(), d.kh, d.kw, ocbn};
    Tensor kw = Placeholder("kernel_w", kw_shape);
    IterVar rc = ReduceAxis(icb, "icb"), rkh = ReduceAxis(d.kh, "kh"), rkw = ReduceAxis(d.kw, "kw"),
            rci = ReduceAxis(icbn, "ici");
    Tensor co = Compute("conv_out", {d.n, d.o, d.oh, owp}, [&](Expr n, Expr o, Expr y, Expr x) {
      Expr c = rc->var * icbn + rci->var;  // in the group
      Expr in = d.g == 1 ? c : o / d.og() * d.cg() + c;
      return Sum(pad(n, in, y * d.sh + rkh->var, x * d.sw + rkw->var) * kw(o / ocbn, c, rkh->var, rkw->var, o % ocbn),
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
  static void ScheduleRegisterTile(Stage& sa, size_t outer, int64_t order, const Config& cfg, int64_t lanes,
                                   const Target& t) {
    IterVar r_icb = sa.reduce_axis(0), r_kh = sa.reduce_axis(1), r_kw = sa.reduce_axis(2), r_ici = sa.reduce_axis(3);
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

}  // namespace

const OpTemplate* Conv2dTemplate() {
  static const Conv2d t(/*grouped=*/false);
  return &t;
}

const OpTemplate* GroupConv2dTemplate() {
  static const Conv2d t(/*grouped=*/true);
  return &t;
}

}  // namespace priortune::compiler::internal

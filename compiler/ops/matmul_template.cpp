// matmul (C = A*B [+bias] [relu]) and batch_matmul: a BLIS-like nest whose every level
// is a knob.
//
//   [parallel] for block loops (mb: M/mc, nb: N/nc), in `order`   one mc x nc block of C
//     for tile loops (mt: mc/mr, nt: nc/nr), in `order`           one mr x nr register tile
//       acc[mr][nr] = 0                                         mr * nr/lanes vectors
//       for ko, ku (unrolled): for mi (unrolled): for ni (vector):
//         acc[mi][ni] += A[m][k] * B_packed[n / nr][k][n % nr]
//       C[...] = epilogue(acc)
//
// With kc < K the reduction is blocked instead (the BLIS kc loop): the accumulator is a
// local mc x nc block, computed at the block loop, and each kc slice runs the tile loops
// with the tile in registers, so a kc x nr panel of B stays in L1 and an mc x kc block of
// A in L2; kc = ku streams B row by row once (the gemv shape of the nest, M = 1).
// B_packed holds nr-wide column panels of B (pack_b), made once up front in each call, or
// (matmul, whose B is a dense layer's weights) once per set of weights, as a prepack.
#include <algorithm>

#include "compiler/ops/internal/templates.h"
#include "compiler/ir/schedule.h"

namespace priortune::compiler::internal {
namespace {

// Hand-picked tiles unroll at most this many rows (more only grows the code).
constexpr int64_t kMaxHandPickedRows = 8;
// Below this many rows of A, B is read about once anyway and packing it does not pay.
constexpr int64_t kSkinnyRows = 16;

class MatmulLike : public OpTemplate {
 public:
  explicit MatmulLike(bool batched) : batched_(batched) {}

  std::string op() const override { return batched_ ? "batch_matmul" : "matmul"; }

  Status Validate(const Workload& w) const override {
    if (w.op != op()) return InvalidArgument("workload op " + w.op + " given to " + op());
    if (batched_) {
      PT_RETURN_IF_ERROR(RequireDims(w, {"B", "M", "N", "K"}));
      if (HasEpilogue(w)) return InvalidArgument("batch_matmul has no fused epilogue");
    } else {
      PT_RETURN_IF_ERROR(RequireDims(w, {"M", "N", "K"}));
      PT_RETURN_IF_ERROR(ValidateEpilogue(w, /*bias_ok=*/true, /*residual_ok=*/true));
    }
    return OkStatus();
  }

  std::vector<std::vector<int64_t>> ArgShapes(const Workload& w) const override {
    int64_t m = w.dim("M"), n = w.dim("N"), k = w.dim("K");
    if (batched_) {
      int64_t b = w.dim("B");
      return {{b, m, k}, {b, k, n}, {b, m, n}};
    }
    std::vector<std::vector<int64_t>> s = {{m, k}, {k, n}};
    AppendEpilogueShapes(w, {n}, {m, n}, s);
    s.push_back({m, n});
    return s;
  }

  double Flops(const Workload& w) const override {
    double b = batched_ ? static_cast<double>(w.dim("B")) : 1.0;
    return 2.0 * b * w.dim("M") * w.dim("N") * w.dim("K");
  }

  // v3: pack_b = prepacked (matmul) and per-block, pack_a.
  int version() const override { return 3; }

  std::vector<KnobDef> Knobs(const Workload& w, const Target& t) const override {
    int64_t v = t.vector_lanes(), m = w.dim("M"), n = w.dim("N"), kk = w.dim("K");
    std::vector<std::vector<int64_t>> tm, tn, tk;
    // Register rows: each needs at least one accumulator vector.
    for (int64_t mr = 1; mr <= AccumulatorBudget(t) && mr <= m; ++mr)
      for (int64_t mc : BlockMultiples(mr, m)) tm.push_back({mc, mr});
    // Register columns: whole vectors (a column tail is masked), 1 to kMaxTileVectors.
    for (int64_t x = 1; x <= kMaxTileVectors && (x == 1 || (x - 1) * v < n); ++x)
      for (int64_t nc : BlockMultiples(x * v, n)) tn.push_back({nc, x * v});
    for (int64_t ku : {1, 2, 4, 8}) {
      if (ku > kk) break;
      tk.push_back({kk, ku});  // kc = K: the tile accumulates in registers over all of K
      for (int64_t kc : BlockMultiples(ku, kk))
        if (kc < kk) tk.push_back({kc, ku});
    }
    return {
        TileKnob("tile_m", {"mc", "mr"}, tm, "rows: block (mc) x register tile (mr)"),
        TileKnob("tile_n", {"nc", "nr"}, tn, "columns: block (nc) x register tile (nr lanes)"),
        TileKnob("tile_k", {"kc", "ku"}, tk,
                 "reduction: block (kc; K = not blocked) x unrolled step (ku)"),
        PackBKnob(),
        {"pack_a", KnobKind::kEnum, {0, 1}, {"plain", "per-block"},
         "pack each mc x kc block of A into mr-row panels (contiguous broadcasts)", 0},
        {"order", KnobKind::kOrder, {0, 1, 2, 3}, {"mb.nb/mt.nt", "mb.nb/nt.mt", "nb.mb/mt.nt", "nb.mb/nt.mt"},
         "order of the block loops / of the tile loops"},
        {"parallel", KnobKind::kEnum, {0, 1, 2}, {"serial", "outer", "both"},
         "thread pool over: nothing, the outer block loop, both block loops fused"},
    };
  }

  // B packed into nr-wide column panels: in every call, or (matmul only, whose B is a
  // dense layer's weights) once per set of weights, as a prepack. batch_matmul's B is an
  // activation (attention), so it has no prepack.
  // "per-block" packs the kc x nc panel of B that a blocked reduction's slice reads, at the
  // kc loop (BLIS's B~ in L2... here nc x kc), so the whole B is never copied at once.
  KnobDef PackBKnob() const {
    if (batched_)
      return {"pack_b", KnobKind::kEnum, {0, 1, 3}, {"plain", "packed", "per-block"},
              "pack B into nr-wide column panels: not, in every call, or per kc x nc block"};
    return {"pack_b", KnobKind::kEnum, {0, 1, 2, 3}, {"plain", "packed", "prepacked", "per-block"},
            "pack B into nr-wide column panels: not, in every call, once per set of weights "
            "(B is constant: a prepack), or per kc x nc block"};
  }

  std::vector<ConfigConstraint> Constraints(const Workload& w, const Target& t) const override {
    int64_t kk = w.dim("K"), l1 = t.l1d_bytes, l2 = t.l2_bytes;
    return {
        RegisterTileConstraint(t, "mr", "nr", {"tile_m", "tile_n"}),
        {"a blocked reduction's mc x nc accumulator block fits in half of L2 (" +
             std::to_string(l2 / 2048) + " KiB)",
         [=](const Config& c) { return c.at("kc") == kk || c.at("mc") * c.at("nc") * 4 <= l2 / 2; },
         {"tile_m", "tile_n", "tile_k"}},
        {"a blocked reduction's kc x nr panel of B fits in L1 (" + std::to_string(l1 / 1024) + " KiB)",
         [=](const Config& c) { return c.at("kc") == kk || c.at("kc") * c.at("nr") * 4 <= l1; },
         {"tile_n", "tile_k"}},
        {"per-block packing of A or B needs a blocked reduction (kc < K)",
         [=](const Config& c) { return c.at("kc") < kk || (c.at("pack_b") != 3 && c.at("pack_a") == 0); },
         {"tile_k", "pack_b", "pack_a"}},
    };
  }

  Config DefaultConfig(const Workload& w, const Target& t) const override {
    return {{"mc", 1}, {"mr", 1}, {"nc", t.vector_lanes()}, {"nr", t.vector_lanes()},
            {"kc", w.dim("K")}, {"ku", 1}, {"pack_b", 0}, {"pack_a", 0}, {"order", 0}, {"parallel", 1}};
  }

  Config HandPickedConfig(const Workload& w, const Target& t) const override {
    int64_t v = t.vector_lanes(), m = w.dim("M"), kk = w.dim("K");
    Config c = DefaultConfig(w, t);
    // A register tile whose accumulators, B vectors and the A broadcast all stay in
    // registers, 1, 2 or 4 vectors wide (3-vector tiles, e.g. 8 x 48, measure the same
    // since VectorizeInNativeChunks; a power of two keeps the choice simple). The most
    // accumulators come first (24 on AVX-512, 12 with AVX2), then rows that divide M, then
    // the fewest loads per FMA, (rows + cols) / (rows * cols). A column tail costs little
    // (fc-1000 with AVX2: 1 x 32 with a tail runs 3x faster than 1 x 8 without).
    struct Pick { int64_t rows = 1, vecs = 1; };
    Pick best;
    auto better = [&](const Pick& a, const Pick& b) {
      int64_t acc_a = a.rows * a.vecs, acc_b = b.rows * b.vecs;
      if (acc_a != acc_b) return acc_a > acc_b;
      bool div_a = m % a.rows == 0, div_b = m % b.rows == 0;
      if (div_a != div_b) return div_a;
      return (a.rows + a.vecs) * acc_b < (b.rows + b.vecs) * acc_a;
    };
    for (int64_t vecs = 1; vecs <= kMaxTileVectors; vecs *= 2)
      for (int64_t rows = 1; rows <= std::min<int64_t>(m, kMaxHandPickedRows); ++rows)
        if (rows * vecs <= AccumulatorBudget(t) && rows * vecs + vecs + 1 <= t.vector_registers &&
            (vecs == 1 || (vecs - 1) * v < w.dim("N")) && better({rows, vecs}, best))
          best = {rows, vecs};
    // One column panel at a time down all rows (the B panel stays in cache while A
    // streams), the reduction in registers, the panels on the thread pool.
    c["mr"] = best.rows;
    c["mc"] = BlockMultiples(best.rows, m).back();
    c["nr"] = c["nc"] = best.vecs * v;
    c["kc"] = kk;
    c["ku"] = kk >= 4 ? 4 : kk >= 2 ? 2 : 1;  // the largest of the ku candidates up to 4
    // A skinny A reads B once: packing in the call would double that. Packed weights
    // are packed once, when the kernel is bound to them (Zen 4, 1 thread, packed in the
    // call -> prepacked: bert-ffn1 79.3 -> 101.1 GFLOPS, bert-ffn2 78.3 -> 97.8).
    c["pack_b"] = m < kSkinnyRows ? 0 : batched_ ? 1 : 2;
    c["order"] = 2;
    c["parallel"] = 2;
    if (m == 1 && kk >= 8) {
      // gemv: stream B once, row by row, into an accumulator row of one block of columns
      // per core (1 x 3072 x 768 on AVX-512, 1 thread: 44 GFLOPS this way, 30 with the
      // register tile over all of K).
      c["kc"] = c["ku"] = 8;
      c["nc"] = BlockMultiples(c["nr"], (w.dim("N") + t.cores - 1) / t.cores).back();
      c["parallel"] = 1;
    }
    return c;
  }

  StatusOr<LoweredFunc> Instantiate(const Workload& w, const Target& t,
                                    const Config& c) const override {
    int64_t m = w.dim("M"), n = w.dim("N"), kk = w.dim("K");
    int64_t bt = batched_ ? w.dim("B") : 0;
    int64_t mr = c.at("mr"), mc = c.at("mc"), nr = c.at("nr"), nc = c.at("nc");
    int64_t kc = c.at("kc"), ku = c.at("ku"), order = c.at("order"), par = c.at("parallel");
    bool pack = c.at("pack_b") != 0, prepack = c.at("pack_b") == 2, blocked = kc < kk;
    bool pack_b_block = c.at("pack_b") == 3, pack_a = c.at("pack_a") == 1;
    auto shape = [&](std::vector<int64_t> s) {
      if (batched_) s.insert(s.begin(), bt);
      return s;
    };
    // Index helpers that prepend the batch index when batched.
    auto at = [&](const std::vector<Expr>& idx, std::vector<Expr> rest) {
      if (batched_) rest.insert(rest.begin(), idx[0]);
      return rest;
    };
    Tensor A = Placeholder("A", shape({m, kk}));
    Tensor B = Placeholder("B", shape({kk, n}));
    EpilogueInputs epi(w, {n}, shape({m, n}));
    Tensor PB;
    std::vector<int64_t> pb_shape = shape({(n + nr - 1) / nr, kk, nr});
    auto pack_b = [&] {
      return Compute("B_packed", pb_shape, [&](const std::vector<Expr>& idx) {
        size_t o = batched_ ? 1 : 0;
        Expr col = idx[o] * nr + idx[o + 2];
        Expr val = B(at(idx, {idx[o + 1], col}));
        return n % nr == 0 ? val : Select(col < n, val, FloatImm(0.0));
      });
    };
    if (prepack) {
      PB = Placeholder("B_packed", pb_shape);
    } else if (pack) {
      PB = pack_b();
    }
    Tensor PA;  // A_packed[m / mr][K][mr]: the mr rows of a register tile side by side
    if (pack_a)
      PA = Compute("A_packed", shape({(m + mr - 1) / mr, kk, mr}), [&](const std::vector<Expr>& idx) {
        size_t o = batched_ ? 1 : 0;
        Expr row = idx[o] * mr + idx[o + 2];
        Expr val = A(at(idx, {row, idx[o + 1]}));
        return m % mr == 0 ? val : Select(row < m, val, FloatImm(0.0));
      });
    IterVar k = ReduceAxis(kk, "k");
    Tensor acc = Compute("C_acc", shape({m, n}), [&](const std::vector<Expr>& idx) {
      size_t o = batched_ ? 1 : 0;
      Expr i = idx[o], j = idx[o + 1];
      Expr b = pack ? PB(at(idx, {j / nr, k->var, j % nr})) : B(at(idx, {k->var, j}));
      Expr a = pack_a ? PA(at(idx, {i / mr, k->var, i % mr})) : A(at(idx, {i, k->var}));
      return Sum(a * b, {k});
    });
    Tensor C = Compute("C", shape({m, n}), [&](const std::vector<Expr>& idx) {
      return ApplyEpilogue(w, acc(idx), epi.bias ? epi.bias(idx.back()) : Expr(),
                           epi.residual ? epi.residual(idx) : Expr());
    });

    Schedule s({C});
    size_t o = batched_ ? 1 : 0;
    bool n_blocks_outer = order >= 2, n_tiles_outer = order % 2 == 1;
    Stage& sc = s[C];
    auto [mb, m_in] = sc.split(sc.axis(o), mc);
    auto [mt, mi] = sc.split(m_in, mr);
    auto [nb, n_in] = sc.split(sc.axis(o + 1), nc);
    auto [nt, ni] = sc.split(n_in, nr);
    IterVar b1 = n_blocks_outer ? nb : mb, b2 = n_blocks_outer ? mb : nb;
    IterVar t1 = n_tiles_outer ? nt : mt, t2 = n_tiles_outer ? mt : nt;
    std::vector<IterVar> corder = {b1, b2, t1, t2, mi, ni};
    if (batched_) corder.insert(corder.begin(), sc.axis(0));
    sc.reorder(corder);
    // The loop a blocked accumulator is computed at: the inner block loop, or the fused
    // block loops (with the batch fused in when that runs in parallel).
    IterVar block_attach = b2;
    if (par == 2) b1 = block_attach = sc.fuse(b1, b2);
    if (batched_ && par != 0) {
      b1 = sc.fuse(sc.axis(0), b1);
      if (par == 2) block_attach = b1;
    }
    if (par != 0) sc.parallel(b1);
    sc.unroll(mi);
    VectorizeInNativeChunks(sc, ni, std::min(nr, n), t);

    Stage& sa = s[acc];
    if (!blocked) {
      auto [ko, ki] = sa.split(sa.reduce_axis(0), ku);
      std::vector<IterVar> aorder = {ko, ki, sa.axis(o), sa.axis(o + 1)};
      if (batched_) aorder.insert(aorder.begin(), sa.axis(0));
      sa.reorder(aorder);
      sa.unroll(ki);
      sa.unroll(sa.axis(o));
      VectorizeInNativeChunks(sa, sa.axis(o + 1), std::min(nr, n), t);
      sa.compute_at(sc, t2);
    } else {
      auto [amt, ami] = sa.split(sa.axis(o), mr);
      auto [ant, ani] = sa.split(sa.axis(o + 1), nr);
      auto [kb, k_in] = sa.split(sa.reduce_axis(0), kc);
      auto [kq, ki] = sa.split(k_in, ku);
      IterVar at1 = n_tiles_outer ? ant : amt, at2 = n_tiles_outer ? amt : ant;
      std::vector<IterVar> aorder = {kb, at1, at2, kq, ki, ami, ani};
      if (batched_) aorder.insert(aorder.begin(), sa.axis(0));
      sa.reorder(aorder);
      sa.unroll(ki);
      sa.unroll(ami);
      VectorizeInNativeChunks(sa, ani, std::min(nr, n), t);
      sa.compute_at(sc, block_attach);
      // Per-block packing: the panels the kb slice of this block reads, made at kb.
      if (pack_b_block) {
        Stage& sp = s[PB];
        sp.compute_at(sa, kb);
        VectorizeInNativeChunks(sp, sp.axis(o + 2), nr, t);
      }
      if (pack_a) {
        Stage& sp = s[PA];
        sp.compute_at(sa, kb);
        sp.unroll(sp.axis(o + 2));
      }
    }

    auto schedule_pack = [&](Schedule& sched, const Tensor& packed) {
      Stage& sp = sched[packed];
      IterVar outer = sp.axis(o);
      if (batched_) outer = sp.fuse(sp.axis(0), outer);
      if (par != 0) sp.parallel(outer);
      VectorizeInNativeChunks(sp, sp.axis(o + 2), nr, t);
    };
    if (pack && !prepack && !pack_b_block) schedule_pack(s, PB);
    std::vector<Tensor> args = {A, prepack ? PB : B};
    epi.AppendArgs(args);
    args.push_back(C);
    PT_ASSIGN_OR_RETURN(LoweredFunc f, Lower(s, op(), args));
    if (prepack) {
      Tensor packed = pack_b();
      Schedule ps({packed});
      schedule_pack(ps, packed);
      PT_ASSIGN_OR_RETURN(LoweredFunc pf, Lower(ps, op() + "_pack_b", {B, packed}));
      f.prepacks.push_back({1, std::move(pf)});
    }
    return f;
  }

  Workload SampleWorkload(std::mt19937_64& rng, double max_macs) const override {
    for (;;) {
      Workload w;
      w.op = op();
      const int64_t b = batched_ ? SampleExtent(rng, 8) : 1;
      const int64_t m = SampleExtent(rng, 1024), n = SampleExtent(rng, 2048), k = SampleExtent(rng, 2048);
      w.dims = {{"M", m}, {"N", n}, {"K", k}};
      if (batched_) {
        w.dims["B"] = b;
      } else {
        SampleEpilogue(w, rng);
      }
      if (static_cast<double>(b) * m * n * k <= max_macs) return w;
    }
  }

  void Reference(const Workload& w, const std::vector<const float*>& in,
                 float* out) const override {
    int64_t m = w.dim("M"), n = w.dim("N"), kk = w.dim("K");
    int64_t bt = batched_ ? w.dim("B") : 1;
    for (int64_t b = 0; b < bt; ++b) {
      const float* a = in[0] + b * m * kk;
      const float* bm = in[1] + b * kk * n;
      float* c = out + b * m * n;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          double s = 0;  // double accumulation: the reference is the accurate one
          for (int64_t x = 0; x < kk; ++x) s += static_cast<double>(a[i * kk + x]) * bm[x * n + j];
          c[i * n + j] = ApplyEpilogue(w, static_cast<float>(s), w.bias ? in[2] + j : nullptr,
                                       w.residual ? in[w.bias ? 3 : 2] + (b * m + i) * n + j : nullptr);
        }
      }
    }
  }

 private:
  bool batched_;
};

}  // namespace

const OpTemplate* MatmulTemplate() {
  static const MatmulLike t(false);
  return &t;
}

const OpTemplate* BatchMatmulTemplate() {
  static const MatmulLike t(true);
  return &t;
}

}  // namespace priortune::compiler::internal

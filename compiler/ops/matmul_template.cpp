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

#include "compiler/ir/schedule.h"
#include "compiler/ops/internal/templates.h"

namespace priortune::compiler::internal {
namespace {

// Hand-picked tiles unroll at most this many rows (more only grows the code).
constexpr int64_t kMaxHandPickedRows = 8;
// Below this many rows of A, B is read about once anyway and packing it does not pay.
constexpr int64_t kSkinnyRows = 16;

// The kernel of one (batch_)matmul config: its tensors, then its schedule.
class MatmulKernel {
 public:
  MatmulKernel(const Workload& w, const Target& t, const Config& c, bool batched)
      : w_(w),
        t_(t),
        batched_(batched),
        o_(batched ? 1 : 0),
        m_(w.dim("M")),
        n_(w.dim("N")),
        kk_(w.dim("K")),
        bt_(batched ? w.dim("B") : 0),
        mr_(c.at("mr")),
        mc_(c.at("mc")),
        nr_(c.at("nr")),
        nc_(c.at("nc")),
        kc_(c.at("kc")),
        ku_(c.at("ku")),
        order_(c.at("order")),
        par_(c.at("parallel")),
        pack_(c.at("pack_b") != 0),
        prepack_(c.at("pack_b") == 2),
        blocked_(kc_ < kk_),
        pack_b_block_(c.at("pack_b") == 3),
        pack_a_(c.at("pack_a") == 1),
        epi_(w, {n_}, Shape({m_, n_})) {}

  StatusOr<LoweredFunc> Lower(const std::string& op) {
    Define();
    Schedule s({C_});
    IterVar t2;
    IterVar block_attach = ScheduleOutput(s, &t2);
    ScheduleAccumulator(s, t2, block_attach);
    if (pack_ && !prepack_ && !pack_b_block_) SchedulePack(s, PB_);
    std::vector<Tensor> args = {A_, prepack_ ? PB_ : B_};
    epi_.AppendArgs(args);
    args.push_back(C_);
    PT_ASSIGN_OR_RETURN(LoweredFunc f, compiler::Lower(s, op, args));
    if (prepack_) {
      Tensor packed = PackB();
      Schedule ps({packed});
      SchedulePack(ps, packed);
      PT_ASSIGN_OR_RETURN(LoweredFunc pf, compiler::Lower(ps, op + "_pack_b", {B_, packed}));
      f.prepacks.push_back({1, std::move(pf)});
    }
    return f;
  }

 private:
  std::vector<int64_t> Shape(std::vector<int64_t> s) const {
    if (batched_) s.insert(s.begin(), bt_);
    return s;
  }
  // Index helpers that prepend the batch index when batched.
  std::vector<Expr> At(const std::vector<Expr>& idx, std::vector<Expr> rest) const {
    if (batched_) rest.insert(rest.begin(), idx[0]);
    return rest;
  }

  // B_packed[N / nr][K][nr]: the nr columns of a register tile side by side.
  Tensor PackB() const {
    return Compute("B_packed", Shape({(n_ + nr_ - 1) / nr_, kk_, nr_}), [&](const std::vector<Expr>& idx) {
      Expr col = idx[o_] * nr_ + idx[o_ + 2];
      Expr val = B_(At(idx, {idx[o_ + 1], col}));
      return n_ % nr_ == 0 ? val : Select(col < n_, val, FloatImm(0.0));
    });
  }

  void Define() {
    A_ = Placeholder("A", Shape({m_, kk_}));
    B_ = Placeholder("B", Shape({kk_, n_}));
    if (prepack_) {
      PB_ = Placeholder("B_packed", Shape({(n_ + nr_ - 1) / nr_, kk_, nr_}));
    } else if (pack_) {
      PB_ = PackB();
    }
    if (pack_a_)  // A_packed[M / mr][K][mr]: the mr rows of a register tile side by side
      PA_ = Compute("A_packed", Shape({(m_ + mr_ - 1) / mr_, kk_, mr_}), [&](const std::vector<Expr>& idx) {
        Expr row = idx[o_] * mr_ + idx[o_ + 2];
        Expr val = A_(At(idx, {row, idx[o_ + 1]}));
        return m_ % mr_ == 0 ? val : Select(row < m_, val, FloatImm(0.0));
      });
    IterVar k = ReduceAxis(kk_, "k");
    acc_ = Compute("C_acc", Shape({m_, n_}), [&](const std::vector<Expr>& idx) {
      Expr i = idx[o_], j = idx[o_ + 1];
      Expr b = pack_ ? PB_(At(idx, {j / nr_, k->var, j % nr_})) : B_(At(idx, {k->var, j}));
      Expr a = pack_a_ ? PA_(At(idx, {i / mr_, k->var, i % mr_})) : A_(At(idx, {i, k->var}));
      return Sum(a * b, {k});
    });
    C_ = Compute("C", Shape({m_, n_}), [&](const std::vector<Expr>& idx) {
      return ApplyEpilogue(w_, acc_(idx), epi_.bias ? epi_.bias(idx.back()) : Expr(),
                           epi_.residual ? epi_.residual(idx) : Expr());
    });
  }

  // C's loops: blocks, register tiles, the tile itself unrolled and vectorised. Returns
  // the loop a blocked accumulator is computed at (the inner block loop, or the fused
  // block loops, with the batch fused in when that runs in parallel); *t2: the inner tile
  // loop.
  IterVar ScheduleOutput(Schedule& s, IterVar* t2) {
    bool n_blocks_outer = order_ >= 2, n_tiles_outer = order_ % 2 == 1;
    Stage& sc = s[C_];
    auto [mb, m_in] = sc.split(sc.axis(o_), mc_);
    auto [mt, mi] = sc.split(m_in, mr_);
    auto [nb, n_in] = sc.split(sc.axis(o_ + 1), nc_);
    auto [nt, ni] = sc.split(n_in, nr_);
    IterVar b1 = n_blocks_outer ? nb : mb, b2 = n_blocks_outer ? mb : nb;
    IterVar t1 = n_tiles_outer ? nt : mt;
    *t2 = n_tiles_outer ? mt : nt;
    std::vector<IterVar> corder = {b1, b2, t1, *t2, mi, ni};
    if (batched_) corder.insert(corder.begin(), sc.axis(0));
    sc.reorder(corder);
    IterVar block_attach = b2;
    if (par_ == 2) b1 = block_attach = sc.fuse(b1, b2);
    if (batched_ && par_ != 0) {
      b1 = sc.fuse(sc.axis(0), b1);
      if (par_ == 2) block_attach = b1;
    }
    if (par_ != 0) sc.parallel(b1);
    sc.unroll(mi);
    VectorizeInNativeChunks(sc, ni, std::min(nr_, n_), t_);
    return block_attach;
  }

  // The accumulator: over all of K in the register tile, or K blocks of kc at the block
  // loop, with the per-block packing of the panels the kb slice reads.
  void ScheduleAccumulator(Schedule& s, IterVar t2, IterVar block_attach) {
    Stage& sa = s[acc_];
    if (!blocked_) {
      auto [ko, ki] = sa.split(sa.reduce_axis(0), ku_);
      std::vector<IterVar> aorder = {ko, ki, sa.axis(o_), sa.axis(o_ + 1)};
      if (batched_) aorder.insert(aorder.begin(), sa.axis(0));
      sa.reorder(aorder);
      sa.unroll(ki);
      sa.unroll(sa.axis(o_));
      VectorizeInNativeChunks(sa, sa.axis(o_ + 1), std::min(nr_, n_), t_);
      sa.compute_at(s[C_], t2);
      return;
    }
    const bool n_tiles_outer = order_ % 2 == 1;
    auto [amt, ami] = sa.split(sa.axis(o_), mr_);
    auto [ant, ani] = sa.split(sa.axis(o_ + 1), nr_);
    auto [kb, k_in] = sa.split(sa.reduce_axis(0), kc_);
    auto [kq, ki] = sa.split(k_in, ku_);
    IterVar at1 = n_tiles_outer ? ant : amt, at2 = n_tiles_outer ? amt : ant;
    std::vector<IterVar> aorder = {kb, at1, at2, kq, ki, ami, ani};
    if (batched_) aorder.insert(aorder.begin(), sa.axis(0));
    sa.reorder(aorder);
    sa.unroll(ki);
    sa.unroll(ami);
    VectorizeInNativeChunks(sa, ani, std::min(nr_, n_), t_);
    sa.compute_at(s[C_], block_attach);
    if (pack_b_block_) {
      Stage& sp = s[PB_];
      sp.compute_at(sa, kb);
      VectorizeInNativeChunks(sp, sp.axis(o_ + 2), nr_, t_);
    }
    if (pack_a_) {
      Stage& sp = s[PA_];
      sp.compute_at(sa, kb);
      sp.unroll(sp.axis(o_ + 2));
    }
  }

  // A whole packing of B (in the call, or the prepack), its panels on the thread pool.
  void SchedulePack(Schedule& sched, const Tensor& packed) const {
    Stage& sp = sched[packed];
    IterVar outer = sp.axis(o_);
    if (batched_) outer = sp.fuse(sp.axis(0), outer);
    if (par_ != 0) sp.parallel(outer);
    VectorizeInNativeChunks(sp, sp.axis(o_ + 2), nr_, t_);
  }

  const Workload& w_;
  const Target& t_;
  const bool batched_;
  const size_t o_;  // the first non-batch axis
  const int64_t m_, n_, kk_, bt_, mr_, mc_, nr_, nc_, kc_, ku_, order_, par_;
  const bool pack_, prepack_, blocked_, pack_b_block_, pack_a_;
  EpilogueInputs epi_;
  Tensor A_, B_, PB_, PA_, acc_, C_;
};

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
        TileKnob("tile_k", {"kc", "ku"}, tk, "reduction: block (kc; K = not blocked) x unrolled step (ku)"),
        PackBKnob(),
        {"pack_a",
         KnobKind::kEnum,
         {0, 1},
         {"plain", "per-block"},
         "pack each mc x kc block of A into mr-row panels (contiguous broadcasts)",
         0},
        {"order",
         KnobKind::kOrder,
         {0, 1, 2, 3},
         {"mb.nb/mt.nt", "mb.nb/nt.mt", "nb.mb/mt.nt", "nb.mb/nt.mt"},
         "order of the block loops / of the tile loops"},
        {"parallel",
         KnobKind::kEnum,
         {0, 1, 2},
         {"serial", "outer", "both"},
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
      return {"pack_b",
              KnobKind::kEnum,
              {0, 1, 3},
              {"plain", "packed", "per-block"},
              "pack B into nr-wide column panels: not, in every call, or per kc x nc block"};
    return {"pack_b",
            KnobKind::kEnum,
            {0, 1, 2, 3},
            {"plain", "packed", "prepacked", "per-block"},
            "pack B into nr-wide column panels: not, in every call, once per set of weights "
            "(B is constant: a prepack), or per kc x nc block"};
  }

  std::vector<ConfigConstraint> Constraints(const Workload& w, const Target& t) const override {
    int64_t kk = w.dim("K"), l1 = t.l1d_bytes, l2 = t.l2_bytes;
    return {
        RegisterTileConstraint(t, "mr", "nr", {"tile_m", "tile_n"}),
        {"a blocked reduction's mc x nc accumulator block fits in half of L2 (" + std::to_string(l2 / 2048) + " KiB)",
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
    return {{"mc", 1},
            {"mr", 1},
            {"nc", t.vector_lanes()},
            {"nr", t.vector_lanes()},
            {"kc", w.dim("K")},
            {"ku", 1},
            {"pack_b", 0},
            {"pack_a", 0},
            {"order", 0},
            {"parallel", 1}};
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
    struct Pick {
      int64_t rows = 1, vecs = 1;
    };
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

  StatusOr<LoweredFunc> Instantiate(const Workload& w, const Target& t, const Config& c) const override {
    return MatmulKernel(w, t, c, batched_).Lower(op());
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

  void Reference(const Workload& w, const std::vector<const float*>& in, float* out) const override {
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

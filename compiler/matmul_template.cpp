// matmul (C = A*B [+bias] [relu]) and batch_matmul. The schedule is the BLAS recipe:
//
//   parallel for (mo, no) tiles            C: tile_m x tile_n output block
//     C_acc[tile_m][tile_n] = 0            in registers (tile_m * tile_n/lanes vectors)
//     for ko, ki (unrolled by tile_k):
//       for ci (unrolled): for cj (one vector op of tile_n lanes):
//         C_acc[ci][cj] += A[m][k] * B_packed[no][k][cj]
//     C[...] = epilogue(C_acc)
//
// B_packed holds tile_n-wide column panels of B so the inner loop streams contiguous
// memory (pack_b); without packing it reads B's rows directly.
#include <algorithm>

#include "compiler/internal/templates.h"
#include "compiler/schedule.h"

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
      if (w.bias || w.relu) return InvalidArgument("batch_matmul has no fused epilogue");
    } else {
      PT_RETURN_IF_ERROR(RequireDims(w, {"M", "N", "K"}));
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
    if (w.bias) s.push_back({n});
    s.push_back({m, n});
    return s;
  }

  double Flops(const Workload& w) const override {
    double b = batched_ ? static_cast<double>(w.dim("B")) : 1.0;
    return 2.0 * b * w.dim("M") * w.dim("N") * w.dim("K");
  }

  std::vector<KnobDef> Knobs(const Workload& w, const Target& t) const override {
    int64_t v = t.vector_lanes();
    // Each row of the tile needs at least one accumulator vector.
    std::vector<int64_t> tm;
    for (int64_t x = 1; x <= AccumulatorBudget(t) && x <= w.dim("M"); ++x) tm.push_back(x);
    std::vector<int64_t> tn;
    for (int64_t x = 1; x <= kMaxTileVectors; ++x) tn.push_back(x * v);
    return {
        {"tile_m", KnobKind::kSplit, tm, {}, "rows of the register tile"},
        {"tile_n", KnobKind::kSplit, tn, {}, "columns of the register tile (vector lanes)"},
        {"tile_k", KnobKind::kSplit, {1, 2, 4, 8}, {}, "unroll factor of the reduction"},
        {"pack_b", KnobKind::kEnum, {0, 1}, {"plain", "packed"}, "pack B into column panels"},
        {"order", KnobKind::kOrder, {0, 1}, {"m-outer", "n-outer"}, "order of the tile loops"},
        {"parallel", KnobKind::kAnnotation, {0, 1}, {}, "run the tile loop on the thread pool"},
    };
  }

  std::vector<ConfigConstraint> Constraints(const Workload&, const Target& t) const override {
    return {RegisterTileConstraint(t, "tile_m", "tile_n")};
  }

  Config DefaultConfig(const Workload& w, const Target& t) const override {
    return {{"tile_m", 1}, {"tile_n", t.vector_lanes()}, {"tile_k", 1},
            {"pack_b", 0}, {"order", 0},                 {"parallel", 1}};
  }

  Config HandPickedConfig(const Workload& w, const Target& t) const override {
    int64_t v = t.vector_lanes(), m = w.dim("M");
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
            better({rows, vecs}, best))
          best = {rows, vecs};
    c["tile_m"] = best.rows;
    c["tile_n"] = best.vecs * v;
    c["tile_k"] = 4;
    c["pack_b"] = m >= kSkinnyRows ? 1 : 0;  // a skinny A reads B once: packing would double that
    c["order"] = 1;
    return c;
  }

  StatusOr<LoweredFunc> Instantiate(const Workload& w, const Target& t,
                                    const Config& c) const override {
    int64_t m = w.dim("M"), n = w.dim("N"), kk = w.dim("K");
    int64_t bt = batched_ ? w.dim("B") : 0;
    int64_t tm = c.at("tile_m"), tn = std::min(c.at("tile_n"), n), tk = c.at("tile_k");
    bool pack = c.at("pack_b") != 0, n_outer = c.at("order") == 1, par = c.at("parallel") != 0;
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
    Tensor bias;
    if (w.bias) bias = Placeholder("bias", {n});
    Tensor PB;
    if (pack) {
      int64_t nb = (n + tn - 1) / tn;
      PB = Compute("B_packed", shape({nb, kk, tn}), [&](const std::vector<Expr>& idx) {
        size_t o = batched_ ? 1 : 0;
        Expr col = idx[o] * tn + idx[o + 2];
        Expr val = B(at(idx, {idx[o + 1], col}));
        return n % tn == 0 ? val : Select(col < n, val, FloatImm(0.0));
      });
    }
    IterVar k = ReduceAxis(kk, "k");
    Tensor acc = Compute("C_acc", shape({m, n}), [&](const std::vector<Expr>& idx) {
      size_t o = batched_ ? 1 : 0;
      Expr i = idx[o], j = idx[o + 1];
      Expr b = pack ? PB(at(idx, {j / tn, k->var, j % tn})) : B(at(idx, {k->var, j}));
      return Sum(A(at(idx, {i, k->var})) * b, {k});
    });
    Tensor C = Compute("C", shape({m, n}), [&](const std::vector<Expr>& idx) {
      Expr v = acc(idx);
      if (w.bias) v = v + bias(idx.back());
      if (w.relu) v = Max(v, FloatImm(0.0));
      return v;
    });

    Schedule s({C});
    size_t o = batched_ ? 1 : 0;
    Stage& sc = s[C];
    auto [mo, mi] = sc.split(sc.axis(o), tm);
    auto [no, ni] = sc.split(sc.axis(o + 1), tn);
    IterVar first = n_outer ? no : mo, second = n_outer ? mo : no;
    std::vector<IterVar> order = {first, second, mi, ni};
    if (batched_) order.insert(order.begin(), sc.axis(0));
    sc.reorder(order);
    IterVar attach = second;
    if (par) {
      IterVar f = sc.fuse(first, second);
      if (batched_) f = sc.fuse(sc.axis(0), f);
      sc.parallel(f);
      attach = f;
    }
    sc.unroll(mi);
    VectorizeInNativeChunks(sc, ni, tn, t);

    Stage& sa = s[acc];
    auto [ko, ki] = sa.split(sa.reduce_axis(0), tk);
    std::vector<IterVar> aorder = {ko, ki, sa.axis(o), sa.axis(o + 1)};
    if (batched_) aorder.insert(aorder.begin(), sa.axis(0));
    sa.reorder(aorder);
    sa.unroll(ki);
    sa.unroll(sa.axis(o));
    VectorizeInNativeChunks(sa, sa.axis(o + 1), tn, t);
    sa.compute_at(sc, attach);

    if (pack) {
      Stage& sp = s[PB];
      IterVar outer = sp.axis(o);
      if (batched_) outer = sp.fuse(sp.axis(0), outer);
      if (par) sp.parallel(outer);
      VectorizeInNativeChunks(sp, sp.axis(o + 2), tn, t);
    }
    std::vector<Tensor> args = {A, B};
    if (w.bias) args.push_back(bias);
    args.push_back(C);
    return Lower(s, op(), args);
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
          float v = static_cast<float>(s);
          if (w.bias) v += in[2][j];
          if (w.relu) v = std::max(v, 0.0f);
          c[i * n + j] = v;
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

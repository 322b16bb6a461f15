// Loop-nest features: layout, determinism, and values on hand-built loop nests.
#include "costmodel/features.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>
#include <set>

#include "tuner/search_space.h"

namespace priortune::costmodel {
namespace {

using namespace compiler;

float L(double x) { return static_cast<float>(std::log2(1 + x)); }

Target TestTarget() {
  auto t = Target::Parse("x86-64-v4", 1);
  EXPECT_TRUE(t.ok());
  return *t;
}

// C[i*32 + j] = A[i*32 + j] * 2 + B[j] over i < 16, j < 32, with j's loop of kind `inner`;
// with `tile` > 0, i is split into i.o < 16/tile and i.i < tile.
LoweredFunc SimpleNest(ForKind inner, int tile = 0) {
  Buffer a = MakeBuffer("A", DType::kFloat32, 512, BufferScope::kArgument);
  Buffer b = MakeBuffer("B", DType::kFloat32, 32, BufferScope::kArgument);
  Buffer c = MakeBuffer("C", DType::kFloat32, 512, BufferScope::kArgument);
  Expr i = MakeVar("i"), j = MakeVar("j"), io = MakeVar("io"), ii = MakeVar("ii");
  Expr row = tile > 0 ? io * tile + ii : i;
  Stmt store = Store(c, row * 32 + j, Load(a, row * 32 + j) * FloatImm(2.0) + Load(b, j));
  Stmt nest = For(j, IntImm(0), IntImm(32), inner, store);
  if (tile > 0) {
    nest = For(ii, IntImm(0), IntImm(tile), ForKind::kSerial, nest);
    nest = For(io, IntImm(0), IntImm(16 / tile), ForKind::kSerial, nest);
  } else {
    nest = For(i, IntImm(0), IntImm(16), ForKind::kSerial, nest);
  }
  LoweredFunc f;
  f.name = "simple";
  f.body = nest;
  return f;
}

size_t Pos(const std::string& name) {
  auto names = FeatureNames();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return i;
  ADD_FAILURE() << "no feature " << name;
  return 0;
}

std::set<std::string> Differences(const std::vector<float>& a, const std::vector<float>& b) {
  auto names = FeatureNames();
  std::set<std::string> out;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) out.insert(names[i]);
  return out;
}

TEST(Features, NamesAreUniqueAndTheContextAppendsItsOwn) {
  auto names = FeatureNames();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  auto with = FeatureNames({true});
  EXPECT_GT(with.size(), names.size());
  EXPECT_TRUE(std::equal(names.begin(), names.end(), with.begin()));
  EXPECT_EQ(with.back().substr(0, 2), "w.");
}

TEST(Features, AHandBuiltNestGivesHandComputedValues) {
  Target t = TestTarget();
  std::vector<float> f = ExtractLoopNestFeatures(SimpleNest(ForKind::kSerial), t);
  ASSERT_EQ(f.size(), FeatureNames().size());
  // One store, 16 x 32 = 512 iterations, each a multiply-add (A*2 + B).
  EXPECT_FLOAT_EQ(f[Pos("s0.iterations")], L(512));
  EXPECT_FLOAT_EQ(f[Pos("s0.fma")], L(512));
  EXPECT_FLOAT_EQ(f[Pos("s0.float_add")], 0);
  EXPECT_FLOAT_EQ(f[Pos("s0.float_mul")], 0);
  EXPECT_FLOAT_EQ(f[Pos("s0.work_share")], 1);
  EXPECT_FLOAT_EQ(f[Pos("s0.depth")], 2);
  EXPECT_FLOAT_EQ(f[Pos("s0.serial_count")], 2);
  EXPECT_FLOAT_EQ(f[Pos("s0.serial_product")], L(512));
  EXPECT_FLOAT_EQ(f[Pos("s0.vec_count")], 0);
  EXPECT_FLOAT_EQ(f[Pos("s0.reduction")], 0);
  // Buffers by bytes accessed (2048 each), ties by name: A, B, C.
  EXPECT_FLOAT_EQ(f[Pos("s0.b0.bytes")], L(2048));
  EXPECT_FLOAT_EQ(f[Pos("s0.b0.unique_bytes")], L(2048));  // A: all 512 floats
  EXPECT_FLOAT_EQ(f[Pos("s0.b0.lines")], L(32));           // 2048 contiguous bytes
  EXPECT_FLOAT_EQ(f[Pos("s0.b0.write")], 0);
  EXPECT_FLOAT_EQ(f[Pos("s0.b1.unique_bytes")], L(128));  // B: 32 floats
  EXPECT_FLOAT_EQ(f[Pos("s0.b1.lines")], L(2));
  EXPECT_FLOAT_EQ(f[Pos("s0.b1.reuse_loop")], 1);  // B[j] is reused across i
  EXPECT_FLOAT_EQ(f[Pos("s0.b1.reuse_count")], L(16));
  EXPECT_FLOAT_EQ(f[Pos("s0.b1.reuse_iters")], L(32));
  EXPECT_FLOAT_EQ(f[Pos("s0.b1.reuse_bytes")], L(3 * 128));  // A, B and C rows inside i
  EXPECT_FLOAT_EQ(f[Pos("s0.b2.write")], 1);
  EXPECT_FLOAT_EQ(f[Pos("s0.b2.stride")], L(1));
  EXPECT_FLOAT_EQ(f[Pos("s0.b2.unit_stride")], 1);
  // Working set: the j loop touches a row of A and C and all of B (3 x 128 bytes); the
  // whole nest 2048 + 128 + 2048 bytes. Everything fits L1: both levels.
  EXPECT_FLOAT_EQ(f[Pos("s0.ws0")], L(384));
  EXPECT_FLOAT_EQ(f[Pos("s0.ws1")], L(4224));
  EXPECT_FLOAT_EQ(f[Pos("s0.ws7")], L(4224));
  EXPECT_FLOAT_EQ(f[Pos("s0.ws_fit_l1")], 2);
  // float ops 1024 over unique bytes 4224.
  EXPECT_FLOAT_EQ(f[Pos("s0.arith_intensity")], L(1024.0 / 4224));
  EXPECT_FLOAT_EQ(f[Pos("s1.iterations")], 0);  // one store group only
  EXPECT_FLOAT_EQ(f[Pos("g.store_groups")], L(1));
  EXPECT_FLOAT_EQ(f[Pos("g.lanes")], L(16));
}

TEST(Features, VectorizingTheInnerLoopChangesExactlyTheVectorAndSerialFeatures) {
  Target t = TestTarget();
  auto serial = ExtractLoopNestFeatures(SimpleNest(ForKind::kSerial), t);
  auto vec = ExtractLoopNestFeatures(SimpleNest(ForKind::kVectorized), t);
  EXPECT_EQ(Differences(serial, vec), (std::set<std::string>{"s0.vec_count", "s0.vec_product", "s0.vec_innermost",
                                                             "s0.serial_count", "s0.serial_product"}));
  EXPECT_FLOAT_EQ(vec[Pos("s0.vec_product")], L(32));
  EXPECT_FLOAT_EQ(vec[Pos("s0.serial_product")], L(16));
}

TEST(Features, UnrollingTheInnerLoopChangesExactlyTheUnrollAndSerialFeatures) {
  Target t = TestTarget();
  auto serial = ExtractLoopNestFeatures(SimpleNest(ForKind::kSerial), t);
  auto unrolled = ExtractLoopNestFeatures(SimpleNest(ForKind::kUnrolled), t);
  EXPECT_EQ(Differences(serial, unrolled),
            (std::set<std::string>{"s0.unroll_count", "s0.unroll_product", "s0.unroll_inner", "s0.serial_count",
                                   "s0.serial_product"}));
  EXPECT_FLOAT_EQ(unrolled[Pos("s0.unroll_inner")], L(32));
}

TEST(Features, ATileSizeChangesTheWorkingSetOfItsLevelAndTheReuseAcrossIt) {
  Target t = TestTarget();
  auto four = ExtractLoopNestFeatures(SimpleNest(ForKind::kSerial, 4), t);
  auto eight = ExtractLoopNestFeatures(SimpleNest(ForKind::kSerial, 8), t);
  // Same iterations, ops, loop counts and footprints over the whole nest; the rows the
  // tile loop covers (ws1) and the reuse count of B across it differ.
  EXPECT_EQ(Differences(four, eight), (std::set<std::string>{"s0.ws1", "s0.b1.reuse_count"}));
  EXPECT_FLOAT_EQ(four[Pos("s0.ws1")], L(4 * 128 * 2 + 128));
  EXPECT_FLOAT_EQ(eight[Pos("s0.ws1")], L(8 * 128 * 2 + 128));
  EXPECT_FLOAT_EQ(eight[Pos("s0.b1.reuse_count")], L(8));
}

// Real templates: every sampled config of each op gives a fixed-length, finite,
// deterministic vector, and different configs give different vectors.
TEST(Features, RealCandidatesAreFixedLengthFiniteAndDeterministic) {
  Target t = TestTarget();
  std::vector<Workload> workloads = {MatmulWorkload(128, 96, 80, true, true), BatchMatmulWorkload(2, 64, 48, 32),
                                     Conv2dWorkload(1, 16, 14, 14, 32, 3, 3, 1, 1),
                                     DepthwiseConv2dWorkload(1, 32, 28, 28, 3, 3, 2, 1),
                                     GroupConv2dWorkload(1, 32, 14, 14, 64, 3, 3, 1, 1, 8)};
  const size_t n = FeatureNames().size();
  std::mt19937_64 rng(7);
  for (const auto& w : workloads) {
    auto space = tuner::SearchSpace::ForWorkload(w, t);
    ASSERT_TRUE(space.ok()) << space.status().ToString();
    std::set<std::vector<float>> distinct;
    for (int i = 0; i < 12; ++i) {
      auto c = space->Sample(rng);
      ASSERT_TRUE(c.ok());
      auto f = CandidateFeatures(w, t, *c);
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      ASSERT_EQ(f->size(), n);
      for (float v : *f) ASSERT_TRUE(std::isfinite(v)) << w.ShortName();
      auto again = CandidateFeatures(w, t, *c);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(*f, *again);
      distinct.insert(*f);
      auto ctx = CandidateFeatures(w, t, *c, {true});
      ASSERT_TRUE(ctx.ok());
      EXPECT_EQ(ctx->size(), FeatureNames({true}).size());
      // One op slot set: group_conv2d shares conv2d's.
      const auto names = FeatureNames({true});
      const std::string slot = w.op == "group_conv2d" ? "conv2d" : w.op;
      for (size_t k = n; k < names.size(); ++k)
        if (names[k].rfind("w.op_", 0) == 0) EXPECT_EQ((*ctx)[k], names[k] == "w.op_" + slot ? 1.f : 0.f) << names[k];
    }
    EXPECT_GE(distinct.size(), 6u) << w.ShortName() << ": configs should look different";
  }
}

TEST(Features, AnInvalidConfigIsAnErrorNotAVector) {
  Target t = TestTarget();
  auto f = CandidateFeatures(MatmulWorkload(64, 64, 64), t, Config{{"no_such_knob", 1}});
  EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace priortune::costmodel

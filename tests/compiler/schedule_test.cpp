// Invalid schedules and workloads are rejected with a message naming what was wrong,
// never with a crash.
#include "compiler/ir/schedule.h"

#include <gtest/gtest.h>

#include "compiler/ir/lower.h"
#include "compiler/ops/build.h"

namespace priortune::compiler {
namespace {

struct Mm {
  Tensor A = Placeholder("A", {8, 8}), B = Placeholder("B", {8, 8});
  IterVar k = ReduceAxis(8, "k");
  Tensor C = Compute("C", {8, 8}, [&](Expr i, Expr j) { return Sum(A(i, k->var) * B(k->var, j), {k}); });
};

std::string LowerError(const Schedule& s, const std::vector<Tensor>& args) {
  auto f = Lower(s, "f", args);
  EXPECT_FALSE(f.ok());
  if (f.ok()) return "";
  EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
  return f.status().message();
}

TEST(Schedule, RejectsSplitFactorZero) {
  Mm m;
  Schedule s({m.C});
  s[m.C].split(s[m.C].axis(0), 0);
  EXPECT_NE(LowerError(s, {m.A, m.B, m.C}).find("factor 0 must be positive"), std::string::npos);
}

TEST(Schedule, RejectsVectorizingAReductionAxis) {
  Mm m;
  Schedule s({m.C});
  s[m.C].vectorize(s[m.C].reduce_axis(0));
  EXPECT_NE(LowerError(s, {m.A, m.B, m.C}).find("k is a reduction axis"), std::string::npos);
}

TEST(Schedule, RejectsAReorderThatDropsAnAxis) {
  Mm m;
  Schedule s({m.C});
  s[m.C].reorder({s[m.C].axis(1), s[m.C].axis(0)});
  EXPECT_NE(LowerError(s, {m.A, m.B, m.C}).find("drops axis k"), std::string::npos);
}

TEST(Schedule, RejectsAReorderThatListsAnAxisTwice) {
  Mm m;
  Schedule s({m.C});
  s[m.C].reorder({s[m.C].axis(0), s[m.C].axis(0), s[m.C].reduce_axis(0)});
  EXPECT_NE(LowerError(s, {m.A, m.B, m.C}).find("twice"), std::string::npos);
}

TEST(Schedule, RejectsUsingAnAxisThatWasAlreadySplit) {
  Mm m;
  Schedule s({m.C});
  IterVar i = s[m.C].axis(0);
  s[m.C].split(i, 2);
  s[m.C].unroll(i);
  EXPECT_NE(LowerError(s, {m.A, m.B, m.C}).find("not a current loop"), std::string::npos);
}

TEST(Schedule, RejectsFusingNonAdjacentLoops) {
  Mm m;
  Schedule s({m.C});
  s[m.C].fuse(s[m.C].axis(0), s[m.C].reduce_axis(0));  // j lies between i and k
  EXPECT_NE(LowerError(s, {m.A, m.B, m.C}).find("must be directly outside"), std::string::npos)
      << LowerError(s, {m.A, m.B, m.C});
  Mm m2;
  Schedule s2({m2.C});
  s2[m2.C].fuse(s2[m2.C].axis(1), s2[m2.C].reduce_axis(0));  // adjacent, but j is spatial
  EXPECT_NE(LowerError(s2, {m2.A, m2.B, m2.C}).find("cannot fuse spatial and reduction"), std::string::npos)
      << LowerError(s2, {m2.A, m2.B, m2.C});
}

TEST(Schedule, RejectsParallelReductionAndInlinedReduction) {
  Mm m;
  Schedule s({m.C});
  s[m.C].parallel(s[m.C].reduce_axis(0));
  EXPECT_NE(LowerError(s, {m.A, m.B, m.C}).find("race"), std::string::npos);
  Mm m2;
  Tensor D = Compute("D", {8, 8}, [&](Expr i, Expr j) { return m2.C(i, j) * 2; });
  Schedule s2({D});
  s2[m2.C].compute_inline();
  EXPECT_NE(LowerError(s2, {m2.A, m2.B, D}).find("cannot be inlined"), std::string::npos);
}

TEST(Schedule, RejectsVectorLoopsWiderThanSixtyFourLanes) {
  Tensor A = Placeholder("A", {100});
  Tensor B = Compute("B", {100}, [&](Expr i) { return A(i) + 1; });
  Schedule s({B});
  s[B].vectorize(s[B].axis(0));
  EXPECT_NE(LowerError(s, {A, B}).find("100 lanes"), std::string::npos);
}

TEST(Schedule, RejectsNestedParallelLoops) {
  Mm m;
  Schedule s({m.C});
  s[m.C].parallel(s[m.C].axis(0));
  s[m.C].parallel(s[m.C].axis(1));
  EXPECT_NE(LowerError(s, {m.A, m.B, m.C}).find("nested"), std::string::npos);
}

TEST(Schedule, RejectsComputeAtAStageThatDoesNotReadIt) {
  Tensor A = Placeholder("A", {8});
  Tensor B = Compute("B", {8}, [&](Expr i) { return A(i) * 2; });
  Tensor C = Compute("C", {8}, [&](Expr i) { return A(i) + 1; });
  Tensor D = Compute("D", {8}, [&](Expr i) { return B(i) + C(i); });
  Schedule s({D});
  s[B].compute_at(s[C], s[C].axis(0));
  EXPECT_NE(LowerError(s, {A, D}).find("does not read it"), std::string::npos);
}

TEST(Schedule, RejectsSchedulingAPlaceholderAndMissingArguments) {
  Mm m;
  Schedule s({m.C});
  s[m.A].split(s[m.C].axis(0), 2);  // A is an input, not a stage
  EXPECT_NE(LowerError(s, {m.A, m.B, m.C}).find("not a compute stage"), std::string::npos);
  Mm m2;
  Schedule s2({m2.C});
  EXPECT_NE(LowerError(s2, {m2.A, m2.C}).find("input B"), std::string::npos);
}

TEST(Workload, RejectsZeroAndNegativeDims) {
  auto k = BuildKernel(MatmulWorkload(0, 4, 4), Target::Host(), {});
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(k.status().message().find("dim M = 0 must be positive"), std::string::npos);
  auto c = BuildKernel(Conv2dWorkload(1, 3, 8, 8, 4, 3, 3, -1, 1), Target::Host(), {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("dim SH = -1"), std::string::npos);
}

TEST(Workload, RejectsMismatchedConvShapes) {
  auto tmpl = FindTemplate("conv2d");
  ASSERT_TRUE(tmpl.ok());
  Status s = (*tmpl)->Validate(Conv2dWorkload(1, 3, 4, 4, 8, 7, 7, 1, 1));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("larger than the padded input"), std::string::npos);
  Workload w = MatmulWorkload(4, 4, 4);
  w.dims["Q"] = 3;
  EXPECT_NE((*FindTemplate("matmul"))->Validate(w).message().find("unknown dim Q"), std::string::npos);
}

TEST(Workload, RejectsUnknownOpsAndBadShapeText) {
  auto t = FindTemplate("softmax");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("known: matmul"), std::string::npos);
  EXPECT_FALSE(ParseWorkload("matmul", "512x512").ok());
  EXPECT_FALSE(ParseWorkload("matmul", "512xabcx3").ok());
}

TEST(Workload, RejectsConfigsOutsideTheKnobs) {
  Target t = Target::Host();
  Workload w = MatmulWorkload(16, 16, 16);
  Config c = (*FindTemplate("matmul"))->DefaultConfig(w, t);
  c["mr"] = 0;
  auto k = BuildKernel(w, t, c);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("split 'tile_m' (mc=1, mr=0) is not one of its"), std::string::npos)
      << k.status().ToString();
  c = (*FindTemplate("matmul"))->DefaultConfig(w, t);
  c["pack_b"] = 5;
  EXPECT_NE(BuildKernel(w, t, c).status().message().find("'pack_b' = 5 is not among its candidates"),
            std::string::npos);
  c = (*FindTemplate("matmul"))->DefaultConfig(w, t);
  c["bogus"] = 1;
  EXPECT_NE(BuildKernel(w, t, c).status().message().find("unknown knob 'bogus'"), std::string::npos);
  c.erase("bogus");
  c.erase("nr");
  EXPECT_NE(BuildKernel(w, t, c).status().message().find("misses knob 'nr'"), std::string::npos);
}

TEST(Workload, KeyIsStableAndJsonRoundTrips) {
  Workload w = Conv2dWorkload(1, 64, 56, 56, 64, 3, 3, 1, 1, true, false);
  auto back = Workload::FromJson(w.ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Key(), w.Key());
  EXPECT_EQ(back->ToJson(), w.ToJson());
  EXPECT_NE(MatmulWorkload(1, 2, 3).Key(), MatmulWorkload(1, 3, 2).Key());
  EXPECT_FALSE(Workload::FromJson("{\"op\": 3}").ok());
  EXPECT_FALSE(Workload::FromJson("not json").ok());
}

TEST(Target, HostFingerprintHasAStableKey) {
  Target a = Target::Host(), b = Target::Host();
  EXPECT_EQ(a.Key(), b.Key());
  EXPECT_EQ(a.Key().size(), 16u);
  EXPECT_FALSE(a.cpu.empty());
  EXPECT_GE(a.cores, 1);
  EXPECT_GE(a.vector_lanes(), 4);
  Target c = a;
  c.cores = a.cores + 1;
  EXPECT_NE(c.Key(), a.Key());
}

}  // namespace
}  // namespace priortune::compiler

// Lowering and simplification: what the loop nest looks like, and which schedules are
// rejected with which message.
#include "compiler/ir/lower.h"

#include <gtest/gtest.h>

#include "compiler/ir/schedule.h"
#include "compiler/ir/simplify.h"

namespace priortune::compiler {
namespace {

TEST(Simplify, FoldsSplitIndicesBackToTheirParts) {
  Expr o = MakeVar("o"), i = MakeVar("i");
  RangeMap r{{o.get(), {0, 9}}, {i.get(), {0, 15}}};
  Expr n = o * 16 + i;
  EXPECT_EQ(ToString(Simplify(n / 16, r)), "o");
  EXPECT_EQ(ToString(Simplify(n % 16, r)), "i");
  // Without the range of i nothing can be said about the remainder.
  EXPECT_EQ(ToString(Simplify(n / 16, {})), "(o + (i/16))");
}

TEST(Simplify, DecidesComparisonsFromRanges) {
  Expr o = MakeVar("o"), i = MakeVar("i");
  RangeMap r{{o.get(), {0, 9}}, {i.get(), {0, 5}}};
  int64_t v = -1;
  EXPECT_TRUE(IsConstInt(Simplify(o * 6 + i < 60, r), &v));
  EXPECT_EQ(v, 1);
  EXPECT_FALSE(IsConstInt(Simplify(o * 6 + i < 59, r)));
}

}  // namespace
}  // namespace priortune::compiler

namespace priortune::compiler {
namespace {

TEST(Lower, PartitionsANonDivisibleSplitIntoAGuardFreeMainLoopAndATail) {
  Tensor A = Placeholder("A", {10});
  Tensor B = Compute("B", {10}, [&](Expr i) { return A(i) * 2; });
  Schedule s({B});
  s[B].split(s[B].axis(0), 4);
  auto f = Lower(s, "f", {A, B});
  ASSERT_TRUE(f.ok());
  std::string text = ToString(f->body);
  // Main part: outer in [0, 2) over 4 elements; the tail (elements 8, 9) is split off
  // as its own 2-iteration loop, so no element needs a bounds check at run time.
  EXPECT_NE(text.find("for (B.i.outer, 0, 2)"), std::string::npos) << text;
  EXPECT_NE(text.find("for (B.i.inner, 0, 2)"), std::string::npos) << text;
  EXPECT_EQ(text.find("if ("), std::string::npos) << text;
}

TEST(Lower, ComputeAtAllocatesOnlyTheConsumedRegion) {
  Tensor A = Placeholder("A", {64, 64});
  Tensor P = Compute("P", {64, 64}, [&](Expr i, Expr j) { return A(i, j) + 1; });
  Tensor C = Compute("C", {64, 64}, [&](Expr i, Expr j) { return P(i, j) * 2; });
  Schedule s({C});
  auto [io, ii] = s[C].split(s[C].axis(0), 8);
  s[P].compute_at(s[C], io);
  auto f = Lower(s, "f", {A, C});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_NE(ToString(f->body).find("allocate P[512]"), std::string::npos) << ToString(f->body);
}

}  // namespace
}  // namespace priortune::compiler

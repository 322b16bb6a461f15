// Lowering and simplification: what the loop nest looks like, and which schedules are
// rejected with which message.
#include <gtest/gtest.h>

#include "compiler/lower.h"
#include "compiler/schedule.h"
#include "compiler/simplify.h"

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

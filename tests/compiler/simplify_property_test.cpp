// Property tests of the simplifier: random integer expressions (+, -, *, floor / and % by
// constants, min, max, comparisons, and, or, not, select) over variables with random
// ranges, evaluated before and after Simplify on random values inside those ranges. The
// two must agree everywhere; a case that does not is printed with its values.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/ir/simplify.h"

namespace priortune::compiler {
namespace {

constexpr int kVars = 4;

int64_t FloorDiv(int64_t x, int64_t c) { return x / c - ((x % c != 0) && ((x < 0) != (c < 0))); }
int64_t FloorMod(int64_t x, int64_t c) { return x - FloorDiv(x, c) * c; }

// The IR's meaning of an integer or boolean expression (booleans as 0 and 1). `ok` turns
// false for a node it does not know (a simplifier that introduced one fails the case).
int64_t Eval(const Expr& e, const std::unordered_map<const ExprNode*, int64_t>& vars, bool& ok) {
  auto a = [&] { return Eval(e->a, vars, ok); };
  auto b = [&] { return Eval(e->b, vars, ok); };
  switch (e->kind) {
    case ExprKind::kIntImm:
      return e->int_value;
    case ExprKind::kVar: {
      auto it = vars.find(e.get());
      if (it == vars.end()) ok = false;
      return it == vars.end() ? 0 : it->second;
    }
    case ExprKind::kAdd:
      return a() + b();
    case ExprKind::kSub:
      return a() - b();
    case ExprKind::kMul:
      return a() * b();
    case ExprKind::kDiv: {
      int64_t x = a(), y = b();
      if (y == 0) {
        ok = false;
        return 0;
      }
      return FloorDiv(x, y);
    }
    case ExprKind::kMod: {
      int64_t x = a(), y = b();
      if (y == 0) {
        ok = false;
        return 0;
      }
      return FloorMod(x, y);
    }
    case ExprKind::kMin:
      return std::min(a(), b());
    case ExprKind::kMax:
      return std::max(a(), b());
    case ExprKind::kEQ:
      return a() == b();
    case ExprKind::kNE:
      return a() != b();
    case ExprKind::kLT:
      return a() < b();
    case ExprKind::kLE:
      return a() <= b();
    case ExprKind::kAnd:
      return (a() != 0) && (b() != 0);
    case ExprKind::kOr:
      return (a() != 0) || (b() != 0);
    case ExprKind::kNot:
      return a() == 0;
    case ExprKind::kSelect:
      return Eval(e->a, vars, ok) != 0 ? Eval(e->b, vars, ok) : Eval(e->c, vars, ok);
    case ExprKind::kCast:
      return a();
    default:
      ok = false;
      return 0;
  }
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {
    for (int i = 0; i < kVars; ++i) vars_.push_back(MakeVar("x" + std::to_string(i)));
  }
  const std::vector<Expr>& vars() const { return vars_; }
  std::mt19937_64& rng() { return rng_; }

  int64_t Uniform(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }

  // A random integer expression of at most `depth` levels.
  Expr Int(int depth) {
    if (depth == 0 || Uniform(0, 9) < 2)
      return Uniform(0, 2) == 0 ? IntImm(Uniform(-8, 8)) : vars_[Uniform(0, kVars - 1)];
    switch (Uniform(0, 9)) {
      case 0:
      case 1:
        return Int(depth - 1) + Int(depth - 1);
      case 2:
        return Int(depth - 1) - Int(depth - 1);
      case 3:
        return Int(depth - 1) * (Uniform(0, 1) ? IntImm(Uniform(-6, 6)) : Int(depth - 1));
      case 4:
        return Int(depth - 1) / IntImm(Divisor());
      case 5:
        return Int(depth - 1) % IntImm(Divisor());
      case 6:
        return Min(Int(depth - 1), Int(depth - 1));
      case 7:
        return Max(Int(depth - 1), Int(depth - 1));
      case 8:
        return Select(Bool(depth - 1), Int(depth - 1), Int(depth - 1));
      default:
        return (Int(depth - 1) * IntImm(Divisor()) + Int(depth - 1)) / IntImm(Divisor());
    }
  }

  // A random condition.
  Expr Bool(int depth) {
    switch (Uniform(0, depth > 0 ? 6 : 3)) {
      case 0:
        return Int(depth) < Int(depth);
      case 1:
        return Binary(ExprKind::kLE, Int(depth), Int(depth));
      case 2:
        return Binary(ExprKind::kEQ, Int(depth), Int(depth));
      case 3:
        return Binary(ExprKind::kNE, Int(depth), Int(depth));
      case 4:
        return Binary(ExprKind::kAnd, Bool(depth - 1), Bool(depth - 1));
      case 5:
        return Binary(ExprKind::kOr, Bool(depth - 1), Bool(depth - 1));
      default:
        return Not(Bool(depth - 1));
    }
  }

 private:
  // Mostly positive (split factors and layout blocks), sometimes negative; never 0.
  int64_t Divisor() {
    int64_t d = Uniform(-3, 9);
    return d >= 0 ? d + 1 : d;
  }
  std::mt19937_64 rng_;
  std::vector<Expr> vars_;
};

struct Outcome {
  int cases = 0, checks = 0;
  int rewritten = 0;     // cases whose simplified form (with ranges) differs from the original
  int range_folded = 0;  // cases folded to a constant with the ranges but not without them
  std::vector<std::string> failures;
};

// `cases` random expressions, each checked at `points` random values of its variables
// inside their ranges, simplified with those ranges and without any.
Outcome Check(uint64_t seed, int cases, int points) {
  Generator g(seed);
  Outcome out;
  for (int c = 0; c < cases; ++c) {
    const bool boolean = g.Uniform(0, 4) == 0;
    Expr e = boolean ? g.Bool(3) : g.Int(4);
    RangeMap ranges;
    std::vector<std::pair<int64_t, int64_t>> bounds;
    for (const Expr& v : g.vars()) {
      // Often narrow (a tile's inner loop), so that ranges decide divisions and comparisons.
      int64_t lo = g.Uniform(-20, 20), hi = lo + (g.Uniform(0, 1) ? g.Uniform(0, 3) : g.Uniform(0, 40));
      ranges[v.get()] = {lo, hi};
      bounds.push_back({lo, hi});
    }
    const Expr with_ranges = Simplify(e, ranges), without = Simplify(e, {});
    ++out.cases;
    out.rewritten += ToString(with_ranges) != ToString(e);
    out.range_folded += IsConstInt(with_ranges) && !IsConstInt(without) && !IsConstInt(e);
    for (int p = 0; p < points; ++p) {
      std::unordered_map<const ExprNode*, int64_t> values;
      std::string shown;
      for (int i = 0; i < kVars; ++i) {
        values[g.vars()[i].get()] = g.Uniform(bounds[i].first, bounds[i].second);
        shown += " x" + std::to_string(i) + "=" + std::to_string(values[g.vars()[i].get()]) + " in [" +
                 std::to_string(bounds[i].first) + ", " + std::to_string(bounds[i].second) + "]";
      }
      bool ok = true;
      const int64_t want = Eval(e, values, ok);
      if (!ok) continue;  // the original itself is undefined here (cannot happen: divisors are constants)
      for (const auto& [name, s] : {std::pair<const char*, const Expr&>{"with ranges", with_ranges},
                                    std::pair<const char*, const Expr&>{"without ranges", without}}) {
        bool sok = true;
        const int64_t got = Eval(s, values, sok);
        ++out.checks;
        if (!sok || got != want)
          out.failures.push_back("case " + std::to_string(c) + " " + name + ": " + ToString(e) + " = " +
                                 std::to_string(want) + " but simplified " + ToString(s) + " = " +
                                 (sok ? std::to_string(got) : std::string("(cannot evaluate)")) + " at" + shown);
      }
    }
  }
  return out;
}

TEST(SimplifyProperty, TenThousandRandomExpressionsKeepTheirValueInsideTheirRanges) {
  const Outcome o = Check(/*seed=*/20261207, /*cases=*/10000, /*points=*/16);
  EXPECT_EQ(o.cases, 10000);
  EXPECT_GE(o.checks, 2 * 10000 * 16 * 9 / 10);  // both simplifications at almost every point
  // The cases exercise the simplifier: most are rewritten, and many only the ranges decide.
  EXPECT_GT(o.rewritten, 10000 / 2) << o.rewritten;
  EXPECT_GT(o.range_folded, 10000 / 50) << o.range_folded;
  std::printf("%d cases, %d checks; %d rewritten, %d folded to a constant by the ranges alone\n", o.cases, o.checks,
              o.rewritten, o.range_folded);
  for (size_t i = 0; i < o.failures.size() && i < 10; ++i) ADD_FAILURE() << o.failures[i];
  EXPECT_TRUE(o.failures.empty()) << o.failures.size() << " of " << o.checks << " checks disagree";
}

// The checker itself: an expression rewritten wrongly is caught.
TEST(SimplifyProperty, TheEvaluatorTellsAWrongRewriteFromARightOne) {
  Expr x = MakeVar("x");
  std::unordered_map<const ExprNode*, int64_t> v{{x.get(), -7}};
  bool ok = true;
  EXPECT_EQ(Eval(x / 2, v, ok), -4);  // floor division
  EXPECT_EQ(Eval(x % 2, v, ok), 1);   // floor modulo
  EXPECT_TRUE(ok);
  EXPECT_NE(Eval(x / 2, v, ok), Eval(Binary(ExprKind::kSub, IntImm(0), IntImm(3)), v, ok));  // truncation's -3
  EXPECT_EQ(Eval(Select(x < 0, IntImm(1), IntImm(2)), v, ok), 1);
}

}  // namespace
}  // namespace priortune::compiler

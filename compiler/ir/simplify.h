// Arithmetic simplification of the IR: integer index expressions are brought to a
// linear form (sum of coefficient * atom + constant) and floor division / modulo by
// constants is resolved with the ranges of loop variables, so that the indices that
// splits, fuses and packed layouts produce fold back to plain affine addresses.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/ir/expr.h"

namespace priortune::compiler {

// Inclusive integer interval; the sentinels mean unbounded.
struct Interval {
  static constexpr int64_t kNegInf = INT64_MIN;
  static constexpr int64_t kPosInf = INT64_MAX;
  int64_t lo = kNegInf;
  int64_t hi = kPosInf;
  bool bounded() const { return lo != kNegInf && hi != kPosInf; }
  bool is_point() const { return bounded() && lo == hi; }
};

// Ranges of variables in scope (loop variables), keyed by the variable node.
using RangeMap = std::unordered_map<const ExprNode*, Interval>;

struct LinearForm {
  std::vector<std::pair<Expr, int64_t>> terms;  // atom, coefficient (never 0)
  int64_t constant = 0;
};

// Integer expression -> linear form; sub-trees that are not linear become atoms.
LinearForm ToLinear(const Expr& e);
Expr FromLinear(const LinearForm& lf);

// Bounds of an integer expression given the ranges of its variables.
Interval Bound(const Expr& e, const RangeMap& ranges);

// Simplifies an expression. Pure; thread-compatible.
Expr Simplify(const Expr& e, const RangeMap& ranges = {});
// Simplifies a statement: loop ranges come into scope as the walk descends, conditions
// that are provably true or false are folded, loops of extent 0 vanish, loops of extent
// 1 (other than vectorized ones) become their body.
Stmt Simplify(const Stmt& s, const RangeMap& ranges = {});

// Coefficient of `var` in e if e is linear in it (var appears in no atom); nullopt if
// e depends on var non-linearly.
std::optional<int64_t> LinearCoefficient(const Expr& e, const ExprNode* var);

// True if `var` occurs in e.
bool UsesVar(const Expr& e, const ExprNode* var);

}  // namespace priortune::compiler

#include "compiler/ir/simplify.h"

#include <algorithm>

#include "compiler/ir/tensor.h"
#include "compiler/support/status.h"

namespace priortune::compiler {
namespace {

using I = Interval;

int64_t Clamp128(__int128 v) {
  if (v <= static_cast<__int128>(INT64_MIN)) return I::kNegInf;
  if (v >= static_cast<__int128>(INT64_MAX)) return I::kPosInf;
  return static_cast<int64_t>(v);
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

Interval AddI(Interval a, Interval b) {
  Interval r;
  r.lo = (a.lo == I::kNegInf || b.lo == I::kNegInf) ? I::kNegInf : Clamp128(static_cast<__int128>(a.lo) + b.lo);
  r.hi = (a.hi == I::kPosInf || b.hi == I::kPosInf) ? I::kPosInf : Clamp128(static_cast<__int128>(a.hi) + b.hi);
  return r;
}

Interval ScaleI(Interval a, int64_t c) {
  if (c == 0) return {0, 0};
  Interval r;
  if (c > 0) {
    r.lo = a.lo == I::kNegInf ? I::kNegInf : Clamp128(static_cast<__int128>(a.lo) * c);
    r.hi = a.hi == I::kPosInf ? I::kPosInf : Clamp128(static_cast<__int128>(a.hi) * c);
  } else {
    r.lo = a.hi == I::kPosInf ? I::kNegInf : Clamp128(static_cast<__int128>(a.hi) * c);
    r.hi = a.lo == I::kNegInf ? I::kPosInf : Clamp128(static_cast<__int128>(a.lo) * c);
  }
  return r;
}

Interval MulI(Interval a, Interval b) {
  if (a.is_point()) return ScaleI(b, a.lo);
  if (b.is_point()) return ScaleI(a, b.lo);
  if (!a.bounded() || !b.bounded()) return {};
  __int128 p[4] = {static_cast<__int128>(a.lo) * b.lo, static_cast<__int128>(a.lo) * b.hi,
                   static_cast<__int128>(a.hi) * b.lo, static_cast<__int128>(a.hi) * b.hi};
  return {Clamp128(*std::min_element(p, p + 4)), Clamp128(*std::max_element(p, p + 4))};
}

void AddTerm(LinearForm& lf, const Expr& atom, int64_t coeff) {
  if (coeff == 0) return;
  for (auto it = lf.terms.begin(); it != lf.terms.end(); ++it) {
    if (ExprEqual(it->first, atom)) {
      it->second += coeff;
      if (it->second == 0) lf.terms.erase(it);
      return;
    }
  }
  lf.terms.emplace_back(atom, coeff);
}

void Accumulate(LinearForm& lf, const Expr& e, int64_t scale) {
  int64_t v;
  switch (e->kind) {
    case ExprKind::kIntImm:
      lf.constant += scale * e->int_value;
      return;
    case ExprKind::kAdd:
      Accumulate(lf, e->a, scale);
      Accumulate(lf, e->b, scale);
      return;
    case ExprKind::kSub:
      Accumulate(lf, e->a, scale);
      Accumulate(lf, e->b, -scale);
      return;
    case ExprKind::kMul:
      if (IsConstInt(e->b, &v)) return Accumulate(lf, e->a, scale * v);
      if (IsConstInt(e->a, &v)) return Accumulate(lf, e->b, scale * v);
      break;
    default:
      break;
  }
  AddTerm(lf, e, scale);
}

bool IsIntLike(const Expr& e) { return e->dtype == DType::kInt64; }

Interval BoundLinear(const LinearForm& lf, const RangeMap& ranges);

Interval BoundAtom(const Expr& e, const RangeMap& ranges) {
  int64_t c;
  switch (e->kind) {
    case ExprKind::kIntImm:
      return {e->int_value, e->int_value};
    case ExprKind::kVar: {
      auto it = ranges.find(e.get());
      return it == ranges.end() ? Interval{} : it->second;
    }
    case ExprKind::kAdd:
    case ExprKind::kSub:
    case ExprKind::kMul: {
      if (e->kind == ExprKind::kMul && !IsConstInt(e->a) && !IsConstInt(e->b))
        return MulI(Bound(e->a, ranges), Bound(e->b, ranges));
      return BoundLinear(ToLinear(e), ranges);
    }
    case ExprKind::kDiv: {
      if (!IsConstInt(e->b, &c) || c <= 0) return {};
      Interval a = Bound(e->a, ranges);
      return {a.lo == I::kNegInf ? I::kNegInf : FloorDiv(a.lo, c), a.hi == I::kPosInf ? I::kPosInf : FloorDiv(a.hi, c)};
    }
    case ExprKind::kMod: {
      if (!IsConstInt(e->b, &c) || c <= 0) return {};
      Interval a = Bound(e->a, ranges);
      if (a.bounded() && FloorDiv(a.lo, c) == FloorDiv(a.hi, c)) return {FloorMod(a.lo, c), FloorMod(a.hi, c)};
      return {0, c - 1};
    }
    case ExprKind::kMin: {
      Interval a = Bound(e->a, ranges), b = Bound(e->b, ranges);
      return {std::min(a.lo, b.lo), std::min(a.hi, b.hi)};
    }
    case ExprKind::kMax: {
      Interval a = Bound(e->a, ranges), b = Bound(e->b, ranges);
      return {std::max(a.lo, b.lo), std::max(a.hi, b.hi)};
    }
    case ExprKind::kSelect: {
      Interval a = Bound(e->b, ranges), b = Bound(e->c, ranges);
      return {std::min(a.lo, b.lo), std::max(a.hi, b.hi)};
    }
    default:
      return {};
  }
}

Interval BoundLinear(const LinearForm& lf, const RangeMap& ranges) {
  Interval r{lf.constant, lf.constant};
  for (const auto& [atom, coeff] : lf.terms) {
    r = AddI(r, ScaleI(BoundAtom(atom, ranges), coeff));
    if (r.lo == I::kNegInf && r.hi == I::kPosInf) break;
  }
  return r;
}

// Simplifies floor(e / c) or e mod c for a constant c > 0.
Expr SimplifyDivMod(bool is_div, const Expr& a, int64_t c, const RangeMap& ranges) {
  LinearForm lf = ToLinear(a);
  LinearForm quotient, rest;
  quotient.constant = FloorDiv(lf.constant, c);
  rest.constant = FloorMod(lf.constant, c);
  for (const auto& [atom, coeff] : lf.terms) {
    if (coeff % c == 0) {
      quotient.terms.emplace_back(atom, coeff / c);
    } else {
      rest.terms.emplace_back(atom, coeff);
    }
  }
  Interval r = BoundLinear(rest, ranges);
  if (r.bounded() && FloorDiv(r.lo, c) == FloorDiv(r.hi, c)) {
    int64_t t = FloorDiv(r.lo, c);
    if (is_div) {
      quotient.constant += t;
      return FromLinear(quotient);
    }
    rest.constant -= t * c;
    return FromLinear(rest);
  }
  Expr rest_e = FromLinear(rest);
  if (is_div) {
    quotient.terms.emplace_back(Binary(ExprKind::kDiv, rest_e, IntImm(c)), 1);
    return FromLinear(quotient);
  }
  return Binary(ExprKind::kMod, rest_e, IntImm(c));
}

// Add, Sub, Mul: integer ones as linear forms (a product only by a constant); float
// constants folded, and x + 0, x * 1 dropped.
Expr SimplifyArith(const Expr& e, bool is_int, bool is_float) {
  const Expr& a = e->a;
  const Expr& b = e->b;
  double fa, fb;
  if (is_int) {
    if (e->kind == ExprKind::kMul && !IsConstInt(a) && !IsConstInt(b)) return e;
    return FromLinear(ToLinear(e));
  }
  if (is_float && IsConstFloat(a, &fa) && IsConstFloat(b, &fb)) {
    if (e->kind == ExprKind::kAdd) return FloatImm(static_cast<float>(fa) + static_cast<float>(fb));
    if (e->kind == ExprKind::kSub) return FloatImm(static_cast<float>(fa) - static_cast<float>(fb));
    return FloatImm(static_cast<float>(fa) * static_cast<float>(fb));
  }
  if (is_float && e->kind == ExprKind::kAdd && IsConstFloat(b, &fb) && fb == 0) return a;
  if (is_float && e->kind == ExprKind::kAdd && IsConstFloat(a, &fa) && fa == 0) return b;
  if (is_float && e->kind == ExprKind::kMul && IsConstFloat(b, &fb) && fb == 1) return a;
  if (is_float && e->kind == ExprKind::kMul && IsConstFloat(a, &fa) && fa == 1) return b;
  return e;
}

// Min, Max: decided when the difference's bounds have one sign.
Expr SimplifyMinMax(const Expr& e, const RangeMap& ranges, bool is_int, bool is_float) {
  const Expr& a = e->a;
  const Expr& b = e->b;
  double fa, fb;
  bool is_min = e->kind == ExprKind::kMin;
  if (is_int) {
    Interval d = Bound(FromLinear(ToLinear(a - b)), ranges);
    if (d.hi != I::kPosInf && d.hi <= 0) return is_min ? a : b;
    if (d.lo != I::kNegInf && d.lo >= 0) return is_min ? b : a;
  }
  if (is_float && IsConstFloat(a, &fa) && IsConstFloat(b, &fb))
    return FloatImm(is_min ? std::min(fa, fb) : std::max(fa, fb));
  return e;
}

// EQ, NE, LT, LE: decided from the bounds of a - b, else in canonical form (the variable
// part on the left, the constant on the right); float constants folded.
Expr SimplifyCompare(const Expr& e, const RangeMap& ranges, bool is_int, bool is_float) {
  const Expr& a = e->a;
  const Expr& b = e->b;
  double fa, fb;
  if (is_int) {
    LinearForm d = ToLinear(a - b);
    Interval r = BoundLinear(d, ranges);
    const bool below = r.hi != I::kPosInf && r.hi < 0, above = r.lo != I::kNegInf && r.lo > 0;
    const bool zero = r.is_point() && r.lo == 0;
    bool t = false, f = false;
    switch (e->kind) {
      case ExprKind::kLT:
        t = below;
        f = r.lo != I::kNegInf && r.lo >= 0;
        break;
      case ExprKind::kLE:
        t = r.hi != I::kPosInf && r.hi <= 0;
        f = above;
        break;
      case ExprKind::kEQ:
        t = zero;
        f = above || below;
        break;
      default:
        t = above || below;
        f = zero;
        break;
    }
    if (t) return BoolImm(true);
    if (f) return BoolImm(false);
    int64_t k = -d.constant;
    d.constant = 0;
    return Binary(e->kind, FromLinear(d), IntImm(k));
  }
  if (is_float && IsConstFloat(a, &fa) && IsConstFloat(b, &fb)) {
    switch (e->kind) {
      case ExprKind::kLT:
        return BoolImm(fa < fb);
      case ExprKind::kLE:
        return BoolImm(fa <= fb);
      case ExprKind::kEQ:
        return BoolImm(fa == fb);
      default:
        return BoolImm(fa != fb);
    }
  }
  return e;
}

// And, Or, Not, Select, Cast with constant operands.
Expr SimplifyLogic(const Expr& e) {
  const Expr& a = e->a;
  const Expr& b = e->b;
  int64_t ca, cb;
  double fa;
  switch (e->kind) {
    case ExprKind::kAnd:
      if (IsConstInt(a, &ca)) return ca ? b : BoolImm(false);
      if (IsConstInt(b, &cb)) return cb ? a : BoolImm(false);
      return e;
    case ExprKind::kOr:
      if (IsConstInt(a, &ca)) return ca ? BoolImm(true) : b;
      if (IsConstInt(b, &cb)) return cb ? BoolImm(true) : a;
      return e;
    case ExprKind::kNot:
      if (IsConstInt(a, &ca)) return BoolImm(!ca);
      return e;
    case ExprKind::kSelect:
      if (IsConstInt(a, &ca)) return ca ? e->b : e->c;
      if (ExprEqual(e->b, e->c)) return e->b;
      return e;
    case ExprKind::kCast:
      if (e->dtype == DType::kFloat32 && IsConstInt(a, &ca)) return FloatImm(static_cast<double>(ca));
      if (e->dtype == DType::kInt64 && IsConstFloat(a, &fa)) return IntImm(static_cast<int64_t>(fa));
      return e;
    default:
      return e;
  }
}

Expr SimplifyNode(const Expr& e, const RangeMap& ranges) {
  switch (e->kind) {
    case ExprKind::kIntImm:
    case ExprKind::kFloatImm:
    case ExprKind::kVar:
    case ExprKind::kTensorRead:
    case ExprKind::kLoad:
    case ExprKind::kReduce:
      return e;
    default:
      break;
  }
  const Expr& a = e->a;
  const Expr& b = e->b;
  const bool is_int = a.get() != nullptr && IsIntLike(a);
  const bool is_float = a.get() != nullptr && a->dtype == DType::kFloat32;
  int64_t cb;
  double fa, fb;
  switch (e->kind) {
    case ExprKind::kAdd:
    case ExprKind::kSub:
    case ExprKind::kMul:
      return SimplifyArith(e, is_int, is_float);
    case ExprKind::kDiv:
    case ExprKind::kMod:
      if (is_int && IsConstInt(b, &cb) && cb > 0) {
        if (cb == 1) return e->kind == ExprKind::kDiv ? a : IntImm(0);
        return SimplifyDivMod(e->kind == ExprKind::kDiv, a, cb, ranges);
      }
      if (is_float && e->kind == ExprKind::kDiv && IsConstFloat(a, &fa) && IsConstFloat(b, &fb))
        return FloatImm(static_cast<float>(fa) / static_cast<float>(fb));
      return e;
    case ExprKind::kMin:
    case ExprKind::kMax:
      return SimplifyMinMax(e, ranges, is_int, is_float);
    case ExprKind::kEQ:
    case ExprKind::kNE:
    case ExprKind::kLT:
    case ExprKind::kLE:
      return SimplifyCompare(e, ranges, is_int, is_float);
    default:
      return SimplifyLogic(e);
  }
}

Expr Rebuild(const Expr& e, Expr a, Expr b, Expr c, std::vector<Expr> args) {
  bool changed = a.get() != e->a.get() || b.get() != e->b.get() || c.get() != e->c.get();
  for (size_t i = 0; i < args.size(); ++i) changed |= args[i].get() != e->args[i].get();
  if (!changed) return e;
  auto n = std::make_shared<ExprNode>(*e);
  n->a = std::move(a);
  n->b = std::move(b);
  n->c = std::move(c);
  n->args = std::move(args);
  return Expr(std::move(n));
}

Expr SimplifyRec(const Expr& e, const RangeMap& ranges) {
  if (!e) return e;
  std::vector<Expr> args;
  args.reserve(e->args.size());
  for (const auto& x : e->args) args.push_back(SimplifyRec(x, ranges));
  Expr r = Rebuild(e, SimplifyRec(e->a, ranges), SimplifyRec(e->b, ranges), SimplifyRec(e->c, ranges), std::move(args));
  return SimplifyNode(r, ranges);
}

}  // namespace

LinearForm ToLinear(const Expr& e) {
  LinearForm lf;
  Accumulate(lf, e, 1);
  return lf;
}

Expr FromLinear(const LinearForm& lf) {
  Expr sum;
  // Positive terms first so that the text reads as a sum, negatives subtracted after.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [atom, coeff] : lf.terms) {
      if ((coeff > 0) != (pass == 0)) continue;
      int64_t mag = coeff > 0 ? coeff : -coeff;
      Expr term = mag == 1 ? atom : Binary(ExprKind::kMul, atom, IntImm(mag));
      if (!sum) {
        sum = coeff > 0 ? term : Binary(ExprKind::kSub, IntImm(0), term);
      } else {
        sum = Binary(coeff > 0 ? ExprKind::kAdd : ExprKind::kSub, sum, term);
      }
    }
  }
  if (!sum) return IntImm(lf.constant);
  if (lf.constant > 0) return Binary(ExprKind::kAdd, sum, IntImm(lf.constant));
  if (lf.constant < 0) return Binary(ExprKind::kSub, sum, IntImm(-lf.constant));
  return sum;
}

Interval Bound(const Expr& e, const RangeMap& ranges) {
  if (e->dtype == DType::kBool) return {0, 1};
  if (e->kind == ExprKind::kAdd || e->kind == ExprKind::kSub ||
      (e->kind == ExprKind::kMul && (IsConstInt(e->a) || IsConstInt(e->b)))) {
    return BoundLinear(ToLinear(e), ranges);
  }
  return BoundAtom(e, ranges);
}

Expr Simplify(const Expr& e, const RangeMap& ranges) { return SimplifyRec(e, ranges); }

bool UsesVar(const Expr& e, const ExprNode* var) {
  bool found = false;
  VisitExpr(e, [&](const Expr& x) { found |= x.get() == var; });
  return found;
}

std::optional<int64_t> LinearCoefficient(const Expr& e, const ExprNode* var) {
  LinearForm lf = ToLinear(e);
  int64_t coeff = 0;
  for (const auto& [atom, c] : lf.terms) {
    if (atom.get() == var) {
      coeff += c;
    } else if (UsesVar(atom, var)) {
      return std::nullopt;
    }
  }
  return coeff;
}

Stmt Simplify(const Stmt& s, const RangeMap& ranges) {
  if (!s) return s;
  switch (s->kind) {
    case StmtKind::kFor: {
      Expr min = Simplify(s->min, ranges), extent = Simplify(s->extent, ranges);
      int64_t mn, ext;
      bool const_range = IsConstInt(min, &mn) && IsConstInt(extent, &ext);
      if (const_range && ext <= 0) return nullptr;
      if (const_range && ext == 1 && s->for_kind != ForKind::kVectorized) {
        return Simplify(SubstituteStmt(s->body, {{s->var.get(), min}}), ranges);
      }
      RangeMap inner = ranges;
      if (const_range) inner[s->var.get()] = {mn, mn + ext - 1};
      Stmt body = Simplify(s->body, inner);
      if (!body) return nullptr;
      return For(s->var, min, extent, s->for_kind, body);
    }
    case StmtKind::kSeq: {
      std::vector<Stmt> out;
      for (const auto& c : s->seq) out.push_back(Simplify(c, ranges));
      Stmt r = Seq(std::move(out));
      if (r && r->kind == StmtKind::kSeq && r->seq.empty()) return nullptr;
      return r;
    }
    case StmtKind::kIf: {
      Expr cond = Simplify(s->cond, ranges);
      int64_t c;
      if (IsConstInt(cond, &c)) return Simplify(c ? s->body : s->else_body, ranges);
      Stmt then_body = Simplify(s->body, ranges);
      Stmt else_body = Simplify(s->else_body, ranges);
      if (!then_body && !else_body) return nullptr;
      if (!then_body) return IfThenElse(Not(cond), else_body);
      return IfThenElse(cond, then_body, else_body);
    }
    case StmtKind::kStore:
      return Store(s->buffer, Simplify(s->index, ranges), Simplify(s->value, ranges));
    case StmtKind::kAllocate: {
      Stmt body = Simplify(s->body, ranges);
      if (!body) return nullptr;
      return Allocate(s->buffer, body);
    }
  }
  return s;
}

}  // namespace priortune::compiler

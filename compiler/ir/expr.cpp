#include "compiler/ir/expr.h"

#include <cmath>
#include <sstream>

#include "compiler/ir/tensor.h"  // OperationNode, for printing reads
#include "compiler/support/status.h"

namespace priortune::compiler {

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "float32";
    case DType::kInt64:
      return "int64";
    case DType::kBool:
      return "bool";
  }
  return "?";
}

const char* ForKindName(ForKind k) {
  switch (k) {
    case ForKind::kSerial:
      return "for";
    case ForKind::kParallel:
      return "parallel";
    case ForKind::kVectorized:
      return "vectorized";
    case ForKind::kUnrolled:
      return "unrolled";
  }
  return "?";
}

namespace {
std::shared_ptr<ExprNode> NewExpr(ExprKind kind, DType t) {
  auto n = std::make_shared<ExprNode>();
  n->kind = kind;
  n->dtype = t;
  return n;
}

bool IsComparison(ExprKind k) {
  return k == ExprKind::kEQ || k == ExprKind::kNE || k == ExprKind::kLT || k == ExprKind::kLE;
}

// An integer immediate meets a float operand: the immediate becomes a float, so that
// `A(i) * 2` means what it says. Any other mix is a bug in the caller.
void Promote(Expr& a, Expr& b) {
  if (a->dtype == b->dtype) return;
  int64_t v;
  if (a->dtype == DType::kFloat32 && IsConstInt(b, &v)) {
    b = FloatImm(static_cast<double>(v));
  } else if (b->dtype == DType::kFloat32 && IsConstInt(a, &v)) {
    a = FloatImm(static_cast<double>(v));
  }
}
}  // namespace

Expr::Expr(int v) : Expr(IntImm(v)) {}
Expr::Expr(int64_t v) : Expr(IntImm(v)) {}
Expr::Expr(double v) : Expr(FloatImm(v)) {}
Expr::Expr(float v) : Expr(FloatImm(v)) {}

Expr IntImm(int64_t v) {
  auto n = NewExpr(ExprKind::kIntImm, DType::kInt64);
  n->int_value = v;
  return Expr(std::move(n));
}

Expr FloatImm(double v) {
  auto n = NewExpr(ExprKind::kFloatImm, DType::kFloat32);
  n->float_value = static_cast<float>(v);
  return Expr(std::move(n));
}

Expr BoolImm(bool v) {
  auto n = NewExpr(ExprKind::kIntImm, DType::kBool);
  n->int_value = v ? 1 : 0;
  return Expr(std::move(n));
}

Expr MakeVar(const std::string& name, DType t) {
  auto n = NewExpr(ExprKind::kVar, t);
  n->name = name;
  return Expr(std::move(n));
}

Expr Binary(ExprKind kind, Expr a, Expr b) {
  PT_CHECK(a.get() != nullptr && b.get() != nullptr, "null operand");
  Promote(a, b);
  if (a->dtype != b->dtype) {
    Fatal(std::string("operand types differ: ") + DTypeName(a->dtype) + " vs " + DTypeName(b->dtype) + " in " +
          ToString(a) + " and " + ToString(b));
  }
  DType t = a->dtype;
  if (IsComparison(kind) || kind == ExprKind::kAnd || kind == ExprKind::kOr) t = DType::kBool;
  auto n = NewExpr(kind, t);
  n->a = std::move(a);
  n->b = std::move(b);
  return Expr(std::move(n));
}

Expr Select(Expr cond, Expr t, Expr f) {
  Promote(t, f);
  PT_CHECK(cond->dtype == DType::kBool, "select condition must be bool: " + ToString(cond));
  PT_CHECK(t->dtype == f->dtype, "select branches differ in type");
  auto n = NewExpr(ExprKind::kSelect, t->dtype);
  n->a = std::move(cond);
  n->b = std::move(t);
  n->c = std::move(f);
  return Expr(std::move(n));
}

Expr Cast(DType t, Expr v) {
  if (v->dtype == t) return v;
  auto n = NewExpr(ExprKind::kCast, t);
  n->a = std::move(v);
  return Expr(std::move(n));
}

Expr Load(Buffer buffer, Expr index) {
  auto n = NewExpr(ExprKind::kLoad, buffer->dtype);
  n->buffer = std::move(buffer);
  n->a = std::move(index);
  return Expr(std::move(n));
}

Expr Min(Expr a, Expr b) { return Binary(ExprKind::kMin, std::move(a), std::move(b)); }
Expr Max(Expr a, Expr b) { return Binary(ExprKind::kMax, std::move(a), std::move(b)); }
Expr Exp(Expr a) {
  auto n = NewExpr(ExprKind::kExp, DType::kFloat32);
  n->a = std::move(a);
  return Expr(std::move(n));
}
Expr Sqrt(Expr a) {
  auto n = NewExpr(ExprKind::kSqrt, DType::kFloat32);
  n->a = std::move(a);
  return Expr(std::move(n));
}

Expr Erf(Expr a) {  // odd in a
  Expr x = Max(a, FloatImm(0.0) - a);
  Expr t = FloatImm(1.0) / (FloatImm(1.0) + FloatImm(0.3275911) * x);
  Expr poly = t * (FloatImm(0.254829592) +
                   t * (FloatImm(-0.284496736) +
                        t * (FloatImm(1.421413741) + t * (FloatImm(-1.453152027) + t * FloatImm(1.061405429)))));
  Expr r = FloatImm(1.0) - poly * Exp(FloatImm(0.0) - x * x);
  return Select(a < FloatImm(0.0), FloatImm(0.0) - r, r);
}

// Saturates to +-1 without inf / inf.
Expr Tanh(Expr a) { return FloatImm(1.0) - FloatImm(2.0) / (Exp(a * FloatImm(2.0)) + FloatImm(1.0)); }

Expr Gelu(Expr a) { return a * FloatImm(0.5) * (FloatImm(1.0) + Erf(a * FloatImm(M_SQRT1_2))); }

Expr GeluTanh(Expr a) {
  return a * FloatImm(0.5) * (FloatImm(1.0) + Tanh(FloatImm(0.7978845608) * (a + FloatImm(0.044715) * a * a * a)));
}
Expr Not(Expr a) {
  auto n = NewExpr(ExprKind::kNot, DType::kBool);
  n->a = std::move(a);
  return Expr(std::move(n));
}

IterVar MakeIterVar(const std::string& name, int64_t extent, IterKind kind) {
  auto n = std::make_shared<IterVarNode>();
  n->var = MakeVar(name);
  n->extent = extent;
  n->kind = kind;
  return n;
}

Expr operator+(Expr a, Expr b) { return Binary(ExprKind::kAdd, std::move(a), std::move(b)); }
Expr operator-(Expr a, Expr b) { return Binary(ExprKind::kSub, std::move(a), std::move(b)); }
Expr operator*(Expr a, Expr b) { return Binary(ExprKind::kMul, std::move(a), std::move(b)); }
Expr operator/(Expr a, Expr b) { return Binary(ExprKind::kDiv, std::move(a), std::move(b)); }
Expr operator%(Expr a, Expr b) { return Binary(ExprKind::kMod, std::move(a), std::move(b)); }
Expr operator-(Expr a) {
  if (a->dtype == DType::kFloat32) return FloatImm(0.0) - a;
  return IntImm(0) - a;
}
Expr operator<(Expr a, Expr b) { return Binary(ExprKind::kLT, std::move(a), std::move(b)); }
Expr operator<=(Expr a, Expr b) { return Binary(ExprKind::kLE, std::move(a), std::move(b)); }
Expr operator>(Expr a, Expr b) { return Binary(ExprKind::kLT, std::move(b), std::move(a)); }
Expr operator>=(Expr a, Expr b) { return Binary(ExprKind::kLE, std::move(b), std::move(a)); }
Expr operator==(Expr a, Expr b) { return Binary(ExprKind::kEQ, std::move(a), std::move(b)); }
Expr operator!=(Expr a, Expr b) { return Binary(ExprKind::kNE, std::move(a), std::move(b)); }
Expr operator&&(Expr a, Expr b) { return Binary(ExprKind::kAnd, std::move(a), std::move(b)); }
Expr operator||(Expr a, Expr b) { return Binary(ExprKind::kOr, std::move(a), std::move(b)); }

bool IsConstInt(const Expr& e, int64_t* value) {
  if (!e || e->kind != ExprKind::kIntImm) return false;
  if (value) *value = e->int_value;
  return true;
}

bool IsConstFloat(const Expr& e, double* value) {
  if (!e || e->kind != ExprKind::kFloatImm) return false;
  if (value) *value = e->float_value;
  return true;
}

bool ExprEqual(const Expr& a, const Expr& b) {
  if (a.get() == b.get()) return true;
  if (!a || !b) return false;
  if (a->kind != b->kind || a->dtype != b->dtype) return false;
  switch (a->kind) {
    case ExprKind::kIntImm:
      return a->int_value == b->int_value;
    case ExprKind::kFloatImm:
      return a->float_value == b->float_value;
    case ExprKind::kVar:
      return false;  // identity compared above
    case ExprKind::kTensorRead:
      if (a->op != b->op || a->args.size() != b->args.size()) return false;
      for (size_t i = 0; i < a->args.size(); ++i)
        if (!ExprEqual(a->args[i], b->args[i])) return false;
      return true;
    case ExprKind::kLoad:
      return a->buffer == b->buffer && ExprEqual(a->a, b->a);
    case ExprKind::kReduce:
      return false;
    default:
      return ExprEqual(a->a, b->a) && ExprEqual(a->b, b->b) && ExprEqual(a->c, b->c);
  }
}

Buffer MakeBuffer(const std::string& name, DType t, int64_t size, BufferScope scope) {
  auto n = std::make_shared<BufferNode>();
  n->name = name;
  n->dtype = t;
  n->size = size;
  n->scope = scope;
  return n;
}

namespace {
std::shared_ptr<StmtNode> NewStmt(StmtKind kind) {
  auto n = std::make_shared<StmtNode>();
  n->kind = kind;
  return n;
}
}  // namespace

Stmt For(Expr var, Expr min, Expr extent, ForKind kind, Stmt body) {
  auto n = NewStmt(StmtKind::kFor);
  n->var = std::move(var);
  n->min = std::move(min);
  n->extent = std::move(extent);
  n->for_kind = kind;
  n->body = std::move(body);
  return n;
}

Stmt Seq(std::vector<Stmt> stmts) {
  std::vector<Stmt> flat;
  for (auto& s : stmts) {
    if (!s) continue;
    if (s->kind == StmtKind::kSeq) {
      flat.insert(flat.end(), s->seq.begin(), s->seq.end());
    } else {
      flat.push_back(std::move(s));
    }
  }
  if (flat.size() == 1) return flat[0];
  auto n = NewStmt(StmtKind::kSeq);
  n->seq = std::move(flat);
  return n;
}

Stmt IfThenElse(Expr cond, Stmt then_body, Stmt else_body) {
  auto n = NewStmt(StmtKind::kIf);
  n->cond = std::move(cond);
  n->body = std::move(then_body);
  n->else_body = std::move(else_body);
  return n;
}

Stmt Store(Buffer buffer, Expr index, Expr value) {
  auto n = NewStmt(StmtKind::kStore);
  n->buffer = std::move(buffer);
  n->index = std::move(index);
  n->value = std::move(value);
  return n;
}

Stmt Allocate(Buffer buffer, Stmt body) {
  auto n = NewStmt(StmtKind::kAllocate);
  n->buffer = std::move(buffer);
  n->body = std::move(body);
  return n;
}

void VisitExpr(const Expr& e, const std::function<void(const Expr&)>& fn) {
  if (!e) return;
  fn(e);
  VisitExpr(e->a, fn);
  VisitExpr(e->b, fn);
  VisitExpr(e->c, fn);
  for (const auto& x : e->args) VisitExpr(x, fn);
}

Expr MutateExpr(const Expr& e, const std::function<Expr(const Expr&)>& fn) {
  if (!e) return e;
  Expr a = MutateExpr(e->a, fn), b = MutateExpr(e->b, fn), c = MutateExpr(e->c, fn);
  bool changed = a.get() != e->a.get() || b.get() != e->b.get() || c.get() != e->c.get();
  std::vector<Expr> args;
  args.reserve(e->args.size());
  for (const auto& x : e->args) {
    args.push_back(MutateExpr(x, fn));
    changed |= args.back().get() != x.get();
  }
  if (!changed) return fn(e);
  auto n = std::make_shared<ExprNode>(*e);
  n->a = std::move(a);
  n->b = std::move(b);
  n->c = std::move(c);
  n->args = std::move(args);
  return fn(Expr(std::move(n)));
}

Expr Substitute(const Expr& e, const std::vector<std::pair<const ExprNode*, Expr>>& map) {
  if (map.empty()) return e;
  return MutateExpr(e, [&](const Expr& x) {
    if (x->kind != ExprKind::kVar) return x;
    for (const auto& [var, value] : map)
      if (var == x.get()) return value;
    return x;
  });
}

Stmt MutateStmtExprs(const Stmt& s, const std::function<Expr(const Expr&)>& fn) {
  if (!s) return s;
  auto m = [&](const Expr& e) { return e ? fn(e) : e; };
  switch (s->kind) {
    case StmtKind::kFor:
      return For(s->var, m(s->min), m(s->extent), s->for_kind, MutateStmtExprs(s->body, fn));
    case StmtKind::kSeq: {
      std::vector<Stmt> out;
      for (const auto& c : s->seq) out.push_back(MutateStmtExprs(c, fn));
      return Seq(std::move(out));
    }
    case StmtKind::kIf:
      return IfThenElse(m(s->cond), MutateStmtExprs(s->body, fn), MutateStmtExprs(s->else_body, fn));
    case StmtKind::kStore:
      return Store(s->buffer, m(s->index), m(s->value));
    case StmtKind::kAllocate:
      return Allocate(s->buffer, MutateStmtExprs(s->body, fn));
  }
  return s;
}

Stmt SubstituteStmt(const Stmt& s, const std::vector<std::pair<const ExprNode*, Expr>>& map) {
  return MutateStmtExprs(s, [&](const Expr& e) { return Substitute(e, map); });
}

namespace {
const char* BinarySymbol(ExprKind k) {
  switch (k) {
    case ExprKind::kAdd:
      return " + ";
    case ExprKind::kSub:
      return " - ";
    case ExprKind::kMul:
      return "*";
    case ExprKind::kDiv:
      return "/";
    case ExprKind::kMod:
      return " % ";
    case ExprKind::kEQ:
      return " == ";
    case ExprKind::kNE:
      return " != ";
    case ExprKind::kLT:
      return " < ";
    case ExprKind::kLE:
      return " <= ";
    case ExprKind::kAnd:
      return " && ";
    case ExprKind::kOr:
      return " || ";
    default:
      return " ? ";
  }
}

void Print(std::ostream& os, const Expr& e) {
  if (!e) {
    os << "<null>";
    return;
  }
  switch (e->kind) {
    case ExprKind::kIntImm:
      if (e->dtype == DType::kBool)
        os << (e->int_value ? "true" : "false");
      else
        os << e->int_value;
      return;
    case ExprKind::kFloatImm:
      os << e->float_value << "f";
      return;
    case ExprKind::kVar:
      os << e->name;
      return;
    case ExprKind::kMin:
    case ExprKind::kMax:
      os << (e->kind == ExprKind::kMin ? "min(" : "max(");
      Print(os, e->a);
      os << ", ";
      Print(os, e->b);
      os << ")";
      return;
    case ExprKind::kNot:
      os << "!";
      Print(os, e->a);
      return;
    case ExprKind::kExp:
    case ExprKind::kSqrt:
      os << (e->kind == ExprKind::kExp ? "exp(" : "sqrt(");
      Print(os, e->a);
      os << ")";
      return;
    case ExprKind::kSelect:
      os << "select(";
      Print(os, e->a);
      os << ", ";
      Print(os, e->b);
      os << ", ";
      Print(os, e->c);
      os << ")";
      return;
    case ExprKind::kCast:
      os << DTypeName(e->dtype) << "(";
      Print(os, e->a);
      os << ")";
      return;
    case ExprKind::kTensorRead:
      os << e->op->name << "(";
      for (size_t i = 0; i < e->args.size(); ++i) {
        if (i) os << ", ";
        Print(os, e->args[i]);
      }
      os << ")";
      return;
    case ExprKind::kLoad:
      os << e->buffer->name << "[";
      Print(os, e->a);
      os << "]";
      return;
    case ExprKind::kReduce:
      os << "sum"
         << "(";
      Print(os, e->a);
      os << ", axes=[";
      for (size_t i = 0; i < e->reduce_axes.size(); ++i) os << (i ? ", " : "") << e->reduce_axes[i]->var->name;
      os << "])";
      return;
    default:
      os << "(";
      Print(os, e->a);
      os << BinarySymbol(e->kind);
      Print(os, e->b);
      os << ")";
  }
}

void Print(std::ostream& os, const Stmt& s, int indent) {
  std::string pad(indent * 2, ' ');
  if (!s) return;
  switch (s->kind) {
    case StmtKind::kFor:
      os << pad << ForKindName(s->for_kind) << " (" << s->var->name << ", ";
      Print(os, s->min);
      os << ", ";
      Print(os, s->extent);
      os << ") {\n";
      Print(os, s->body, indent + 1);
      os << pad << "}\n";
      return;
    case StmtKind::kSeq:
      for (const auto& c : s->seq) Print(os, c, indent);
      return;
    case StmtKind::kIf:
      os << pad << "if (";
      Print(os, s->cond);
      os << ") {\n";
      Print(os, s->body, indent + 1);
      if (s->else_body) {
        os << pad << "} else {\n";
        Print(os, s->else_body, indent + 1);
      }
      os << pad << "}\n";
      return;
    case StmtKind::kStore:
      os << pad << s->buffer->name << "[";
      Print(os, s->index);
      os << "] = ";
      Print(os, s->value);
      os << "\n";
      return;
    case StmtKind::kAllocate:
      os << pad << "allocate " << s->buffer->name << "[" << s->buffer->size << "]\n";
      Print(os, s->body, indent);
      return;
  }
}
}  // namespace

std::string ToString(const Expr& e) {
  std::ostringstream os;
  Print(os, e);
  return os.str();
}

std::string ToString(const Stmt& s) {
  std::ostringstream os;
  Print(os, s, 0);
  return os.str();
}

}  // namespace priortune::compiler

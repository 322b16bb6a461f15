// The expression and statement IR shared by the tensor-expression DSL and the lowered
// loop nest. Nodes are immutable and built by the factory functions below; a node is
// shared by pointer, so rewriting a tree rebuilds only the changed spine.
//
// One node struct per family (ExprNode, StmtNode) with a kind tag keeps the passes small
// switch statements; fields a kind does not use stay empty.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace priortune::compiler {

enum class DType : uint8_t { kFloat32, kInt64, kBool };
const char* DTypeName(DType t);

struct ExprNode;
struct StmtNode;
struct OperationNode;
struct BufferNode;
struct IterVarNode;

using Stmt = std::shared_ptr<const StmtNode>;
using Buffer = std::shared_ptr<const BufferNode>;
using IterVar = std::shared_ptr<const IterVarNode>;

// A handle to an immutable expression node with arithmetic operators, so that compute
// definitions read like the math: A(i, k) * B(k, j).
class Expr {
 public:
  Expr() = default;
  explicit Expr(std::shared_ptr<const ExprNode> node) : node_(std::move(node)) {}
  Expr(int v);      // NOLINT: int64 immediate
  Expr(int64_t v);  // NOLINT
  Expr(double v);   // NOLINT: float32 immediate
  Expr(float v);    // NOLINT

  const ExprNode* get() const { return node_.get(); }
  const ExprNode* operator->() const { return node_.get(); }
  const ExprNode& operator*() const { return *node_; }
  explicit operator bool() const { return node_ != nullptr; }
  const std::shared_ptr<const ExprNode>& ptr() const { return node_; }

 private:
  std::shared_ptr<const ExprNode> node_;
};

enum class ExprKind : uint8_t {
  kIntImm,
  kFloatImm,
  kVar,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kMin,
  kMax,  // Div and Mod on integers are floor division
  kEQ,
  kNE,
  kLT,
  kLE,
  kAnd,
  kOr,
  kNot,
  kSelect,
  kCast,
  kTensorRead,  // A(i, j) of a tensor, before lowering
  kLoad,        // buffer[flat index], after lowering
  kReduce,      // sum/max over reduction axes: only as the whole body of a compute
  kExp,         // e^a (float32)
  kSqrt,        // square root of a (float32)
};

// Reduction combiners: the sum, and the max (a softmax's row maximum).
enum class ReduceKind : uint8_t { kSum, kMax };

struct ExprNode {
  ExprKind kind;
  DType dtype;
  int64_t int_value = 0;
  double float_value = 0;
  std::string name;                         // kVar
  Expr a, b, c;                             // operands; kSelect: a ? b : c
  std::vector<Expr> args;                   // kTensorRead indices
  std::shared_ptr<const OperationNode> op;  // kTensorRead
  Buffer buffer;                            // kLoad
  ReduceKind reduce = ReduceKind::kSum;     // kReduce: a is the source
  std::vector<IterVar> reduce_axes;         // kReduce
};

// Loop axis of a compute: a variable and its extent (the full extent of the tensor dim
// or the reduction). Splits and fuses create new IterVars.
enum class IterKind : uint8_t { kSpatial, kReduce };
struct IterVarNode {
  Expr var;
  int64_t extent;
  IterKind kind;
};

// Factories. Binary ops on mismatched dtypes abort: the DSL front end casts explicitly.
Expr IntImm(int64_t v);
Expr FloatImm(double v);
Expr BoolImm(bool v);
Expr MakeVar(const std::string& name, DType t = DType::kInt64);
Expr Binary(ExprKind kind, Expr a, Expr b);
Expr Select(Expr cond, Expr t, Expr f);
Expr Cast(DType t, Expr v);
Expr Load(Buffer buffer, Expr index);
Expr Min(Expr a, Expr b);
Expr Max(Expr a, Expr b);
Expr Not(Expr a);
Expr Exp(Expr a);   // float32
Expr Sqrt(Expr a);  // float32
// Composed of the above (float32): erf by Abramowitz and Stegun 7.1.26 (absolute error at
// most 1.5e-7); tanh as 1 - 2 / (e^2a + 1); GELU's erf form a / 2 * (1 + erf(a / sqrt 2))
// and its tanh form a / 2 * (1 + tanh(sqrt(2 / pi) * (a + 0.044715 a^3))).
Expr Erf(Expr a);
Expr Tanh(Expr a);
Expr Gelu(Expr a);
Expr GeluTanh(Expr a);
IterVar MakeIterVar(const std::string& name, int64_t extent, IterKind kind);

Expr operator+(Expr a, Expr b);
Expr operator-(Expr a, Expr b);
Expr operator*(Expr a, Expr b);
Expr operator/(Expr a, Expr b);
Expr operator%(Expr a, Expr b);
Expr operator-(Expr a);
Expr operator<(Expr a, Expr b);
Expr operator<=(Expr a, Expr b);
Expr operator>(Expr a, Expr b);
Expr operator>=(Expr a, Expr b);
Expr operator==(Expr a, Expr b);
Expr operator!=(Expr a, Expr b);
Expr operator&&(Expr a, Expr b);
Expr operator||(Expr a, Expr b);

bool IsConstInt(const Expr& e, int64_t* value = nullptr);
bool IsConstFloat(const Expr& e, double* value = nullptr);
// Structural equality; variables compare by identity.
bool ExprEqual(const Expr& a, const Expr& b);

// A memory region the lowered code reads or writes.
enum class BufferScope : uint8_t { kArgument, kGlobal, kLocal };
struct BufferNode {
  std::string name;
  DType dtype;
  int64_t size;  // elements
  BufferScope scope;
};
Buffer MakeBuffer(const std::string& name, DType t, int64_t size, BufferScope scope);

enum class StmtKind : uint8_t { kFor, kSeq, kIf, kStore, kAllocate };
enum class ForKind : uint8_t { kSerial, kParallel, kVectorized, kUnrolled };
const char* ForKindName(ForKind k);

struct StmtNode {
  StmtKind kind;
  Expr var, min, extent;  // kFor
  ForKind for_kind = ForKind::kSerial;
  Expr cond;              // kIf
  Expr index, value;      // kStore
  Buffer buffer;          // kStore, kAllocate
  Stmt body, else_body;   // kFor, kIf (then = body), kAllocate
  std::vector<Stmt> seq;  // kSeq
};

Stmt For(Expr var, Expr min, Expr extent, ForKind kind, Stmt body);
Stmt Seq(std::vector<Stmt> stmts);  // flattens nested sequences, drops nulls
Stmt IfThenElse(Expr cond, Stmt then_body, Stmt else_body = nullptr);
Stmt Store(Buffer buffer, Expr index, Expr value);
Stmt Allocate(Buffer buffer, Stmt body);

// Visits every node of an expression tree, parents before children.
void VisitExpr(const Expr& e, const std::function<void(const Expr&)>& fn);
// Rebuilds a tree bottom-up: fn sees a node whose children are already rewritten and
// returns its replacement (or the node itself).
Expr MutateExpr(const Expr& e, const std::function<Expr(const Expr&)>& fn);
// Replaces variables (by identity) with expressions.
Expr Substitute(const Expr& e, const std::vector<std::pair<const ExprNode*, Expr>>& map);

// Rewrites every expression held by a statement (loop bounds, conditions, indices,
// values) with fn; the statement structure is kept.
Stmt MutateStmtExprs(const Stmt& s, const std::function<Expr(const Expr&)>& fn);
Stmt SubstituteStmt(const Stmt& s, const std::vector<std::pair<const ExprNode*, Expr>>& map);

// Human-readable text of a tree, for error messages, tests and `--dump-ir`.
std::string ToString(const Expr& e);
std::string ToString(const Stmt& s);

}  // namespace priortune::compiler

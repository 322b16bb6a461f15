#include "compiler/ir/tensor.h"

#include <algorithm>
#include <limits>

#include "compiler/support/status.h"

namespace priortune::compiler {

int64_t Tensor::size() const {
  int64_t n = 1;
  for (int64_t d : op_->shape) n *= d;
  return n;
}

Expr Tensor::operator()(const std::vector<Expr>& index) const {
  PT_CHECK(index.size() == op_->shape.size(), "tensor " + op_->name + " has rank " + std::to_string(op_->shape.size()) +
                                                  " but is indexed with " + std::to_string(index.size()) + " indices");
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::kTensorRead;
  n->dtype = op_->dtype;
  n->op = op_;
  n->args = index;
  for (const auto& i : index) PT_CHECK(i->dtype == DType::kInt64, "index must be an integer");
  return Expr(std::move(n));
}

Tensor Placeholder(const std::string& name, std::vector<int64_t> shape, DType dtype) {
  auto op = std::make_shared<OperationNode>();
  op->name = name;
  op->dtype = dtype;
  op->shape = std::move(shape);
  op->is_placeholder = true;
  return Tensor(std::move(op));
}

IterVar ReduceAxis(int64_t extent, const std::string& name) { return MakeIterVar(name, extent, IterKind::kReduce); }

namespace {
Expr MakeReduce(ReduceKind kind, Expr source, std::vector<IterVar> axes) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::kReduce;
  n->dtype = source->dtype;
  n->reduce = kind;
  n->a = std::move(source);
  n->reduce_axes = std::move(axes);
  return Expr(std::move(n));
}
}  // namespace

Expr Sum(Expr source, std::vector<IterVar> axes) {
  return MakeReduce(ReduceKind::kSum, std::move(source), std::move(axes));
}

Expr Reduce(ReduceKind kind, Expr source, std::vector<IterVar> axes) {
  return MakeReduce(kind, std::move(source), std::move(axes));
}

Expr ReduceIdentity(ReduceKind kind, DType t) {
  switch (kind) {
    case ReduceKind::kSum:
      return t == DType::kFloat32 ? FloatImm(0.0) : IntImm(0);
    case ReduceKind::kMax:
      return t == DType::kFloat32 ? FloatImm(-std::numeric_limits<double>::infinity())
                                  : IntImm(std::numeric_limits<int64_t>::min());
  }
  return Expr();
}

Expr ReduceCombine(ReduceKind kind, Expr acc, Expr value) {
  switch (kind) {
    case ReduceKind::kSum:
      return acc + value;
    case ReduceKind::kMax:
      return Max(acc, value);
  }
  return Expr();
}

Tensor ComputeImpl(const std::string& name, std::vector<int64_t> shape,
                   const std::function<Expr(const std::vector<Expr>&)>& fn) {
  static const char* kAxisNames[] = {"i", "j", "k", "l", "m", "n"};
  auto op = std::make_shared<OperationNode>();
  op->name = name;
  op->shape = shape;
  std::vector<Expr> vars;
  for (size_t d = 0; d < shape.size(); ++d) {
    std::string axis = d < 6 ? kAxisNames[d] : "ax" + std::to_string(d);
    op->axes.push_back(MakeIterVar(name + "." + axis, shape[d], IterKind::kSpatial));
    vars.push_back(op->axes.back()->var);
  }
  Expr body = fn(vars);
  PT_CHECK(body, "compute " + name + " returned no expression");
  if (body->kind == ExprKind::kReduce) {
    op->combiner = body->reduce;
    op->reduce_axes = body->reduce_axes;
    body = body->a;
  }
  VisitExpr(body, [&](const Expr& e) {
    PT_CHECK(e->kind != ExprKind::kReduce, "compute " + name + ": a reduction may only be the whole body");
    if (e->kind == ExprKind::kTensorRead &&
        std::find(op->inputs.begin(), op->inputs.end(), e->op) == op->inputs.end()) {
      op->inputs.push_back(e->op);
    }
  });
  op->dtype = body->dtype;
  op->body = std::move(body);
  return Tensor(std::move(op));
}

}  // namespace priortune::compiler

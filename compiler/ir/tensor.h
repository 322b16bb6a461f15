// The tensor-expression DSL in Einstein notation: placeholders for inputs, and `compute`
// stages whose body is an expression of their spatial axes, optionally a reduction:
//   Tensor C = Compute("C", {M, N}, [&](Expr i, Expr j) { return Sum(A(i, k) * B(k, j), {k}); });
// Shapes are concrete: a workload is an operator instance with known sizes.
#pragma once

#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "compiler/ir/expr.h"

namespace priortune::compiler {

class Tensor;

// One stage of the computation. Immutable once built.
struct OperationNode {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  bool is_placeholder = false;
  std::vector<IterVar> axes;         // spatial, one per output dim
  std::vector<IterVar> reduce_axes;  // empty if not a reduction
  ReduceKind combiner = ReduceKind::kSum;
  Expr body;                                                 // the value, or the reduction's source
  std::vector<std::shared_ptr<const OperationNode>> inputs;  // ops read by body, in order
};
using Operation = std::shared_ptr<const OperationNode>;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Operation op) : op_(std::move(op)) {}

  const Operation& op() const { return op_; }
  const std::string& name() const { return op_->name; }
  const std::vector<int64_t>& shape() const { return op_->shape; }
  int64_t size() const;  // number of elements
  explicit operator bool() const { return op_ != nullptr; }
  bool operator==(const Tensor& o) const { return op_ == o.op_; }

  // An element read: A(i, j). The index count must match the rank (aborts otherwise:
  // operator definitions are code, not input).
  Expr operator()(const std::vector<Expr>& index) const;
  template <typename... Args>
  Expr operator()(Args... index) const {
    return (*this)(std::vector<Expr>{Expr(index)...});
  }

 private:
  Operation op_;
};

Tensor Placeholder(const std::string& name, std::vector<int64_t> shape, DType dtype = DType::kFloat32);

// A reduction axis over [0, extent).
IterVar ReduceAxis(int64_t extent, const std::string& name);

Expr Sum(Expr source, std::vector<IterVar> axes);
Expr Reduce(ReduceKind kind, Expr source, std::vector<IterVar> axes);

// The value a reduction starts from.
Expr ReduceIdentity(ReduceKind kind, DType t);
// combine(acc, value) of a reduction.
Expr ReduceCombine(ReduceKind kind, Expr acc, Expr value);

Tensor ComputeImpl(const std::string& name, std::vector<int64_t> shape,
                   const std::function<Expr(const std::vector<Expr>&)>& fn);

// fn takes either one Expr per dimension or a std::vector<Expr>.
template <typename F>
Tensor Compute(const std::string& name, std::vector<int64_t> shape, F fn) {
  if constexpr (std::is_invocable_v<F, const std::vector<Expr>&>) {
    return ComputeImpl(name, std::move(shape), fn);
  } else if constexpr (std::is_invocable_v<F, Expr>) {
    return ComputeImpl(name, std::move(shape), [&](const std::vector<Expr>& i) { return fn(i[0]); });
  } else if constexpr (std::is_invocable_v<F, Expr, Expr>) {
    return ComputeImpl(name, std::move(shape), [&](const std::vector<Expr>& i) { return fn(i[0], i[1]); });
  } else if constexpr (std::is_invocable_v<F, Expr, Expr, Expr>) {
    return ComputeImpl(name, std::move(shape), [&](const std::vector<Expr>& i) { return fn(i[0], i[1], i[2]); });
  } else if constexpr (std::is_invocable_v<F, Expr, Expr, Expr, Expr>) {
    return ComputeImpl(name, std::move(shape), [&](const std::vector<Expr>& i) { return fn(i[0], i[1], i[2], i[3]); });
  } else if constexpr (std::is_invocable_v<F, Expr, Expr, Expr, Expr, Expr>) {
    return ComputeImpl(name, std::move(shape),
                       [&](const std::vector<Expr>& i) { return fn(i[0], i[1], i[2], i[3], i[4]); });
  } else {
    static_assert(std::is_invocable_v<F, Expr, Expr, Expr, Expr, Expr, Expr>,
                  "compute body takes 1 to 6 Expr indices or a std::vector<Expr>");
    return ComputeImpl(name, std::move(shape),
                       [&](const std::vector<Expr>& i) { return fn(i[0], i[1], i[2], i[3], i[4], i[5]); });
  }
}

}  // namespace priortune::compiler

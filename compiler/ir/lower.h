// Lowering: a Schedule becomes one loop-nest function over flat buffers. Bound inference
// gives each attached stage the region its consumer needs; non-divisible splits get
// guards; loops whose guards hold on a prefix of their range are partitioned, so the
// main part runs guard-free and only the tail checks.
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/expr.h"
#include "compiler/ir/schedule.h"
#include "compiler/support/status.h"

namespace priortune::compiler {

struct LoweredArg {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype;
  Buffer buffer;
  bool is_output;
};

struct LoweredPrepack;

// A function `void name(void** args)` in IR form; args in the order given to Lower().
struct LoweredFunc {
  std::string name;
  std::vector<LoweredArg> args;
  Stmt body;
  // Layout changes of constant inputs (packed weights), run once when the kernel is bound
  // to its inputs instead of in every call: what TVM's alter_op_layout does with a model's
  // weights at build time. `args` then holds the packed buffer where the caller's input
  // was; the caller still passes the input as the template's ArgShapes say.
  std::vector<LoweredPrepack> prepacks;
};

struct LoweredPrepack {
  size_t arg;        // the caller's argument it reads and the main function's it replaces
  LoweredFunc func;  // args: {the caller's input, the packed buffer (output)}; no prepacks
};

// `args` lists the function's parameters: every placeholder the computation reads and
// every output of the schedule, each once. Fails with the schedule's first error, or
// InvalidArgument for a missing argument, an illegal attachment (compute_at to a stage
// that does not consume it, inside a vectorized loop), nested vectorized or parallel
// loops, or a vectorized loop wider than kMaxVectorLanes.
inline constexpr int64_t kMaxVectorLanes = 64;
StatusOr<LoweredFunc> Lower(const Schedule& schedule, const std::string& name, const std::vector<Tensor>& args);

// Splits loops at the point where conditions inside them become provably true, then
// simplifies. Exposed for tests.
Stmt PartitionLoops(const Stmt& s);

}  // namespace priortune::compiler

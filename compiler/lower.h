// Lowering: a Schedule becomes one loop-nest function over flat buffers. Bound inference
// gives each attached stage the region its consumer needs; non-divisible splits get
// guards; loops whose guards hold on a prefix of their range are partitioned, so the
// main part runs guard-free and only the tail checks.
#pragma once

#include <string>
#include <vector>

#include "compiler/expr.h"
#include "compiler/schedule.h"
#include "compiler/status.h"

namespace priortune::compiler {

struct LoweredArg {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype;
  Buffer buffer;
  bool is_output;
};

// A function `void name(void** args)` in IR form; args in the order given to Lower().
struct LoweredFunc {
  std::string name;
  std::vector<LoweredArg> args;
  Stmt body;
};

// `args` lists the function's parameters: every placeholder the computation reads and
// every output of the schedule, each once. Fails with the schedule's first error, or
// InvalidArgument for a missing argument, an illegal attachment (compute_at to a stage
// that does not consume it, inside a vectorized loop), nested vectorized or parallel
// loops, or a vectorized loop wider than 64 lanes.
StatusOr<LoweredFunc> Lower(const Schedule& schedule, const std::string& name,
                            const std::vector<Tensor>& args);

// Splits loops at the point where conditions inside them become provably true, then
// simplifies. Exposed for tests.
Stmt PartitionLoops(const Stmt& s);

}  // namespace priortune::compiler

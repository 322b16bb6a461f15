// Where a kernel's temporaries live: on the stack while the kernel's frames stay under the
// target's stack budget (Target::stack_bytes), else in a workspace the caller provides.
// A kernel never allocates: the workspace is sized here, at build time, and reported by
// the kernel (Kernel::workspace(), the model plan), so every allocation happens in the
// caller, where a failure can be reported instead of crashing the kernel.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "compiler/ir/expr.h"
#include "compiler/ir/lower.h"

namespace priortune::compiler {

struct Target;

// The workspace a kernel call needs: `fixed_bytes` for the temporaries outside parallel
// loops, plus `slot_bytes` per slot for those inside one (each chunk of a parallel loop
// runs in a slot of its own; a call given S slots runs its parallel loops in at most S
// chunks). Offsets are 64-byte aligned from a 64-byte aligned base.
struct KernelWorkspace {
  int64_t fixed_bytes = 0;
  int64_t slot_bytes = 0;
  int64_t Bytes(int64_t slots) const { return fixed_bytes + slot_bytes * (slots < 1 ? 1 : slots); }
  bool empty() const { return fixed_bytes == 0 && slot_bytes == 0; }
};

struct BufferPlacement {
  bool on_stack = true;
  bool per_slot = false;  // in the parallel chunk's slot (else the fixed region)
  int64_t offset = 0;     // bytes from the region's start, when not on the stack
  int64_t bytes = 0;
};

struct MemoryPlan {
  // Per Allocate statement (loop partitioning may allocate one buffer in several places).
  std::unordered_map<const StmtNode*, BufferPlacement> placement;
  int64_t stack_bytes = 0;  // temporaries on the stack, over the kernel's frames
  KernelWorkspace workspace;
};

// Plans the Allocate statements of `body`. Smaller buffers go on the stack first (they
// are the register tiles and accumulators LLVM keeps in registers), as long as the
// total stays within `stack_limit_bytes`; the rest go to the workspace, which is used
// like a stack (an allocation's bytes are free again after its scope, so sibling scopes
// share them). Parallel loops
// are outlined as code generation does it (the outermost parallel loop that is not inside
// a vectorized loop), and a buffer allocated inside one gets a per-slot copy.
// Deterministic: code generation and the callers that size the workspace agree.
MemoryPlan PlanMemory(const Stmt& body, int64_t stack_limit_bytes);

// The workspace of `f` and its prepacks built for `t` (they never run at once: the
// largest of them).
KernelWorkspace WorkspaceOf(const LoweredFunc& f, const Target& t);

}  // namespace priortune::compiler

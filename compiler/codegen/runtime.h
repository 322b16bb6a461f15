// The runtime that generated kernels call: a small thread pool for parallel loops and the
// report of a bounds-checked kernel's violation; and the call context a kernel takes.
// C ABI, so that JIT code and object files link against it by name.
//
// A kernel is `int32_t name_packed(void** args, pt_kernel_ctx* ctx)`: it returns 0, or 1
// when it was built with bounds checks and an access fell outside its buffer (nothing
// was read or written there; ctx->error says where). It never allocates: temporaries
// that do not fit its stack budget live in ctx->workspace (memory_plan.h sizes it).
#pragma once

#include <cstdint>
#include <string>

extern "C" {

// Where a bounds-checked kernel reports its first violation.
#define PT_BOUNDS_MAX_LOOPS 16
typedef struct pt_bounds_error {
  int32_t violated;  // 0 until a violation; set once (the first one wins)
  int32_t is_store;
  int32_t nloops;
  int32_t claimed;     // internal: taken by the first violation, before it is filled in
  const char* buffer;  // the buffer's name (static storage of the kernel's code)
  const char* loops;   // the enclosing loops, outermost first, comma-separated (ditto)
  int64_t index;       // the flat element index
  int64_t extent;      // the buffer's elements
  int64_t loop_values[PT_BOUNDS_MAX_LOOPS];
} pt_bounds_error;

// A checked access of a kernel, in the table its code holds.
typedef struct pt_bounds_site {
  const char* buffer;
  const char* loops;  // the enclosing loops, outermost first, comma-separated
  int64_t extent;     // the buffer's elements
  int32_t is_store;
  int32_t nloops;      // at most PT_BOUNDS_MAX_LOOPS (the innermost ones)
  int32_t lane_loop;   // which of them is the vectorized loop (its value is lane 0's), -1: none
  int32_t first_loop;  // where they start in the kernel's loop-position array
} pt_bounds_site;

typedef struct pt_kernel_ctx {
  void* workspace;         // 64-byte aligned, at least the kernel's workspace for `slots`
  int64_t slots;           // parallel chunks the workspace has room for (>= 1)
  pt_bounds_error* error;  // where violations go; may be NULL
} pt_kernel_ctx;

// Runs fn(begin, end, closure, slot) over [0, n) split into contiguous chunks, one per
// thread and at most `max_slots` of them; `slot` numbers the chunks from 0. Returns when
// all are done. Thread-safe; a call from inside a parallel region, or while another
// thread owns the pool, runs serially on the caller (slot 0).
int pt_parallel_for(void (*fn)(int64_t begin, int64_t end, void* closure, int64_t slot), void* closure, int64_t n,
                    int64_t max_slots);
// Called by a bounds-checked kernel before it returns 1: `index` at `site` in vector lane
// `lane`, with the kernel's loop-position array. Thread-safe.
void pt_bounds_violation(pt_kernel_ctx* ctx, const pt_bounds_site* site, int64_t index, int64_t lane,
                         const int64_t* loop_position);
// 64-byte aligned allocation for the host side (arguments, workspaces); NULL when
// memory is exhausted. Kernels never call it.
void* pt_alloc(int64_t bytes);
void pt_free(void* p);
}

namespace priortune::compiler {
// "store to C at flat index 1024, outside its 1024 elements, at loops i=3, j.o=17".
std::string DescribeBoundsError(const pt_bounds_error& e);
// Threads used by parallel loops (the caller counts as one). Default: hardware cores.
void SetNumThreads(int n);
int NumThreads();
// Chunks of parallel loops that pool threads other than the caller have run since the
// process started: shows that a parallel loop really ran on more than one thread.
int64_t ParallelChunksOnWorkers();
}  // namespace priortune::compiler

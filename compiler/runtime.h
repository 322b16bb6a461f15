// The runtime that generated kernels call: a small thread pool for parallel loops and
// aligned allocation for intermediate buffers. C ABI, so that JIT code and object files
// link against it by name.
#pragma once

#include <cstdint>

extern "C" {
// Runs fn(begin, end, closure) over [0, n) split into contiguous chunks, one per thread,
// and returns when all are done. Thread-safe; a call from inside a parallel region, or
// while another thread owns the pool, runs serially on the caller.
int pt_parallel_for(void (*fn)(int64_t begin, int64_t end, void* closure), void* closure,
                    int64_t n);
// 64-byte aligned allocation; aborts when memory is exhausted.
void* pt_alloc(int64_t bytes);
void pt_free(void* p);
}

namespace priortune::compiler {
// Threads used by parallel loops (the caller counts as one). Default: hardware cores.
void SetNumThreads(int n);
int NumThreads();
// Chunks of parallel loops that pool threads other than the caller have run since the
// process started: shows that a parallel loop really ran on more than one thread.
int64_t ParallelChunksOnWorkers();
}  // namespace priortune::compiler

// Thread pool for parallel loops. Workers spin briefly after a job (kernels are usually
// called back to back during timing, and waking a sleeping thread costs tens of
// microseconds), then sleep on a condition variable.
#include "compiler/codegen/runtime.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace priortune::compiler {
namespace {

// A spin-wait hint: lets the sibling hyperthread run and saves power while spinning.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#else
  std::this_thread::yield();
#endif
}

thread_local bool tls_in_parallel = false;

using ChunkFn = void (*)(int64_t, int64_t, void*, int64_t);

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { Resize(threads); }
  ~ThreadPool() { Stop(); }

  void Resize(int threads) {
    std::lock_guard<std::mutex> run(run_mu_);
    Stop();
    threads_ = std::max(1, threads);
    stop_ = false;
    // Workers start from the current generation: earlier jobs are not theirs to run.
    uint64_t now = generation_.load(std::memory_order_acquire);
    for (int t = 1; t < threads_; ++t) workers_.emplace_back([this, t, now] { Loop(t, now); });
  }

  int threads() const { return threads_; }

  int Run(ChunkFn fn, void* closure, int64_t n, int64_t max_slots) {
    std::unique_lock<std::mutex> run(run_mu_, std::try_to_lock);
    if (tls_in_parallel || !run.owns_lock() || threads_ == 1 || n <= 1 || max_slots <= 1) {
      fn(0, n, closure, 0);
      return 0;
    }
    fn_ = fn;
    closure_ = closure;
    n_ = n;
    active_ = static_cast<int>(std::min<int64_t>(std::min<int64_t>(threads_, n), max_slots));
    pending_.store(threads_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    tls_in_parallel = true;
    Chunk(0);
    tls_in_parallel = false;
    while (pending_.load(std::memory_order_acquire) != 0) CpuRelax();
    return 0;
  }

  int64_t worker_chunks() const { return worker_chunks_.load(std::memory_order_relaxed); }

 private:
  // Runs thread t's share; true if it was not empty.
  bool Chunk(int t) {
    if (t >= active_) return false;
    int64_t begin = n_ * t / active_, end = n_ * (t + 1) / active_;
    if (begin >= end) return false;
    fn_(begin, end, closure_, t);
    return true;
  }

  void Loop(int t, uint64_t seen) {
    tls_in_parallel = true;
    for (;;) {
      uint64_t g = 0;
      for (int spin = 0; spin < 200000; ++spin) {
        g = generation_.load(std::memory_order_acquire);
        if (g != seen || stop_.load(std::memory_order_relaxed)) break;
        CpuRelax();
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen || stop_.load(); });
        g = generation_.load(std::memory_order_acquire);
      }
      if (stop_.load()) return;
      seen = g;
      if (Chunk(t)) worker_chunks_.fetch_add(1, std::memory_order_relaxed);
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::mutex run_mu_;  // one parallel region at a time
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> worker_chunks_{0};
  int threads_ = 1;
  ChunkFn fn_ = nullptr;
  void* closure_ = nullptr;
  int64_t n_ = 0;
  int active_ = 1;
};

ThreadPool& Pool() {
  static ThreadPool* pool = new ThreadPool(static_cast<int>(std::thread::hardware_concurrency()));
  return *pool;
}

}  // namespace

std::string DescribeBoundsError(const pt_bounds_error& e) {
  std::string s = std::string(e.is_store ? "store to " : "load of ") + (e.buffer ? e.buffer : "?") + " at flat index " +
                  std::to_string(e.index) + ", outside its " + std::to_string(e.extent) + " elements";
  if (e.nloops > 0 && e.loops) {
    s += ", at loops ";
    std::string names = e.loops;
    size_t start = 0;
    for (int32_t i = 0; i < e.nloops; ++i) {
      size_t comma = names.find(',', start);
      std::string name = names.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      s += (i ? ", " : "") + name + "=" + std::to_string(e.loop_values[i]);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return s;
}

void SetNumThreads(int n) {
  if (Pool().threads() != n) Pool().Resize(n);
}
int NumThreads() { return Pool().threads(); }
int64_t ParallelChunksOnWorkers() { return Pool().worker_chunks(); }

}  // namespace priortune::compiler

extern "C" int pt_parallel_for(void (*fn)(int64_t, int64_t, void*, int64_t), void* closure, int64_t n,
                               int64_t max_slots) {
  return priortune::compiler::Pool().Run(fn, closure, n, max_slots);
}

extern "C" void pt_bounds_violation(pt_kernel_ctx* ctx, const pt_bounds_site* site, int64_t index, int64_t lane,
                                    const int64_t* loop_position) {
  if (!ctx || !ctx->error || !site) return;
  pt_bounds_error* e = ctx->error;
  int32_t expected = 0;
  // Claim the record (the first violation wins), fill it, then publish it.
  if (!__atomic_compare_exchange_n(&e->claimed, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
  e->is_store = site->is_store;
  e->buffer = site->buffer;
  e->loops = site->loops;
  e->index = index;
  e->extent = site->extent;
  e->nloops = site->nloops < 0 ? 0 : site->nloops > PT_BOUNDS_MAX_LOOPS ? PT_BOUNDS_MAX_LOOPS : site->nloops;
  for (int32_t i = 0; i < e->nloops; ++i)
    e->loop_values[i] = loop_position[site->first_loop + i] + (i == site->lane_loop ? lane : 0);
  __atomic_store_n(&e->violated, 1, __ATOMIC_RELEASE);
}

extern "C" void* pt_alloc(int64_t bytes) {
  if (bytes < 0) return nullptr;
  size_t size = (static_cast<size_t>(bytes) + 63) / 64 * 64;
  return std::aligned_alloc(64, size == 0 ? 64 : size);
}

extern "C" void pt_free(void* p) { std::free(p); }

// Built by memory_safety_test against a model library: makes the library's aligned
// allocations fail from the N-th on (the executable's aligned_alloc interposes the C
// library's) for N = 0, 1, 2, ... until pt_model_create succeeds. Every failed creation
// must return NULL with an "out of memory" message, never abort; then the model runs.
// Prints one line per N and exits 0 when all held.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "priortune_model.h"

static long g_calls = 0;
static long g_fail_from = -1;  // -1: never fail

extern "C" void* aligned_alloc(size_t alignment, size_t size) {
  using Fn = void* (*)(size_t, size_t);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "aligned_alloc"));
  if (g_fail_from >= 0 && g_calls++ >= g_fail_from) return nullptr;
  return real(alignment, size);
}

int main() {
  int failures = 0;
  for (long n = 0; n < 10000; ++n) {
    g_calls = 0;
    g_fail_from = n;
    pt_model* m = pt_model_create();
    g_fail_from = -1;
    if (m) {
      std::vector<float> in(static_cast<size_t>(pt_model_input_size(m)), 0.5f);
      std::vector<float> out(static_cast<size_t>(pt_model_output_size(m)));
      int rc =
          pt_model_run(m, in.data(), static_cast<int64_t>(in.size()), out.data(), static_cast<int64_t>(out.size()));
      pt_model_destroy(m);
      std::printf("created after %ld failing allocation point(s); run: %d\n", n, rc);
      return failures == 0 && rc == 0 && n > 0 ? 0 : 1;
    }
    const char* e = pt_model_last_error();
    std::printf("allocation %ld failed: %s\n", n, e);
    if (std::strstr(e, "out of memory") == nullptr) ++failures;
  }
  return 1;
}

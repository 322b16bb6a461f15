// The runtime inside a model library (build-model): reads the plan build-model embedded
// (pt_model_plan_text), points the constant buffers into the embedded weights
// (pt_model_params), allocates the others, runs the prepacks once and then, per
// inference, each step's kernel through the function table (pt_model_functions). Only the
// C++ standard library: no LLVM, store, gRPC or priortune header beyond runtime.h.
//
// The kernels never allocate: one workspace, the largest any step needs (memory_plan.h),
// is allocated with the model and handed to every kernel call (steps run one at a time).
// Every allocation is checked: a failure is an error of pt_model_create or pt_model_run,
// never an abort.
//
// The plan text, one item per line:
//   priortune-plan 3
//   info <text to the end of the line>
//   threads <the thread count it was built for: the default until pt_model_set_threads>
//   buffers <n>
//   b <elements> <params offset in floats, or -1> <view of buffer, or -1>
//   steps <n>
//   s <function> <nargs> <arg buffer>... <workspace fixed bytes> <workspace bytes per slot>
//     <nprepacks> (<arg> <packed elements> <function>)...
//   io <input buffer> <output buffer>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/codegen/runtime.h"
#include "compiler/model/model_deploy.h"

using pt_fn = int32_t (*)(void**, pt_kernel_ctx*);
extern "C" {
extern const char pt_model_plan_text[];
extern const float pt_model_params[];
extern const pt_fn pt_model_functions[];
extern const int64_t pt_model_function_count;
}

namespace {

thread_local std::string g_error;
// Whether pt_model_set_threads was called: until it is, a model runs with the thread
// count it was built for.
std::atomic<bool> g_threads_set{false};

struct Step {
  pt_fn fn;
  std::vector<int> args;
  int64_t ws_fixed = 0, ws_slot = 0;
  struct Prepack {
    int arg;
    int64_t elements;
    pt_fn fn;
  };
  std::vector<Prepack> prepacks;
};

struct Plan {
  std::string info;
  int threads = 1;  // the thread count it was built (and its kernels tuned) for
  std::vector<int64_t> elements, offset;
  std::vector<int> view;
  std::vector<Step> steps;
  int input = -1, output = -1;
};

bool ParsePlan(Plan& p) {
  std::istringstream in(pt_model_plan_text);
  std::string word;
  int version = 0;
  in >> word >> version;
  if (word != "priortune-plan" || version != 3) return false;
  in >> word;
  if (word != "info") return false;
  std::getline(in, p.info);
  if (!p.info.empty() && p.info[0] == ' ') p.info.erase(0, 1);
  in >> word >> p.threads;
  if (word != "threads" || p.threads < 1) return false;
  size_t n = 0;
  in >> word >> n;
  if (word != "buffers") return false;
  for (size_t i = 0; i < n; ++i) {
    int64_t e = 0, off = 0;
    int view = 0;
    in >> word >> e >> off >> view;
    if (word != "b" || e < 0 || view >= static_cast<int>(i)) return false;
    p.elements.push_back(e);
    p.offset.push_back(off);
    p.view.push_back(view);
  }
  in >> word >> n;
  if (word != "steps") return false;
  auto fn = [&](int64_t i) -> pt_fn { return i >= 0 && i < pt_model_function_count ? pt_model_functions[i] : nullptr; };
  for (size_t i = 0; i < n; ++i) {
    Step s;
    int64_t f = 0;
    size_t nargs = 0, npre = 0;
    in >> word >> f >> nargs;
    if (word != "s" || !(s.fn = fn(f))) return false;
    for (size_t a = 0; a < nargs; ++a) {
      int b = -1;
      in >> b;
      if (b < 0 || b >= static_cast<int>(p.elements.size())) return false;
      s.args.push_back(b);
    }
    in >> s.ws_fixed >> s.ws_slot >> npre;
    if (s.ws_fixed < 0 || s.ws_slot < 0) return false;
    for (size_t k = 0; k < npre; ++k) {
      Step::Prepack pp{};
      int64_t pf = 0;
      in >> pp.arg >> pp.elements >> pf;
      if (pp.arg < 0 || pp.arg >= static_cast<int>(nargs) || !(pp.fn = fn(pf))) return false;
      s.prepacks.push_back(pp);
    }
    p.steps.push_back(std::move(s));
  }
  in >> word >> p.input >> p.output;
  return word == "io" && !in.fail() && p.input >= 0 && p.output >= 0 && p.input < static_cast<int>(p.elements.size()) &&
         p.output < static_cast<int>(p.elements.size());
}

}  // namespace

struct pt_model {
  Plan plan;
  std::vector<float*> memory;
  std::vector<void*> owned;
  std::vector<std::vector<void*>> step_args;  // packed buffers in place of packed inputs
  void* workspace = nullptr;
  int64_t slots = 0;  // parallel chunks the workspace has room for
  ~pt_model() {
    for (void* p : owned) std::free(p);
    std::free(workspace);
  }
};

namespace {

// A 64-byte aligned block of `bytes` (at least 64), or null with g_error set.
void* AllocBytes(int64_t bytes, const char* what) {
  const size_t size = (static_cast<size_t>(std::max<int64_t>(bytes, 1)) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, size);
  if (!p) g_error = "out of memory: cannot allocate " + std::to_string(size) + " bytes for " + what;
  return p;
}

void* AllocFloats(int64_t elements) { return AllocBytes(elements * 4, "the model's buffers"); }

// The workspace for `slots` parallel chunks: the largest any step needs.
int64_t WorkspaceBytes(const Plan& p, int64_t slots) {
  int64_t most = 0;
  for (const Step& s : p.steps) most = std::max(most, s.ws_fixed + s.ws_slot * slots);
  return most;
}

// Makes room for the pool's current threads (pt_model_set_threads may have raised them).
bool EnsureWorkspace(pt_model* m) {
  const int64_t slots = std::max(1, priortune::compiler::NumThreads());
  if (m->workspace && slots <= m->slots) return true;
  const int64_t bytes = WorkspaceBytes(m->plan, slots);
  if (m->workspace && bytes <= WorkspaceBytes(m->plan, m->slots)) {
    m->slots = slots;
    return true;
  }
  void* ws = AllocBytes(bytes, "the kernels' workspace");
  if (!ws) return false;
  std::free(m->workspace);
  m->workspace = ws;
  m->slots = slots;
  return true;
}

// Runs one kernel; false with g_error set when it reports a bounds violation.
bool Call(pt_model* m, pt_fn fn, void** args, size_t step) {
  pt_bounds_error error;
  error.violated = error.claimed = 0;
  pt_kernel_ctx ctx{m->workspace, m->slots, &error};
  if (fn(args, &ctx) == 0) return true;
  g_error = "step " + std::to_string(step) + ": " +
            (error.violated ? "bounds violation: " + priortune::compiler::DescribeBoundsError(error)
                            : std::string("the kernel failed without a report"));
  return false;
}

}  // namespace

extern "C" {

pt_model* pt_model_create(void) {
  auto m = std::make_unique<pt_model>();
  if (!ParsePlan(m->plan)) {
    g_error = "the library's embedded plan is malformed";
    return nullptr;
  }
  const Plan& p = m->plan;
  if (!g_threads_set.load()) priortune::compiler::SetNumThreads(p.threads);
  m->memory.assign(p.elements.size(), nullptr);
  for (size_t i = 0; i < p.elements.size(); ++i) {
    if (p.view[i] >= 0) {
      m->memory[i] = m->memory[p.view[i]];
    } else if (p.offset[i] >= 0) {
      m->memory[i] = const_cast<float*>(pt_model_params + p.offset[i]);  // kernels only read it
    } else {
      m->owned.push_back(nullptr);  // first, so that a failed push_back cannot leak the buffer
      void* buf = m->owned.back() = AllocFloats(p.elements[i]);
      if (!buf) return nullptr;
      std::memset(buf, 0, static_cast<size_t>(p.elements[i]) * 4);
      m->memory[i] = static_cast<float*>(buf);
    }
  }
  if (!EnsureWorkspace(m.get())) return nullptr;
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const Step& s = p.steps[i];
    std::vector<void*> args;
    for (int b : s.args) args.push_back(m->memory[b]);
    for (const auto& pp : s.prepacks) {
      m->owned.push_back(nullptr);
      void* packed = m->owned.back() = AllocFloats(pp.elements);
      if (!packed) return nullptr;
      void* pack_args[2] = {args[pp.arg], packed};
      if (!Call(m.get(), pp.fn, pack_args, i)) return nullptr;
      args[pp.arg] = packed;
    }
    m->step_args.push_back(std::move(args));
  }
  return m.release();
}

int pt_model_run(pt_model* m, const float* input, int64_t input_size, float* output, int64_t output_size) {
  const Plan& p = m->plan;
  if (input_size != p.elements[p.input] || output_size != p.elements[p.output]) {
    g_error = "sizes: the model takes " + std::to_string(p.elements[p.input]) + " inputs and gives " +
              std::to_string(p.elements[p.output]) + " outputs; given " + std::to_string(input_size) + " and " +
              std::to_string(output_size);
    return -1;
  }
  if (!EnsureWorkspace(m)) return -1;
  std::memcpy(m->memory[p.input], input, static_cast<size_t>(input_size) * 4);
  for (size_t i = 0; i < p.steps.size(); ++i)
    if (!Call(m, p.steps[i].fn, m->step_args[i].data(), i)) return -1;
  std::memcpy(output, m->memory[p.output], static_cast<size_t>(output_size) * 4);
  return 0;
}

void pt_model_destroy(pt_model* m) { delete m; }
int64_t pt_model_input_size(const pt_model* m) { return m->plan.elements[m->plan.input]; }
int64_t pt_model_output_size(const pt_model* m) { return m->plan.elements[m->plan.output]; }
void pt_model_set_threads(int threads) {
  g_threads_set = true;
  priortune::compiler::SetNumThreads(threads);
}
int pt_model_threads(void) { return priortune::compiler::NumThreads(); }
const char* pt_model_info(void) {
  static std::string info = [] {
    Plan p;
    return ParsePlan(p) ? p.info : std::string("malformed plan");
  }();
  return info.c_str();
}
const char* pt_model_last_error(void) { return g_error.c_str(); }

}  // extern "C"

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
//   priortune-plan 4
//   info <text to the end of the line>
//   threads <the thread count it was built for: the default until pt_model_set_threads>
//   buffers <n>
//   b <elements> <params offset in floats, or -1> <view of buffer, or -1>
//   steps <n>
//   s <function> <nargs> <arg buffer>... <workspace fixed bytes> <workspace bytes per slot>
//     <nprepacks> (<arg> <packed elements> <function>)...
//   inputs <n>
//   i <buffer> <type: ONNX code> <index bound, 0 if none> <rank> <dims>... <name to the end of the line>
//   outputs <n>
//   o <buffer> <type> <rank> <dims>... <name>
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
#include "compiler/support/tensor_io.h"

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
  std::vector<priortune::IoSpec> inputs, outputs;
  std::vector<int> input_buffers, output_buffers;
};

// The plan's inputs or outputs (`kind` "i" or "o"): see the format above.
bool ParseIo(std::istream& in, Plan& p, const std::string& kind) {
  std::string word;
  size_t n = 0;
  in >> word >> n;
  if (word != (kind == "i" ? "inputs" : "outputs") || n == 0) return false;
  for (size_t k = 0; k < n; ++k) {
    priortune::IoSpec io;
    int buffer = -1;
    int64_t code = 0, rank = -1;
    in >> word >> buffer >> code;
    if (kind == "i") in >> io.index_bound;
    in >> rank;
    if (word != kind || buffer < 0 || buffer >= static_cast<int>(p.elements.size()) || rank < 0 || rank > 16 ||
        !priortune::ElemTypeFromCode(code, io.dtype))
      return false;
    io.shape.resize(static_cast<size_t>(rank));
    for (int64_t& d : io.shape) in >> d;
    in.get();  // the space before the name
    std::getline(in, io.name);
    if (in.fail() || io.name.empty() || io.elements() != p.elements[buffer]) return false;
    (kind == "i" ? p.inputs : p.outputs).push_back(std::move(io));
    (kind == "i" ? p.input_buffers : p.output_buffers).push_back(buffer);
  }
  return true;
}

bool ParsePlan(Plan& p) {
  std::istringstream in(pt_model_plan_text);
  std::string word;
  int version = 0;
  in >> word >> version;
  if (word != "priortune-plan" || version != 4) return false;
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
  return ParseIo(in, p, "i") && ParseIo(in, p, "o");
}

}  // namespace

struct pt_model {
  Plan plan;
  std::vector<float*> memory;
  std::vector<void*> owned;
  std::vector<std::vector<void*>> step_args;  // packed buffers in place of packed inputs
  std::vector<float*> inputs, outputs;        // the plan's inputs' and outputs' buffers
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

int Refuse(const std::string& why) {
  g_error = why;
  return -1;
}

// Inputs converted into their buffers, the steps, the outputs asked for copied out.
int Run(pt_model* m, const std::vector<priortune::TypedIn>& in, const std::vector<priortune::TypedOut>& out) {
  const Plan& p = m->plan;
  std::string error = priortune::ConvertInputs(p.inputs, in, m->inputs.data());
  if (!error.empty()) return Refuse(error);
  if (!EnsureWorkspace(m)) return -1;
  for (size_t i = 0; i < p.steps.size(); ++i)
    if (!Call(m, p.steps[i].fn, m->step_args[i].data(), i)) return -1;
  error = priortune::ConvertOutputs(p.outputs, out, m->outputs.data());
  return error.empty() ? 0 : Refuse(error);
}

// The type of the caller's k-th input or output (`side`) as `t`; false with g_error set
// for no name or a code that is no PT_ type.
bool Typed(const char* side, int k, const char* name, int32_t code, priortune::ElemType& t) {
  const std::string what = std::string(side) + " " + std::to_string(k);
  if (!name) {
    g_error = what + ": no name (a null pointer)";
    return false;
  }
  if (!priortune::ElemTypeFromCode(code, t)) {
    g_error =
        what + " '" + name + "': type code " + std::to_string(code) + " (PT_FLOAT32, PT_INT64, PT_INT32 or PT_BOOL)";
    return false;
  }
  return true;
}

const priortune::IoSpec* Io(const pt_model* m, int i, bool input) {
  if (!m) return nullptr;
  const auto& v = input ? m->plan.inputs : m->plan.outputs;
  return i >= 0 && i < static_cast<int>(v.size()) ? &v[static_cast<size_t>(i)] : nullptr;
}

int Shape(const priortune::IoSpec* io, int64_t* dims, int max_dims) {
  if (!io) return -1;
  for (size_t d = 0; d < io->shape.size() && static_cast<int>(d) < max_dims; ++d)
    if (dims) dims[d] = io->shape[d];
  return static_cast<int>(io->shape.size());
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
  for (int b : p.input_buffers) m->inputs.push_back(m->memory[b]);
  for (int b : p.output_buffers) m->outputs.push_back(m->memory[b]);
  return m.release();
}

int pt_model_run(pt_model* m, const float* input, int64_t input_size, float* output, int64_t output_size) {
  if (!m) return Refuse("no model (a null pointer)");
  const Plan& p = m->plan;
  if (p.inputs.size() != 1 || p.inputs[0].dtype != priortune::ElemType::kFloat32)
    return Refuse("the model has " + std::to_string(p.inputs.size()) +
                  " inputs, or one that is not float32: use pt_model_run_named");
  const std::vector<priortune::TypedIn> in = {{p.inputs[0].name, priortune::ElemType::kFloat32, input, input_size}};
  const std::vector<priortune::TypedOut> out = {
      {p.outputs[0].name, priortune::ElemType::kFloat32, output, output_size}};
  return Run(m, in, out);
}

int pt_model_run_named(pt_model* m, const pt_input* inputs, int n_inputs, pt_output* outputs, int n_outputs) {
  if (!m) return Refuse("no model (a null pointer)");
  if (n_inputs < 0 || n_outputs < 0 || (n_inputs > 0 && !inputs) || (n_outputs > 0 && !outputs))
    return Refuse("negative counts, or null input or output arrays");
  std::vector<priortune::TypedIn> in;
  std::vector<priortune::TypedOut> out;
  priortune::ElemType t = priortune::ElemType::kFloat32;
  for (int k = 0; k < n_inputs; ++k) {
    if (!Typed("input", k, inputs[k].name, inputs[k].dtype, t)) return -1;
    in.push_back({inputs[k].name, t, inputs[k].data, inputs[k].elements});
  }
  for (int k = 0; k < n_outputs; ++k) {
    if (!Typed("output", k, outputs[k].name, outputs[k].dtype, t)) return -1;
    out.push_back({outputs[k].name, t, outputs[k].data, outputs[k].elements});
  }
  return Run(m, in, out);
}

void pt_model_destroy(pt_model* m) { delete m; }
int64_t pt_model_input_size(const pt_model* m) { return m ? m->plan.inputs[0].elements() : -1; }
int64_t pt_model_output_size(const pt_model* m) { return m ? m->plan.outputs[0].elements() : -1; }
int pt_model_input_count(const pt_model* m) { return m ? static_cast<int>(m->plan.inputs.size()) : -1; }
const char* pt_model_input_name(const pt_model* m, int i) {
  const priortune::IoSpec* io = Io(m, i, true);
  return io ? io->name.c_str() : nullptr;
}
int32_t pt_model_input_dtype(const pt_model* m, int i) {
  const priortune::IoSpec* io = Io(m, i, true);
  return io ? static_cast<int32_t>(io->dtype) : 0;
}
int64_t pt_model_input_elements(const pt_model* m, int i) {
  const priortune::IoSpec* io = Io(m, i, true);
  return io ? io->elements() : -1;
}
int pt_model_input_shape(const pt_model* m, int i, int64_t* dims, int max_dims) {
  return Shape(Io(m, i, true), dims, max_dims);
}
int pt_model_output_count(const pt_model* m) { return m ? static_cast<int>(m->plan.outputs.size()) : -1; }
const char* pt_model_output_name(const pt_model* m, int i) {
  const priortune::IoSpec* io = Io(m, i, false);
  return io ? io->name.c_str() : nullptr;
}
int32_t pt_model_output_dtype(const pt_model* m, int i) {
  const priortune::IoSpec* io = Io(m, i, false);
  return io ? static_cast<int32_t>(io->dtype) : 0;
}
int64_t pt_model_output_elements(const pt_model* m, int i) {
  const priortune::IoSpec* io = Io(m, i, false);
  return io ? io->elements() : -1;
}
int pt_model_output_shape(const pt_model* m, int i, int64_t* dims, int max_dims) {
  return Shape(Io(m, i, false), dims, max_dims);
}
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

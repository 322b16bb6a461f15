#include "compiler/codegen/jit.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

#include "compiler/codegen/internal/codegen_llvm.h"
#include "compiler/codegen/runtime.h"

namespace priortune::compiler {

using Entry = int32_t (*)(void* const*, pt_kernel_ctx*);

struct KernelState {
  struct Prepack {
    size_t arg;
    int64_t bytes;  // of the packed buffer
    Entry entry;
  };
  std::string name;
  std::vector<LoweredArg> args;
  double compile_ms = 0;
  Entry entry = nullptr;
  std::vector<Prepack> prepacks;
  KernelWorkspace workspace;
  bool check_bounds = false;
  llvm::orc::ResourceTrackerSP tracker;
  ~KernelState() {
    if (tracker) llvm::consumeError(tracker->remove());
  }
};

int64_t ElementBytes(DType t) { return t == DType::kInt64 ? 8 : t == DType::kBool ? 1 : 4; }

PreparedArgs::PreparedArgs(PreparedArgs&& o) noexcept
    : ptrs_(std::move(o.ptrs_)),
      bytes_(std::move(o.bytes_)),
      owned_(std::move(o.owned_)),
      workspace_(o.workspace_),
      slots_(o.slots_) {
  o.owned_.clear();
  o.workspace_ = nullptr;
}
PreparedArgs& PreparedArgs::operator=(PreparedArgs&& o) noexcept {
  if (this != &o) {
    for (void* p : owned_) pt_free(p);
    pt_free(workspace_);
    ptrs_ = std::move(o.ptrs_);
    bytes_ = std::move(o.bytes_);
    owned_ = std::move(o.owned_);
    workspace_ = o.workspace_;
    slots_ = o.slots_;
    o.owned_.clear();
    o.workspace_ = nullptr;
  }
  return *this;
}
PreparedArgs::~PreparedArgs() {
  for (void* p : owned_) pt_free(p);
  pt_free(workspace_);
}

namespace {
std::string Bytes(int64_t b) { return std::to_string(b) + " bytes"; }

// Calls `fn` with a context over `workspace`; the violation (if any) as a Status.
Status Call(const KernelState& st, Entry fn, void* const* args, void* workspace, int64_t slots) {
  pt_bounds_error error;
  error.violated = error.claimed = 0;
  pt_kernel_ctx ctx{workspace, slots, st.check_bounds ? &error : nullptr};
  if (fn(args, &ctx) == 0) return OkStatus();
  if (!error.violated) return Internal(st.name + ": the kernel failed without a report");
  return BoundsViolation(st.name, error);
}
}  // namespace

StatusOr<PreparedArgs> Kernel::Prepare(void* const* args) const {
  PreparedArgs out;
  out.ptrs_.assign(args, args + state_->args.size());
  for (const auto& a : state_->args) {
    int64_t n = ElementBytes(a.dtype);
    for (int64_t d : a.shape) n *= d;
    out.bytes_.push_back(n);
  }
  out.slots_ = std::max(1, NumThreads());
  if (!state_->workspace.empty()) {
    int64_t bytes = state_->workspace.Bytes(out.slots_);
    out.workspace_ = pt_alloc(bytes);
    if (!out.workspace_)
      return Status(StatusCode::kResourceExhausted,
                    state_->name + ": cannot allocate its workspace of " + Bytes(bytes));
  }
  for (const auto& p : state_->prepacks) {
    void* packed = pt_alloc(p.bytes);
    if (!packed)
      return Status(StatusCode::kResourceExhausted,
                    state_->name + ": cannot allocate a packed input of " + Bytes(p.bytes));
    out.owned_.push_back(packed);
    void* pack_args[2] = {args[p.arg], packed};
    PT_RETURN_IF_ERROR(Call(*state_, p.entry, pack_args, out.workspace_, out.slots_));
    out.ptrs_[p.arg] = packed;
    out.bytes_[p.arg] = p.bytes;
  }
  return out;
}

Status Kernel::Run(const PreparedArgs& prepared) const {
  return Call(*state_, state_->entry, prepared.ptrs_.data(), prepared.workspace_, prepared.slots_);
}

Status Kernel::Run(void* const* args) const {
  PT_ASSIGN_OR_RETURN(PreparedArgs prepared, Prepare(args));
  return Run(prepared);
}

const std::string& Kernel::name() const { return state_->name; }
const std::vector<LoweredArg>& Kernel::args() const { return state_->args; }
int Kernel::prepack_count() const { return static_cast<int>(state_->prepacks.size()); }
const KernelWorkspace& Kernel::workspace() const { return state_->workspace; }
bool Kernel::bounds_checked() const { return state_->check_bounds; }

Status BoundsViolation(const std::string& kernel, const pt_bounds_error& e) {
  return Status(StatusCode::kOutOfRange, "bounds violation in " + kernel + ": " + DescribeBoundsError(e));
}
double Kernel::compile_ms() const { return state_->compile_ms; }

namespace {

std::string ErrorText(llvm::Error e) {
  std::string s;
  llvm::handleAllErrors(std::move(e), [&](const llvm::ErrorInfoBase& info) { s += info.message(); });
  return s;
}

void InitLLVM() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

// A target machine builder for `t`: its CPU, and exactly its ISA features (features the
// CPU name implies but `t` does not list are switched off, so a JSON target can narrow a
// CPU).
StatusOr<llvm::orc::JITTargetMachineBuilder> BuilderFor(const Target& t) {
  InitLLVM();
  if (t.arch != "x86_64") return InvalidArgument("target arch '" + t.arch + "' is not supported");
  llvm::orc::JITTargetMachineBuilder jtmb{llvm::Triple(llvm::sys::getProcessTriple())};
  jtmb.setCPU(t.cpu);
  std::vector<std::string> features;
  for (const auto& f : t.features) features.push_back("+" + f);
  auto implied = Target::Parse(t.cpu);
  if (implied.ok())
    for (const auto& f : implied->features)
      if (!t.has(f)) features.push_back("-" + f);
  jtmb.addFeatures(features);
  jtmb.setCodeGenOptLevel(llvm::CodeGenOpt::Aggressive);
  return jtmb;
}

// `pic`: position-independent code, for object files that may be linked into a shared
// library (build-model); the JIT keeps the default model.
StatusOr<std::unique_ptr<llvm::TargetMachine>> TargetMachineFor(const Target& t, bool pic = false) {
  PT_ASSIGN_OR_RETURN(auto jtmb, BuilderFor(t));
  if (pic) jtmb.setRelocationModel(llvm::Reloc::PIC_);
  auto tm = jtmb.createTargetMachine();
  if (!tm) return Internal("cannot create a target machine for " + t.cpu + ": " + ErrorText(tm.takeError()));
  return std::move(*tm);
}

}  // namespace

struct Jit::Impl {
  Target target;
  std::unique_ptr<llvm::orc::LLJIT> lljit;
  std::unique_ptr<llvm::TargetMachine> tm;  // for IR generation and the O3 cost model
  std::mutex mu;                            // TargetMachine is not thread-safe
  std::atomic<int> counter{0};
};

Jit::Jit(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Jit::~Jit() = default;

const Target& Jit::target() const { return impl_->target; }

StatusOr<std::unique_ptr<Jit>> Jit::Create(const Target& target) {
  PT_RETURN_IF_ERROR(target.CheckRunsOnHost());
  auto impl = std::make_unique<Impl>();
  impl->target = target;
  PT_ASSIGN_OR_RETURN(auto jtmb, BuilderFor(target));
  PT_ASSIGN_OR_RETURN(impl->tm, TargetMachineFor(target));
  auto lljit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(jtmb)).create();
  if (!lljit) return Internal("cannot create the LLJIT: " + ErrorText(lljit.takeError()));
  impl->lljit = std::move(*lljit);
  // The runtime lives in this process: expose it by address, plus libc/libm for what the
  // optimiser may introduce (memset, memcpy).
  auto& jd = impl->lljit->getMainJITDylib();
  auto& es = impl->lljit->getExecutionSession();
  llvm::orc::SymbolMap runtime;
  auto add = [&](const char* name, void* addr) {
    runtime[es.intern(name)] =
        llvm::JITEvaluatedSymbol(llvm::pointerToJITTargetAddress(addr), llvm::JITSymbolFlags::Exported);
  };
  add("pt_parallel_for", reinterpret_cast<void*>(&pt_parallel_for));
  add("pt_bounds_violation", reinterpret_cast<void*>(&pt_bounds_violation));
  if (auto err = jd.define(llvm::orc::absoluteSymbols(std::move(runtime))))
    return Internal("cannot define runtime symbols: " + ErrorText(std::move(err)));
  auto gen =
      llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(impl->lljit->getDataLayout().getGlobalPrefix());
  if (!gen) return Internal("cannot search process symbols: " + ErrorText(gen.takeError()));
  jd.addGenerator(std::move(*gen));
  return std::unique_ptr<Jit>(new Jit(std::move(impl)));
}

StatusOr<Jit*> Jit::ForTarget(const Target& target) {
  // What code generation depends on; cores and caches do not change the code.
  Target code = target;
  code.cores = 1;
  code.l1d_bytes = code.l2_bytes = code.l3_bytes = 0;
  std::string key = code.ToJson();
  static std::mutex mu;
  // Leaked on purpose: kernels may outlive static destruction order.
  static auto* jits = new std::map<std::string, std::unique_ptr<Jit>>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = jits->find(key);
  if (it != jits->end()) return it->second.get();
  PT_ASSIGN_OR_RETURN(std::unique_ptr<Jit> jit, Create(target));
  Jit* raw = jit.get();
  (*jits)[key] = std::move(jit);
  return raw;
}

StatusOr<Jit*> Jit::Default() { return ForTarget(Target::Host()); }

namespace {
internal::CodegenOptions CodegenOptionsFor(const Target& t, const CompileOptions& o) {
  internal::CodegenOptions c;
  c.vector_bits = t.vector_bits;
  c.stack_bytes = t.stack_bytes;
  c.check_bounds = o.check_bounds;
  return c;
}
}  // namespace

StatusOr<Kernel> Jit::Compile(const LoweredFunc& f, const CompileOptions& options) {
  auto start = std::chrono::steady_clock::now();
  // Symbols must be unique across the JIT: suffix a counter.
  LoweredFunc named = f;
  named.name = f.name + "_k" + std::to_string(impl_->counter++);
  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> mod;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    PT_ASSIGN_OR_RETURN(mod, internal::EmitModule(named, *ctx, *impl_->tm, CodegenOptionsFor(impl_->target, options)));
    internal::OptimizeModule(*mod, *impl_->tm);
  }
  auto& jd = impl_->lljit->getMainJITDylib();
  auto tracker = jd.createResourceTracker();
  if (auto err = impl_->lljit->addIRModule(tracker, llvm::orc::ThreadSafeModule(std::move(mod), std::move(ctx))))
    return Internal("JIT rejected module " + named.name + ": " + ErrorText(std::move(err)));
  auto state = std::make_shared<KernelState>();
  state->tracker = std::move(tracker);  // released with the state, also on failure
  auto lookup = [&](const std::string& fn) -> StatusOr<Entry> {
    auto sym = impl_->lljit->lookup(fn + "_packed");
    if (!sym) return Internal("JIT lookup of " + fn + " failed: " + ErrorText(sym.takeError()));
    return sym->toPtr<Entry>();
  };
  state->name = f.name;
  state->args = f.args;
  state->workspace = WorkspaceOf(f, impl_->target);
  state->check_bounds = options.check_bounds;
  PT_ASSIGN_OR_RETURN(state->entry, lookup(named.name));
  for (size_t i = 0; i < f.prepacks.size(); ++i) {
    const LoweredFunc& p = f.prepacks[i].func;
    PT_CHECK(p.args.size() == 2 && f.prepacks[i].arg < f.args.size(), "prepack arguments");
    int64_t elems = 1;
    for (int64_t d : p.args[1].shape) elems *= d;
    PT_ASSIGN_OR_RETURN(Entry e, lookup(internal::PrepackName(named.name, i)));
    state->prepacks.push_back({f.prepacks[i].arg, elems * ElementBytes(p.args[1].dtype), e});
  }
  state->compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  Kernel k;
  k.state_ = std::move(state);
  return k;
}

namespace {
Status WriteCode(const LoweredFunc& f, llvm::raw_pwrite_stream& os, CodeFileType type, const Target& target,
                 const CompileOptions& options) {
  PT_ASSIGN_OR_RETURN(auto tm, TargetMachineFor(target, /*pic=*/true));
  llvm::LLVMContext ctx;
  PT_ASSIGN_OR_RETURN(auto mod, internal::EmitModule(f, ctx, *tm, CodegenOptionsFor(target, options)));
  internal::OptimizeModule(*mod, *tm);
  if (type == CodeFileType::kLLVMIR) {
    mod->print(os, nullptr);
    return OkStatus();
  }
  llvm::legacy::PassManager pm;
  auto ft = type == CodeFileType::kObject ? llvm::CGFT_ObjectFile : llvm::CGFT_AssemblyFile;
  if (tm->addPassesToEmitFile(pm, os, nullptr, ft)) return Internal("the target cannot emit this file type");
  pm.run(*mod);
  return OkStatus();
}
}  // namespace

Status EmitCodeFile(const LoweredFunc& f, const std::string& path, CodeFileType type, const Target& target,
                    const CompileOptions& options) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec) return InvalidArgument("cannot open " + path + " for writing: " + ec.message());
  return WriteCode(f, os, type, target, options);
}

StatusOr<std::string> EmitCodeText(const LoweredFunc& f, CodeFileType type, const Target& target,
                                   const CompileOptions& options) {
  if (type == CodeFileType::kObject) return InvalidArgument("object code is not text");
  llvm::SmallString<0> buf;
  llvm::raw_svector_ostream os(buf);
  PT_RETURN_IF_ERROR(WriteCode(f, os, type, target, options));
  return std::string(buf.str());
}

}  // namespace priortune::compiler

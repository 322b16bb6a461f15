// Turning a lowered function into native code: in-process through LLVM's ORC LLJIT (a
// Kernel you can call), or into an object file. LLVM stays behind this header.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/lower.h"
#include "compiler/status.h"
#include "compiler/target.h"

namespace priortune::compiler {

struct KernelState;  // owns the JIT resources of one kernel
class Kernel;

// A kernel's arguments with its constant inputs already packed (LoweredFunc::prepacks):
// what a deployed model holds after loading its weights. It borrows the caller's buffers
// (which must outlive it) and owns the packed copies; a change to a packed input after
// Kernel::Prepare is not seen. Move-only.
class PreparedArgs {
 public:
  PreparedArgs() = default;
  PreparedArgs(PreparedArgs&&) noexcept;
  PreparedArgs& operator=(PreparedArgs&&) noexcept;
  PreparedArgs(const PreparedArgs&) = delete;
  PreparedArgs& operator=(const PreparedArgs&) = delete;
  ~PreparedArgs();
  const std::vector<void*>& pointers() const { return ptrs_; }

 private:
  friend class Kernel;
  std::vector<void*> ptrs_;   // the main function's arguments
  std::vector<void*> owned_;  // packed buffers, freed with pt_free
};

// A compiled kernel. Copies share the code, which is released when the last copy goes.
// Calling is thread-safe; the kernel writes only its output arguments.
class Kernel {
 public:
  Kernel() = default;
  // One pointer per argument, in the order of the template's ArgShapes (the caller's
  // layouts). Constant inputs with a prepack are packed in this call, every call.
  void Run(void* const* args) const;
  void Run(const std::vector<void*>& args) const { Run(args.data()); }
  // Packs the constant inputs of `args` once (a no-op copy of the pointers when the
  // kernel has no prepack); Run(prepared) then runs only the main function.
  PreparedArgs Prepare(void* const* args) const;
  PreparedArgs Prepare(const std::vector<void*>& args) const { return Prepare(args.data()); }
  void Run(const PreparedArgs& prepared) const;
  const std::string& name() const;
  // The main function's arguments (packed buffers where a prepack replaces an input).
  const std::vector<LoweredArg>& args() const;
  int prepack_count() const;
  double compile_ms() const;  // codegen + O3 + machine code
  explicit operator bool() const { return state_ != nullptr; }

 private:
  friend class Jit;
  std::shared_ptr<const KernelState> state_;
};

// An LLJIT that generates code for one Target (its CPU, ISA features and vector width)
// and runs it in this process. Thread-safe.
class Jit {
 public:
  // FailedPrecondition if this host cannot run `target`'s code (see EmitCodeFile).
  static StatusOr<std::unique_ptr<Jit>> Create(const Target& target);
  // The process-wide instance for `target` (one per distinct CPU, features and vector
  // width), created on first use. Thread-safe.
  static StatusOr<Jit*> ForTarget(const Target& target);
  // ForTarget(Target::Host()).
  static StatusOr<Jit*> Default();
  ~Jit();
  const Target& target() const;

  // Compiles `f`. Fails with InvalidArgument if the IR cannot be generated, Internal if
  // LLVM rejects it.
  StatusOr<Kernel> Compile(const LoweredFunc& f);

 private:
  struct Impl;
  explicit Jit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

enum class CodeFileType { kObject, kAssembly, kLLVMIR };
// Writes `f`, optimised for `target`, as an object file, assembly or LLVM IR text. Works
// for any x86-64 target, whether or not this host can run it. Code is position
// independent (an object may go into a shared library). Object files reference
// pt_parallel_for / pt_alloc / pt_free from runtime.h.
Status EmitCodeFile(const LoweredFunc& f, const std::string& path, CodeFileType type,
                    const Target& target);
// The same as text (assembly or LLVM IR), for tests and --dump.
StatusOr<std::string> EmitCodeText(const LoweredFunc& f, CodeFileType type, const Target& target);

}  // namespace priortune::compiler

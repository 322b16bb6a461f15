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

// A compiled kernel. Copies share the code, which is released when the last copy goes.
// Calling is thread-safe; the kernel writes only its output arguments.
class Kernel {
 public:
  Kernel() = default;
  // One pointer per argument, in the order of LoweredFunc::args.
  void Run(void* const* args) const;
  void Run(const std::vector<void*>& args) const { Run(args.data()); }
  const std::string& name() const;
  const std::vector<LoweredArg>& args() const;
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
// for any x86-64 target, whether or not this host can run it. Object files reference
// pt_parallel_for / pt_alloc / pt_free from runtime.h.
Status EmitCodeFile(const LoweredFunc& f, const std::string& path, CodeFileType type,
                    const Target& target);
// The same as text (assembly or LLVM IR), for tests and --dump.
StatusOr<std::string> EmitCodeText(const LoweredFunc& f, CodeFileType type, const Target& target);

}  // namespace priortune::compiler

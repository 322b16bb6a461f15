// Turning a lowered function into native code: in-process through LLVM's ORC LLJIT (a
// Kernel you can call), or into an object file. LLVM stays behind this header.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/lower.h"
#include "compiler/status.h"

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

// An LLJIT for the host CPU (all of its ISA features). Thread-safe.
class Jit {
 public:
  static StatusOr<std::unique_ptr<Jit>> Create();
  // The process-wide instance, created on first use.
  static StatusOr<Jit*> Default();
  ~Jit();

  // Compiles `f`. Fails with InvalidArgument if the IR cannot be generated, Internal if
  // LLVM rejects it.
  StatusOr<Kernel> Compile(const LoweredFunc& f);

 private:
  struct Impl;
  explicit Jit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

enum class CodeFileType { kObject, kAssembly, kLLVMIR };
// Writes `f`, optimised for the host CPU, as an object file, assembly or LLVM IR text.
// Object files reference pt_parallel_for / pt_alloc / pt_free from runtime.h.
Status EmitCodeFile(const LoweredFunc& f, const std::string& path, CodeFileType type);
// The same as text (assembly or LLVM IR), for tests and --dump.
StatusOr<std::string> EmitCodeText(const LoweredFunc& f, CodeFileType type);

}  // namespace priortune::compiler

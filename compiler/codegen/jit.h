// Turning a lowered function into native code: in-process through LLVM's ORC LLJIT (a
// Kernel you can call), or into an object file. LLVM stays behind this header.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/codegen/runtime.h"
#include "compiler/ir/lower.h"
#include "compiler/ir/memory_plan.h"
#include "compiler/support/status.h"
#include "compiler/target/target.h"

namespace priortune::compiler {

struct KernelState;  // owns the JIT resources of one kernel
class Kernel;

// How a kernel is compiled.
struct CompileOptions {
  // Every load and store checks its index against its buffer's extent first; a
  // violation stops the kernel before the access and Run returns OutOfRange naming the
  // buffer, the flat index, the extent and the loop position. For debugging and fuzzing:
  // it costs speed (docs/memory-safety.md).
  bool check_bounds = false;
};

// A kernel's arguments with its constant inputs already packed (LoweredFunc::prepacks)
// and its workspace allocated: what a deployed model holds after loading its weights. It
// borrows the caller's buffers (which must outlive it) and owns the packed copies and the
// workspace; a change to a packed input after Kernel::Prepare is not seen. One thread at
// a time may run a kernel on it (the workspace is its scratch). Move-only.
class PreparedArgs {
 public:
  PreparedArgs() = default;
  PreparedArgs(PreparedArgs&&) noexcept;
  PreparedArgs& operator=(PreparedArgs&&) noexcept;
  PreparedArgs(const PreparedArgs&) = delete;
  PreparedArgs& operator=(const PreparedArgs&) = delete;
  ~PreparedArgs();
  const std::vector<void*>& pointers() const { return ptrs_; }
  // Each argument's bytes (a packed one's: its packed buffer's).
  const std::vector<int64_t>& bytes() const { return bytes_; }
  int64_t workspace_slots() const { return slots_; }

 private:
  friend class Kernel;
  std::vector<void*> ptrs_;  // the main function's arguments
  std::vector<int64_t> bytes_;
  std::vector<void*> owned_;   // packed buffers, freed with pt_free
  void* workspace_ = nullptr;  // freed with pt_free
  int64_t slots_ = 1;
};

// A compiled kernel. Copies share the code, which is released when the last copy goes.
// Calling is thread-safe; the kernel writes only its output arguments.
//
// Every Run returns OutOfRange for a bounds-checked kernel's violation (the message names
// the buffer, flat index, extent and loop position; nothing outside the buffer was
// touched), and ResourceExhausted when the memory it allocates cannot be had.
class Kernel {
 public:
  Kernel() = default;
  // One pointer per argument, in the order of the template's ArgShapes (the caller's
  // layouts). Constant inputs with a prepack are packed, and the workspace allocated, in
  // this call, every call.
  Status Run(void* const* args) const;
  Status Run(const std::vector<void*>& args) const { return Run(args.data()); }
  // Allocates the workspace (room for NumThreads() parallel chunks) and packs the
  // constant inputs of `args` once; Run(prepared) then runs only the main function and
  // allocates nothing.
  StatusOr<PreparedArgs> Prepare(void* const* args) const;
  StatusOr<PreparedArgs> Prepare(const std::vector<void*>& args) const { return Prepare(args.data()); }
  Status Run(const PreparedArgs& prepared) const;
  // The scratch memory a call needs beyond its stack (memory_plan.h).
  const KernelWorkspace& workspace() const;
  bool bounds_checked() const;
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
  StatusOr<Kernel> Compile(const LoweredFunc& f, const CompileOptions& options = {});

 private:
  struct Impl;
  explicit Jit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

enum class CodeFileType { kObject, kAssembly, kLLVMIR };
// Writes `f`, optimised for `target`, as an object file, assembly or LLVM IR text. Works
// for any x86-64 target, whether or not this host can run it. Code is position
// independent (an object may go into a shared library). Object files reference
// pt_parallel_for and pt_bounds_violation from runtime.h.
Status EmitCodeFile(const LoweredFunc& f, const std::string& path, CodeFileType type, const Target& target,
                    const CompileOptions& options = {});
// The same as text (assembly or LLVM IR), for tests and --dump.
StatusOr<std::string> EmitCodeText(const LoweredFunc& f, CodeFileType type, const Target& target,
                                   const CompileOptions& options = {});

// The Status of a kernel's violation report: OutOfRange, "<kernel>: store to C at flat
// index 1024, outside its 1024 elements, at loops i=3, j.o=17".
Status BoundsViolation(const std::string& kernel, const pt_bounds_error& e);

}  // namespace priortune::compiler

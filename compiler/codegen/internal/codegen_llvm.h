// LLVM IR generation for a lowered function: what jit.cpp calls (internal/codegen_class.h
// holds the generator itself).
#pragma once

#include <memory>
#include <string>

#include "compiler/ir/lower.h"
#include "compiler/support/status.h"

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
}  // namespace llvm

namespace priortune::compiler::internal {

struct CodegenOptions {
  int vector_bits = 128;           // the width the backend keeps vectors in
  int64_t stack_bytes = 64 << 10;  // the stack budget of the temporaries (memory_plan.h)
  bool check_bounds = false;       // guard every load and store (runtime.h, pt_bounds_error)
};

// Emits `i32 <name>(ptr noalias arg0, ..., ptr ctx)` and `i32 <name>_packed(ptr args, ptr
// ctx)` (ctx: a pt_kernel_ctx) into a new module, and the same pair for each of f.prepacks
// under PrepackName(name, i), for `tm`'s triple, CPU and features. The functions return 0,
// or 1 when a bounds-checked access failed (reported in ctx->error). Fails with
// InvalidArgument on IR the backend cannot express (e.g. an unbound variable), never aborts.
StatusOr<std::unique_ptr<llvm::Module>> EmitModule(const LoweredFunc& f, llvm::LLVMContext& ctx,
                                                   llvm::TargetMachine& tm, const CodegenOptions& options);

// The symbol of f's i-th prepack function.
std::string PrepackName(const std::string& name, size_t i);

// Runs LLVM's O3 pipeline with `tm`'s cost model.
void OptimizeModule(llvm::Module& m, llvm::TargetMachine& tm);

}  // namespace priortune::compiler::internal

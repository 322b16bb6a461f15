// LLVM IR generation for a lowered function. Only jit.cpp includes this header.
#pragma once

#include <memory>
#include <string>

#include "compiler/lower.h"
#include "compiler/status.h"

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
}  // namespace llvm

namespace priortune::compiler::internal {

// Emits `void <name>(ptr noalias arg0, ...)` and `void <name>_packed(ptr args)` into a new
// module, and the same pair for each of f.prepacks under PrepackName(name, i), for `tm`'s
// triple, CPU and features; `vector_bits` (the target's vector width)
// is the width the backend keeps vectors in. Fails with InvalidArgument on IR the
// backend cannot express (e.g. an unbound variable), never aborts.
StatusOr<std::unique_ptr<llvm::Module>> EmitModule(const LoweredFunc& f, llvm::LLVMContext& ctx,
                                                   llvm::TargetMachine& tm, int vector_bits);

// The symbol of f's i-th prepack function.
std::string PrepackName(const std::string& name, size_t i);

// Runs LLVM's O3 pipeline with `tm`'s cost model.
void OptimizeModule(llvm::Module& m, llvm::TargetMachine& tm);

}  // namespace priortune::compiler::internal

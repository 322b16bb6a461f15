// The code generator behind EmitModule (codegen_llvm.h): one class over three files,
// codegen_llvm.cpp (functions and expressions), codegen_memory.cpp (loads, stores and
// bounds checks) and codegen_loops.cpp (statements and loops). Includes LLVM's headers:
// for compiler/codegen's .cpp files only.
#pragma once

#include <llvm/Analysis/VectorUtils.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/codegen/internal/codegen_llvm.h"
#include "compiler/codegen/runtime.h"
#include "compiler/ir/memory_plan.h"
#include "compiler/ir/simplify.h"

namespace priortune::compiler::internal {

// Loads with a lane stride up to this are one masked wide load and a shuffle.
inline constexpr int64_t kMaxDenseStride = 4;
inline constexpr int64_t kMaxUnroll = 512;

struct Val {
  llvm::Value* v = nullptr;
  bool vec = false;
};

// Bounds of an integer index from the ranges of the loops around it, by plain interval
// arithmetic: what lets a bounds-checked kernel leave out the checks that can never fail.
// Deliberately separate from the simplifier's Bound(), which loop partitioning trusts to
// drop guards: a checker that shared its reasoning would share its mistakes. Unbounded
// (nullopt) for anything it does not model; saturates to unbounded near overflow.
using Range = std::pair<int64_t, int64_t>;
std::optional<Range> IndexRange(const Expr& e, const RangeMap& ranges);

// Whether `e` reads memory.
bool HasLoad(const Expr& e);

class CodeGen {
 public:
  CodeGen(llvm::LLVMContext& ctx, llvm::Module& m, llvm::TargetMachine& tm, const CodegenOptions& options)
      : ctx_(ctx), mod_(m), tm_(tm), vector_bits_(options.vector_bits), options_(options), b_(ctx) {
    const std::string features = tm.getTargetFeatureString().str();
    auto has = [&](const std::string& f) {
      for (size_t at = features.find("+" + f); at != std::string::npos; at = features.find("+" + f, at + 1)) {
        const size_t end = at + 1 + f.size();
        if (end == features.size() || features[end] == ',') return true;
      }
      return false;
    };
    avx_masks_ = has("avx") && !has("avx512f");
    // Contraction lets a*b+c become one FMA; results stay within the tolerance the
    // correctness gate allows and match what BLAS libraries do.
    llvm::FastMathFlags fmf;
    fmf.setAllowContract(true);
    b_.setFastMathFlags(fmf);
  }

  Status Emit(const LoweredFunc& f);

 private:
  void SetAttributes(llvm::Function* fn);

  void BeginFunction(llvm::Function* fn);

  // pt_kernel_ctx (runtime.h): {workspace, slots, error}.
  llvm::StructType* CtxType();

  // ---- bounds checks ----
  // Each checked access is a compare and a branch on the hot path. A violation goes
  // through a small per-site block (which lane, which index) to one fail block per
  // function, which reports the site (a row of the module's site table: buffer, extent,
  // loop names), the index and the loop position, then returns 1 (an outlined parallel
  // body sets its closure's flag instead). The loop position is kept in an array of the
  // frame that each loop stores its variable into, so a report costs no code per site.
  static constexpr size_t kMaxDepth = 64;
  static constexpr size_t kReportLoops = PT_BOUNDS_MAX_LOOPS;

  struct Site {
    std::string buffer, loops;
    int64_t extent;
    bool is_store;
    int nloops, lane_loop, first_loop;
  };
  struct FailPath {
    llvm::BasicBlock* block;
    llvm::PHINode *site, *index, *lane;
    llvm::Value *kctx, *loops;
    llvm::BasicBlock* ret;
  };

  // The block that ends the current function after a failure.
  llvm::BasicBlock* ReturnFailed();

  FailPath& CurrentFailPath();

  // Records the value of the loop at depth `depth` in the frame's loop-position array.
  void NoteLoop(size_t depth, llvm::Value* value);

  // Guards an access of `buf` at `idx` (a scalar, or a vector of lane indices) in the
  // lanes `active` allows (null: all; a scalar i1 for a uniform access under a mask).
  // `proof`: the index as an expression over the loops in scope (all lanes' indices lie
  // in its range); a check it proves can never fail is left out.
  void CheckAccess(const Buffer& buf, const Expr& proof, llvm::Value* idx, bool vec, llvm::Value* active,
                   bool is_store);

  // Fills the fail blocks once every site is known: the site table, the report call.
  void FinishFailPaths();

  // Lane indices base + k * lane of a strided access.
  llvm::Value* LaneIndices(llvm::Value* base, int64_t k);

  // Under a partial mask, a uniform access happens when any lane is active.
  llvm::Value* AnyActive();

  void Fail(const std::string& m);

  llvm::Type* TypeOf(DType t);

  llvm::AllocaInst* EntryAlloca(llvm::Type* t, int64_t count, const std::string& name);

  // ---- values and vectors ----
  llvm::Value* Splat(llvm::Value* v) { return b_.CreateVectorSplat(lanes_, v); }
  llvm::Value* AsVec(Val v) { return v.vec ? v.v : Splat(v.v); }
  llvm::Value* AllOnes() { return llvm::ConstantInt::getTrue(llvm::FixedVectorType::get(b_.getInt1Ty(), lanes_)); }
  llvm::Value* Mask() { return mask_ ? mask_ : AllOnes(); }

  // True where truncating division differs from floor division: a non-zero remainder
  // whose sign differs from the divisor's.
  llvm::Value* FloorAdjust(llvm::Value* rem, llvm::Value* y);

  Val Binary(const Expr& e);

  Val EmitExpr(const Expr& e);

  Val EmitCast(const Expr& e);

  // e^x for a float32 vector, inline (LLVM 16 would call libm's expf once per lane):
  // Cody-Waite range reduction x = n ln2 + r, a degree-6 polynomial for e^r
  // (Cephes' expf, about 1 ulp), and 2^n as two exact powers of two so that n from -150
  // to 128 underflows to 0 and overflows to inf as expf does. NaN stays NaN.
  llvm::Value* EmitExp(llvm::Value* x);

  Val EmitSelect(const Expr& e);

  llvm::Value* BufferPtr(const Buffer& buf);

  // Lane stride of an index inside a vectorized loop: 0, 1, up to kMaxDenseStride
  // (a strided access), or nullopt (gather).
  std::optional<int64_t> LaneStride(const Expr& index);

  // The index at lane 0 of a stride-1 access.
  llvm::Value* LaneBase(const Expr& index);

  template <typename F>
  Val WithScalarLane(F f) {
    Val saved = vars_[lane_var_];
    vars_[lane_var_] = {lane_base_, false};
    Val r = f();
    vars_[lane_var_] = saved;
    return r;
  }

  // The address of element `idx` of `base`. An `inbounds` GEP outside its object is
  // poison, which LLVM may assume never happens; a masked access's address (a masked-off
  // lane, a vector whose active lanes are all off, a guarded uniform access) may lie
  // outside the buffer, so only an access that certainly happens gets `inbounds`. Found
  // by the fuzzer: with the padding's masked loads of a depthwise conv (all lanes off in
  // the first rows, base address before the buffer) marked inbounds, LLVM's AVX2 code
  // read garbage.
  llvm::Value* Address(llvm::Type* et, llvm::Value* base, llvm::Value* idx, bool certain);

  // Masked loads and stores of f32 vectors. On AVX and AVX2 (no AVX-512) they are the
  // ISA's vmaskmovps, emitted per 8 lanes as its intrinsics: LLVM 16 miscompiles generic
  // llvm.masked.load/store there (found by the fuzzer: depthwise and conv2d configs whose
  // padding masks off whole vectors read garbage on x86-64-v3 and haswell, while the same
  // IR built for AVX-512, even with 256-bit vectors, is right). Elsewhere the generic form.
  bool AvxMaskIntrinsics(llvm::Type* et) const { return et->isFloatTy() && avx_masks_; }

  // The 8-lane chunks of an <n x i1> mask as <8 x i32> sign masks (lanes past n off).
  std::vector<llvm::Value*> MaskChunks(llvm::Value* mask, unsigned n);

  llvm::Value* MaskedLoad(llvm::FixedVectorType* vt, llvm::Value* ptr, llvm::Value* mask);

  void MaskedStore(llvm::Value* value, llvm::Value* ptr, llvm::Value* mask);

  // A uniform access under a partial mask must not touch memory when no lane is active.
  llvm::Value* GuardUniformPtr(llvm::Value* ptr, llvm::Type* elem);

  Val EmitLoad(const Expr& e);

  void EmitStore(const Stmt& s);

  // ---- statements ----
  void EmitStmt(const Stmt& s);

  void EmitIf(const Stmt& s);

  void EmitAllocate(const Stmt& s);

  void PushRange(const Stmt& s);

  void EmitLoop(const Stmt& s, llvm::Value* begin, llvm::Value* end);

  void EmitSerialFor(const Stmt& s);

  void EmitUnrolledFor(const Stmt& s);

  void EmitVectorFor(const Stmt& s);

  // Outlines the loop body into fn(begin, end, closure) and calls pt_parallel_for.
  void EmitParallelFor(const Stmt& s);
  // What a parallel loop's outlined body reads: everything in scope (loop variables and
  // buffer pointers), the loop's min, the kernel's ctx and a failure flag a chunk whose
  // bounds check failed sets.
  struct ParallelClosure {
    llvm::StructType* type = nullptr;
    llvm::Value* value = nullptr;  // the caller's alloca
    std::vector<const ExprNode*> vars;
    std::vector<const BufferNode*> bufs;
    unsigned min_field = 0, ctx_field = 0, fail_field = 0;
  };
  ParallelClosure CaptureScope(llvm::Value* loop_min);
  // The outlined body of parallel loop `s`: (begin, end, closure, chunk) -> void.
  llvm::Function* EmitParallelBody(const Stmt& s, const ParallelClosure& c);

  llvm::LLVMContext& ctx_;
  llvm::Module& mod_;
  llvm::TargetMachine& tm_;
  int vector_bits_;
  CodegenOptions options_;
  bool avx_masks_ = false;  // masked f32 accesses through vmaskmovps' intrinsics
  llvm::IRBuilder<> b_;
  MemoryPlan plan_;
  llvm::Value* kctx_ = nullptr;           // the current function's pt_kernel_ctx
  llvm::Value* ws_base_ = nullptr;        // ctx->workspace: the fixed region
  llvm::Value* slot_base_ = nullptr;      // in an outlined parallel body: its chunk's slot
  llvm::Value* fail_flag_ = nullptr;      // in an outlined parallel body: the closure's flag
  llvm::BasicBlock* fail_ret_ = nullptr;  // the current function's return after a failure
  int fail_path_ = -1;                    // the current function's entry in fail_paths_
  std::vector<FailPath> fail_paths_;
  std::vector<Site> sites_;
  llvm::Value* loop_pos_ = nullptr;     // the frame's i64[kMaxDepth] of loop variables
  std::vector<const ExprNode*> loops_;  // enclosing loop variables, outermost first
  llvm::Function* fn_ = nullptr;
  llvm::BasicBlock* entry_ = nullptr;
  std::string name_;
  std::unordered_map<const ExprNode*, Val> vars_;
  std::unordered_map<const BufferNode*, llvm::Value*> bufs_;
  RangeMap ranges_;
  const ExprNode* lane_var_ = nullptr;
  llvm::Value* lane_base_ = nullptr;
  unsigned lanes_ = 0;
  llvm::Value* mask_ = nullptr;
  bool in_parallel_ = false;
  int parallel_count_ = 0;
  Status err_;
};

}  // namespace priortune::compiler::internal

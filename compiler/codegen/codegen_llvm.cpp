// Lowered IR -> LLVM IR.
//
//   EmitModule
//     ├─ i32 <name>(ptr noalias a0..aN, ptr ctx)   the loop nest
//     │    ├─ For serial     -> header/body/latch blocks
//     │    ├─ For unrolled   -> body emitted once per iteration with a constant
//     │    ├─ For parallel   -> body outlined into <name>_par<k>(begin, end, closure, slot),
//     │    │                    called through pt_parallel_for
//     │    ├─ For vectorized -> body emitted once, lane-wide (see below)
//     │    └─ Allocate       -> an alloca, or a slice of ctx->workspace (memory_plan.h)
//     ├─ i32 <name>_packed(ptr args, ptr ctx)   unpacks args and calls <name>
//     └─ <name>_prepack<i>, <name>_prepack<i>_packed   each constant-input prepack, alike
//
// No kernel allocates: temporaries are on the stack within the target's budget, or in
// the caller's workspace. With check_bounds every load and store first checks its index
// against its buffer's extent; a violation is reported through pt_bounds_violation and
// the function returns 1 without making the access.
//
// Vectorization is explicit, not left to LLVM's loop vectorizer: inside a vectorized loop
// every expression is either uniform (one scalar for all lanes) or varying (an LLVM
// vector of `lanes` elements). A load or store whose index has stride 1 in the lane
// variable becomes one vector load/store; stride 0 stays scalar and is broadcast where it
// meets a vector; any other index becomes a gather/scatter. Conditions that vary across
// lanes become masks on the loads and stores they guard, so tails are safe.
#include "compiler/codegen/internal/codegen_llvm.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/Analysis/VectorUtils.h>
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
#include <unordered_map>

#include "compiler/ir/memory_plan.h"
#include "compiler/codegen/runtime.h"
#include "compiler/ir/simplify.h"

namespace priortune::compiler::internal {
namespace {

// Loads with a lane stride up to this are one masked wide load and a shuffle.
constexpr int64_t kMaxDenseStride = 4;
constexpr int64_t kMaxUnroll = 512;

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
std::optional<Range> IndexRange(const Expr& e, const RangeMap& ranges) {
  constexpr int64_t kLimit = int64_t{1} << 61;
  auto ok = [&](__int128 lo, __int128 hi) -> std::optional<Range> {
    if (lo < -kLimit || hi > kLimit) return std::nullopt;
    return Range{static_cast<int64_t>(lo), static_cast<int64_t>(hi)};
  };
  auto floor_div = [](int64_t x, int64_t c) { return x / c - ((x % c != 0) && ((x < 0) != (c < 0))); };
  switch (e->kind) {
    case ExprKind::kIntImm: return Range{e->int_value, e->int_value};
    case ExprKind::kVar: {
      auto it = ranges.find(e.get());
      if (it == ranges.end() || !it->second.bounded()) return std::nullopt;
      return Range{it->second.lo, it->second.hi};
    }
    case ExprKind::kCast:
      if (e->a->dtype == DType::kBool) return Range{0, 1};
      return std::nullopt;
    case ExprKind::kSelect: {
      auto t = IndexRange(e->b, ranges), f = IndexRange(e->c, ranges);
      if (!t || !f) return std::nullopt;
      return Range{std::min(t->first, f->first), std::max(t->second, f->second)};
    }
    default: break;
  }
  if (e->dtype != DType::kInt64 || !e->a || !e->b) return std::nullopt;
  auto x = IndexRange(e->a, ranges), y = IndexRange(e->b, ranges);
  if (!x || !y) return std::nullopt;
  __int128 xl = x->first, xh = x->second, yl = y->first, yh = y->second;
  switch (e->kind) {
    case ExprKind::kAdd: return ok(xl + yl, xh + yh);
    case ExprKind::kSub: return ok(xl - yh, xh - yl);
    case ExprKind::kMul: {
      __int128 p[4] = {xl * yl, xl * yh, xh * yl, xh * yh};
      return ok(*std::min_element(p, p + 4), *std::max_element(p, p + 4));
    }
    case ExprKind::kMin: return ok(std::min(xl, yl), std::min(xh, yh));
    case ExprKind::kMax: return ok(std::max(xl, yl), std::max(xh, yh));
    case ExprKind::kDiv:  // floor division by a positive constant is monotonic
      if (yl != yh || yl <= 0) return std::nullopt;
      return Range{floor_div(x->first, y->first), floor_div(x->second, y->first)};
    case ExprKind::kMod:  // floor modulo by a positive constant
      if (yl != yh || yl <= 0) return std::nullopt;
      if (floor_div(x->first, y->first) == floor_div(x->second, y->first))
        return Range{x->first - floor_div(x->first, y->first) * y->first,
                     x->second - floor_div(x->second, y->first) * y->first};
      return Range{0, y->first - 1};
    default: return std::nullopt;
  }
}

bool HasLoad(const Expr& e) {
  bool found = false;
  VisitExpr(e, [&](const Expr& x) { found |= x->kind == ExprKind::kLoad; });
  return found;
}

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

  Status Emit(const LoweredFunc& f) {
    plan_ = PlanMemory(f.body, options_.stack_bytes);
    std::vector<llvm::Type*> params(f.args.size() + 1, b_.getPtrTy());
    auto* fty = llvm::FunctionType::get(b_.getInt32Ty(), params, false);
    llvm::Function* fn =
        llvm::Function::Create(fty, llvm::Function::ExternalLinkage, f.name, &mod_);
    name_ = f.name;
    SetAttributes(fn);
    for (size_t i = 0; i < f.args.size(); ++i) {
      fn->getArg(i)->setName(f.args[i].name);
      fn->addParamAttr(i, llvm::Attribute::NoAlias);
      bufs_[f.args[i].buffer.get()] = fn->getArg(i);
    }
    fn->getArg(f.args.size())->setName("ctx");
    BeginFunction(fn);
    kctx_ = fn->getArg(f.args.size());
    if (!plan_.workspace.empty())
      ws_base_ = b_.CreateLoad(b_.getPtrTy(), b_.CreateStructGEP(CtxType(), kctx_, 0), "workspace");
    EmitStmt(f.body);
    b_.CreateRet(b_.getInt32(0));

    // <name>_packed(ptr args, ptr ctx): the entry point with a uniform signature.
    auto* pty = llvm::FunctionType::get(b_.getInt32Ty(), {b_.getPtrTy(), b_.getPtrTy()}, false);
    llvm::Function* packed =
        llvm::Function::Create(pty, llvm::Function::ExternalLinkage, f.name + "_packed", &mod_);
    SetAttributes(packed);
    BeginFunction(packed);
    std::vector<llvm::Value*> call_args;
    for (size_t i = 0; i < f.args.size(); ++i) {
      llvm::Value* slot = b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), packed->getArg(0), i);
      call_args.push_back(b_.CreateLoad(b_.getPtrTy(), slot));
    }
    call_args.push_back(packed->getArg(1));
    b_.CreateRet(b_.CreateCall(fn, call_args));
    FinishFailPaths();
    if (!err_.ok()) return err_;
    std::string msg;
    llvm::raw_string_ostream os(msg);
    if (llvm::verifyModule(mod_, &os))
      return Internal("generated LLVM IR does not verify: " + os.str());
    return OkStatus();
  }

 private:
  void SetAttributes(llvm::Function* fn) {
    fn->addFnAttr("target-cpu", tm_.getTargetCPU());
    fn->addFnAttr("target-features", tm_.getTargetFeatureString());
    // We emit explicit vectors of the target's width; make sure the backend keeps them
    // that wide (e.g. in zmm registers on AVX-512) instead of splitting them on CPUs tuned
    // to prefer narrower vectors.
    fn->addFnAttr("prefer-vector-width", std::to_string(vector_bits_));
    fn->addFnAttr("min-legal-vector-width", std::to_string(vector_bits_));
    fn->addFnAttr(llvm::Attribute::NoUnwind);
  }

  void BeginFunction(llvm::Function* fn) {
    fn_ = fn;
    entry_ = llvm::BasicBlock::Create(ctx_, "entry", fn);
    fail_ret_ = nullptr;
    fail_path_ = -1;
    b_.SetInsertPoint(entry_);
    loop_pos_ = options_.check_bounds ? EntryAlloca(b_.getInt64Ty(), kMaxDepth, "loop_position") : nullptr;
  }

  // pt_kernel_ctx (runtime.h): {workspace, slots, error}.
  llvm::StructType* CtxType() {
    return llvm::StructType::get(ctx_, {b_.getPtrTy(), b_.getInt64Ty(), b_.getPtrTy()});
  }

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
  llvm::BasicBlock* ReturnFailed() {
    if (fail_ret_) return fail_ret_;
    fail_ret_ = llvm::BasicBlock::Create(ctx_, "bounds.ret", fn_);
    llvm::IRBuilder<> fb(fail_ret_);
    if (fail_flag_) {
      fb.CreateStore(fb.getInt32(1), fail_flag_);
      fb.CreateRetVoid();
    } else {
      fb.CreateRet(fb.getInt32(1));
    }
    return fail_ret_;
  }

  FailPath& CurrentFailPath() {
    if (fail_path_ >= 0) return fail_paths_[fail_path_];
    FailPath p;
    p.block = llvm::BasicBlock::Create(ctx_, "bounds.fail", fn_);
    llvm::IRBuilder<> fb(p.block);
    p.site = fb.CreatePHI(fb.getInt64Ty(), 4, "site");
    p.index = fb.CreatePHI(fb.getInt64Ty(), 4, "index");
    p.lane = fb.CreatePHI(fb.getInt64Ty(), 4, "lane");
    p.kctx = kctx_;
    p.loops = loop_pos_;
    p.ret = ReturnFailed();
    fail_paths_.push_back(p);
    fail_path_ = static_cast<int>(fail_paths_.size()) - 1;
    return fail_paths_.back();
  }

  // Records the value of the loop at depth `depth` in the frame's loop-position array.
  void NoteLoop(size_t depth, llvm::Value* value) {
    if (!options_.check_bounds || !loop_pos_ || depth >= kMaxDepth) return;
    b_.CreateStore(value, b_.CreateConstInBoundsGEP1_64(b_.getInt64Ty(), loop_pos_, depth));
  }

  // Guards an access of `buf` at `idx` (a scalar, or a vector of lane indices) in the
  // lanes `active` allows (null: all; a scalar i1 for a uniform access under a mask).
  // `proof`: the index as an expression over the loops in scope (all lanes' indices lie
  // in its range); a check it proves can never fail is left out.
  void CheckAccess(const Buffer& buf, const Expr& proof, llvm::Value* idx, bool vec, llvm::Value* active,
                   bool is_store) {
    if (!options_.check_bounds) return;
    if (auto r = IndexRange(proof, ranges_); r && r->first >= 0 && r->second < buf->size) return;
    llvm::Value* n = b_.getInt64(buf->size);
    llvm::Value* zero = llvm::Constant::getNullValue(idx->getType());
    llvm::Value* bad = b_.CreateOr(b_.CreateICmpSLT(idx, zero), b_.CreateICmpSGE(idx, vec ? Splat(n) : n));
    if (active) bad = b_.CreateAnd(bad, active);
    llvm::Value* bits = nullptr;
    llvm::Value* any = bad;
    if (vec) {
      bits = b_.CreateBitCast(bad, b_.getIntNTy(lanes_));
      any = b_.CreateICmpNE(bits, llvm::ConstantInt::get(b_.getIntNTy(lanes_), 0));
    }
    llvm::BasicBlock* trampoline = llvm::BasicBlock::Create(ctx_, "bounds.bad", fn_);
    llvm::BasicBlock* cont = llvm::BasicBlock::Create(ctx_, "bounds.ok", fn_);
    llvm::MDBuilder md(ctx_);
    b_.CreateCondBr(any, trampoline, cont, md.createBranchWeights(1, 1 << 20));

    Site site;
    site.buffer = buf->name;
    site.extent = buf->size;
    site.is_store = is_store;
    size_t depth = std::min(loops_.size(), kMaxDepth);
    size_t first = depth > kReportLoops ? depth - kReportLoops : 0;
    site.first_loop = static_cast<int>(first);
    site.nloops = static_cast<int>(depth - first);
    site.lane_loop = -1;
    for (size_t i = first; i < depth; ++i) {
      site.loops += (site.loops.empty() ? "" : ",") + loops_[i]->name;
      if (loops_[i] == lane_var_) site.lane_loop = static_cast<int>(i - first);
    }
    sites_.push_back(site);

    b_.SetInsertPoint(trampoline);
    llvm::Value* lane = b_.getInt64(0);
    llvm::Value* index = idx;
    if (vec) {
      lane = b_.CreateZExt(b_.CreateBinaryIntrinsic(llvm::Intrinsic::cttz, bits, b_.getFalse()), b_.getInt64Ty());
      index = b_.CreateExtractElement(idx, lane);
    }
    FailPath& fp = CurrentFailPath();
    llvm::BasicBlock* from = b_.GetInsertBlock();
    fp.site->addIncoming(b_.getInt64(static_cast<int64_t>(sites_.size() - 1)), from);
    fp.index->addIncoming(index, from);
    fp.lane->addIncoming(lane, from);
    b_.CreateBr(fp.block);
    b_.SetInsertPoint(cont);
  }

  // Fills the fail blocks once every site is known: the site table, the report call.
  void FinishFailPaths() {
    if (fail_paths_.empty()) return;
    llvm::Type* i32 = b_.getInt32Ty();
    llvm::Type* i64 = b_.getInt64Ty();
    auto* row = llvm::StructType::get(ctx_, {b_.getPtrTy(), b_.getPtrTy(), i64, i32, i32, i32, i32});
    std::map<std::string, llvm::Constant*> strings;
    auto str = [&](const std::string& text) -> llvm::Constant* {
      auto it = strings.find(text);
      if (it != strings.end()) return it->second;
      llvm::IRBuilder<> gb(ctx_);
      llvm::GlobalVariable* g = gb.CreateGlobalString(text, "bounds.str", 0, &mod_);
      return strings[text] = g;
    };
    std::vector<llvm::Constant*> rows;
    for (const Site& s : sites_)
      rows.push_back(llvm::ConstantStruct::get(
          row, {str(s.buffer), str(s.loops), llvm::ConstantInt::get(i64, s.extent),
                llvm::ConstantInt::get(i32, s.is_store ? 1 : 0), llvm::ConstantInt::get(i32, s.nloops),
                llvm::ConstantInt::get(i32, s.lane_loop), llvm::ConstantInt::get(i32, s.first_loop)}));
    auto* table_ty = llvm::ArrayType::get(row, rows.size());
    auto* table = new llvm::GlobalVariable(mod_, table_ty, true, llvm::GlobalValue::PrivateLinkage,
                                           llvm::ConstantArray::get(table_ty, rows), name_ + "_bounds_sites");
    llvm::FunctionCallee report = mod_.getOrInsertFunction(
        "pt_bounds_violation",
        llvm::FunctionType::get(b_.getVoidTy(), {b_.getPtrTy(), b_.getPtrTy(), i64, i64, b_.getPtrTy()}, false));
    for (FailPath& fp : fail_paths_) {
      llvm::IRBuilder<> fb(fp.block);
      llvm::Value* site = fb.CreateInBoundsGEP(table_ty, table, {fb.getInt64(0), fp.site});
      fb.CreateCall(report, {fp.kctx, site, fp.index, fp.lane, fp.loops});
      fb.CreateBr(fp.ret);
    }
  }

  // Lane indices base + k * lane of a strided access.
  llvm::Value* LaneIndices(llvm::Value* base, int64_t k) {
    std::vector<llvm::Constant*> steps;
    for (unsigned i = 0; i < lanes_; ++i) steps.push_back(b_.getInt64(static_cast<int64_t>(i) * k));
    return b_.CreateAdd(Splat(base), llvm::ConstantVector::get(steps));
  }

  // Under a partial mask, a uniform access happens when any lane is active.
  llvm::Value* AnyActive() {
    if (!mask_) return nullptr;
    llvm::Value* bits = b_.CreateBitCast(mask_, b_.getIntNTy(lanes_));
    return b_.CreateICmpNE(bits, llvm::ConstantInt::get(b_.getIntNTy(lanes_), 0));
  }

  void Fail(const std::string& m) {
    if (err_.ok()) err_ = InvalidArgument("codegen of " + name_ + ": " + m);
  }

  llvm::Type* TypeOf(DType t) {
    switch (t) {
      case DType::kFloat32: return b_.getFloatTy();
      case DType::kInt64: return b_.getInt64Ty();
      case DType::kBool: return b_.getInt1Ty();
    }
    return nullptr;
  }

  llvm::AllocaInst* EntryAlloca(llvm::Type* t, int64_t count, const std::string& name) {
    llvm::IRBuilder<> eb(entry_, entry_->begin());
    auto* a = eb.CreateAlloca(t, eb.getInt64(count), name);
    a->setAlignment(llvm::Align(64));
    return a;
  }

  // ---- values and vectors ----
  llvm::Value* Splat(llvm::Value* v) { return b_.CreateVectorSplat(lanes_, v); }
  llvm::Value* AsVec(Val v) { return v.vec ? v.v : Splat(v.v); }
  llvm::Value* AllOnes() { return llvm::ConstantInt::getTrue(llvm::FixedVectorType::get(b_.getInt1Ty(), lanes_)); }
  llvm::Value* Mask() { return mask_ ? mask_ : AllOnes(); }

  // True where truncating division differs from floor division: a non-zero remainder
  // whose sign differs from the divisor's.
  llvm::Value* FloorAdjust(llvm::Value* rem, llvm::Value* y) {
    llvm::Value* zero = llvm::Constant::getNullValue(rem->getType());
    return b_.CreateAnd(b_.CreateICmpNE(rem, zero),
                        b_.CreateICmpNE(b_.CreateICmpSLT(rem, zero), b_.CreateICmpSLT(y, zero)));
  }

  Val Binary(const Expr& e) {
    Val a = EmitExpr(e->a), b = EmitExpr(e->b);
    bool vec = a.vec || b.vec;
    llvm::Value* x = vec ? AsVec(a) : a.v;
    llvm::Value* y = vec ? AsVec(b) : b.v;
    bool fp = e->a->dtype == DType::kFloat32;
    llvm::Value* r = nullptr;
    switch (e->kind) {
      case ExprKind::kAdd: r = fp ? b_.CreateFAdd(x, y) : b_.CreateAdd(x, y); break;
      case ExprKind::kSub: r = fp ? b_.CreateFSub(x, y) : b_.CreateSub(x, y); break;
      case ExprKind::kMul: r = fp ? b_.CreateFMul(x, y) : b_.CreateMul(x, y); break;
      case ExprKind::kDiv:
        if (fp) {
          r = b_.CreateFDiv(x, y);
        } else {  // floor division
          llvm::Value* rem = b_.CreateSRem(x, y);
          r = b_.CreateSub(b_.CreateSDiv(x, y), b_.CreateZExt(FloorAdjust(rem, y), x->getType()));
        }
        break;
      case ExprKind::kMod:
        if (fp) {
          r = b_.CreateFRem(x, y);
        } else {  // floor modulo: the sign of the divisor
          llvm::Value* rem = b_.CreateSRem(x, y);
          r = b_.CreateSelect(FloorAdjust(rem, y), b_.CreateAdd(rem, y), rem);
        }
        break;
      case ExprKind::kMin:
      case ExprKind::kMax: {
        bool is_min = e->kind == ExprKind::kMin;
        if (fp) {
          r = b_.CreateBinaryIntrinsic(is_min ? llvm::Intrinsic::minnum : llvm::Intrinsic::maxnum,
                                       x, y);
        } else {
          llvm::Value* c = is_min ? b_.CreateICmpSLT(x, y) : b_.CreateICmpSGT(x, y);
          r = b_.CreateSelect(c, x, y);
        }
        break;
      }
      case ExprKind::kEQ: r = fp ? b_.CreateFCmpOEQ(x, y) : b_.CreateICmpEQ(x, y); break;
      case ExprKind::kNE: r = fp ? b_.CreateFCmpUNE(x, y) : b_.CreateICmpNE(x, y); break;
      case ExprKind::kLT: r = fp ? b_.CreateFCmpOLT(x, y) : b_.CreateICmpSLT(x, y); break;
      case ExprKind::kLE: r = fp ? b_.CreateFCmpOLE(x, y) : b_.CreateICmpSLE(x, y); break;
      case ExprKind::kAnd: r = b_.CreateAnd(x, y); break;
      case ExprKind::kOr: r = b_.CreateOr(x, y); break;
      default: Fail("unexpected binary node " + ToString(e)); r = x;
    }
    return {r, vec};
  }

  Val EmitExpr(const Expr& e) {
    switch (e->kind) {
      case ExprKind::kIntImm:
        if (e->dtype == DType::kBool) return {b_.getInt1(e->int_value != 0), false};
        return {b_.getInt64(e->int_value), false};
      case ExprKind::kFloatImm:
        return {llvm::ConstantFP::get(b_.getFloatTy(), e->float_value), false};
      case ExprKind::kVar: {
        auto it = vars_.find(e.get());
        if (it == vars_.end()) {
          Fail("unbound variable " + e->name);
          return {b_.getInt64(0), false};
        }
        return it->second;
      }
      case ExprKind::kNot: {
        Val a = EmitExpr(e->a);
        return {b_.CreateNot(a.v), a.vec};
      }
      case ExprKind::kCast: return EmitCast(e);
      case ExprKind::kExp: {
        Val a = EmitExpr(e->a);
        return {b_.CreateUnaryIntrinsic(llvm::Intrinsic::exp, a.v), a.vec};
      }
      case ExprKind::kSelect: return EmitSelect(e);
      case ExprKind::kLoad: return EmitLoad(e);
      case ExprKind::kTensorRead:
      case ExprKind::kReduce:
        Fail("tensor expression left in lowered IR: " + ToString(e));
        return {llvm::UndefValue::get(TypeOf(e->dtype)), false};
      default: return Binary(e);
    }
  }

  Val EmitCast(const Expr& e) {
    Val a = EmitExpr(e->a);
    llvm::Type* to = TypeOf(e->dtype);
    if (a.vec) to = llvm::FixedVectorType::get(to, lanes_);
    DType from = e->a->dtype;
    llvm::Value* r = a.v;
    if (e->dtype == DType::kFloat32) {
      r = from == DType::kBool ? b_.CreateUIToFP(a.v, to) : b_.CreateSIToFP(a.v, to);
    } else if (e->dtype == DType::kInt64) {
      r = from == DType::kFloat32 ? b_.CreateFPToSI(a.v, to) : b_.CreateZExt(a.v, to);
    } else {
      r = from == DType::kFloat32
              ? b_.CreateFCmpUNE(a.v, llvm::Constant::getNullValue(a.v->getType()))
              : b_.CreateICmpNE(a.v, llvm::Constant::getNullValue(a.v->getType()));
    }
    return {r, a.vec};
  }

  Val EmitSelect(const Expr& e) {
    Val c = EmitExpr(e->a);
    if (c.vec) {
      // Lanes where the condition fails must not load: predicate each branch.
      llvm::Value* saved = mask_;
      mask_ = b_.CreateAnd(Mask(), c.v);
      Val t = EmitExpr(e->b);
      mask_ = b_.CreateAnd(saved ? saved : AllOnes(), b_.CreateNot(c.v));
      Val f = EmitExpr(e->c);
      mask_ = saved;
      return {b_.CreateSelect(c.v, AsVec(t), AsVec(f)), true};
    }
    if (!HasLoad(e->b) && !HasLoad(e->c)) {
      Val t = EmitExpr(e->b), f = EmitExpr(e->c);
      bool vec = t.vec || f.vec;
      return {b_.CreateSelect(c.v, vec ? AsVec(t) : t.v, vec ? AsVec(f) : f.v), vec};
    }
    // A load in a branch may be out of bounds when its branch is not taken: branch.
    bool vec = lane_var_ && (UsesVar(e->b, lane_var_) || UsesVar(e->c, lane_var_));
    llvm::BasicBlock* tb = llvm::BasicBlock::Create(ctx_, "sel.t", fn_);
    llvm::BasicBlock* fb = llvm::BasicBlock::Create(ctx_, "sel.f", fn_);
    llvm::BasicBlock* done = llvm::BasicBlock::Create(ctx_, "sel.done", fn_);
    b_.CreateCondBr(c.v, tb, fb);
    b_.SetInsertPoint(tb);
    Val t = EmitExpr(e->b);
    llvm::Value* tv = vec ? AsVec(t) : t.v;
    llvm::BasicBlock* tend = b_.GetInsertBlock();
    b_.CreateBr(done);
    b_.SetInsertPoint(fb);
    Val f = EmitExpr(e->c);
    llvm::Value* fv = vec ? AsVec(f) : f.v;
    llvm::BasicBlock* fend = b_.GetInsertBlock();
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
    llvm::PHINode* phi = b_.CreatePHI(tv->getType(), 2);
    phi->addIncoming(tv, tend);
    phi->addIncoming(fv, fend);
    return {phi, vec};
  }

  llvm::Value* BufferPtr(const Buffer& buf) {
    auto it = bufs_.find(buf.get());
    if (it == bufs_.end()) {
      Fail("buffer " + buf->name + " used outside its allocation");
      return llvm::ConstantPointerNull::get(b_.getPtrTy());
    }
    return it->second;
  }

  // Lane stride of an index inside a vectorized loop: 0, 1, up to kMaxDenseStride
  // (a strided access), or nullopt (gather).
  std::optional<int64_t> LaneStride(const Expr& index) {
    if (!lane_var_ || !UsesVar(index, lane_var_)) return 0;
    Expr s = Simplify(index, ranges_);
    if (!UsesVar(s, lane_var_)) return 0;
    auto c = LinearCoefficient(s, lane_var_);
    if (c && *c >= 1 && *c <= kMaxDenseStride) return *c;
    return std::nullopt;
  }

  // The index at lane 0 of a stride-1 access.
  llvm::Value* LaneBase(const Expr& index) {
    Val base = WithScalarLane([&] { return EmitExpr(Simplify(index, ranges_)); });
    return base.v;
  }

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
  llvm::Value* Address(llvm::Type* et, llvm::Value* base, llvm::Value* idx, bool certain) {
    return certain ? b_.CreateInBoundsGEP(et, base, idx) : b_.CreateGEP(et, base, idx);
  }

  // Masked loads and stores of f32 vectors. On AVX and AVX2 (no AVX-512) they are the
  // ISA's vmaskmovps, emitted per 8 lanes as its intrinsics: LLVM 16 miscompiles generic
  // llvm.masked.load/store there (found by the fuzzer: depthwise and conv2d configs whose
  // padding masks off whole vectors read garbage on x86-64-v3 and haswell, while the same
  // IR built for AVX-512, even with 256-bit vectors, is right). Elsewhere the generic form.
  bool AvxMaskIntrinsics(llvm::Type* et) const { return et->isFloatTy() && avx_masks_; }

  // The 8-lane chunks of an <n x i1> mask as <8 x i32> sign masks (lanes past n off).
  std::vector<llvm::Value*> MaskChunks(llvm::Value* mask, unsigned n) {
    auto* i32v = llvm::FixedVectorType::get(b_.getInt32Ty(), n);
    llvm::Value* wide = b_.CreateSExt(mask, i32v);
    std::vector<llvm::Value*> chunks;
    for (unsigned c = 0; c * 8 < n; ++c) {
      std::vector<int> pick;
      for (unsigned i = 0; i < 8; ++i) pick.push_back(c * 8 + i < n ? static_cast<int>(c * 8 + i) : static_cast<int>(n));
      chunks.push_back(b_.CreateShuffleVector(wide, llvm::Constant::getNullValue(i32v), pick));
    }
    return chunks;
  }

  llvm::Value* MaskedLoad(llvm::FixedVectorType* vt, llvm::Value* ptr, llvm::Value* mask) {
    if (!AvxMaskIntrinsics(vt->getElementType()))
      return b_.CreateMaskedLoad(vt, ptr, llvm::Align(4), mask, llvm::Constant::getNullValue(vt));
    const unsigned n = vt->getNumElements();
    llvm::Function* load = llvm::Intrinsic::getDeclaration(&mod_, llvm::Intrinsic::x86_avx_maskload_ps_256);
    std::vector<llvm::Value*> parts;
    std::vector<llvm::Value*> masks = MaskChunks(mask, n);
    for (unsigned c = 0; c < masks.size(); ++c)
      parts.push_back(b_.CreateCall(load, {b_.CreateConstGEP1_64(b_.getFloatTy(), ptr, c * 8), masks[c]}));
    llvm::Value* all = parts.size() == 1 ? parts[0] : llvm::concatenateVectors(b_, parts);
    if (parts.size() * 8 == n) return all;
    std::vector<int> first;
    for (unsigned i = 0; i < n; ++i) first.push_back(static_cast<int>(i));
    return b_.CreateShuffleVector(all, first);
  }

  void MaskedStore(llvm::Value* value, llvm::Value* ptr, llvm::Value* mask) {
    auto* vt = llvm::cast<llvm::FixedVectorType>(value->getType());
    if (!AvxMaskIntrinsics(vt->getElementType())) {
      b_.CreateMaskedStore(value, ptr, llvm::Align(4), mask);
      return;
    }
    const unsigned n = vt->getNumElements();
    llvm::Function* store = llvm::Intrinsic::getDeclaration(&mod_, llvm::Intrinsic::x86_avx_maskstore_ps_256);
    std::vector<llvm::Value*> masks = MaskChunks(mask, n);
    for (unsigned c = 0; c < masks.size(); ++c) {
      std::vector<int> pick;
      for (unsigned i = 0; i < 8; ++i) pick.push_back(c * 8 + i < n ? static_cast<int>(c * 8 + i) : static_cast<int>(n));
      llvm::Value* part = b_.CreateShuffleVector(value, llvm::Constant::getNullValue(vt), pick);
      b_.CreateCall(store, {b_.CreateConstGEP1_64(b_.getFloatTy(), ptr, c * 8), masks[c], part});
    }
  }

  // A uniform access under a partial mask must not touch memory when no lane is active.
  llvm::Value* GuardUniformPtr(llvm::Value* ptr, llvm::Type* elem) {
    if (!mask_) return ptr;
    llvm::Value* bits = b_.CreateBitCast(mask_, b_.getIntNTy(lanes_));
    llvm::Value* any = b_.CreateICmpNE(bits, llvm::ConstantInt::get(b_.getIntNTy(lanes_), 0));
    llvm::Value* dummy = EntryAlloca(elem, 1, "dummy");
    return b_.CreateSelect(any, ptr, dummy);
  }

  Val EmitLoad(const Expr& e) {
    llvm::Type* et = TypeOf(e->dtype);
    llvm::Value* base = BufferPtr(e->buffer);
    auto stride = LaneStride(e->a);
    if (stride && *stride == 0) {
      Val idx = EmitExpr(e->a);
      if (idx.vec) {  // uniform after simplification: lane 0's value serves all
        idx = WithScalarLane([&] { return EmitExpr(e->a); });
      }
      CheckAccess(e->buffer, e->a, idx.v, false, AnyActive(), false);
      llvm::Value* ptr = GuardUniformPtr(Address(et, base, idx.v, !mask_), et);
      return {b_.CreateAlignedLoad(et, ptr, llvm::Align(4)), false};
    }
    auto* vt = llvm::FixedVectorType::get(et, lanes_);
    if (stride && *stride > 1) {
      // A small constant stride (a stride-2 convolution's input row): one masked load of
      // the lanes * stride elements from lane 0's on, only every stride-th one enabled
      // (so nothing past the last needed element is touched), then a shuffle picks them.
      // A gather of the same lanes is several times slower on our CPUs.
      int64_t k = *stride;
      int64_t wide_lanes = lanes_ * k;
      auto* wt = llvm::FixedVectorType::get(et, wide_lanes);
      std::vector<int> pick, spread;
      for (int64_t i = 0; i < lanes_; ++i) pick.push_back(static_cast<int>(i * k));
      for (int64_t j = 0; j < wide_lanes; ++j)
        spread.push_back(j % k == 0 ? static_cast<int>(j / k) : static_cast<int>(lanes_));
      llvm::Value* lane_mask = mask_ ? mask_ : llvm::Constant::getAllOnesValue(
                                                   llvm::FixedVectorType::get(b_.getInt1Ty(), lanes_));
      llvm::Value* wide_mask = b_.CreateShuffleVector(
          lane_mask, llvm::Constant::getNullValue(lane_mask->getType()), spread);
      llvm::Value* lane0 = LaneBase(e->a);
      CheckAccess(e->buffer, Simplify(e->a, ranges_), LaneIndices(lane0, k), true, mask_, false);
      llvm::Value* ptr = Address(et, base, lane0, false);
      llvm::Value* wide = MaskedLoad(wt, ptr, wide_mask);
      return {b_.CreateShuffleVector(wide, pick), true};
    }
    if (stride) {
      llvm::Value* lane0 = LaneBase(e->a);
      CheckAccess(e->buffer, Simplify(e->a, ranges_), LaneIndices(lane0, 1), true, mask_, false);
      llvm::Value* ptr = Address(et, base, lane0, !mask_);
      if (mask_) {
        return {MaskedLoad(vt, ptr, mask_), true};
      }
      return {b_.CreateAlignedLoad(vt, ptr, llvm::Align(4)), true};
    }
    Val idx = EmitExpr(e->a);
    CheckAccess(e->buffer, e->a, AsVec(idx), true, mask_, false);
    llvm::Value* ptrs = Address(et, base, AsVec(idx), !mask_);
    return {b_.CreateMaskedGather(vt, ptrs, llvm::Align(4), Mask(), llvm::Constant::getNullValue(vt)),
            true};
  }

  void EmitStore(const Stmt& s) {
    llvm::Type* et = TypeOf(s->buffer->dtype);
    llvm::Value* base = BufferPtr(s->buffer);
    Val value = EmitExpr(s->value);
    auto stride = LaneStride(s->index);
    if (stride && *stride == 0 && !value.vec) {
      Val idx = EmitExpr(s->index);
      if (idx.vec) idx = WithScalarLane([&] { return EmitExpr(s->index); });
      CheckAccess(s->buffer, s->index, idx.v, false, AnyActive(), true);
      llvm::Value* ptr = GuardUniformPtr(Address(et, base, idx.v, !mask_), et);
      b_.CreateAlignedStore(value.v, ptr, llvm::Align(4));
      return;
    }
    if (!lane_var_) {
      Fail("vector value stored outside a vectorized loop");
      return;
    }
    if (stride && *stride == 1) {
      llvm::Value* lane0 = LaneBase(s->index);
      CheckAccess(s->buffer, Simplify(s->index, ranges_), LaneIndices(lane0, 1), true, mask_, true);
      llvm::Value* ptr = Address(et, base, lane0, !mask_);
      if (mask_) {
        MaskedStore(AsVec(value), ptr, mask_);
      } else {
        b_.CreateAlignedStore(AsVec(value), ptr, llvm::Align(4));
      }
      return;
    }
    // Scatter writes lanes in order, so a uniform index keeps the last lane's value, as a
    // serial loop would.
    Val idx = EmitExpr(s->index);
    CheckAccess(s->buffer, s->index, AsVec(idx), true, mask_, true);
    llvm::Value* ptrs = Address(et, base, AsVec(idx), !mask_);
    b_.CreateMaskedScatter(AsVec(value), ptrs, llvm::Align(4), Mask());
  }

  // ---- statements ----
  void EmitStmt(const Stmt& s) {
    if (!s || !err_.ok()) return;
    switch (s->kind) {
      case StmtKind::kSeq:
        for (const auto& c : s->seq) EmitStmt(c);
        return;
      case StmtKind::kStore: EmitStore(s); return;
      case StmtKind::kIf: EmitIf(s); return;
      case StmtKind::kAllocate: EmitAllocate(s); return;
      case StmtKind::kFor:
        switch (s->for_kind) {
          case ForKind::kSerial: EmitSerialFor(s); return;
          case ForKind::kUnrolled: EmitUnrolledFor(s); return;
          case ForKind::kVectorized: EmitVectorFor(s); return;
          case ForKind::kParallel:
            if (lane_var_ || in_parallel_) EmitSerialFor(s); else EmitParallelFor(s);
            return;
        }
    }
  }

  void EmitIf(const Stmt& s) {
    Val c = EmitExpr(s->cond);
    if (c.vec) {
      llvm::Value* saved = mask_;
      mask_ = b_.CreateAnd(Mask(), c.v);
      EmitStmt(s->body);
      if (s->else_body) {
        mask_ = b_.CreateAnd(saved ? saved : AllOnes(), b_.CreateNot(c.v));
        EmitStmt(s->else_body);
      }
      mask_ = saved;
      return;
    }
    llvm::BasicBlock* tb = llvm::BasicBlock::Create(ctx_, "if.then", fn_);
    llvm::BasicBlock* eb = s->else_body ? llvm::BasicBlock::Create(ctx_, "if.else", fn_) : nullptr;
    llvm::BasicBlock* done = llvm::BasicBlock::Create(ctx_, "if.end", fn_);
    b_.CreateCondBr(c.v, tb, eb ? eb : done);
    b_.SetInsertPoint(tb);
    EmitStmt(s->body);
    b_.CreateBr(done);
    if (eb) {
      b_.SetInsertPoint(eb);
      EmitStmt(s->else_body);
      b_.CreateBr(done);
    }
    b_.SetInsertPoint(done);
  }

  void EmitAllocate(const Stmt& s) {
    const Buffer& buf = s->buffer;
    auto it = plan_.placement.find(s.get());
    if (it == plan_.placement.end()) {
      Fail("buffer " + buf->name + " is missing from the memory plan");
      return;
    }
    const BufferPlacement& p = it->second;
    if (p.on_stack) {
      bufs_[buf.get()] = EntryAlloca(TypeOf(buf->dtype), buf->size, buf->name);
    } else {
      llvm::Value* base = p.per_slot ? slot_base_ : ws_base_;
      if (!base) {
        Fail("buffer " + buf->name + ": its workspace region is not in scope");
        return;
      }
      bufs_[buf.get()] = b_.CreateConstInBoundsGEP1_64(b_.getInt8Ty(), base, p.offset, buf->name);
    }
    EmitStmt(s->body);
    bufs_.erase(buf.get());
  }

  void PushRange(const Stmt& s) {
    int64_t mn, ext;
    if (IsConstInt(s->min, &mn) && IsConstInt(s->extent, &ext))
      ranges_[s->var.get()] = {mn, mn + ext - 1};
  }

  void EmitLoop(const Stmt& s, llvm::Value* begin, llvm::Value* end) {
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    llvm::BasicBlock* header = llvm::BasicBlock::Create(ctx_, s->var->name + ".hdr", fn_);
    llvm::BasicBlock* body = llvm::BasicBlock::Create(ctx_, s->var->name + ".body", fn_);
    llvm::BasicBlock* exit = llvm::BasicBlock::Create(ctx_, s->var->name + ".exit", fn_);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode* i = b_.CreatePHI(b_.getInt64Ty(), 2, s->var->name);
    i->addIncoming(begin, pre);
    b_.CreateCondBr(b_.CreateICmpSLT(i, end), body, exit);
    b_.SetInsertPoint(body);
    vars_[s->var.get()] = {i, false};
    loops_.push_back(s->var.get());
    NoteLoop(loops_.size() - 1, i);
    EmitStmt(s->body);
    loops_.pop_back();
    llvm::Value* next = b_.CreateAdd(i, b_.getInt64(1), "", true, true);
    i->addIncoming(next, b_.GetInsertBlock());
    b_.CreateBr(header);
    b_.SetInsertPoint(exit);
    vars_.erase(s->var.get());
  }

  void EmitSerialFor(const Stmt& s) {
    Val mn = EmitExpr(s->min), ext = EmitExpr(s->extent);
    PushRange(s);
    EmitLoop(s, mn.v, b_.CreateAdd(mn.v, ext.v));
    ranges_.erase(s->var.get());
  }

  void EmitUnrolledFor(const Stmt& s) {
    int64_t mn, ext;
    if (!IsConstInt(s->min, &mn) || !IsConstInt(s->extent, &ext) || ext > kMaxUnroll) {
      EmitSerialFor(s);
      return;
    }
    loops_.push_back(s->var.get());
    for (int64_t k = 0; k < ext; ++k) {
      vars_[s->var.get()] = {b_.getInt64(mn + k), false};
      ranges_[s->var.get()] = {mn + k, mn + k};
      NoteLoop(loops_.size() - 1, b_.getInt64(mn + k));
      EmitStmt(s->body);
    }
    loops_.pop_back();
    vars_.erase(s->var.get());
    ranges_.erase(s->var.get());
  }

  void EmitVectorFor(const Stmt& s) {
    int64_t ext;
    if (!IsConstInt(s->extent, &ext) || ext < 1) {
      Fail("vectorized loop " + s->var->name + " needs a constant extent");
      return;
    }
    if (lane_var_) {
      Fail("nested vectorized loop " + s->var->name);
      return;
    }
    Val mn = EmitExpr(s->min);
    lanes_ = static_cast<unsigned>(ext);
    lane_var_ = s->var.get();
    lane_base_ = mn.v;
    std::vector<llvm::Constant*> steps;
    for (unsigned k = 0; k < lanes_; ++k) steps.push_back(b_.getInt64(k));
    llvm::Value* ramp = b_.CreateAdd(Splat(mn.v), llvm::ConstantVector::get(steps));
    vars_[lane_var_] = {ramp, true};
    PushRange(s);
    loops_.push_back(lane_var_);
    NoteLoop(loops_.size() - 1, mn.v);  // lane 0's; a report adds the failing lane
    EmitStmt(s->body);
    loops_.pop_back();
    ranges_.erase(s->var.get());
    vars_.erase(lane_var_);
    lane_var_ = nullptr;
    lane_base_ = nullptr;
    mask_ = nullptr;
  }

  // Outlines the loop body into fn(begin, end, closure) and calls pt_parallel_for.
  void EmitParallelFor(const Stmt& s) {
    Val mn = EmitExpr(s->min), ext = EmitExpr(s->extent);
    // Everything in scope is captured: loop variables and buffer pointers.
    std::vector<const ExprNode*> cap_vars;
    std::vector<const BufferNode*> cap_bufs;
    std::vector<llvm::Type*> fields;
    for (const auto& [k, v] : vars_) {
      cap_vars.push_back(k);
      fields.push_back(b_.getInt64Ty());
    }
    for (const auto& [k, v] : bufs_) {
      cap_bufs.push_back(k);
      fields.push_back(b_.getPtrTy());
    }
    fields.push_back(b_.getInt64Ty());  // loop min
    fields.push_back(b_.getPtrTy());    // the kernel's ctx
    fields.push_back(b_.getInt32Ty());  // set by a chunk whose bounds check failed
    auto* st = llvm::StructType::get(ctx_, fields);
    llvm::Value* closure = EntryAlloca(st, 1, "closure");
    unsigned f = 0;
    for (auto* k : cap_vars) b_.CreateStore(vars_[k].v, b_.CreateStructGEP(st, closure, f++));
    for (auto* k : cap_bufs) b_.CreateStore(bufs_[k], b_.CreateStructGEP(st, closure, f++));
    const unsigned min_field = f, ctx_field = f + 1, fail_field = f + 2;
    b_.CreateStore(mn.v, b_.CreateStructGEP(st, closure, min_field));
    b_.CreateStore(kctx_, b_.CreateStructGEP(st, closure, ctx_field));
    b_.CreateStore(b_.getInt32(0), b_.CreateStructGEP(st, closure, fail_field));

    auto* body_ty = llvm::FunctionType::get(
        b_.getVoidTy(), {b_.getInt64Ty(), b_.getInt64Ty(), b_.getPtrTy(), b_.getInt64Ty()}, false);
    llvm::Function* body = llvm::Function::Create(
        body_ty, llvm::Function::InternalLinkage,
        name_ + "_par" + std::to_string(parallel_count_++), &mod_);
    SetAttributes(body);

    // Emit the outlined function with its own scope.
    llvm::Function* saved_fn = fn_;
    llvm::BasicBlock* saved_entry = entry_;
    llvm::BasicBlock* saved_block = b_.GetInsertBlock();
    llvm::BasicBlock* saved_fail = fail_ret_;
    int saved_fail_path = fail_path_;
    llvm::Value* saved_loop_pos = loop_pos_;
    llvm::Value* saved_kctx = kctx_;
    llvm::Value* saved_ws = ws_base_;
    auto saved_vars = vars_;
    auto saved_bufs = bufs_;
    BeginFunction(body);
    llvm::Value* cl = body->getArg(2);
    f = 0;
    for (auto* k : cap_vars)
      vars_[k] = {b_.CreateLoad(b_.getInt64Ty(), b_.CreateStructGEP(st, cl, f++)), false};
    for (auto* k : cap_bufs)
      bufs_[k] = b_.CreateLoad(b_.getPtrTy(), b_.CreateStructGEP(st, cl, f++));
    llvm::Value* inner_min = b_.CreateLoad(b_.getInt64Ty(), b_.CreateStructGEP(st, cl, min_field));
    kctx_ = b_.CreateLoad(b_.getPtrTy(), b_.CreateStructGEP(st, cl, ctx_field));
    fail_flag_ = b_.CreateStructGEP(st, cl, fail_field);
    ws_base_ = nullptr;  // everything allocated in here is in the chunk's slot
    for (size_t d = 0; d < loops_.size(); ++d) {  // the enclosing loops' values, for reports
      auto it = vars_.find(loops_[d]);
      if (it != vars_.end() && !it->second.vec) NoteLoop(d, it->second.v);
    }
    if (plan_.workspace.slot_bytes > 0) {
      // This chunk's slot of the workspace.
      llvm::Value* ws = b_.CreateLoad(b_.getPtrTy(), b_.CreateStructGEP(CtxType(), kctx_, 0), "workspace");
      llvm::Value* off = b_.CreateAdd(b_.getInt64(plan_.workspace.fixed_bytes),
                                      b_.CreateMul(body->getArg(3), b_.getInt64(plan_.workspace.slot_bytes)));
      slot_base_ = b_.CreateInBoundsGEP(b_.getInt8Ty(), ws, off, "slot");
    }
    in_parallel_ = true;
    PushRange(s);
    EmitLoop(s, b_.CreateAdd(inner_min, body->getArg(0)), b_.CreateAdd(inner_min, body->getArg(1)));
    ranges_.erase(s->var.get());
    in_parallel_ = false;
    b_.CreateRetVoid();
    fn_ = saved_fn;
    entry_ = saved_entry;
    fail_ret_ = saved_fail;
    fail_path_ = saved_fail_path;
    loop_pos_ = saved_loop_pos;
    kctx_ = saved_kctx;
    ws_base_ = saved_ws;
    fail_flag_ = nullptr;
    slot_base_ = nullptr;
    vars_ = std::move(saved_vars);
    bufs_ = std::move(saved_bufs);
    b_.SetInsertPoint(saved_block);

    llvm::FunctionCallee pfor = mod_.getOrInsertFunction(
        "pt_parallel_for",
        llvm::FunctionType::get(b_.getInt32Ty(), {b_.getPtrTy(), b_.getPtrTy(), b_.getInt64Ty(), b_.getInt64Ty()},
                                false));
    // At most as many chunks as the workspace has slots for.
    llvm::Value* slots = b_.CreateLoad(b_.getInt64Ty(), b_.CreateStructGEP(CtxType(), kctx_, 1), "slots");
    b_.CreateCall(pfor, {body, closure, ext.v, slots});
    if (options_.check_bounds) {
      llvm::Value* failed = b_.CreateLoad(b_.getInt32Ty(), b_.CreateStructGEP(st, closure, fail_field));
      llvm::BasicBlock* cont = llvm::BasicBlock::Create(ctx_, "par.ok", fn_);
      b_.CreateCondBr(b_.CreateICmpNE(failed, b_.getInt32(0)), ReturnFailed(), cont);
      b_.SetInsertPoint(cont);
    }
  }

  llvm::LLVMContext& ctx_;
  llvm::Module& mod_;
  llvm::TargetMachine& tm_;
  int vector_bits_;
  CodegenOptions options_;
  bool avx_masks_ = false;  // masked f32 accesses through vmaskmovps' intrinsics
  llvm::IRBuilder<> b_;
  MemoryPlan plan_;
  llvm::Value* kctx_ = nullptr;        // the current function's pt_kernel_ctx
  llvm::Value* ws_base_ = nullptr;     // ctx->workspace: the fixed region
  llvm::Value* slot_base_ = nullptr;   // in an outlined parallel body: its chunk's slot
  llvm::Value* fail_flag_ = nullptr;   // in an outlined parallel body: the closure's flag
  llvm::BasicBlock* fail_ret_ = nullptr;   // the current function's return after a failure
  int fail_path_ = -1;                     // the current function's entry in fail_paths_
  std::vector<FailPath> fail_paths_;
  std::vector<Site> sites_;
  llvm::Value* loop_pos_ = nullptr;        // the frame's i64[kMaxDepth] of loop variables
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

}  // namespace

std::string PrepackName(const std::string& name, size_t i) {
  return name + "_prepack" + std::to_string(i);
}

StatusOr<std::unique_ptr<llvm::Module>> EmitModule(const LoweredFunc& f, llvm::LLVMContext& ctx,
                                                   llvm::TargetMachine& tm, const CodegenOptions& options) {
  auto m = std::make_unique<llvm::Module>(f.name, ctx);
  m->setDataLayout(tm.createDataLayout());
  m->setTargetTriple(tm.getTargetTriple().str());
  {
    CodeGen cg(ctx, *m, tm, options);
    PT_RETURN_IF_ERROR(cg.Emit(f));
  }
  for (size_t i = 0; i < f.prepacks.size(); ++i) {
    LoweredFunc p = f.prepacks[i].func;
    p.name = PrepackName(f.name, i);
    CodeGen cg(ctx, *m, tm, options);
    PT_RETURN_IF_ERROR(cg.Emit(p));
  }
  return m;
}

void OptimizeModule(llvm::Module& m, llvm::TargetMachine& tm) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions pto;
  pto.LoopVectorization = true;
  pto.SLPVectorization = true;
  llvm::PassBuilder pb(&tm, pto);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
}

}  // namespace priortune::compiler::internal

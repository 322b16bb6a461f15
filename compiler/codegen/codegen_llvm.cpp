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
#include <algorithm>

#include "compiler/codegen/internal/codegen_class.h"

namespace priortune::compiler::internal {

std::optional<Range> IndexRange(const Expr& e, const RangeMap& ranges) {
  constexpr int64_t kLimit = int64_t{1} << 61;
  auto ok = [&](__int128 lo, __int128 hi) -> std::optional<Range> {
    if (lo < -kLimit || hi > kLimit) return std::nullopt;
    return Range{static_cast<int64_t>(lo), static_cast<int64_t>(hi)};
  };
  auto floor_div = [](int64_t x, int64_t c) { return x / c - ((x % c != 0) && ((x < 0) != (c < 0))); };
  switch (e->kind) {
    case ExprKind::kIntImm:
      return Range{e->int_value, e->int_value};
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
    default:
      break;
  }
  if (e->dtype != DType::kInt64 || !e->a || !e->b) return std::nullopt;
  auto x = IndexRange(e->a, ranges), y = IndexRange(e->b, ranges);
  if (!x || !y) return std::nullopt;
  __int128 xl = x->first, xh = x->second, yl = y->first, yh = y->second;
  switch (e->kind) {
    case ExprKind::kAdd:
      return ok(xl + yl, xh + yh);
    case ExprKind::kSub:
      return ok(xl - yh, xh - yl);
    case ExprKind::kMul: {
      __int128 p[4] = {xl * yl, xl * yh, xh * yl, xh * yh};
      return ok(*std::min_element(p, p + 4), *std::max_element(p, p + 4));
    }
    case ExprKind::kMin:
      return ok(std::min(xl, yl), std::min(xh, yh));
    case ExprKind::kMax:
      return ok(std::max(xl, yl), std::max(xh, yh));
    case ExprKind::kDiv:  // floor division by a positive constant is monotonic
      if (yl != yh || yl <= 0) return std::nullopt;
      return Range{floor_div(x->first, y->first), floor_div(x->second, y->first)};
    case ExprKind::kMod:  // floor modulo by a positive constant
      if (yl != yh || yl <= 0) return std::nullopt;
      if (floor_div(x->first, y->first) == floor_div(x->second, y->first))
        return Range{x->first - floor_div(x->first, y->first) * y->first,
                     x->second - floor_div(x->second, y->first) * y->first};
      return Range{0, y->first - 1};
    default:
      return std::nullopt;
  }
}

bool HasLoad(const Expr& e) {
  bool found = false;
  VisitExpr(e, [&](const Expr& x) { found |= x->kind == ExprKind::kLoad; });
  return found;
}

Status CodeGen::Emit(const LoweredFunc& f) {
  plan_ = PlanMemory(f.body, options_.stack_bytes);
  std::vector<llvm::Type*> params(f.args.size() + 1, b_.getPtrTy());
  auto* fty = llvm::FunctionType::get(b_.getInt32Ty(), params, false);
  llvm::Function* fn = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, f.name, &mod_);
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
  llvm::Function* packed = llvm::Function::Create(pty, llvm::Function::ExternalLinkage, f.name + "_packed", &mod_);
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
  if (llvm::verifyModule(mod_, &os)) return Internal("generated LLVM IR does not verify: " + os.str());
  return OkStatus();
}

void CodeGen::SetAttributes(llvm::Function* fn) {
  fn->addFnAttr("target-cpu", tm_.getTargetCPU());
  fn->addFnAttr("target-features", tm_.getTargetFeatureString());
  // We emit explicit vectors of the target's width; make sure the backend keeps them
  // that wide (e.g. in zmm registers on AVX-512) instead of splitting them on CPUs tuned
  // to prefer narrower vectors.
  fn->addFnAttr("prefer-vector-width", std::to_string(vector_bits_));
  fn->addFnAttr("min-legal-vector-width", std::to_string(vector_bits_));
  fn->addFnAttr(llvm::Attribute::NoUnwind);
}

void CodeGen::BeginFunction(llvm::Function* fn) {
  fn_ = fn;
  entry_ = llvm::BasicBlock::Create(ctx_, "entry", fn);
  fail_ret_ = nullptr;
  fail_path_ = -1;
  b_.SetInsertPoint(entry_);
  loop_pos_ = options_.check_bounds ? EntryAlloca(b_.getInt64Ty(), kMaxDepth, "loop_position") : nullptr;
}

llvm::StructType* CodeGen::CtxType() {
  return llvm::StructType::get(ctx_, {b_.getPtrTy(), b_.getInt64Ty(), b_.getPtrTy()});
}

llvm::Type* CodeGen::TypeOf(DType t) {
  switch (t) {
    case DType::kFloat32:
      return b_.getFloatTy();
    case DType::kInt64:
      return b_.getInt64Ty();
    case DType::kBool:
      return b_.getInt1Ty();
  }
  return nullptr;
}

llvm::AllocaInst* CodeGen::EntryAlloca(llvm::Type* t, int64_t count, const std::string& name) {
  llvm::IRBuilder<> eb(entry_, entry_->begin());
  auto* a = eb.CreateAlloca(t, eb.getInt64(count), name);
  a->setAlignment(llvm::Align(64));
  return a;
}

llvm::Value* CodeGen::FloorAdjust(llvm::Value* rem, llvm::Value* y) {
  llvm::Value* zero = llvm::Constant::getNullValue(rem->getType());
  return b_.CreateAnd(b_.CreateICmpNE(rem, zero),
                      b_.CreateICmpNE(b_.CreateICmpSLT(rem, zero), b_.CreateICmpSLT(y, zero)));
}

Val CodeGen::Binary(const Expr& e) {
  Val a = EmitExpr(e->a), b = EmitExpr(e->b);
  bool vec = a.vec || b.vec;
  llvm::Value* x = vec ? AsVec(a) : a.v;
  llvm::Value* y = vec ? AsVec(b) : b.v;
  bool fp = e->a->dtype == DType::kFloat32;
  llvm::Value* r = nullptr;
  switch (e->kind) {
    case ExprKind::kAdd:
      r = fp ? b_.CreateFAdd(x, y) : b_.CreateAdd(x, y);
      break;
    case ExprKind::kSub:
      r = fp ? b_.CreateFSub(x, y) : b_.CreateSub(x, y);
      break;
    case ExprKind::kMul:
      r = fp ? b_.CreateFMul(x, y) : b_.CreateMul(x, y);
      break;
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
        r = b_.CreateBinaryIntrinsic(is_min ? llvm::Intrinsic::minnum : llvm::Intrinsic::maxnum, x, y);
      } else {
        llvm::Value* c = is_min ? b_.CreateICmpSLT(x, y) : b_.CreateICmpSGT(x, y);
        r = b_.CreateSelect(c, x, y);
      }
      break;
    }
    case ExprKind::kEQ:
      r = fp ? b_.CreateFCmpOEQ(x, y) : b_.CreateICmpEQ(x, y);
      break;
    case ExprKind::kNE:
      r = fp ? b_.CreateFCmpUNE(x, y) : b_.CreateICmpNE(x, y);
      break;
    case ExprKind::kLT:
      r = fp ? b_.CreateFCmpOLT(x, y) : b_.CreateICmpSLT(x, y);
      break;
    case ExprKind::kLE:
      r = fp ? b_.CreateFCmpOLE(x, y) : b_.CreateICmpSLE(x, y);
      break;
    case ExprKind::kAnd:
      r = b_.CreateAnd(x, y);
      break;
    case ExprKind::kOr:
      r = b_.CreateOr(x, y);
      break;
    default:
      Fail("unexpected binary node " + ToString(e));
      r = x;
  }
  return {r, vec};
}

Val CodeGen::EmitExpr(const Expr& e) {
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
    case ExprKind::kCast:
      return EmitCast(e);
    case ExprKind::kExp: {
      // A scalar (or one-lane vector) calls libm's expf: table-driven, fewer instructions
      // than the polynomial.
      Val a = EmitExpr(e->a);
      return {a.vec && lanes_ > 1 ? EmitExp(a.v) : b_.CreateUnaryIntrinsic(llvm::Intrinsic::exp, a.v), a.vec};
    }
    case ExprKind::kSqrt: {
      Val a = EmitExpr(e->a);
      return {b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, a.v), a.vec};
    }
    case ExprKind::kSelect:
      return EmitSelect(e);
    case ExprKind::kLoad:
      return EmitLoad(e);
    case ExprKind::kTensorRead:
    case ExprKind::kReduce:
      Fail("tensor expression left in lowered IR: " + ToString(e));
      return {llvm::UndefValue::get(TypeOf(e->dtype)), false};
    default:
      return Binary(e);
  }
}

llvm::Value* CodeGen::EmitExp(llvm::Value* x) {
  llvm::Type* ft = x->getType();
  llvm::Type* it = ft->isVectorTy() ? llvm::VectorType::get(b_.getInt32Ty(), llvm::cast<llvm::VectorType>(ft))
                                    : static_cast<llvm::Type*>(b_.getInt32Ty());
  auto f = [&](double v) { return llvm::ConstantFP::get(ft, v); };
  auto i32 = [&](int64_t v) { return llvm::ConstantInt::get(it, v); };
  auto fma = [&](llvm::Value* a, llvm::Value* b, llvm::Value* c) {
    return b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {ft}, {a, b, c});
  };
  // Clamped so that n stays within -150..128 (the comparisons keep a NaN).
  llvm::Value* c = b_.CreateSelect(b_.CreateFCmpOLT(x, f(-104.0)), f(-104.0), x);
  c = b_.CreateSelect(b_.CreateFCmpOGT(c, f(89.0)), f(89.0), c);
  llvm::Value* fn = b_.CreateUnaryIntrinsic(llvm::Intrinsic::rint, b_.CreateFMul(c, f(1.44269504088896341)));
  llvm::Value* r = fma(fn, f(-0.693359375), c);  // ln2 in two parts: the first exact in float
  r = fma(fn, f(2.12194440e-4), r);
  llvm::Value* p = f(1.9875691500e-4);
  for (double k : {1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1})
    p = fma(p, r, f(k));
  p = fma(p, b_.CreateFMul(r, r), b_.CreateFAdd(r, f(1.0)));
  // 2^n = 2^h * 2^(n-h), h = n / 2: each factor a normal float.
  llvm::Value* n = b_.CreateFPToSI(fn, it);
  llvm::Value* h = b_.CreateAShr(n, i32(1));
  auto pow2 = [&](llvm::Value* k) { return b_.CreateBitCast(b_.CreateShl(b_.CreateAdd(k, i32(127)), i32(23)), ft); };
  llvm::Value* y = b_.CreateFMul(b_.CreateFMul(p, pow2(h)), pow2(b_.CreateSub(n, h)));
  return b_.CreateSelect(b_.CreateFCmpUNO(x, x), x, y);
}

Val CodeGen::EmitCast(const Expr& e) {
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
    r = from == DType::kFloat32 ? b_.CreateFCmpUNE(a.v, llvm::Constant::getNullValue(a.v->getType()))
                                : b_.CreateICmpNE(a.v, llvm::Constant::getNullValue(a.v->getType()));
  }
  return {r, a.vec};
}

Val CodeGen::EmitSelect(const Expr& e) {
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

std::string PrepackName(const std::string& name, size_t i) { return name + "_prepack" + std::to_string(i); }

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

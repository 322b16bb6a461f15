// CodeGen (internal/codegen_class.h): loads and stores, scalar, vector, strided, gathered
// and masked, and the bounds checks of a bounds-checked kernel.
#include <algorithm>

#include "compiler/codegen/internal/codegen_class.h"

namespace priortune::compiler::internal {

llvm::BasicBlock* CodeGen::ReturnFailed() {
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

CodeGen::FailPath& CodeGen::CurrentFailPath() {
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

void CodeGen::NoteLoop(size_t depth, llvm::Value* value) {
  if (!options_.check_bounds || !loop_pos_ || depth >= kMaxDepth) return;
  b_.CreateStore(value, b_.CreateConstInBoundsGEP1_64(b_.getInt64Ty(), loop_pos_, depth));
}

void CodeGen::CheckAccess(const Buffer& buf, const Expr& proof, llvm::Value* idx, bool vec, llvm::Value* active,
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

void CodeGen::FinishFailPaths() {
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

llvm::Value* CodeGen::LaneIndices(llvm::Value* base, int64_t k) {
  std::vector<llvm::Constant*> steps;
  for (unsigned i = 0; i < lanes_; ++i) steps.push_back(b_.getInt64(static_cast<int64_t>(i) * k));
  return b_.CreateAdd(Splat(base), llvm::ConstantVector::get(steps));
}

llvm::Value* CodeGen::AnyActive() {
  if (!mask_) return nullptr;
  llvm::Value* bits = b_.CreateBitCast(mask_, b_.getIntNTy(lanes_));
  return b_.CreateICmpNE(bits, llvm::ConstantInt::get(b_.getIntNTy(lanes_), 0));
}

void CodeGen::Fail(const std::string& m) {
  if (err_.ok()) err_ = InvalidArgument("codegen of " + name_ + ": " + m);
}

llvm::Value* CodeGen::BufferPtr(const Buffer& buf) {
  auto it = bufs_.find(buf.get());
  if (it == bufs_.end()) {
    Fail("buffer " + buf->name + " used outside its allocation");
    return llvm::ConstantPointerNull::get(b_.getPtrTy());
  }
  return it->second;
}

std::optional<int64_t> CodeGen::LaneStride(const Expr& index) {
  if (!lane_var_ || !UsesVar(index, lane_var_)) return 0;
  Expr s = Simplify(index, ranges_);
  if (!UsesVar(s, lane_var_)) return 0;
  auto c = LinearCoefficient(s, lane_var_);
  if (c && *c >= 1 && *c <= kMaxDenseStride) return *c;
  return std::nullopt;
}

llvm::Value* CodeGen::LaneBase(const Expr& index) {
  Val base = WithScalarLane([&] { return EmitExpr(Simplify(index, ranges_)); });
  return base.v;
}

llvm::Value* CodeGen::Address(llvm::Type* et, llvm::Value* base, llvm::Value* idx, bool certain) {
  return certain ? b_.CreateInBoundsGEP(et, base, idx) : b_.CreateGEP(et, base, idx);
}

std::vector<llvm::Value*> CodeGen::MaskChunks(llvm::Value* mask, unsigned n) {
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

llvm::Value* CodeGen::MaskedLoad(llvm::FixedVectorType* vt, llvm::Value* ptr, llvm::Value* mask) {
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

void CodeGen::MaskedStore(llvm::Value* value, llvm::Value* ptr, llvm::Value* mask) {
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

llvm::Value* CodeGen::GuardUniformPtr(llvm::Value* ptr, llvm::Type* elem) {
  if (!mask_) return ptr;
  llvm::Value* bits = b_.CreateBitCast(mask_, b_.getIntNTy(lanes_));
  llvm::Value* any = b_.CreateICmpNE(bits, llvm::ConstantInt::get(b_.getIntNTy(lanes_), 0));
  llvm::Value* dummy = EntryAlloca(elem, 1, "dummy");
  return b_.CreateSelect(any, ptr, dummy);
}

Val CodeGen::EmitLoad(const Expr& e) {
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
    llvm::Value* lane_mask =
        mask_ ? mask_ : llvm::Constant::getAllOnesValue(llvm::FixedVectorType::get(b_.getInt1Ty(), lanes_));
    llvm::Value* wide_mask =
        b_.CreateShuffleVector(lane_mask, llvm::Constant::getNullValue(lane_mask->getType()), spread);
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
  return {b_.CreateMaskedGather(vt, ptrs, llvm::Align(4), Mask(), llvm::Constant::getNullValue(vt)), true};
}

void CodeGen::EmitStore(const Stmt& s) {
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

}  // namespace priortune::compiler::internal

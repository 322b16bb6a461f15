// CodeGen (internal/codegen_class.h): statements, conditionals, allocations and loops:
// serial, unrolled, vectorized and parallel (outlined bodies run by pt_parallel_for).
#include <algorithm>

#include "compiler/codegen/internal/codegen_class.h"

namespace priortune::compiler::internal {

void CodeGen::EmitStmt(const Stmt& s) {
  if (!s || !err_.ok()) return;
  switch (s->kind) {
    case StmtKind::kSeq:
      for (const auto& c : s->seq) EmitStmt(c);
      return;
    case StmtKind::kStore:
      EmitStore(s);
      return;
    case StmtKind::kIf:
      EmitIf(s);
      return;
    case StmtKind::kAllocate:
      EmitAllocate(s);
      return;
    case StmtKind::kFor:
      switch (s->for_kind) {
        case ForKind::kSerial:
          EmitSerialFor(s);
          return;
        case ForKind::kUnrolled:
          EmitUnrolledFor(s);
          return;
        case ForKind::kVectorized:
          EmitVectorFor(s);
          return;
        case ForKind::kParallel:
          if (lane_var_ || in_parallel_)
            EmitSerialFor(s);
          else
            EmitParallelFor(s);
          return;
      }
  }
}

void CodeGen::EmitIf(const Stmt& s) {
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

void CodeGen::EmitAllocate(const Stmt& s) {
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

void CodeGen::PushRange(const Stmt& s) {
  int64_t mn, ext;
  if (IsConstInt(s->min, &mn) && IsConstInt(s->extent, &ext)) ranges_[s->var.get()] = {mn, mn + ext - 1};
}

void CodeGen::EmitLoop(const Stmt& s, llvm::Value* begin, llvm::Value* end) {
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

void CodeGen::EmitSerialFor(const Stmt& s) {
  Val mn = EmitExpr(s->min), ext = EmitExpr(s->extent);
  PushRange(s);
  EmitLoop(s, mn.v, b_.CreateAdd(mn.v, ext.v));
  ranges_.erase(s->var.get());
}

void CodeGen::EmitUnrolledFor(const Stmt& s) {
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

void CodeGen::EmitVectorFor(const Stmt& s) {
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

CodeGen::ParallelClosure CodeGen::CaptureScope(llvm::Value* loop_min) {
  ParallelClosure c;
  std::vector<llvm::Type*> fields;
  for (const auto& [k, v] : vars_) {
    c.vars.push_back(k);
    fields.push_back(b_.getInt64Ty());
  }
  for (const auto& [k, v] : bufs_) {
    c.bufs.push_back(k);
    fields.push_back(b_.getPtrTy());
  }
  fields.push_back(b_.getInt64Ty());  // loop min
  fields.push_back(b_.getPtrTy());    // the kernel's ctx
  fields.push_back(b_.getInt32Ty());  // set by a chunk whose bounds check failed
  c.type = llvm::StructType::get(ctx_, fields);
  c.value = EntryAlloca(c.type, 1, "closure");
  unsigned f = 0;
  for (auto* k : c.vars) b_.CreateStore(vars_[k].v, b_.CreateStructGEP(c.type, c.value, f++));
  for (auto* k : c.bufs) b_.CreateStore(bufs_[k], b_.CreateStructGEP(c.type, c.value, f++));
  c.min_field = f;
  c.ctx_field = f + 1;
  c.fail_field = f + 2;
  b_.CreateStore(loop_min, b_.CreateStructGEP(c.type, c.value, c.min_field));
  b_.CreateStore(kctx_, b_.CreateStructGEP(c.type, c.value, c.ctx_field));
  b_.CreateStore(b_.getInt32(0), b_.CreateStructGEP(c.type, c.value, c.fail_field));
  return c;
}

llvm::Function* CodeGen::EmitParallelBody(const Stmt& s, const ParallelClosure& c) {
  auto* body_ty = llvm::FunctionType::get(b_.getVoidTy(),
                                          {b_.getInt64Ty(), b_.getInt64Ty(), b_.getPtrTy(), b_.getInt64Ty()}, false);
  llvm::Function* body = llvm::Function::Create(body_ty, llvm::Function::InternalLinkage,
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
  unsigned f = 0;
  for (auto* k : c.vars) vars_[k] = {b_.CreateLoad(b_.getInt64Ty(), b_.CreateStructGEP(c.type, cl, f++)), false};
  for (auto* k : c.bufs) bufs_[k] = b_.CreateLoad(b_.getPtrTy(), b_.CreateStructGEP(c.type, cl, f++));
  llvm::Value* inner_min = b_.CreateLoad(b_.getInt64Ty(), b_.CreateStructGEP(c.type, cl, c.min_field));
  kctx_ = b_.CreateLoad(b_.getPtrTy(), b_.CreateStructGEP(c.type, cl, c.ctx_field));
  fail_flag_ = b_.CreateStructGEP(c.type, cl, c.fail_field);
  ws_base_ = nullptr;                           // everything allocated in here is in the chunk's slot
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
  return body;
}

void CodeGen::EmitParallelFor(const Stmt& s) {
  Val mn = EmitExpr(s->min), ext = EmitExpr(s->extent);
  const ParallelClosure closure = CaptureScope(mn.v);
  llvm::Function* body = EmitParallelBody(s, closure);
  llvm::FunctionCallee pfor = mod_.getOrInsertFunction(
      "pt_parallel_for", llvm::FunctionType::get(
                             b_.getInt32Ty(), {b_.getPtrTy(), b_.getPtrTy(), b_.getInt64Ty(), b_.getInt64Ty()}, false));
  // At most as many chunks as the workspace has slots for.
  llvm::Value* slots = b_.CreateLoad(b_.getInt64Ty(), b_.CreateStructGEP(CtxType(), kctx_, 1), "slots");
  b_.CreateCall(pfor, {body, closure.value, ext.v, slots});
  if (options_.check_bounds) {
    llvm::Value* failed =
        b_.CreateLoad(b_.getInt32Ty(), b_.CreateStructGEP(closure.type, closure.value, closure.fail_field));
    llvm::BasicBlock* cont = llvm::BasicBlock::Create(ctx_, "par.ok", fn_);
    b_.CreateCondBr(b_.CreateICmpNE(failed, b_.getInt32(0)), ReturnFailed(), cont);
    b_.SetInsertPoint(cont);
  }
}

}  // namespace priortune::compiler::internal

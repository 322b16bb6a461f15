#include "compiler/ir/schedule.h"

#include <algorithm>
#include <functional>
#include <unordered_set>

namespace priortune::compiler {

Stage::Stage(Schedule* schedule, Operation origin) : schedule_(schedule), origin_(origin), op_(std::move(origin)) {
  ResetTo(op_);
}

void Stage::ResetTo(Operation op) {
  op_ = std::move(op);
  leaves_.clear();
  relations_.clear();
  annotations_.clear();
  if (!op_) return;
  leaves_ = op_->axes;
  leaves_.insert(leaves_.end(), op_->reduce_axes.begin(), op_->reduce_axes.end());
}

IterVar Stage::axis(size_t i) const {
  PT_CHECK(op_ && i < op_->axes.size(), "stage has no spatial axis " + std::to_string(i));
  return op_->axes[i];
}

IterVar Stage::reduce_axis(size_t i) const {
  PT_CHECK(op_ && i < op_->reduce_axes.size(), "stage has no reduction axis " + std::to_string(i));
  return op_->reduce_axes[i];
}

ForKind Stage::annotation(const IterVar& iv) const {
  auto it = annotations_.find(iv.get());
  return it == annotations_.end() ? ForKind::kSerial : it->second;
}

bool Stage::Usable() const { return op_ != nullptr && schedule_->status().ok(); }

bool Stage::CheckLeaf(const IterVar& iv, const char* primitive) {
  if (!iv) {
    schedule_->Fail(InvalidArgument(std::string(primitive) + " on stage " + name() + ": null axis"));
    return false;
  }
  if (std::find(leaves_.begin(), leaves_.end(), iv) == leaves_.end()) {
    schedule_->Fail(InvalidArgument(std::string(primitive) + " on stage " + name() + ": axis " + iv->var->name +
                                    " is not a current loop of this stage (already split or "
                                    "fused, or it belongs to another stage)"));
    return false;
  }
  return true;
}

std::pair<IterVar, IterVar> Stage::split(const IterVar& iv, int64_t factor) {
  IterVar outer = MakeIterVar((iv ? iv->var->name : "?") + ".outer", 1, iv ? iv->kind : IterKind::kSpatial);
  IterVar inner = MakeIterVar((iv ? iv->var->name : "?") + ".inner", 1, iv ? iv->kind : IterKind::kSpatial);
  if (!Usable() || !CheckLeaf(iv, "split")) return {outer, inner};
  if (factor <= 0) {
    schedule_->Fail(InvalidArgument("split of axis " + iv->var->name + " of stage " + name() + ": factor " +
                                    std::to_string(factor) + " must be positive"));
    return {outer, inner};
  }
  // Extents recorded here are nominal (from the full tensor); lowering recomputes them
  // from the region a stage actually computes.
  int64_t inner_ext = std::min(factor, iv->extent);
  outer = MakeIterVar(iv->var->name + ".outer", (iv->extent + inner_ext - 1) / inner_ext, iv->kind);
  inner = MakeIterVar(iv->var->name + ".inner", inner_ext, iv->kind);
  relations_.push_back({IterRelation::kSplit, iv, outer, inner, nullptr, factor});
  auto pos = std::find(leaves_.begin(), leaves_.end(), iv);
  pos = leaves_.erase(pos);
  leaves_.insert(pos, {outer, inner});
  annotations_.erase(iv.get());
  return {outer, inner};
}

IterVar Stage::fuse(const IterVar& outer, const IterVar& inner) {
  IterVar fused = MakeIterVar("fused", 1, IterKind::kSpatial);
  if (!Usable() || !CheckLeaf(outer, "fuse") || !CheckLeaf(inner, "fuse")) return fused;
  auto po = std::find(leaves_.begin(), leaves_.end(), outer);
  auto pi = std::find(leaves_.begin(), leaves_.end(), inner);
  if (pi != po + 1) {
    schedule_->Fail(InvalidArgument("fuse on stage " + name() + ": " + outer->var->name + " must be directly outside " +
                                    inner->var->name));
    return fused;
  }
  if (outer->kind != inner->kind) {
    schedule_->Fail(InvalidArgument("fuse on stage " + name() +
                                    ": cannot fuse spatial and "
                                    "reduction axes " +
                                    outer->var->name + ", " + inner->var->name));
    return fused;
  }
  fused = MakeIterVar(outer->var->name + "." + inner->var->name + ".fused", outer->extent * inner->extent, outer->kind);
  relations_.push_back({IterRelation::kFuse, nullptr, outer, inner, fused, 0});
  *po = fused;
  leaves_.erase(pi);
  return fused;
}

void Stage::reorder(const std::vector<IterVar>& order) {
  if (!Usable()) return;
  std::unordered_set<const IterVarNode*> seen;
  for (const auto& iv : order) {
    if (!CheckLeaf(iv, "reorder")) return;
    if (!seen.insert(iv.get()).second) {
      schedule_->Fail(InvalidArgument("reorder on stage " + name() + " lists axis " + iv->var->name + " twice"));
      return;
    }
  }
  for (const auto& iv : leaves_) {
    if (!seen.count(iv.get())) {
      schedule_->Fail(InvalidArgument("reorder on stage " + name() + " drops axis " + iv->var->name +
                                      ": list every loop of the stage"));
      return;
    }
  }
  leaves_ = order;
}

void Stage::Annotate(const IterVar& iv, ForKind kind, const char* primitive) {
  if (!Usable() || !CheckLeaf(iv, primitive)) return;
  if (iv->kind == IterKind::kReduce && kind == ForKind::kVectorized) {
    schedule_->Fail(InvalidArgument("vectorize on stage " + name() + ": axis " + iv->var->name +
                                    " is a reduction axis; vectorised reductions are not "
                                    "supported (vectorise a spatial axis and accumulate)"));
    return;
  }
  if (iv->kind == IterKind::kReduce && kind == ForKind::kParallel) {
    schedule_->Fail(InvalidArgument("parallel on stage " + name() + ": axis " + iv->var->name +
                                    " is a reduction axis; its iterations would race"));
    return;
  }
  annotations_[iv.get()] = kind;
}

void Stage::vectorize(const IterVar& iv) { Annotate(iv, ForKind::kVectorized, "vectorize"); }
void Stage::unroll(const IterVar& iv) { Annotate(iv, ForKind::kUnrolled, "unroll"); }
void Stage::parallel(const IterVar& iv) { Annotate(iv, ForKind::kParallel, "parallel"); }

void Stage::compute_at(Stage& parent, const IterVar& iv) {
  if (!Usable()) return;
  if (&parent == this || !parent.op_) {
    schedule_->Fail(InvalidArgument("compute_at of stage " + name() + ": invalid parent"));
    return;
  }
  if (!parent.CheckLeaf(iv, "compute_at")) return;
  attach_ = AttachKind::kAt;
  attach_stage_ = &parent;
  attach_iv_ = iv;
}

void Stage::compute_inline() {
  if (!Usable()) return;
  if (!op_->reduce_axes.empty()) {
    schedule_->Fail(InvalidArgument("compute_inline of stage " + name() + ": a reduction cannot be inlined"));
    return;
  }
  attach_ = AttachKind::kInline;
  attach_stage_ = nullptr;
  attach_iv_ = nullptr;
}

Schedule::Schedule(std::vector<Tensor> outputs) : outputs_(std::move(outputs)) {
  inert_ = std::make_unique<Stage>(this, nullptr);
  std::unordered_set<const OperationNode*> visited;
  std::function<void(const Operation&)> visit = [&](const Operation& op) {
    if (!visited.insert(op.get()).second) return;
    for (const auto& in : op->inputs) visit(in);
    if (!op->is_placeholder) stages_.push_back(std::make_unique<Stage>(this, op));
  };
  for (const auto& t : outputs_) visit(t.op());
}

const Stage* Schedule::Find(const OperationNode* op) const {
  for (const auto& s : stages_)
    if (s->origin().get() == op) return s.get();
  return nullptr;
}

Stage& Schedule::operator[](const Tensor& t) {
  for (auto& s : stages_)
    if (s->origin() == t.op()) return *s;
  Fail(
      InvalidArgument("tensor " + (t ? t.name() : std::string("<null>")) + " is not a compute stage of this schedule"));
  return *inert_;
}

Tensor Schedule::cache_write(const Tensor& t) {
  Stage& stage = (*this)[t];
  if (!stage.Usable()) return t;
  if (stage.leaves_.size() != stage.op_->axes.size() + stage.op_->reduce_axes.size() || !stage.relations_.empty() ||
      stage.op_ != stage.origin_) {
    Fail(InvalidArgument("cache_write of " + t.name() + ": call it before any other primitive on that stage"));
    return t;
  }
  const Operation& op = stage.op_;
  // The local stage computes what t computed, on fresh spatial axes.
  auto local = std::make_shared<OperationNode>(*op);
  local->name = op->name + ".local";
  local->axes.clear();
  std::vector<std::pair<const ExprNode*, Expr>> rename;
  for (const auto& a : op->axes) {
    local->axes.push_back(
        MakeIterVar(local->name + "." + a->var->name.substr(op->name.size() + 1), a->extent, IterKind::kSpatial));
    rename.emplace_back(a->var.get(), local->axes.back()->var);
  }
  local->body = Substitute(op->body, rename);
  Tensor local_t(local);
  // t itself becomes a copy out of the local buffer, on its original axes.
  auto copy = std::make_shared<OperationNode>(*op);
  copy->reduce_axes.clear();
  std::vector<Expr> idx;
  for (const auto& a : op->axes) idx.push_back(a->var);
  copy->body = local_t(idx);
  copy->inputs = {local};
  auto pos = std::find_if(stages_.begin(), stages_.end(), [&](const auto& s) { return s.get() == &stage; });
  stage.ResetTo(copy);
  stages_.insert(pos, std::make_unique<Stage>(this, local));
  return local_t;
}

void Schedule::Fail(Status s) {
  if (status_.ok()) status_ = std::move(s);
}

}  // namespace priortune::compiler

#include "compiler/ir/lower.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "compiler/ir/simplify.h"

namespace priortune::compiler {
namespace {

struct StageInfo {
  const Stage* stage = nullptr;
  int index = 0;  // topological position
  Expr body;      // value, or the reduction's source, with inlined stages substituted
  bool is_output = false;
  std::vector<Expr> region_min;  // per spatial root axis; the region this stage computes
  std::vector<int64_t> region_ext;
  std::unordered_map<const IterVarNode*, int64_t> ext;  // every iter var of the stage
  std::unordered_map<const IterVarNode*, Expr> value;   // root/intermediate iv -> leaf expr
  std::vector<const StageInfo*> consumers;
  Buffer buffer;
  std::vector<int64_t> buffer_shape;
};

struct Guard {
  Expr cond;
  int position;  // leaf loop it goes inside; -1 outside all loops
};

Expr Flatten(const std::vector<Expr>& idx, const std::vector<int64_t>& shape) {
  Expr flat = IntImm(0);
  for (size_t d = 0; d < idx.size(); ++d) flat = flat * IntImm(shape[d]) + idx[d];
  return flat;
}

class Lowerer {
 public:
  Lowerer(const Schedule& s, const std::vector<Tensor>& args) : sched_(s), args_(args) {}

  StatusOr<LoweredFunc> Run(const std::string& name) {
    PT_RETURN_IF_ERROR(sched_.status());
    PT_RETURN_IF_ERROR(Prepare());
    for (auto it = infos_.rbegin(); it != infos_.rend(); ++it) {
      if ((*it)->stage->attach_kind() == AttachKind::kInline) continue;
      PT_RETURN_IF_ERROR(InferBounds(**it));
    }
    for (auto& info : infos_) MakeStageBuffer(*info);
    std::vector<Stmt> nests;
    for (auto& info : infos_) {
      if (info->stage->attach_kind() != AttachKind::kRoot) continue;
      PT_ASSIGN_OR_RETURN(Stmt nest, MakeNest(*info, false, false));
      nests.push_back(nest);
    }
    PT_RETURN_IF_ERROR(status_);
    Stmt body = Seq(std::move(nests));
    for (auto it = infos_.rbegin(); it != infos_.rend(); ++it) {
      const auto& info = **it;
      if (info.stage->attach_kind() == AttachKind::kRoot && !info.is_output) body = Allocate(info.buffer, body);
    }
    body = PartitionLoops(Simplify(body));
    LoweredFunc f;
    f.name = name;
    f.body = body;
    for (const auto& t : args_) {
      const LoweredArg& a = arg_of_.at(t.op().get());
      f.args.push_back(a);
    }
    return f;
  }

 private:
  Status Prepare() {
    std::unordered_set<const OperationNode*> outputs;
    for (const auto& t : sched_.outputs()) outputs.insert(t.op().get());
    for (const auto& t : args_) {
      if (!t) return InvalidArgument("null tensor among the function arguments");
      if (arg_of_.count(t.op().get())) return InvalidArgument("tensor " + t.name() + " is listed twice as an argument");
      bool out = outputs.count(t.op().get()) > 0;
      if (!t.op()->is_placeholder && !out)
        return InvalidArgument("argument " + t.name() + " is neither an input placeholder nor an output");
      arg_of_[t.op().get()] = {t.name(), t.shape(), t.op()->dtype,
                               MakeBuffer(t.name(), t.op()->dtype, t.size(), BufferScope::kArgument), out};
    }
    for (const auto& t : sched_.outputs())
      if (!arg_of_.count(t.op().get()))
        return InvalidArgument("output " + t.name() + " is missing from the function arguments");

    for (const auto& s : sched_.stages()) {
      auto info = std::make_unique<StageInfo>();
      info->stage = s.get();
      info->index = static_cast<int>(infos_.size());
      info->is_output = outputs.count(s->origin().get()) > 0;
      if (info->is_output && s->attach_kind() != AttachKind::kRoot)
        return InvalidArgument("stage " + s->name() +
                               " is an output: it cannot be inlined or "
                               "computed at another stage");
      info_of_[s->origin().get()] = info.get();
      infos_.push_back(std::move(info));
    }
    for (auto& info : infos_) info->body = InlinedBody(info->stage);
    // Consumers, as seen after inlining.
    for (auto& info : infos_) {
      if (info->stage->attach_kind() == AttachKind::kInline) continue;
      std::unordered_set<const StageInfo*> reads;
      VisitExpr(info->body, [&](const Expr& e) {
        if (e->kind != ExprKind::kTensorRead) return;
        auto it = info_of_.find(e->op.get());
        if (it != info_of_.end()) reads.insert(it->second);
      });
      for (const auto* r : reads) const_cast<StageInfo*>(r)->consumers.push_back(info.get());
    }
    for (auto& info : infos_) {
      const Stage* s = info->stage;
      if (s->attach_kind() != AttachKind::kAt) continue;
      const StageInfo* parent = info_of_.at(s->attach_stage()->origin().get());
      if (parent->stage->attach_kind() == AttachKind::kInline)
        return InvalidArgument("compute_at of stage " + s->name() + ": stage " + parent->stage->name() + " is inlined");
      if (std::find(info->consumers.begin(), info->consumers.end(), parent) == info->consumers.end())
        return InvalidArgument("compute_at of stage " + s->name() + ": stage " + parent->stage->name() +
                               " does not read it");
      if (info->consumers.size() != 1)
        return InvalidArgument("compute_at of stage " + s->name() +
                               ": it has more than one consumer; leave it at root (the default)");
    }
    return OkStatus();
  }

  Expr InlinedBody(const Stage* s) {
    auto it = inlined_.find(s);
    if (it != inlined_.end()) return it->second;
    Expr body = MutateExpr(s->op()->body, [&](const Expr& x) -> Expr {
      if (x->kind != ExprKind::kTensorRead) return x;
      const Stage* st = sched_.Find(x->op.get());
      if (!st || st->attach_kind() != AttachKind::kInline) return x;
      std::vector<std::pair<const ExprNode*, Expr>> map;
      for (size_t d = 0; d < st->op()->axes.size(); ++d) map.emplace_back(st->op()->axes[d]->var.get(), x->args[d]);
      return Substitute(InlinedBody(st), map);
    });
    inlined_[s] = body;
    return body;
  }

  // Root axis var -> its value in the stage's leaf loops (region min included).
  std::vector<std::pair<const ExprNode*, Expr>> RootSubstitution(const StageInfo& info) const {
    std::vector<std::pair<const ExprNode*, Expr>> map;
    const auto& op = info.stage->op();
    for (size_t d = 0; d < op->axes.size(); ++d)
      map.emplace_back(op->axes[d]->var.get(), info.region_min[d] + info.value.at(op->axes[d].get()));
    for (const auto& r : op->reduce_axes) map.emplace_back(r->var.get(), info.value.at(r.get()));
    return map;
  }

  RangeMap LeafRanges(const StageInfo& info, size_t from) const {
    RangeMap ranges;
    const auto& leaves = info.stage->leaf_axes();
    for (size_t p = from; p < leaves.size(); ++p) ranges[leaves[p]->var.get()] = {0, info.ext.at(leaves[p].get()) - 1};
    return ranges;
  }

  Status InferBounds(StageInfo& info) {
    const auto& op = info.stage->op();
    info.region_min.assign(op->shape.size(), IntImm(0));
    info.region_ext = op->shape;
    if (info.stage->attach_kind() == AttachKind::kAt) PT_RETURN_IF_ERROR(InferRegion(info));
    InferLoops(info);
    return OkStatus();
  }

  // A stage computed at a loop of its consumer: the region of it one iteration of that
  // loop reads, per dimension (a fixed part from the loops outside plus the bounds of the
  // loops inside), or the whole dimension when the reads do not agree on a fixed part.
  Status InferRegion(StageInfo& info) {
    const Stage* s = info.stage;
    const auto& op = s->op();
    size_t rank = op->shape.size();
    const StageInfo& parent = *info_of_.at(s->attach_stage()->origin().get());
    const auto& pleaves = parent.stage->leaf_axes();
    size_t pos = std::find(pleaves.begin(), pleaves.end(), s->attach_ivar()) - pleaves.begin();
    RangeMap all = LeafRanges(parent, 0);
    RangeMap relaxed = LeafRanges(parent, pos + 1);
    auto subst = RootSubstitution(parent);
    std::vector<Expr> fixed(rank);
    std::vector<int64_t> lo(rank, 0), hi(rank, -1);
    std::vector<bool> full(rank, false);
    bool first = true;
    VisitExpr(parent.body, [&](const Expr& e) {
      if (e->kind != ExprKind::kTensorRead || e->op != s->origin()) return;
      for (size_t d = 0; d < rank; ++d) {
        if (full[d]) continue;
        Expr idx = Simplify(Substitute(e->args[d], subst), all);
        LinearForm lf = ToLinear(idx), fix, rel;
        fix.constant = lf.constant;
        bool mixed = false;
        for (const auto& [atom, c] : lf.terms) {
          bool uses_relaxed = false, uses_fixed = false;
          VisitExpr(atom, [&](const Expr& x) {
            if (x->kind != ExprKind::kVar) return;
            (relaxed.count(x.get()) ? uses_relaxed : uses_fixed) = true;
          });
          if (uses_relaxed && uses_fixed) mixed = true;
          (uses_relaxed ? rel : fix).terms.emplace_back(atom, c);
        }
        Interval r = Bound(FromLinear(rel), relaxed);
        Expr f = Simplify(FromLinear(fix));
        if (mixed || !r.bounded() || (!first && !ExprEqual(f, fixed[d]))) {
          full[d] = true;
          continue;
        }
        if (first) {
          fixed[d] = f;
          lo[d] = r.lo;
          hi[d] = r.hi;
        } else {
          lo[d] = std::min(lo[d], r.lo);
          hi[d] = std::max(hi[d], r.hi);
        }
      }
      first = false;
    });
    if (first) return Internal("bound inference: " + parent.stage->name() + " does not read " + s->name());
    for (size_t d = 0; d < rank; ++d) {
      if (full[d] || hi[d] - lo[d] + 1 >= op->shape[d]) continue;  // whole dim
      info.region_min[d] = Simplify(fixed[d] + IntImm(lo[d]));
      info.region_ext[d] = hi[d] - lo[d] + 1;
    }
    return OkStatus();
  }

  // Loop extents, from the region down the split/fuse relations, and each axis's value
  // in terms of the leaf loops.
  static void InferLoops(StageInfo& info) {
    const Stage* s = info.stage;
    const auto& op = s->op();
    size_t rank = op->shape.size();
    for (size_t d = 0; d < rank; ++d) info.ext[op->axes[d].get()] = info.region_ext[d];
    for (const auto& r : op->reduce_axes) info.ext[r.get()] = r->extent;
    for (const auto& rel : s->relations()) {
      if (rel.kind == IterRelation::kSplit) {
        int64_t pe = info.ext.at(rel.parent.get());
        int64_t ie = std::min(rel.factor, pe);
        info.ext[rel.inner.get()] = ie;
        info.ext[rel.outer.get()] = (pe + ie - 1) / ie;
      } else {
        info.ext[rel.fused.get()] = info.ext.at(rel.outer.get()) * info.ext.at(rel.inner.get());
      }
    }
    for (const auto& leaf : s->leaf_axes()) info.value[leaf.get()] = leaf->var;
    for (auto it = s->relations().rbegin(); it != s->relations().rend(); ++it) {
      const auto& rel = *it;
      if (rel.kind == IterRelation::kSplit) {
        info.value[rel.parent.get()] =
            info.value.at(rel.outer.get()) * IntImm(info.ext.at(rel.inner.get())) + info.value.at(rel.inner.get());
      } else {
        Expr f = info.value.at(rel.fused.get());
        int64_t ie = info.ext.at(rel.inner.get());
        info.value[rel.outer.get()] = f / IntImm(ie);
        info.value[rel.inner.get()] = f % IntImm(ie);
      }
    }
  }

  void MakeStageBuffer(StageInfo& info) {
    const Stage* s = info.stage;
    if (s->attach_kind() == AttachKind::kInline) return;
    if (info.is_output) {
      info.buffer = arg_of_.at(s->origin().get()).buffer;
      info.buffer_shape = s->op()->shape;
      return;
    }
    info.buffer_shape = info.region_ext;
    int64_t size = 1;
    for (int64_t e : info.buffer_shape) size *= e;
    info.buffer =
        compiler::MakeBuffer(s->name(), s->op()->dtype, size,
                             s->attach_kind() == AttachKind::kRoot ? BufferScope::kGlobal : BufferScope::kLocal);
  }

  Expr LowerReads(const Expr& e) {
    return MutateExpr(e, [&](const Expr& x) -> Expr {
      if (x->kind != ExprKind::kTensorRead) return x;
      auto it = info_of_.find(x->op.get());
      if (it == info_of_.end()) {
        auto a = arg_of_.find(x->op.get());
        if (a == arg_of_.end()) {
          if (status_.ok())
            status_ = InvalidArgument("input " + x->op->name + " is read but missing from the function arguments");
          return IntImm(0);
        }
        return Load(a->second.buffer, Flatten(x->args, a->second.shape));
      }
      const StageInfo& p = *it->second;
      std::vector<Expr> rel;
      for (size_t d = 0; d < x->args.size(); ++d) rel.push_back(x->args[d] - p.region_min[d]);
      return Load(p.buffer, Flatten(rel, p.buffer_shape));
    });
  }

  // One stage's loop nest as it is built.
  struct Nest {
    const StageInfo& info;
    const Stage* s;
    const std::vector<IterVar>& leaves;
    int n = 0;
    std::vector<Guard> guards;
    Expr store_idx, value;
    bool reduction = false;
    int r_pos = 0;                                                    // the first reduction leaf (n: none)
    std::unordered_map<int, std::vector<const StageInfo*>> children;  // by the leaf they attach at
    Status err;
  };

  // A stage's guards (each at the innermost leaf loop it uses), its store and the stages
  // computed at its loops.
  Nest PrepareNest(const StageInfo& info) {
    const Stage* s = info.stage;
    const auto& op = s->op();
    Nest nest{info, s, s->leaf_axes()};
    nest.n = static_cast<int>(nest.leaves.size());
    auto position_of = [&](const Expr& cond) {
      int pos = -1;
      for (int p = 0; p < nest.n; ++p)
        if (UsesVar(cond, nest.leaves[p]->var.get())) pos = p;
      return pos;
    };
    std::vector<Expr> offsets;
    for (size_t d = 0; d < op->axes.size(); ++d) {
      Expr off = info.value.at(op->axes[d].get());
      offsets.push_back(off);
      Expr c = off < IntImm(info.region_ext[d]);
      if (s->attach_kind() == AttachKind::kAt) {
        Expr abs = info.region_min[d] + off;
        c = c && (abs < IntImm(op->shape[d])) && (abs >= IntImm(0));
      }
      nest.guards.push_back({c, position_of(c)});
    }
    for (const auto& r : op->reduce_axes) {
      Expr c = info.value.at(r.get()) < IntImm(r->extent);
      nest.guards.push_back({c, position_of(c)});
    }
    nest.store_idx = Flatten(offsets, info.buffer_shape);
    nest.value = LowerReads(Substitute(info.body, RootSubstitution(info)));
    nest.reduction = !op->reduce_axes.empty();
    nest.r_pos = nest.n;
    if (nest.reduction) {
      for (int p = 0; p < nest.n; ++p)
        if (nest.leaves[p]->kind == IterKind::kReduce) {
          nest.r_pos = p;
          break;
        }
      nest.value = ReduceCombine(op->combiner, Load(info.buffer, nest.store_idx), nest.value);
    }
    for (const auto& c : infos_) {
      if (c->stage->attach_kind() != AttachKind::kAt || c->stage->attach_stage() != s) continue;
      int p = std::find(nest.leaves.begin(), nest.leaves.end(), c->stage->attach_ivar()) - nest.leaves.begin();
      nest.children[p].push_back(c.get());
    }
    return nest;
  }

  static Stmt WrapGuards(const Nest& nest, int pos, Stmt body) {
    for (const auto& g : nest.guards)
      if (g.position == pos) body = IfThenElse(g.cond, body);
    return body;
  }

  // Init of a reduction: the spatial loops inside the first reduction loop.
  static Stmt InitNest(const Nest& nest) {
    const auto& op = nest.s->op();
    Stmt body = Store(nest.info.buffer, nest.store_idx, ReduceIdentity(op->combiner, op->dtype));
    for (const auto& g : nest.guards)
      if (&g - nest.guards.data() < static_cast<long>(op->axes.size()) && g.position >= nest.r_pos)
        body = IfThenElse(g.cond, body);
    for (int p = nest.n - 1; p > nest.r_pos; --p) {
      if (nest.leaves[p]->kind != IterKind::kSpatial) continue;
      ForKind k = nest.s->annotation(nest.leaves[p]);
      if (k == ForKind::kParallel) k = ForKind::kSerial;
      body = For(nest.leaves[p]->var, IntImm(0), IntImm(nest.info.ext.at(nest.leaves[p].get())), k, body);
    }
    return body;
  }

  // The first error of leaf loop p's annotation inside loops that are vectorized (`vec`)
  // or parallel (`par`), or of its vector width.
  static void CheckLoop(Nest& nest, int p, ForKind kind, int64_t ext, bool vec, bool par) {
    if (!nest.err.ok()) return;
    const std::string& stage = nest.s->name();
    const std::string& var = nest.leaves[p]->var->name;
    if (kind == ForKind::kVectorized && vec)
      nest.err = InvalidArgument("stage " + stage + ": vectorized loop " + var + " is inside another vectorized loop");
    else if (kind == ForKind::kVectorized && ext > kMaxVectorLanes)
      nest.err = InvalidArgument("stage " + stage + ": vectorized loop " + var + " has " + std::to_string(ext) +
                                 " lanes; at most " + std::to_string(kMaxVectorLanes));
    else if (kind == ForKind::kParallel && (par || vec))
      nest.err = InvalidArgument("stage " + stage + ": parallel loop " + var +
                                 " is nested inside another parallel or vectorized loop");
  }

  // Leaf loop p and everything inside it.
  Stmt BuildLoop(Nest& nest, int p, bool vec, bool par) {
    if (p == nest.n) return Store(nest.info.buffer, nest.store_idx, nest.value);
    const IterVar& leaf = nest.leaves[p];
    ForKind kind = nest.s->annotation(leaf);
    int64_t ext = nest.info.ext.at(leaf.get());
    CheckLoop(nest, p, kind, ext, vec, par);
    bool inner_vec = vec || kind == ForKind::kVectorized;
    bool inner_par = par || kind == ForKind::kParallel;
    Stmt next = BuildLoop(nest, p + 1, inner_vec, inner_par);
    if (nest.reduction && p + 1 == nest.r_pos) next = Seq({InitNest(nest), next});
    Stmt body = WrapGuards(nest, p, next);
    std::vector<Stmt> parts;
    const auto& cs = nest.children[p];
    for (const auto* c : cs) {
      if (inner_vec && nest.err.ok())
        nest.err = InvalidArgument("compute_at of stage " + c->stage->name() + " at " + leaf->var->name +
                                   ": inside a vectorized loop");
      auto child = MakeNest(*c, inner_vec, inner_par);
      if (!child.ok()) {
        if (nest.err.ok()) nest.err = child.status();
        continue;
      }
      parts.push_back(*child);
    }
    parts.push_back(body);
    Stmt loop_body = Seq(std::move(parts));
    for (auto it = cs.rbegin(); it != cs.rend(); ++it) loop_body = Allocate((*it)->buffer, loop_body);
    return For(leaf->var, IntImm(0), IntImm(ext), kind, loop_body);
  }

  StatusOr<Stmt> MakeNest(const StageInfo& info, bool in_vector, bool in_parallel) {
    Nest nest = PrepareNest(info);
    Stmt top = BuildLoop(nest, 0, in_vector, in_parallel);
    if (nest.reduction && nest.r_pos == 0) top = Seq({InitNest(nest), top});
    top = WrapGuards(nest, -1, top);
    PT_RETURN_IF_ERROR(nest.err);
    return top;
  }

  const Schedule& sched_;
  const std::vector<Tensor>& args_;
  std::vector<std::unique_ptr<StageInfo>> infos_;
  std::unordered_map<const OperationNode*, StageInfo*> info_of_;
  std::unordered_map<const OperationNode*, LoweredArg> arg_of_;
  std::unordered_map<const Stage*, Expr> inlined_;
  Status status_;
};

// ---- loop partitioning ----

struct Condition {
  Expr cond;
  RangeMap inner;  // ranges of the loops between the partitioned loop and the condition
};

void CollectConditions(const Stmt& s, RangeMap inner, std::vector<Condition>& out) {
  if (!s) return;
  switch (s->kind) {
    case StmtKind::kFor: {
      int64_t mn, ext;
      if (IsConstInt(s->min, &mn) && IsConstInt(s->extent, &ext)) inner[s->var.get()] = {mn, mn + ext - 1};
      CollectConditions(s->body, inner, out);
      return;
    }
    case StmtKind::kSeq:
      for (const auto& c : s->seq) CollectConditions(c, inner, out);
      return;
    case StmtKind::kIf: {
      std::vector<Expr> stack{s->cond};
      while (!stack.empty()) {
        Expr c = stack.back();
        stack.pop_back();
        if (c->kind == ExprKind::kAnd) {
          stack.push_back(c->a);
          stack.push_back(c->b);
        } else {
          out.push_back({c, inner});
        }
      }
      CollectConditions(s->body, inner, out);
      CollectConditions(s->else_body, inner, out);
      return;
    }
    case StmtKind::kAllocate:
      CollectConditions(s->body, inner, out);
      return;
    case StmtKind::kStore:
      return;
  }
}

bool ProvablyTrue(const Expr& cond, RangeMap ranges) {
  int64_t v;
  return IsConstInt(Simplify(cond, ranges), &v) && v != 0;
}

Stmt Partition(const Stmt& s, RangeMap& ranges) {
  if (!s) return s;
  switch (s->kind) {
    case StmtKind::kFor: {
      int64_t mn, ext;
      if (!IsConstInt(s->min, &mn) || !IsConstInt(s->extent, &ext)) return s;
      int64_t mx = mn + ext - 1;
      const ExprNode* v = s->var.get();
      if (s->for_kind != ForKind::kVectorized && ext > 1) {
        std::vector<Condition> conds;
        CollectConditions(s->body, {}, conds);
        int64_t split = mx + 1;
        for (const auto& c : conds) {
          if (!UsesVar(c.cond, v)) continue;
          RangeMap probe = ranges;
          for (const auto& kv : c.inner) probe[kv.first] = kv.second;
          probe[v] = {mn, mn};
          if (!ProvablyTrue(c.cond, probe)) continue;
          int64_t lo = mn, hi = mx;  // largest t with cond provable over [mn, t]
          while (lo < hi) {
            int64_t mid = lo + (hi - lo + 1) / 2;
            probe[v] = {mn, mid};
            if (ProvablyTrue(c.cond, probe))
              lo = mid;
            else
              hi = mid - 1;
          }
          if (lo < mx) split = std::min(split, lo + 1);
        }
        if (split <= mx) {
          Stmt head = For(s->var, IntImm(mn), IntImm(split - mn), s->for_kind, s->body);
          Stmt tail = For(s->var, IntImm(split), IntImm(mx + 1 - split), s->for_kind, s->body);
          Stmt h = Partition(Simplify(head, ranges), ranges);
          Stmt t = Partition(Simplify(tail, ranges), ranges);
          return Seq({h, t});
        }
      }
      ranges[v] = {mn, mx};
      Stmt body = Partition(s->body, ranges);
      ranges.erase(v);
      return body == s->body ? s : For(s->var, s->min, s->extent, s->for_kind, body);
    }
    case StmtKind::kSeq: {
      std::vector<Stmt> out;
      for (const auto& c : s->seq) out.push_back(Partition(c, ranges));
      return Seq(std::move(out));
    }
    case StmtKind::kIf:
      return IfThenElse(s->cond, Partition(s->body, ranges), Partition(s->else_body, ranges));
    case StmtKind::kAllocate:
      return Allocate(s->buffer, Partition(s->body, ranges));
    case StmtKind::kStore:
      return s;
  }
  return s;
}

}  // namespace

Stmt PartitionLoops(const Stmt& s) {
  RangeMap ranges;
  return Simplify(Partition(s, ranges));
}

StatusOr<LoweredFunc> Lower(const Schedule& schedule, const std::string& name, const std::vector<Tensor>& args) {
  Lowerer l(schedule, args);
  return l.Run(name);
}

}  // namespace priortune::compiler

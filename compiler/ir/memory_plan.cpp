#include "compiler/ir/memory_plan.h"

#include <algorithm>
#include <vector>

#include "compiler/target/target.h"

namespace priortune::compiler {
namespace {

constexpr int64_t kAlign = 64;

int64_t AlignUp(int64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

int64_t ElementBytes(DType t) { return t == DType::kInt64 ? 8 : t == DType::kBool ? 1 : 4; }

struct Site {
  const StmtNode* alloc;
  int64_t bytes;
};

// Mirrors CodeGen::EmitStmt's choice of which parallel loops are outlined: `visit` sees
// every Allocate with whether it is inside an outlined parallel body, before its body.
template <typename Enter, typename Leave>
void Walk(const Stmt& s, bool in_parallel, bool in_vector, Enter& enter, Leave& leave) {
  if (!s) return;
  switch (s->kind) {
    case StmtKind::kSeq:
      for (const auto& c : s->seq) Walk(c, in_parallel, in_vector, enter, leave);
      return;
    case StmtKind::kIf:
      Walk(s->body, in_parallel, in_vector, enter, leave);
      Walk(s->else_body, in_parallel, in_vector, enter, leave);
      return;
    case StmtKind::kAllocate:
      enter(s.get(), in_parallel);
      Walk(s->body, in_parallel, in_vector, enter, leave);
      leave(s.get(), in_parallel);
      return;
    case StmtKind::kFor: {
      bool par = in_parallel, vec = in_vector;
      if (s->for_kind == ForKind::kParallel && !in_vector && !in_parallel) par = true;
      if (s->for_kind == ForKind::kVectorized) vec = true;
      Walk(s->body, par, vec, enter, leave);
      return;
    }
    case StmtKind::kStore:
      return;
  }
}

int64_t BytesOf(const StmtNode* a) {
  return AlignUp(std::max<int64_t>(a->buffer->size * ElementBytes(a->buffer->dtype), 1));
}

}  // namespace

MemoryPlan PlanMemory(const Stmt& body, int64_t stack_limit_bytes) {
  std::vector<Site> sites;
  auto collect = [&](const StmtNode* a, bool) { sites.push_back({a, BytesOf(a)}); };
  auto none = [](const StmtNode*, bool) {};
  Walk(body, false, false, collect, none);
  MemoryPlan plan;
  // The stack first, smallest buffers first. Every alloca lives for the whole call.
  std::vector<const Site*> by_size;
  for (const auto& s : sites) by_size.push_back(&s);
  std::stable_sort(by_size.begin(), by_size.end(), [](const Site* a, const Site* b) { return a->bytes < b->bytes; });
  for (const Site* s : by_size) {
    BufferPlacement p;
    p.bytes = s->alloc->buffer->size * ElementBytes(s->alloc->buffer->dtype);
    p.on_stack = plan.stack_bytes + s->bytes <= stack_limit_bytes;
    if (p.on_stack) plan.stack_bytes += s->bytes;
    plan.placement[s->alloc] = p;
  }
  // The rest in the workspace, used as a stack per region.
  int64_t top[2] = {0, 0};
  int64_t* most[2] = {&plan.workspace.fixed_bytes, &plan.workspace.slot_bytes};
  auto enter = [&](const StmtNode* a, bool in_parallel) {
    BufferPlacement& p = plan.placement[a];
    if (p.on_stack) return;
    p.per_slot = in_parallel;
    p.offset = top[in_parallel];
    top[in_parallel] += BytesOf(a);
    *most[in_parallel] = std::max(*most[in_parallel], top[in_parallel]);
  };
  auto leave = [&](const StmtNode* a, bool in_parallel) {
    if (!plan.placement[a].on_stack) top[in_parallel] -= BytesOf(a);
  };
  Walk(body, false, false, enter, leave);
  return plan;
}

KernelWorkspace WorkspaceOf(const LoweredFunc& f, const Target& t) {
  KernelWorkspace w = PlanMemory(f.body, t.stack_bytes).workspace;
  for (const auto& p : f.prepacks) {
    KernelWorkspace pw = WorkspaceOf(p.func, t);
    w.fixed_bytes = std::max(w.fixed_bytes, pw.fixed_bytes);
    w.slot_bytes = std::max(w.slot_bytes, pw.slot_bytes);
  }
  return w;
}

}  // namespace priortune::compiler

// Feature extraction. One walk of the loop nest collects every store with its enclosing
// loops; stores are grouped by the buffer they write; each group becomes one slot of
// per-store features (compute, loop annotations, buffer accesses, working set), and a few
// function-level features follow. Counts are log2(1 + x) so that a model sees ratios,
// which carry across shapes better than absolute sizes.
//
// The layout (the order of FeatureNames()):
//   s<k>.*   for k < kStoreSlots, the store groups by float work, largest first
//            (empty slots are zeros)
//   g.*      function-level
//   w.*      workload context, only with FeatureOptions::workload_context
#include "costmodel/features.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <unordered_map>

namespace priortune::costmodel {
namespace {

using compiler::Buffer;
using compiler::BufferNode;
using compiler::BufferScope;
using compiler::DType;
using compiler::Expr;
using compiler::ExprKind;
using compiler::ExprNode;
using compiler::ForKind;
using compiler::Stmt;
using compiler::StmtKind;
using compiler::StmtNode;

float Log2p(double x) { return static_cast<float>(std::log2(1.0 + std::max(0.0, x))); }

// Per-slot features, in order. Log: log2(1 + x). "Weighted" means the iteration-weighted
// mean over the group's stores (a tail loop counts for the iterations it runs).
const char* const kSlotNames[] = {
    "fma",              // log: float multiply-add pairs (a + b*c) x iterations
    "float_add",        // log: other float adds and subtracts x iterations
    "float_mul",        // log: other float multiplies x iterations
    "float_other",      // log: float div, min, max, select, compare, cast x iterations
    "int_ops",          // log: integer arithmetic in indices and values x iterations
    "iterations",       // log: executions of the group's stores (a vector lane counts once)
    "work_share",       // share of the function's float ops in this group (0..1)
    "vec_count",        // weighted: vectorized loops around the store
    "vec_product",      // weighted log: product of their extents (lanes); 0 without one
    "vec_innermost",    // weighted: 1 if the innermost loop is vectorized
    "unroll_count",     // weighted: unrolled loops around the store
    "unroll_product",   // weighted log: product of their extents
    "unroll_inner",     // weighted log: extent of the innermost unrolled loop
    "par_count",        // weighted: parallel loops around the store
    "par_product",      // weighted log: product of their extents
    "serial_count",     // weighted: serial loops around the store
    "serial_product",   // weighted log: product of their extents
    "depth",            // weighted: loops around the store
    "guarded",          // weighted: 1 if an if (a tail guard) encloses the store
    "reduction",        // 1 if the store reads the buffer it writes (an accumulation)
    "live_acc",         // log: accumulator vectors live across the innermost reduction loop
    "live_acc_ratio",   // live_acc vectors / the target's vector registers (spills above 1)
    "arith_intensity",  // log: float ops / unique bytes of the group's buffers
    "bytes_per_flop",   // log: accessed bytes / float ops (x 1000)
    "ws_fit_l1",        // innermost loop levels whose working set fits L1 (0..depth)
    "ws_fit_l2",        // ... fits L2
    "ws_fit_l3",        // ... fits L3
};
constexpr int kSlotScalar = sizeof(kSlotNames) / sizeof(kSlotNames[0]);

// Per buffer of a slot (b0 the most-accessed by bytes).
const char* const kBufferNames[] = {
    "present",       // 1 if the slot has this many buffers
    "write",         // 1 for the buffer the group stores to
    "local",         // 1 for a local allocation (register tile or scratch)
    "bytes",         // log: bytes accessed x iterations
    "unique_bytes",  // log: distinct bytes touched over the whole nest
    "lines",         // log: distinct 64-byte cache lines touched
    "stride",        // log: |index stride| of the innermost loop, in elements (0: invariant)
    "unit_stride",   // 1 if that stride is 0 or 1 (vector loads without gathers)
    "reuse_loop",    // 1: an enclosing loop leaves the index unchanged (reuse across it)
    "reuse_serial",  // 1: no such loop, but the store reads the buffer more than once
    "reuse_count",   // log: iterations of the innermost such loop
    "reuse_iters",   // log: iterations between two uses (loops inside that loop)
    "reuse_bytes",   // log: bytes of all buffers touched between two uses
};
constexpr int kBufferScalar = sizeof(kBufferNames) / sizeof(kBufferNames[0]);
constexpr int kSlotSize = kSlotScalar + kBuffersPerSlot * kBufferScalar + kWorkingSetLevels;
// Working set: "ws<i>", log bytes of the buffers touched by the innermost i + 1 loop
// levels of the group's largest store (beyond the nest's depth: the whole nest); the
// cache fits (ws_fit_*) are read from the same store.

const char* const kGlobalNames[] = {
    "float_ops",       // log: all float ops x iterations
    "store_groups",    // log: buffers the function stores to
    "alloc_local",     // log: bytes of local allocations
    "alloc_global",    // log: bytes of global (heap) allocations, e.g. packed inputs
    "alloc_count",     // log: allocations
    "par_extent",      // log: iterations of the first parallel loop in program order (0: none);
                       // in conv2d that may be an input-packing stage before the main nest
    "par_balance",     // busy share of the target's cores: e / (ceil(e / cores) * cores)
    "cores",           // log: cores of the target
    "lanes",           // log: f32 lanes of the target's vectors
    "registers",       // log: vector registers
    "l1", "l2", "l3",  // log: cache bytes (per core, per core, shared)
    "prepacks",        // log: prepack functions (untimed; they shape the main loop's reads)
};
constexpr int kGlobalSize = sizeof(kGlobalNames) / sizeof(kGlobalNames[0]);

const char* const kContextOps[] = {"matmul", "batch_matmul", "conv2d", "depthwise_conv2d"};
constexpr int kContextDims = 8;
constexpr int kContextSize = 4 + 1 + kContextDims;

// ---- collecting stores ----

struct Loop {
  const ExprNode* var;
  int64_t extent;  // non-constant extents (none today) count as 1
  ForKind kind;
};

struct Access {
  const BufferNode* buffer;
  Expr index;
  bool write;
};

struct StoreSite {
  const StmtNode* store;
  std::vector<Loop> loops;  // outermost first
  bool guarded = false;
  double iterations = 1;
  std::vector<Access> accesses;                              // the store's own first
  double fma = 0, fadd = 0, fmul = 0, fother = 0, iops = 0;  // per iteration
};

bool IsFloat(const Expr& e) { return e.get() != nullptr && e->dtype == DType::kFloat32; }

// Counts the ops of a value per iteration; `fused` says a multiply is consumed by the add
// above it.
void CountOps(const Expr& e, StoreSite& s, bool fused = false) {
  if (!e) return;
  const ExprNode& n = *e;
  switch (n.kind) {
    case ExprKind::kAdd:
    case ExprKind::kSub:
      if (IsFloat(e)) {
        bool left = n.a->kind == ExprKind::kMul, right = !left && n.b->kind == ExprKind::kMul;
        if (left || right) {
          s.fma += 1;
          CountOps(n.a, s, left);
          CountOps(n.b, s, right);
          return;
        }
        s.fadd += 1;
      } else {
        s.iops += 1;
      }
      break;
    case ExprKind::kMul:
      if (IsFloat(e)) {
        if (!fused) s.fmul += 1;
      } else {
        s.iops += 1;
      }
      break;
    case ExprKind::kDiv:
    case ExprKind::kMod:
    case ExprKind::kMin:
    case ExprKind::kMax:
      if (IsFloat(e))
        s.fother += 1;
      else
        s.iops += 1;
      break;
    case ExprKind::kSelect:
    case ExprKind::kCast:
    case ExprKind::kExp:
    case ExprKind::kSqrt:
      if (IsFloat(e)) s.fother += 1;
      break;
    case ExprKind::kEQ:
    case ExprKind::kNE:
    case ExprKind::kLT:
    case ExprKind::kLE:
      if (IsFloat(n.a))
        s.fother += 1;
      else
        s.iops += 1;
      break;
    case ExprKind::kLoad:
      s.accesses.push_back({n.buffer.get(), n.a, false});  // a: the flat index
      CountOps(n.a, s);
      return;
    default:
      break;
  }
  CountOps(n.a, s);
  CountOps(n.b, s);
  CountOps(n.c, s);
  for (const auto& a : n.args) CountOps(a, s);
}

struct Collector {
  std::vector<StoreSite> sites;
  std::vector<Loop> loops;
  int guards = 0;
  double alloc_local = 0, alloc_global = 0, alloc_count = 0;
  int64_t outer_parallel = 0;

  void Visit(const Stmt& s) {
    if (!s) return;
    switch (s->kind) {
      case StmtKind::kFor: {
        int64_t extent = 1;
        compiler::IsConstInt(s->extent, &extent);
        extent = std::max<int64_t>(extent, 1);
        if (s->for_kind == ForKind::kParallel && outer_parallel == 0) outer_parallel = extent;
        loops.push_back({s->var.get(), extent, s->for_kind});
        Visit(s->body);
        loops.pop_back();
        break;
      }
      case StmtKind::kSeq:
        for (const auto& c : s->seq) Visit(c);
        break;
      case StmtKind::kIf:
        ++guards;
        Visit(s->body);
        Visit(s->else_body);
        --guards;
        break;
      case StmtKind::kAllocate: {
        double bytes = static_cast<double>(s->buffer->size) * 4;  // every allocation is f32 today
        (s->buffer->scope == BufferScope::kLocal ? alloc_local : alloc_global) += bytes;
        alloc_count += 1;
        Visit(s->body);
        break;
      }
      case StmtKind::kStore: {
        StoreSite site;
        site.store = s.get();
        site.loops = loops;
        site.guarded = guards > 0;
        for (const auto& l : loops) site.iterations *= static_cast<double>(l.extent);
        site.accesses.push_back({s->buffer.get(), s->index, true});
        CountOps(s->index, site);
        CountOps(s->value, site);
        sites.push_back(std::move(site));
        break;
      }
    }
  }
};

// ---- index analysis ----

// Integer value of an index with the given variables bound (others are 0).
int64_t Eval(const Expr& e, const std::unordered_map<const ExprNode*, int64_t>& vars) {
  if (!e) return 0;
  const ExprNode& n = *e;
  auto fdiv = [](int64_t a, int64_t b) {
    if (b == 0) return int64_t{0};
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
  };
  switch (n.kind) {
    case ExprKind::kIntImm:
      return n.int_value;
    case ExprKind::kVar: {
      auto it = vars.find(e.get());
      return it == vars.end() ? 0 : it->second;
    }
    case ExprKind::kAdd:
      return Eval(n.a, vars) + Eval(n.b, vars);
    case ExprKind::kSub:
      return Eval(n.a, vars) - Eval(n.b, vars);
    case ExprKind::kMul:
      return Eval(n.a, vars) * Eval(n.b, vars);
    case ExprKind::kDiv:
      return fdiv(Eval(n.a, vars), Eval(n.b, vars));
    case ExprKind::kMod: {
      int64_t a = Eval(n.a, vars), b = Eval(n.b, vars);
      return b == 0 ? 0 : a - fdiv(a, b) * b;
    }
    case ExprKind::kMin:
      return std::min(Eval(n.a, vars), Eval(n.b, vars));
    case ExprKind::kMax:
      return std::max(Eval(n.a, vars), Eval(n.b, vars));
    case ExprKind::kSelect:
      return Eval(n.a, vars) ? Eval(n.b, vars) : Eval(n.c, vars);
    case ExprKind::kLT:
      return Eval(n.a, vars) < Eval(n.b, vars);
    case ExprKind::kLE:
      return Eval(n.a, vars) <= Eval(n.b, vars);
    case ExprKind::kEQ:
      return Eval(n.a, vars) == Eval(n.b, vars);
    case ExprKind::kNE:
      return Eval(n.a, vars) != Eval(n.b, vars);
    case ExprKind::kAnd:
      return Eval(n.a, vars) && Eval(n.b, vars);
    case ExprKind::kOr:
      return Eval(n.a, vars) || Eval(n.b, vars);
    case ExprKind::kNot:
      return !Eval(n.a, vars);
    case ExprKind::kCast:
      return Eval(n.a, vars);
    default:
      return 0;
  }
}

// The index's step per iteration of each loop, at the origin of the nest (exact for
// affine indices; a fused loop's div/mod gives its step in the inner dimension).
std::vector<int64_t> Strides(const Access& a, const std::vector<Loop>& loops) {
  std::unordered_map<const ExprNode*, int64_t> vars;
  int64_t base = Eval(a.index, vars);
  std::vector<int64_t> strides(loops.size());
  for (size_t i = 0; i < loops.size(); ++i) {
    if (loops[i].extent <= 1) continue;
    vars[loops[i].var] = 1;
    strides[i] = Eval(a.index, vars) - base;
    vars.erase(loops[i].var);
  }
  return strides;
}

struct Footprint {
  double elements = 1, lines = 1;
};

// Distinct elements and cache lines an access touches over loops [from, end): the loops
// are taken in order of their stride; a loop whose stride lies within the span covered
// so far extends the span, a larger one repeats it as separate blocks.
Footprint FootprintOf(const std::vector<int64_t>& strides, const std::vector<Loop>& loops, size_t from,
                      int element_bytes) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // |stride|, extent
  double product = 1;
  for (size_t i = from; i < loops.size(); ++i) {
    if (strides[i] == 0 || loops[i].extent <= 1) continue;
    dims.push_back({std::llabs(strides[i]), loops[i].extent});
    product *= static_cast<double>(loops[i].extent);
  }
  std::sort(dims.begin(), dims.end());
  double span = 1, blocks = 1;
  for (const auto& [stride, extent] : dims) {
    if (static_cast<double>(stride) <= span)
      span += static_cast<double>(stride) * static_cast<double>(extent - 1);
    else
      blocks *= static_cast<double>(extent);
  }
  Footprint f;
  f.elements = std::min(product, span * blocks);
  double line_elems = 64.0 / element_bytes;
  f.lines = blocks * std::ceil(span / line_elems);
  f.lines = std::min(f.lines, f.elements);
  return f;
}

int ElementBytes(const BufferNode* b) {
  switch (b->dtype) {
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
      return 8;
    case DType::kBool:
      return 1;
  }
  return 4;
}

// ---- a group of stores to one buffer ----

struct BufferStats {
  const BufferNode* buffer = nullptr;
  bool write = false;
  double bytes = 0;  // accessed x iterations
  double unique_bytes = 0, lines = 0;
  double stride_weighted = 0;  // |innermost stride| x bytes, averaged later
  double unit_weighted = 0;
  double reuse_loop = 0, reuse_serial = 0;
  double reuse_count = 0, reuse_iters = 0, reuse_bytes = 0;  // of the largest store
  double reuse_weight = -1;                                  // iterations of the store that set the reuse fields
  int reads_in_store = 0;
};

struct Group {
  const BufferNode* buffer = nullptr;
  std::vector<const StoreSite*> sites;
  double float_ops = 0;
};

double FloatOps(const StoreSite& s) { return (2 * s.fma + s.fadd + s.fmul + s.fother) * s.iterations; }

// Working set in bytes of the innermost loops [from, end) of a store: all its accesses.
double WorkingSet(const StoreSite& s, size_t from, const std::vector<std::vector<int64_t>>& strides) {
  std::map<const BufferNode*, double> per_buffer;  // one access per buffer: the largest
  for (size_t a = 0; a < s.accesses.size(); ++a) {
    int eb = ElementBytes(s.accesses[a].buffer);
    double bytes = FootprintOf(strides[a], s.loops, from, eb).elements * eb;
    double& slot = per_buffer[s.accesses[a].buffer];
    slot = std::max(slot, bytes);
  }
  double total = 0;
  for (const auto& [b, bytes] : per_buffer) total += bytes;
  return total;
}

// A store's working set of loops [from, n), each computed once (curve, fits, reuse).
class WorkingSets {
 public:
  WorkingSets(const StoreSite& s, const std::vector<std::vector<int64_t>>& strides)
      : s_(s), strides_(strides), from_(s.loops.size() + 1, -1) {}
  double operator()(size_t from) {
    if (from_[from] < 0) from_[from] = WorkingSet(s_, from, strides_);
    return from_[from];
  }

 private:
  const StoreSite& s_;
  const std::vector<std::vector<int64_t>>& strides_;
  std::vector<double> from_;
};

// What AddSlot accumulates over a group's stores (iteration-weighted where it says so).
struct SlotStats {
  double iters = 0, fma = 0, fadd = 0, fmul = 0, fother = 0, iops = 0;
  // Iteration-weighted loop structure.
  double vec_count = 0, vec_product = 0, vec_inner = 0, unroll_count = 0, unroll_product = 0, unroll_inner = 0,
         par_count = 0, par_product = 0, serial_count = 0, serial_product = 0, depth = 0, guarded = 0;
  bool reduction = false;
  double live_acc = 0, live_weight = -1;
  std::map<const BufferNode*, BufferStats> buffers;
  double ws[kWorkingSetLevels] = {};
  double fit[3] = {};
};

// A store's loop structure, with weight `w` (its share of the group's iterations).
void AddLoopStructure(const StoreSite& s, double w, SlotStats& st) {
  double vc = 0, vp = 1, uc = 0, up = 1, ui = 1, pc = 0, pp = 1, sc = 0, sp = 1;
  for (const Loop& l : s.loops) {
    double e = static_cast<double>(l.extent);
    switch (l.kind) {
      case ForKind::kVectorized:
        vc += 1;
        vp *= e;
        break;
      case ForKind::kUnrolled:
        uc += 1;
        up *= e;
        ui = e;
        break;
      case ForKind::kParallel:
        pc += 1;
        pp *= e;
        break;
      case ForKind::kSerial:
        sc += 1;
        sp *= e;
        break;
    }
  }
  st.vec_count += w * vc;
  st.vec_product += w * (vc > 0 ? Log2p(vp) : 0);
  st.vec_inner += w * (!s.loops.empty() && s.loops.back().kind == ForKind::kVectorized ? 1 : 0);
  st.unroll_count += w * uc;
  st.unroll_product += w * (uc > 0 ? Log2p(up) : 0);
  st.unroll_inner += w * (uc > 0 ? Log2p(ui) : 0);
  st.par_count += w * pc;
  st.par_product += w * (pc > 0 ? Log2p(pp) : 0);
  st.serial_count += w * sc;
  st.serial_product += w * (sc > 0 ? Log2p(sp) : 0);
  st.depth += w * static_cast<double>(s.loops.size());
  st.guarded += w * (s.guarded ? 1 : 0);
}

// Working-set curve and cache fits, from the largest store of the group.
void AddWorkingSetCurve(size_t n, WorkingSets& working_set, const compiler::Target& t, SlotStats& st) {
  const double caches[3] = {static_cast<double>(t.l1d_bytes), static_cast<double>(t.l2_bytes),
                            static_cast<double>(t.l3_bytes)};
  for (int level = 0; level < kWorkingSetLevels; ++level) {
    size_t from = n > static_cast<size_t>(level) + 1 ? n - level - 1 : 0;
    st.ws[level] = working_set(from);
  }
  for (int c = 0; c < 3; ++c) {
    int levels = 0;
    for (size_t k = 1; k <= n; ++k) {
      if (working_set(n - k) > caches[c]) break;
      levels = static_cast<int>(k);
    }
    st.fit[c] = levels;
  }
}

// Accumulation: the value reads the stored buffer. Live accumulators: the stored
// buffer's footprint over the loops inside the innermost loop the store index does not
// depend on (the reduction loop), in target vectors.
void AddAccumulator(const StoreSite& s, const std::vector<std::vector<int64_t>>& strides, const compiler::Target& t,
                    SlotStats& st) {
  bool reads_self = false;
  for (size_t a = 1; a < s.accesses.size(); ++a) reads_self |= s.accesses[a].buffer == s.accesses[0].buffer;
  if (!reads_self) return;
  st.reduction = true;
  for (size_t i = s.loops.size(); i-- > 0;) {
    if (strides[0][i] == 0 && s.loops[i].extent > 1) {
      double elems = FootprintOf(strides[0], s.loops, i + 1, 4).elements;
      if (s.iterations > st.live_weight) {
        st.live_weight = s.iterations;
        st.live_acc = elems / std::max(1, t.vector_lanes());
      }
      return;
    }
  }
}

// Reuse of access `a`'s buffer in store `s` (the largest store touching it sets it).
void SetReuse(const StoreSite& s, size_t a, const std::vector<int64_t>& stride, WorkingSets& working_set,
              BufferStats& b) {
  const Access& acc = s.accesses[a];
  const size_t n = s.loops.size();
  b.reuse_weight = s.iterations;
  b.reuse_loop = b.reuse_serial = b.reuse_count = b.reuse_iters = b.reuse_bytes = 0;
  int reads = 0;
  for (const Access& other : s.accesses) reads += other.buffer == acc.buffer && !other.write;
  for (size_t i = n; i-- > 0;) {
    if (stride[i] == 0 && s.loops[i].extent > 1) {
      b.reuse_loop = 1;
      b.reuse_count = static_cast<double>(s.loops[i].extent);
      double inside = 1;
      for (size_t j = i + 1; j < n; ++j) inside *= static_cast<double>(s.loops[j].extent);
      b.reuse_iters = inside;
      b.reuse_bytes = working_set(i + 1);
      break;
    }
  }
  if (b.reuse_loop == 0 && reads > 1) {
    b.reuse_serial = 1;
    b.reuse_count = reads;
  }
}

// Every access of a store into its buffer's stats.
void AddAccesses(const StoreSite& s, const std::vector<std::vector<int64_t>>& strides, WorkingSets& working_set,
                 SlotStats& st) {
  const size_t n = s.loops.size();
  for (size_t a = 0; a < s.accesses.size(); ++a) {
    const Access& acc = s.accesses[a];
    BufferStats& b = st.buffers[acc.buffer];
    b.buffer = acc.buffer;
    b.write |= acc.write;
    int eb = ElementBytes(acc.buffer);
    double bytes = s.iterations * eb;
    b.bytes += bytes;
    Footprint f = FootprintOf(strides[a], s.loops, 0, eb);
    b.unique_bytes = std::max(b.unique_bytes, f.elements * eb);
    b.lines = std::max(b.lines, f.lines);
    int64_t inner = n > 0 ? std::llabs(strides[a][n - 1]) : 0;
    b.stride_weighted += bytes * static_cast<double>(inner);
    b.unit_weighted += bytes * (inner <= 1 ? 1 : 0);
    if (!acc.write) b.reads_in_store = std::max<int>(b.reads_in_store, 1);
    if (s.iterations > b.reuse_weight) SetReuse(s, a, strides[a], working_set, b);
  }
}

// The group's stores, accumulated.
SlotStats Accumulate(const Group& g, const compiler::Target& t) {
  SlotStats st;
  for (const StoreSite* s : g.sites) {
    st.iters += s->iterations;
    st.fma += s->fma * s->iterations;
    st.fadd += s->fadd * s->iterations;
    st.fmul += s->fmul * s->iterations;
    st.fother += s->fother * s->iterations;
    st.iops += s->iops * s->iterations;
  }
  const StoreSite* largest = nullptr;
  for (const StoreSite* s : g.sites)
    if (!largest || s->iterations > largest->iterations) largest = s;
  for (const StoreSite* s : g.sites) {
    AddLoopStructure(*s, st.iters > 0 ? s->iterations / st.iters : 0, st);
    std::vector<std::vector<int64_t>> strides;
    for (const Access& a : s->accesses) strides.push_back(Strides(a, s->loops));
    WorkingSets working_set(*s, strides);
    if (s == largest) AddWorkingSetCurve(s->loops.size(), working_set, t, st);
    AddAccumulator(*s, strides, t, st);
    AddAccesses(*s, strides, working_set, st);
  }
  return st;
}

// The most-accessed buffers' features; ties by name so that the order is deterministic.
float* WriteBuffers(const SlotStats& st, float* o) {
  std::vector<const BufferStats*> order;
  for (const auto& [buf, b] : st.buffers) order.push_back(&b);
  std::sort(order.begin(), order.end(), [](const BufferStats* a, const BufferStats* b) {
    if (a->bytes != b->bytes) return a->bytes > b->bytes;
    return a->buffer->name < b->buffer->name;
  });
  for (int k = 0; k < kBuffersPerSlot; ++k) {
    if (k >= static_cast<int>(order.size())) {
      for (int i = 0; i < kBufferScalar; ++i) *o++ = 0;
      continue;
    }
    const BufferStats& b = *order[k];
    *o++ = 1;
    *o++ = b.write ? 1.f : 0.f;
    *o++ = b.buffer->scope == BufferScope::kLocal ? 1.f : 0.f;
    *o++ = Log2p(b.bytes);
    *o++ = Log2p(b.unique_bytes);
    *o++ = Log2p(b.lines);
    *o++ = Log2p(b.bytes > 0 ? b.stride_weighted / b.bytes : 0);
    *o++ = static_cast<float>(b.bytes > 0 ? b.unit_weighted / b.bytes : 0);
    *o++ = static_cast<float>(b.reuse_loop);
    *o++ = static_cast<float>(b.reuse_serial);
    *o++ = Log2p(b.reuse_count);
    *o++ = Log2p(b.reuse_iters);
    *o++ = Log2p(b.reuse_bytes);
  }
  return o;
}

void AddSlot(const Group& g, double total_float_ops, const compiler::Target& t, float* out) {
  const SlotStats st = Accumulate(g, t);
  double unique_total = 0, bytes_total = 0;
  for (const auto& [buf, b] : st.buffers) {
    unique_total += b.unique_bytes;
    bytes_total += b.bytes;
  }
  double flops = 2 * st.fma + st.fadd + st.fmul + st.fother;

  float* o = out;
  *o++ = Log2p(st.fma);
  *o++ = Log2p(st.fadd);
  *o++ = Log2p(st.fmul);
  *o++ = Log2p(st.fother);
  *o++ = Log2p(st.iops);
  *o++ = Log2p(st.iters);
  *o++ = static_cast<float>(total_float_ops > 0 ? flops / total_float_ops : 0);
  for (double v : {st.vec_count, st.vec_product, st.vec_inner, st.unroll_count, st.unroll_product, st.unroll_inner,
                   st.par_count, st.par_product, st.serial_count, st.serial_product, st.depth, st.guarded})
    *o++ = static_cast<float>(v);
  *o++ = st.reduction ? 1.f : 0.f;
  *o++ = Log2p(st.live_acc);
  *o++ = static_cast<float>(st.live_acc / std::max(1, t.vector_registers));
  *o++ = Log2p(unique_total > 0 ? flops / unique_total : 0);
  *o++ = Log2p(flops > 0 ? 1000 * bytes_total / flops : 0);
  for (double f : st.fit) *o++ = static_cast<float>(f);
  o = WriteBuffers(st, o);
  for (double v : st.ws) *o++ = Log2p(v);
  PT_CHECK(o - out == kSlotSize, "slot layout matches kSlotNames");
}

}  // namespace

std::vector<std::string> FeatureNames(const FeatureOptions& options) {
  std::vector<std::string> names;
  for (int k = 0; k < kStoreSlots; ++k) {
    std::string p = "s" + std::to_string(k) + ".";
    for (const char* n : kSlotNames) names.push_back(p + n);
    for (int b = 0; b < kBuffersPerSlot; ++b)
      for (const char* n : kBufferNames) names.push_back(p + "b" + std::to_string(b) + "." + n);
    for (int l = 0; l < kWorkingSetLevels; ++l) names.push_back(p + "ws" + std::to_string(l));
  }
  for (const char* n : kGlobalNames) names.push_back(std::string("g.") + n);
  if (options.workload_context) {
    for (const char* op : kContextOps) names.push_back(std::string("w.op_") + op);
    names.push_back("w.log_flops");
    for (int d = 0; d < kContextDims; ++d) names.push_back("w.dim" + std::to_string(d));
  }
  return names;
}

std::vector<float> ExtractLoopNestFeatures(const compiler::LoweredFunc& f, const compiler::Target& t) {
  Collector c;
  c.Visit(f.body);

  // Group stores by the buffer they write, in first-appearance order.
  std::vector<Group> groups;
  std::unordered_map<const BufferNode*, size_t> group_of;
  double total_float_ops = 0;
  for (const StoreSite& s : c.sites) {
    auto [it, inserted] = group_of.emplace(s.store->buffer.get(), groups.size());
    if (inserted) groups.push_back({s.store->buffer.get(), {}, 0});
    Group& g = groups[it->second];
    g.sites.push_back(&s);
    g.float_ops += FloatOps(s);
    total_float_ops += FloatOps(s);
  }
  auto iterations = [](const Group& g) {
    double n = 0;
    for (const StoreSite* s : g.sites) n += s->iterations;
    return n;
  };
  std::stable_sort(groups.begin(), groups.end(), [&](const Group& a, const Group& b) {
    if (a.float_ops != b.float_ops) return a.float_ops > b.float_ops;
    return iterations(a) > iterations(b);
  });

  std::vector<float> out(static_cast<size_t>(kStoreSlots * kSlotSize + kGlobalSize), 0.f);
  for (int k = 0; k < kStoreSlots && k < static_cast<int>(groups.size()); ++k)
    AddSlot(groups[k], total_float_ops, t, out.data() + k * kSlotSize);

  float* o = out.data() + kStoreSlots * kSlotSize;
  int cores = std::max(1, t.cores);
  double e = static_cast<double>(c.outer_parallel);
  double balance = e > 0 ? e / (std::ceil(e / cores) * cores) : 1.0 / cores;
  *o++ = Log2p(total_float_ops);
  *o++ = Log2p(static_cast<double>(groups.size()));
  *o++ = Log2p(c.alloc_local);
  *o++ = Log2p(c.alloc_global);
  *o++ = Log2p(c.alloc_count);
  *o++ = Log2p(e);
  *o++ = static_cast<float>(balance);
  *o++ = Log2p(cores);
  *o++ = Log2p(t.vector_lanes());
  *o++ = Log2p(t.vector_registers);
  *o++ = Log2p(static_cast<double>(t.l1d_bytes));
  *o++ = Log2p(static_cast<double>(t.l2_bytes));
  *o++ = Log2p(static_cast<double>(t.l3_bytes));
  *o++ = Log2p(static_cast<double>(f.prepacks.size()));
  PT_CHECK(o == out.data() + out.size(), "global layout matches kGlobalNames");
  for (float& v : out)
    if (!std::isfinite(v)) v = 0;  // never expected; a model must not see NaN
  return out;
}

std::vector<float> WorkloadContextFeatures(const compiler::Workload& w) {
  std::vector<float> out;
  // group_conv2d is conv2d's template with a groups dim: it shares conv2d's slot (a slot
  // of its own would change the vector's length for every stored model).
  const std::string op_slot = w.op == "group_conv2d" ? "conv2d" : w.op;
  for (const char* op : kContextOps) out.push_back(op_slot == op ? 1.f : 0.f);
  double flops = 0;
  if (auto tmpl = compiler::FindTemplate(w.op); tmpl.ok()) flops = (*tmpl)->Flops(w);
  out.push_back(Log2p(flops));
  int d = 0;
  for (const auto& [name, value] : w.dims) {
    if (d++ >= kContextDims) break;
    out.push_back(Log2p(static_cast<double>(value)));
  }
  while (static_cast<int>(out.size()) < kContextSize) out.push_back(0);
  return out;
}

int LoopNestFeatureCount() { return kStoreSlots * kSlotSize + kGlobalSize; }
int SlotFeatureCount() { return kSlotSize; }

}  // namespace priortune::costmodel

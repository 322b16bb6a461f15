// Kernels are memory-safe by construction: temporaries beyond the target's stack budget
// live in a caller-provided workspace (memory_plan.h), and a bounds-checked build stops
// at the first access outside a buffer, reporting it, without making it.
#include <gtest/gtest.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstring>
#include <functional>
#include <random>

#include "compiler/codegen/jit.h"
#include "compiler/codegen/runtime.h"
#include "compiler/ir/lower.h"
#include "compiler/ir/memory_plan.h"
#include "compiler/ir/schedule.h"
#include "compiler/model/model.h"
#include "compiler/ops/build.h"
#include "compiler/target/target.h"
#include "tests/common/isa_targets.h"
#include "tests/compiler/onnx_builder.h"

namespace priortune::compiler {
namespace {

using priortune::testing::HostRuns;
using priortune::testing::IsaTarget;

// Runs `fn` on a thread with a `stack_bytes` stack and returns once it is done: a kernel
// whose temporaries went on the stack beyond that dies here instead of passing.
void OnSmallStack(size_t stack_bytes, const std::function<void()>& fn) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, stack_bytes), 0);
  pthread_t th;
  auto call = [](void* p) -> void* {
    (*static_cast<const std::function<void()>*>(p))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&th, &attr, call, const_cast<std::function<void()>*>(&fn)), 0);
  ASSERT_EQ(pthread_join(th, nullptr), 0);
  pthread_attr_destroy(&attr);
}

Stmt Loop(const Expr& v, int64_t extent, ForKind kind, Stmt body) {
  return For(v, IntImm(0), IntImm(extent), kind, std::move(body));
}

LoweredArg Arg(const Buffer& b, bool out) { return {b->name, {b->size}, DType::kFloat32, b, out}; }

// ---- the memory plan ----

TEST(MemoryPlan, SmallBuffersStayOnTheStackAndTheRestGoToTheWorkspace) {
  Buffer small = MakeBuffer("acc", DType::kFloat32, 16, BufferScope::kLocal);       // 64 B
  Buffer big = MakeBuffer("panel", DType::kFloat32, 1 << 20, BufferScope::kLocal);  // 4 MiB
  Buffer mid = MakeBuffer("mid", DType::kFloat32, 3000, BufferScope::kGlobal);      // 12000 B
  Buffer out = MakeBuffer("out", DType::kFloat32, 4, BufferScope::kArgument);
  Stmt body = Allocate(
      small, Allocate(big, Allocate(mid, Store(out, IntImm(0),
                                               Load(big, IntImm(0)) + Load(small, IntImm(0)) + Load(mid, IntImm(0))))));
  MemoryPlan plan = PlanMemory(body, 16 << 10);
  ASSERT_EQ(plan.placement.size(), 3u);
  int on_stack = 0;
  for (const auto& [stmt, p] : plan.placement) {
    if (stmt->buffer == big) {
      EXPECT_FALSE(p.on_stack);
      EXPECT_FALSE(p.per_slot);
    } else {
      EXPECT_TRUE(p.on_stack) << stmt->buffer->name;
      ++on_stack;
    }
  }
  EXPECT_EQ(on_stack, 2);
  EXPECT_LE(plan.stack_bytes, 16 << 10);
  EXPECT_EQ(plan.workspace.fixed_bytes, 4 << 20);
  EXPECT_EQ(plan.workspace.slot_bytes, 0);
  // A budget of zero: everything in the workspace, nested scopes side by side.
  MemoryPlan none = PlanMemory(body, 0);
  EXPECT_EQ(none.stack_bytes, 0);
  EXPECT_EQ(none.workspace.fixed_bytes, 64 + (4 << 20) + 12032);
}

TEST(MemoryPlan, SiblingScopesShareTheirBytesAndParallelBodiesGetASlotEach) {
  Buffer a = MakeBuffer("a", DType::kFloat32, 1000, BufferScope::kLocal);
  Buffer b = MakeBuffer("b", DType::kFloat32, 2000, BufferScope::kLocal);
  Buffer c = MakeBuffer("c", DType::kFloat32, 500, BufferScope::kLocal);
  Buffer out = MakeBuffer("out", DType::kFloat32, 8, BufferScope::kArgument);
  Expr i = MakeVar("i"), j = MakeVar("j");
  Stmt use_a = Store(out, IntImm(0), Load(a, IntImm(0)));
  Stmt use_b = Store(out, IntImm(1), Load(b, IntImm(0)));
  Stmt use_c = Store(out, i, Load(c, IntImm(0)));
  // a and b in sequence (their bytes are reused), c inside a parallel loop.
  Stmt body = Seq({Allocate(a, use_a), Allocate(b, use_b), Loop(i, 8, ForKind::kParallel, Allocate(c, use_c))});
  MemoryPlan plan = PlanMemory(body, 0);
  EXPECT_EQ(plan.workspace.fixed_bytes, 8000);  // max(4000, 8000), not the sum
  EXPECT_EQ(plan.workspace.slot_bytes, 2048);   // 2000 bytes, 64-aligned
  for (const auto& [stmt, p] : plan.placement) {
    EXPECT_EQ(p.offset, 0) << stmt->buffer->name;
    EXPECT_EQ(p.per_slot, stmt->buffer == c) << stmt->buffer->name;
  }
  EXPECT_EQ(plan.workspace.Bytes(3), 8000 + 3 * 2048);
  // A parallel loop inside a parallel body runs serially in its slot: still per slot.
  Stmt nested = Loop(j, 4, ForKind::kParallel, Loop(i, 8, ForKind::kParallel, Allocate(c, use_c)));
  EXPECT_EQ(PlanMemory(nested, 0).workspace.slot_bytes, 2048);
}

// ---- the workspace in generated code ----

// B[i] = A[i] + sum over a 4 MiB temporary staged inside a parallel loop: its buffer
// cannot be on any thread's stack of 512 KiB.
TEST(Workspace, KernelsWithLargeTemporariesRunOnASmallStack) {
  const int64_t rows = 6, cols = 1 << 20;
  Tensor A = Placeholder("A", {rows, cols});
  Tensor T = Compute("T", {rows, cols}, [&](Expr i, Expr j) { return A(i, j) * 2; });
  IterVar k = ReduceAxis(cols, "k");
  Tensor B = Compute("B", {rows}, [&](Expr i) { return Sum(T(i, k->var), {k}); });
  for (bool parallel : {false, true}) {
    Schedule s({B});
    if (parallel) s[B].parallel(s[B].axis(0));
    s[T].compute_at(s[B], s[B].axis(0));
    auto f = Lower(s, "big_local", {A, B});
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    auto jit = Jit::ForTarget(Target::Host());
    ASSERT_TRUE(jit.ok());
    auto kern = (*jit)->Compile(*f);
    ASSERT_TRUE(kern.ok()) << kern.status().ToString();
    const KernelWorkspace& ws = kern->workspace();
    EXPECT_EQ(parallel ? ws.slot_bytes : ws.fixed_bytes, cols * 4) << "the row of T is in the workspace";
    std::vector<float> a(rows * cols), b(rows, NAN);
    std::mt19937 g(3);
    std::uniform_int_distribution<int> d(-4, 4);
    for (auto& x : a) x = static_cast<float>(d(g));  // integers: the sums are exact
    int before = NumThreads();
    SetNumThreads(2);
    OnSmallStack(512 << 10, [&] { EXPECT_TRUE(kern->Run({a.data(), b.data()}).ok()); });
    SetNumThreads(before);
    for (int64_t i = 0; i < rows; ++i) {
      double want = 0;
      for (int64_t j = 0; j < cols; ++j) want += 2.0 * a[i * cols + j];
      EXPECT_EQ(b[i], static_cast<float>(want)) << "row " << i << (parallel ? " (parallel)" : "");
    }
  }
}

// The config of issue 26: per-block B panels of kc x nc = 512 x 2048 floats (4 MiB) put
// on the stack crashed with SIGSEGV under the default 8 MiB limit. Now on a 1 MiB stack,
// at 1 and 2 threads, it matches the reference. (Its register tile is 6 rows here, not
// the issue's 18: 6 x 16 columns fits AVX2's 12 accumulators as well as AVX-512's.)
TEST(Workspace, TheMatmulConfigThatOverflowedTheStackMatchesTheReference) {
  Workload w = MatmulWorkload(256, 2304, 768);
  for (int64_t parallel : {0, 1}) {
    Config c = {{"kc", 512}, {"ku", 8},    {"mc", 18},    {"mr", 6},     {"nc", 2048},
                {"nr", 16},  {"order", 1}, {"pack_a", 0}, {"pack_b", 3}, {"parallel", parallel}};
    Target t = Target::HostWithCores(parallel ? 2 : 1);
    auto k = BuildKernel(w, t, c);
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    EXPECT_GE(k->workspace().Bytes(1), 512 * 2048 * 4);
    const OpTemplate& tmpl = **FindTemplate(w.op);
    KernelArgs args(tmpl, w, 5);
    std::vector<float> want = ReferenceOutput(w, args);
    int before = NumThreads();
    SetNumThreads(t.cores);
    CheckResult r;
    OnSmallStack(1 << 20, [&] { r = CheckAgainstOutput(*k, args, want); });
    SetNumThreads(before);
    EXPECT_TRUE(r.ok()) << r.Describe();
  }
}

TEST(Workspace, TheStackBudgetIsPartOfTheTargetOnlyWhenItDiffersFromTheDefault) {
  Target t = Target::Host();
  const std::string key = t.Key();
  EXPECT_EQ(t.ToJson().find("stack_bytes"), std::string::npos);
  t.stack_bytes = 4096;
  EXPECT_NE(t.Key(), key);
  auto back = Target::FromJson(t.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->stack_bytes, 4096);
  EXPECT_FALSE(Target::FromJson(R"({"cpu":"x86-64","stack_bytes":0})").ok());
}

// ---- bounds checks ----

// out[i + shift] = in[i] * 2 for i < n, as a hand-written loop nest (nothing a schedule
// would produce): with shift > 0 the last stores fall past out's end.
LoweredFunc ShiftedCopy(int64_t n, int64_t shift, int64_t out_size, ForKind kind, int64_t lanes = 0) {
  Buffer in = MakeBuffer("in", DType::kFloat32, n, BufferScope::kArgument);
  Buffer out = MakeBuffer("out", DType::kFloat32, out_size, BufferScope::kArgument);
  LoweredFunc f;
  f.name = "shifted";
  f.args = {Arg(in, false), Arg(out, true)};
  Expr i = MakeVar("i");
  if (lanes > 0) {  // i = io * lanes + ii, the inner loop vectorized
    Expr io = MakeVar("io"), ii = MakeVar("ii");
    Expr idx = io * IntImm(lanes) + ii;
    Stmt st = Store(out, idx + IntImm(shift), Load(in, idx) * FloatImm(2.0));
    f.body = Loop(io, n / lanes, kind, Loop(ii, lanes, ForKind::kVectorized, st));
  } else {
    f.body = Loop(i, n, kind, Store(out, i + IntImm(shift), Load(in, i) * FloatImm(2.0)));
  }
  return f;
}

Status RunGuarded(const LoweredFunc& f, int64_t n, int64_t out_size, bool check, std::vector<float>* out_with_canary) {
  auto jit = Jit::ForTarget(Target::Host());
  if (!jit.ok()) return jit.status();
  CompileOptions o;
  o.check_bounds = check;
  PT_ASSIGN_OR_RETURN(Kernel k, (*jit)->Compile(f, o));
  std::vector<float> in(n);
  for (int64_t i = 0; i < n; ++i) in[i] = static_cast<float>(i);
  out_with_canary->assign(out_size + 64, -1.0f);  // 64 canaries after the buffer
  return k.Run({in.data(), out_with_canary->data()});
}

TEST(BoundsChecks, AStorePastTheEndStopsTheKernelAndNamesTheAccess) {
  for (ForKind kind : {ForKind::kSerial, ForKind::kParallel}) {
    std::vector<float> out;
    int before = NumThreads();
    SetNumThreads(2);
    Status s = RunGuarded(ShiftedCopy(40, 1, 40, kind), 40, 40, true, &out);
    SetNumThreads(before);
    ASSERT_EQ(s.code(), StatusCode::kOutOfRange) << s.ToString();
    EXPECT_NE(s.message().find("store to out at flat index 40, outside its 40 elements"), std::string::npos)
        << s.message();
    EXPECT_NE(s.message().find("at loops i=39"), std::string::npos) << s.message();
    for (size_t x = 40; x < out.size(); ++x) ASSERT_EQ(out[x], -1.0f) << "canary " << x << " overwritten";
    // Everything before the violation in the serial loop ran.
    if (kind == ForKind::kSerial)
      for (int64_t x = 1; x < 40; ++x) EXPECT_EQ(out[x], 2.0f * (x - 1));
  }
}

TEST(BoundsChecks, VectorAccessesAreCheckedPerActiveLane) {
  for (const std::string& isa : priortune::testing::IsaNames()) {
    Target t = IsaTarget(isa);
    if (!HostRuns(t)) continue;
    const int64_t lanes = t.vector_lanes(), n = 4 * lanes;
    auto jit = Jit::ForTarget(t);
    ASSERT_TRUE(jit.ok());
    CompileOptions o;
    o.check_bounds = true;
    auto k = (*jit)->Compile(ShiftedCopy(n, 3, n, ForKind::kSerial, lanes), o);
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    std::vector<float> in(n, 1.0f), out(n + 64, -1.0f);
    Status s = k->Run({in.data(), out.data()});
    ASSERT_EQ(s.code(), StatusCode::kOutOfRange) << isa;
    // The first failing lane of the last vector: out[n], lane lanes - 3 of io = 3.
    EXPECT_NE(s.message().find("store to out at flat index " + std::to_string(n)), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("io=3, ii=" + std::to_string(lanes - 3)), std::string::npos) << s.message();
    for (size_t x = n; x < out.size(); ++x) ASSERT_EQ(out[x], -1.0f) << isa << ": canary " << x;
  }
}

TEST(BoundsChecks, AReadBeforeTheStartIsCaughtAndACorrectKernelIsUnchanged) {
  // out[i] = in[i - 1]: reads in[-1] at i = 0.
  Buffer in = MakeBuffer("in", DType::kFloat32, 16, BufferScope::kArgument);
  Buffer out = MakeBuffer("out", DType::kFloat32, 16, BufferScope::kArgument);
  LoweredFunc f;
  f.name = "shift_read";
  f.args = {Arg(in, false), Arg(out, true)};
  Expr i = MakeVar("i");
  f.body = Loop(i, 16, ForKind::kSerial, Store(out, i, Load(in, i - IntImm(1))));
  std::vector<float> buf;
  Status s = RunGuarded(f, 16, 16, true, &buf);
  ASSERT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("load of in at flat index -1"), std::string::npos) << s.message();
  // In bounds: the checked kernel computes what the unchecked one does.
  std::vector<float> checked, plain;
  ASSERT_TRUE(RunGuarded(ShiftedCopy(40, 0, 40, ForKind::kParallel), 40, 40, true, &checked).ok());
  ASSERT_TRUE(RunGuarded(ShiftedCopy(40, 0, 40, ForKind::kParallel), 40, 40, false, &plain).ok());
  EXPECT_EQ(checked, plain);
}

TEST(BoundsChecks, ATemplatesKernelBuiltCheckedMatchesItsReference) {
  Workload w = Conv2dWorkload(1, 5, 9, 11, 7, 3, 3, 2, 1, /*bias=*/true, /*relu=*/true);
  const OpTemplate& tmpl = **FindTemplate(w.op);
  Target t = Target::Host();
  CompileOptions o;
  o.check_bounds = true;
  auto k = BuildKernel(w, t, tmpl.HandPickedConfig(w, t), o);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_TRUE(k->bounds_checked());
  KernelArgs args(tmpl, w, 9);
  CheckResult r = CheckAgainstReference(*k, w, args);
  EXPECT_TRUE(r.ok()) << r.Describe();
}

TEST(BoundsChecks, ObjectCodeReportsThroughTheRuntimeBySymbol) {
  auto ir = EmitCodeText(ShiftedCopy(40, 1, 40, ForKind::kSerial), CodeFileType::kLLVMIR, Target::Host(),
                         CompileOptions{true});
  ASSERT_TRUE(ir.ok()) << ir.status().ToString();
  EXPECT_NE(ir->find("@pt_bounds_violation"), std::string::npos);
  auto plain = EmitCodeText(ShiftedCopy(40, 1, 40, ForKind::kSerial), CodeFileType::kLLVMIR, Target::Host());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->find("@pt_bounds_violation"), std::string::npos);
  EXPECT_EQ(plain->find("@pt_alloc"), std::string::npos) << "a kernel never allocates";
}

// ---- the deployed library ----

std::string Shell(const std::string& cmd, int* code) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return "cannot run " + cmd;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int status = pclose(p);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// Every allocation pt_model_create makes (buffers, packed weights, the kernels'
// workspace) is forced to fail in turn by a program that interposes aligned_alloc: each
// failure is a NULL model and an "out of memory" message through the C API, never an
// abort; with memory to spare the same library runs.
TEST(DeployRuntime, AFailedAllocationIsAnErrorOfTheCApiNeverAnAbort) {
  auto g = ImportOnnxBytes(testing::FusableModel().Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  NoConfigSource none;
  auto plan = PlanModel(*g, Target::Host(), none);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  char tmpl[] = "/tmp/pt_oom_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  auto lib =
      WriteModelLibrary(*plan, dir + "/lib", "oom test",
                        DeployToolchain{PRIORTUNE_DEPLOY_ARCHIVE, PRIORTUNE_DEPLOY_HEADER, PRIORTUNE_CXX_COMPILER});
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  int code = -1;
  std::string out = Shell(std::string(PRIORTUNE_CXX_COMPILER) + " -O1 -std=c++17 " + PRIORTUNE_SOURCE_DIR +
                              "/tests/compiler/data/deploy_oom_main.cpp -I " + dir + "/lib -L " + dir +
                              "/lib -lpriortune_model -Wl,-rpath," + dir + "/lib -rdynamic -ldl -o " + dir + "/oom",
                          &code);
  ASSERT_EQ(code, 0) << out;
  out = Shell(dir + "/oom", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("allocation 0 failed: out of memory"), std::string::npos) << out;
  EXPECT_NE(out.find("run: 0"), std::string::npos) << out;
  Shell("rm -rf " + dir, &code);
}

}  // namespace
}  // namespace priortune::compiler

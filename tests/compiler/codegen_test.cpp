// Code generation: vector width, parallel and unrolled loops, masks for tails, gathers,
// inlining, object files. Each kernel's result is compared with a plain loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "compiler/codegen/jit.h"
#include "compiler/codegen/runtime.h"
#include "compiler/ir/lower.h"
#include "compiler/ir/schedule.h"
#include "compiler/ops/build.h"
#include "compiler/support/timing.h"
#include "compiler/target/target.h"
#include "tests/common/isa_targets.h"

namespace priortune::compiler {
namespace {

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

using priortune::testing::HostRuns;
using priortune::testing::IsaNamed;
using priortune::testing::IsaTarget;

Kernel Compile(const Schedule& s, const std::vector<Tensor>& args, const Target& t = Target::Host()) {
  auto f = Lower(s, "k", args);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (!f.ok()) return {};
  auto jit = Jit::ForTarget(t);
  EXPECT_TRUE(jit.ok()) << jit.status().ToString();
  if (!jit.ok()) return {};
  auto k = (*jit)->Compile(*f);
  EXPECT_TRUE(k.ok()) << k.status().ToString();
  return k.ok() ? *k : Kernel();
}

// Per ISA: the assembly of `s` for the ISA's target uses its vector registers, and where
// this host can run it, the kernel is returned for the caller to check (else empty).
Kernel CompileForIsa(const std::string& isa, const Schedule& s, const std::vector<Tensor>& args) {
  Target t = IsaTarget(isa);
  auto f = Lower(s, "k", args);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (!f.ok()) return {};
  auto text = EmitCodeText(*f, CodeFileType::kAssembly, t);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  if (text.ok()) EXPECT_NE(text->find(IsaNamed(isa).vector_register), std::string::npos) << *text;
  if (!HostRuns(t)) return {};
  return Compile(s, args, t);
}

// `out`'s only axis split by the ISA's lanes, the inner part vectorized, compiled as
// CompileForIsa does.
Kernel VectorizedForIsa(const std::string& isa, const Tensor& out, const std::vector<Tensor>& args) {
  Schedule s({out});
  auto [o, i] = s[out].split(s[out].axis(0), IsaTarget(isa).vector_lanes());
  s[out].vectorize(i);
  return CompileForIsa(isa, s, args);
}

class CodegenOnIsa : public ::testing::TestWithParam<std::string> {};

struct Mm {
  int64_t M, N, K;
  Tensor A, B, C;
  IterVar k;
  Mm(int64_t m, int64_t n, int64_t kk) : M(m), N(n), K(kk) {
    A = Placeholder("A", {M, K});
    B = Placeholder("B", {K, N});
    k = ReduceAxis(K, "k");
    C = Compute("C", {M, N}, [&](Expr i, Expr j) { return Sum(A(i, k->var) * B(k->var, j), {k}); });
  }
  void Check(const Kernel& kern) {
    ASSERT_TRUE(kern);
    auto a = Random(M * K, 1), b = Random(K * N, 2);
    std::vector<float> c(M * N, NAN);
    ASSERT_TRUE(kern.Run({a.data(), b.data(), c.data()}).ok());
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        float ref = 0;
        for (int64_t x = 0; x < K; ++x) ref += a[i * K + x] * b[x * N + j];
        ASSERT_NEAR(c[i * N + j], ref, 1e-4) << "at " << i << "," << j;
      }
  }
};

TEST(Codegen, RegisterTiledMatmulWithTailsMatchesLoops) {
  Mm m(37, 45, 29);
  Schedule s({m.C});
  Tensor CL = s.cache_write(m.C);
  auto [mo, mi] = s[m.C].split(s[m.C].axis(0), 4);
  auto [no, ni] = s[m.C].split(s[m.C].axis(1), 16);
  s[m.C].reorder({mo, no, mi, ni});
  s[m.C].vectorize(ni);
  s[m.C].parallel(mo);
  s[CL].compute_at(s[m.C], no);
  s[CL].reorder({s[CL].reduce_axis(0), s[CL].axis(0), s[CL].axis(1)});
  s[CL].unroll(s[CL].axis(0));
  s[CL].vectorize(s[CL].axis(1));
  m.Check(Compile(s, {m.A, m.B, m.C}));
}

TEST_P(CodegenOnIsa, VectorizedLoopUsesTheTargetsVectorWidth) {
  Target t = IsaTarget(GetParam());
  int64_t lanes = t.vector_lanes();
  Tensor A = Placeholder("A", {lanes * 4}), B = Placeholder("B", {lanes * 4});
  Tensor C = Compute("C", {lanes * 4}, [&](Expr i) { return A(i) * B(i) + A(i); });
  Schedule s({C});
  auto [o, i] = s[C].split(s[C].axis(0), lanes);
  s[C].vectorize(i);
  auto f = Lower(s, "vec", {A, B, C});
  ASSERT_TRUE(f.ok());
  auto ir = EmitCodeText(*f, CodeFileType::kLLVMIR, t);
  ASSERT_TRUE(ir.ok()) << ir.status().ToString();
  EXPECT_NE(ir->find("<" + std::to_string(lanes) + " x float>"), std::string::npos);
  EXPECT_NE(ir->find("\"prefer-vector-width\"=\"" + std::to_string(t.vector_bits) + "\""), std::string::npos);
  Kernel k = CompileForIsa(GetParam(), s, {A, B, C});
  if (!HostRuns(t)) return;  // compiled and checked above
  ASSERT_TRUE(k);
  auto a = Random(lanes * 4, 3), b = Random(lanes * 4, 4);
  std::vector<float> c(lanes * 4);
  ASSERT_TRUE(k.Run({a.data(), b.data(), c.data()}).ok());
  for (int64_t x = 0; x < lanes * 4; ++x) EXPECT_NEAR(c[x], a[x] * b[x] + a[x], 1e-6);
}

TEST_P(CodegenOnIsa, ObjectFileIsAnElfWithTheEntryPointsOnAnyHost) {
  // Object files work for every target, whether or not this host could run it.
  Mm m(8, 8, 8);
  Schedule s({m.C});
  auto f = Lower(s, "mm_obj", {m.A, m.B, m.C});
  ASSERT_TRUE(f.ok());
  std::string path = ::testing::TempDir() + "/mm_obj_" + GetParam() + ".o";
  ASSERT_TRUE(EmitCodeFile(*f, path, CodeFileType::kObject, IsaTarget(GetParam())).ok());
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 64u);
  EXPECT_EQ(bytes.substr(0, 4),
            "\x7f"
            "ELF");
  EXPECT_NE(bytes.find("mm_obj_packed"), std::string::npos);
  std::remove(path.c_str());
  EXPECT_FALSE(EmitCodeFile(*f, "/nonexistent-dir/x.o", CodeFileType::kObject, IsaTarget(GetParam())).ok());
}

TEST_P(CodegenOnIsa, VectorTailIsMaskedAndNeverWritesPastTheEnd) {
  // One vector and 5 more elements: the second vector has 5 live lanes. The buffer is
  // followed by sentinels that must survive.
  int64_t lanes = IsaTarget(GetParam()).vector_lanes(), n = lanes + 5;
  Tensor A = Placeholder("A", {n});
  Tensor B = Compute("B", {n}, [&](Expr i) { return A(i) + 1; });
  Kernel k = VectorizedForIsa(GetParam(), B, {A, B});
  if (!HostRuns(IsaTarget(GetParam()))) return;
  ASSERT_TRUE(k);
  auto a = Random(n, 6);
  std::vector<float> b(2 * lanes + 8, -7.0f);
  ASSERT_TRUE(k.Run({a.data(), b.data()}).ok());
  for (int64_t x = 0; x < n; ++x) EXPECT_FLOAT_EQ(b[x], a[x] + 1);
  for (size_t x = n; x < b.size(); ++x) EXPECT_FLOAT_EQ(b[x], -7.0f);
}

TEST_P(CodegenOnIsa, SmallStridesAreMaskedWideLoadsLargerOnesGathers) {
  // B(i) = A(2i) + A(5i): stride 2 becomes one masked load of 2 x lanes elements and a
  // shuffle; stride 5 stays a gather.
  Target t = IsaTarget(GetParam());
  int64_t lanes = t.vector_lanes();
  Tensor A = Placeholder("A", {lanes * 10});
  Tensor B = Compute("B", {lanes * 2}, [&](Expr i) { return A(i * 2) + A(i * 5); });
  Schedule s({B});
  auto [o, i] = s[B].split(s[B].axis(0), lanes);
  s[B].vectorize(i);
  auto f = Lower(s, "strided", {A, B});
  ASSERT_TRUE(f.ok());
  auto ir = EmitCodeText(*f, CodeFileType::kLLVMIR, t);
  ASSERT_TRUE(ir.ok()) << ir.status().ToString();
  std::string n = std::to_string(lanes);
  // One masked load of 2 x lanes elements; AVX and AVX2 targets emit it as vmaskmovps
  // intrinsics of 8 lanes (codegen_llvm.cpp: LLVM 16's generic form is miscompiled there).
  if (t.has("avx") && !t.has("avx512f"))
    EXPECT_TRUE(ir->find("llvm.x86.avx.maskload.ps.256") != std::string::npos ||
                ir->find("llvm.masked.load.v8f32") != std::string::npos)
        << *ir;
  else
    EXPECT_NE(ir->find("llvm.masked.load.v" + std::to_string(2 * lanes) + "f32"), std::string::npos) << *ir;
  EXPECT_NE(ir->find("llvm.masked.gather.v" + n + "f32"), std::string::npos) << *ir;
  Kernel k = CompileForIsa(GetParam(), s, {A, B});
  if (!HostRuns(t)) return;
  ASSERT_TRUE(k);
  auto a = Random(lanes * 10, 8);
  std::vector<float> b(lanes * 2);
  ASSERT_TRUE(k.Run({a.data(), b.data()}).ok());
  for (int64_t x = 0; x < lanes * 2; ++x) EXPECT_FLOAT_EQ(b[x], a[2 * x] + a[5 * x]);
}

TEST_P(CodegenOnIsa, StridedReadsAndPaddingSelectsNeverTouchMemoryPastTheEnd) {
  // B(i) = A(2i) if in range else 0, vectorized: the access has stride 2 and half the
  // lanes of the last vector read past the end of A unless masked.
  int64_t lanes = IsaTarget(GetParam()).vector_lanes(), n = lanes + lanes / 2 + 1;
  Tensor A = Placeholder("A", {n + n / 2});
  int64_t an = n + n / 2;
  Tensor B = Compute("B", {n}, [&](Expr i) { return Select(i * 2 < an, A(i * 2), FloatImm(0.0)); });
  Kernel k = VectorizedForIsa(GetParam(), B, {A, B});
  if (!HostRuns(IsaTarget(GetParam()))) return;
  ASSERT_TRUE(k);
  auto a = Random(an, 7);
  std::vector<float> b(n);
  ASSERT_TRUE(k.Run({a.data(), b.data()}).ok());
  for (int64_t x = 0; x < n; ++x) EXPECT_FLOAT_EQ(b[x], 2 * x < an ? a[2 * x] : 0.0f);
}

// Distance in units in the last place between two non-negative floats (their bit
// patterns are ordered like their values, denormals included).
int64_t UlpDistance(float a, float b) {
  int32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return std::abs(static_cast<int64_t>(x) - y);
}

TEST_P(CodegenOnIsa, ExpIsInlineAndWithinTwoUlpOfTheRoundedExactValue) {
  // A vectorized exp is emitted inline (no per-lane libm call), the masked tail too,
  // and holds over the whole float range: results that underflow to denormals and to 0, overflow
  // to inf, and NaN.
  std::vector<float> a;
  for (float x = -110.0f; x < 95.0f; x += 0.0137f) a.push_back(x);
  for (float x : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.72f, 88.7229f, -87.33f, -103.97f, -149.0f * 0.6931f}) a.push_back(x);
  a.insert(a.end(), {INFINITY, -INFINITY, NAN});
  const int64_t n = static_cast<int64_t>(a.size());
  Tensor A = Placeholder("A", {n});
  Tensor B = Compute("B", {n}, [&](Expr i) { return Exp(A(i)); });
  Target t = IsaTarget(GetParam());
  Schedule s({B});
  auto [o, i] = s[B].split(s[B].axis(0), t.vector_lanes());
  s[B].vectorize(i);
  auto f = Lower(s, "exp", {A, B});
  ASSERT_TRUE(f.ok());
  auto ir = EmitCodeText(*f, CodeFileType::kLLVMIR, t);
  ASSERT_TRUE(ir.ok()) << ir.status().ToString();
  for (const char* call : {"@expf", "@llvm.exp.f32", "@llvm.exp.v"})
    EXPECT_EQ(ir->find(call), std::string::npos) << call << " in\n" << *ir;
  Kernel k = CompileForIsa(GetParam(), s, {A, B});
  if (!HostRuns(t)) return;
  ASSERT_TRUE(k);
  std::vector<float> b(a.size(), -1.0f);
  ASSERT_TRUE(k.Run({a.data(), b.data()}).ok());
  int64_t worst = 0;
  for (size_t x = 0; x < a.size(); ++x) {
    const float want = static_cast<float>(std::exp(static_cast<double>(a[x])));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(b[x])) << "exp(" << a[x] << ") = " << b[x];
      continue;
    }
    ASSERT_FALSE(std::isnan(b[x])) << "exp(" << a[x] << ")";
    worst = std::max(worst, UlpDistance(b[x], want));
    EXPECT_LE(UlpDistance(b[x], want), 2) << "exp(" << a[x] << ") = " << b[x] << ", want " << want;
  }
  RecordProperty("worst_ulp", static_cast<int>(worst));
}

INSTANTIATE_TEST_SUITE_P(Isa, CodegenOnIsa, ::testing::ValuesIn(priortune::testing::IsaNames()),
                         priortune::testing::IsaParamName);

TEST(Codegen, ParallelLoopRunsOnThePoolAndMatches) {
  Mm m(64, 48, 32);
  Schedule s({m.C});
  s[m.C].parallel(s[m.C].axis(0));
  auto f = Lower(s, "par", {m.A, m.B, m.C});
  ASSERT_TRUE(f.ok());
  auto ir = EmitCodeText(*f, CodeFileType::kLLVMIR, Target::Host());
  ASSERT_TRUE(ir.ok());
  EXPECT_NE(ir->find("call i32 @pt_parallel_for"), std::string::npos);
  int before = NumThreads();
  SetNumThreads(2);
  Kernel k = Compile(s, {m.A, m.B, m.C});
  int64_t chunks = ParallelChunksOnWorkers();
  m.Check(k);  // runs the kernel once
  // The second thread's half of the rows ran on a pool thread, not on the caller.
  EXPECT_EQ(ParallelChunksOnWorkers() - chunks, 1);
  SetNumThreads(before);
}

TEST(Codegen, UnrolledLoopsMatchAndLeaveNoLoop) {
  Tensor A = Placeholder("A", {5, 7});
  Tensor B = Compute("B", {5, 7},
                     [&](Expr i, Expr j) { return A(i, j) * Cast(DType::kFloat32, i) + Cast(DType::kFloat32, j); });
  Schedule s({B});
  s[B].unroll(s[B].axis(0));
  s[B].unroll(s[B].axis(1));
  Kernel k = Compile(s, {A, B});
  ASSERT_TRUE(k);
  auto a = Random(35, 5);
  std::vector<float> b(35);
  ASSERT_TRUE(k.Run({a.data(), b.data()}).ok());
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 7; ++j) EXPECT_NEAR(b[i * 7 + j], a[i * 7 + j] * i + j, 1e-6);
  auto f = Lower(s, "unr", {A, B});
  EXPECT_EQ(ToString(f->body).find("for ("), std::string::npos) << ToString(f->body);
}

TEST(Codegen, InlinedAndFusedStagesMatch) {
  Tensor A = Placeholder("A", {6, 10});
  Tensor R = Compute("R", {6, 10}, [&](Expr i, Expr j) { return Max(A(i, j), FloatImm(0.0)); });
  Tensor S = Compute("S", {6, 10}, [&](Expr i, Expr j) { return R(i, j) * 3; });
  Schedule s({S});
  s[R].compute_inline();
  IterVar f = s[S].fuse(s[S].axis(0), s[S].axis(1));
  auto [fo, fi] = s[S].split(f, 8);
  s[S].vectorize(fi);
  Kernel k = Compile(s, {A, S});
  ASSERT_TRUE(k);
  auto a = Random(60, 8);
  std::vector<float> out(60);
  ASSERT_TRUE(k.Run({a.data(), out.data()}).ok());
  for (int x = 0; x < 60; ++x) EXPECT_FLOAT_EQ(out[x], std::max(a[x], 0.0f) * 3);
}

TEST(Timing, BeforeCallRunsUntimedBeforeEveryTimedCallInRoundsOfOne) {
  int calls = 0, before = 0;
  bool in_order = true;
  TimingOptions o;
  o.warmup = 2;
  o.repeat = 6;
  o.before_call = [&] {
    ++before;
    if (calls != o.warmup + before - 1) in_order = false;  // right before its call
  };
  TimingResult r = TimeFunction([&] { ++calls; }, o);
  EXPECT_EQ(r.number, 1);
  EXPECT_EQ(r.round_seconds.size(), 6u);
  EXPECT_EQ(before, 6);
  EXPECT_EQ(calls, 8);
  EXPECT_TRUE(in_order);
}

// Cold timing (weights and output flushed before each call) runs the prepared kernel,
// packed weights included, and still checks its output; PreparedArgs knows each
// argument's bytes, the packed weight's its packed size.
TEST(Timing, ColdTimingFlushesEveryArgumentButTheInputAndStillChecks) {
  const Workload w = Conv2dWorkload(1, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1);
  const Target t = Target::HostWithCores(1);
  auto tmpl = FindTemplate(w.op);
  ASSERT_TRUE(tmpl.ok());
  const Config c = (*tmpl)->HandPickedConfig(w, t);
  TimingOptions o;
  o.cold = true;
  o.repeat = 3;
  auto m = BuildCheckAndTime(w, t, c, o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->measurement.check.ok()) << m->measurement.check.run.ToString();
  EXPECT_EQ(m->measurement.timing.number, 1);
  EXPECT_EQ(m->measurement.timing.round_seconds.size(), 3u);
  EXPECT_GT(m->measurement.timing.min, 0);

  KernelArgs args(**tmpl, w, 7);
  auto prepared = m->kernel.Prepare(args.pointers());
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  const auto shapes = (*tmpl)->ArgShapes(w);
  ASSERT_EQ(prepared->bytes().size(), shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    int64_t want = 4;
    for (int64_t d : shapes[i]) want *= d;
    if (prepared->pointers()[i] == args.pointers()[i])
      EXPECT_EQ(prepared->bytes()[i], want) << i;
    else
      EXPECT_GE(prepared->bytes()[i], want) << i << ": a packed copy holds at least the weights";
  }
}

// bench --layouts: a conv2d NCHWc config timed in NativeLayouts (data in ic_bn blocks,
// residual and output in oc_bn blocks), as a model runs it between kernels of its blocks.
// The kernel timed reads and writes blocks (on NCHW buffers it computes a wrong answer)
// and is checked in them; data in another block is timed as asked and still checked. An
// nchw-width config, and other templates, have no blocked layouts.
TEST(Timing, ABlockedConvIsTimedAndCheckedInTheLayoutsAModelGivesIt) {
  Workload w = Conv2dWorkload(1, 32, 9, 9, 48, 1, 1, 1, 0);
  w.bias = true;
  w.residual = true;
  w.relu = true;
  const Target t = Target::HostWithCores(1);
  auto tmpl = FindTemplate(w.op);
  ASSERT_TRUE(tmpl.ok());
  Config c = (*tmpl)->DefaultConfig(w, t);
  c["layout"] = 0;
  c["ic_bn"] = 8;
  c["oc_bn"] = t.vector_lanes();
  const TensorLayouts l = NativeLayouts(w, t, c);
  EXPECT_EQ(l.data, 8);
  EXPECT_EQ(l.residual, t.vector_lanes());
  EXPECT_EQ(l.out, t.vector_lanes());

  TimingOptions o;
  o.repeat = 2;
  o.min_repeat_ms = 1;
  auto m = BuildCheckAndTimeInLayouts(w, t, c, l, o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->measurement.check.ok()) << m->measurement.check.Describe();
  EXPECT_EQ(m->measurement.timing.round_seconds.size(), 2u);
  KernelArgs args(**tmpl, w, 3);
  const std::vector<float> want = ReferenceOutput(w, args);
  EXPECT_FALSE(CheckAgainstOutput(m->kernel, args, want).ok()) << "the kernel timed reads NCHW, not blocks";
  EXPECT_TRUE(CheckInLayouts(m->kernel, w, args, l, want).ok());
  TensorLayouts other = l;
  other.data = 16;
  auto m16 = BuildCheckAndTimeInLayouts(w, t, c, other, o);
  ASSERT_TRUE(m16.ok()) << m16.status().ToString();
  EXPECT_TRUE(m16->measurement.check.ok()) << m16->measurement.check.Describe();
  // Plain layouts: the tuner's protocol, the kernel that reads and writes NCHW.
  auto plain = BuildCheckAndTimeInLayouts(w, t, c, TensorLayouts{}, o);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_TRUE(CheckAgainstOutput(plain->kernel, args, want).ok());

  Config width = (*tmpl)->HandPickedConfig(w, t);
  width["layout"] = 1;
  EXPECT_TRUE(NativeLayouts(w, t, width).plain());
  const Workload mm = MatmulWorkload(16, 16, 16);
  auto mt = FindTemplate(mm.op);
  ASSERT_TRUE(mt.ok());
  EXPECT_TRUE(NativeLayouts(mm, t, (*mt)->DefaultConfig(mm, t)).plain());
}

TEST(Timing, ReportsOrderedStatisticsOverTheRequestedRounds) {
  volatile double sink = 0;
  TimingOptions o;
  o.repeat = 4;
  o.min_repeat_ms = 1;
  TimingResult r = TimeFunction(
      [&] {
        for (int i = 0; i < 1000; ++i) sink = sink + i;
      },
      o);
  EXPECT_EQ(r.round_seconds.size(), 4u);
  EXPECT_GE(r.number, 1);
  EXPECT_LE(r.min, r.median);
  EXPECT_LE(r.median, r.max);
  EXPECT_GT(r.min, 0);
}

}  // namespace
}  // namespace priortune::compiler

namespace priortune::compiler {
namespace {

TEST(Runtime, ResizingThePoolBetweenParallelRegionsRunsOnlyNewJobs) {
  // Workers created by a resize must not replay the previous job (its closure is gone).
  struct Closure {
    std::atomic<int64_t>* sum;
  };
  std::atomic<int64_t> sum{0};
  Closure c{&sum};
  auto body = [](int64_t begin, int64_t end, void* cl, int64_t) {
    for (int64_t i = begin; i < end; ++i) static_cast<Closure*>(cl)->sum->fetch_add(i);
  };
  int before = NumThreads();
  for (int round = 0; round < 6; ++round) {
    SetNumThreads(1 + round % 2);
    sum = 0;
    pt_parallel_for(body, &c, 1000, 64);
    EXPECT_EQ(sum.load(), 999 * 1000 / 2) << "round " << round;
  }
  SetNumThreads(before);
}

}  // namespace
}  // namespace priortune::compiler

// Targets: named CPUs and ISA levels, target JSON (and its errors), the machine model the
// templates read, which targets a host can run, and the vector width codegen uses.
#include "compiler/target/target.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "compiler/codegen/jit.h"
#include "compiler/ir/schedule.h"
#include "tests/common/isa_targets.h"

namespace priortune::compiler {
namespace {

Target Named(const std::string& spec) {
  auto t = Target::Parse(spec, 1);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : Target();
}

std::string ParseError(const std::string& spec) {
  auto t = Target::Parse(spec, 1);
  return t.ok() ? "" : t.status().message();
}

TEST(Target, IsaLevelsCarryTheirMachineModel) {
  Target v2 = Named("x86-64-v2"), v3 = Named("x86-64-v3"), v4 = Named("x86-64-v4");
  EXPECT_EQ(v2.isa_family(), "x86_64-sse4.2");
  EXPECT_EQ(v2.vector_lanes(), 4);
  EXPECT_EQ(v2.vector_registers, 16);
  EXPECT_EQ(v2.fma_units, 0);
  EXPECT_EQ(v3.isa_family(), "x86_64-avx2");
  EXPECT_EQ(v3.vector_lanes(), 8);
  EXPECT_EQ(v3.vector_registers, 16);
  EXPECT_EQ(v3.fma_units, 2);
  EXPECT_EQ(v4.isa_family(), "x86_64-avx512");
  EXPECT_EQ(v4.vector_lanes(), 16);
  EXPECT_EQ(v4.vector_registers, 32);
  // Implied features are listed: AVX2 brings AVX and SSE4.1; x86-64-v4 lists avx512f
  // although LLVM's CPU table names only its extensions.
  EXPECT_TRUE(v3.has("avx") && v3.has("sse4.1") && v3.has("fma"));
  EXPECT_TRUE(v4.has("avx512f") && v4.has("avx2"));
  EXPECT_TRUE(std::is_sorted(v4.features.begin(), v4.features.end()));
}

TEST(Target, NamedCpusGetTheirCachesAndDefaultsOtherwise) {
  Target zen3 = Named("znver3"), zen4 = Named("znver4");
  EXPECT_EQ(zen3.isa_family(), "x86_64-avx2");
  EXPECT_EQ(zen3.l2_bytes, 512 << 10);
  EXPECT_EQ(zen4.isa_family(), "x86_64-avx512");
  EXPECT_EQ(zen4.l2_bytes, 1 << 20);
  EXPECT_GT(Named("x86-64-v3").l1d_bytes, 0);
  EXPECT_NE(zen3.Key(), Named("x86-64-v3").Key());
}

TEST(Target, JsonRoundTripsAndCanNarrowACpu) {
  Target zen4 = Named("znver4");
  auto back = Target::FromJson(zen4.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Key(), zen4.Key());
  // AVX-512 registers, 256-bit vectors (what -mprefer-vector-width=256 does).
  auto narrow = Target::Parse(R"({"cpu":"x86-64-v4","vector_bits":256,"cores":2})");
  ASSERT_TRUE(narrow.ok()) << narrow.status().ToString();
  EXPECT_EQ(narrow->vector_lanes(), 8);
  EXPECT_EQ(narrow->vector_registers, 32);
  EXPECT_EQ(narrow->cores, 2);
  EXPECT_EQ(narrow->isa_family(), "x86_64-avx512");
}

TEST(Target, BadSpecsAreRefusedNamingTheProblem) {
  EXPECT_NE(ParseError("pentium-9000").find("not an x86-64 CPU LLVM knows"), std::string::npos);
  EXPECT_NE(ParseError("pentium-9000").find("znver3"), std::string::npos);  // lists known ones
  EXPECT_NE(ParseError("{not json").find("not a JSON object"), std::string::npos);
  EXPECT_NE(ParseError(R"({"cpu":7})").find("field 'cpu'"), std::string::npos);
  EXPECT_NE(ParseError(R"({"cpu":"x86-64-v3","vector_bits":512})").find("field 'vector_bits'"), std::string::npos);
  EXPECT_NE(ParseError(R"({"cpu":"x86-64-v3","vector_bits":300})").find("not 128, 256 or 512"), std::string::npos);
  EXPECT_NE(ParseError(R"({"cpu":"x86-64-v3","vector_registers":32})").find("needs avx512f"), std::string::npos);
  EXPECT_NE(ParseError(R"({"cpu":"x86-64-v3","l2_bytes":-1})").find("field 'l2_bytes'"), std::string::npos);
  EXPECT_NE(ParseError(R"({"cpu":"x86-64-v3","features":"avx2"})").find("field 'features'"), std::string::npos);
  EXPECT_NE(ParseError(R"({"arch":"aarch64","cpu":"neoverse-v1"})").find("field 'arch'"), std::string::npos);
  EXPECT_NE(ParseError(R"({"cpu":"mystery"})").find("field 'features'"), std::string::npos);
}

TEST(Target, KnowsWhichTargetsAHostCanRun) {
  Target v3 = Named("x86-64-v3"), v4 = Named("x86-64-v4");
  EXPECT_TRUE(v3.MissingOn(v4).empty());  // AVX2 code runs on an AVX-512 machine
  auto missing = v4.MissingOn(v3);
  EXPECT_NE(std::find(missing.begin(), missing.end(), "avx512f"), missing.end());
  // Every x86-64 CPU of ours runs AVX2 code; each lacks some AMX extension.
  EXPECT_TRUE(v3.CheckRunsOnHost().ok()) << v3.CheckRunsOnHost().ToString();
  const std::string amx = priortune::testing::CpuWithAmxTheHostLacks();
  Status spr = Named(amx).CheckRunsOnHost();
  EXPECT_EQ(spr.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(spr.message().find("amx"), std::string::npos) << spr.message();
  EXPECT_EQ(Jit::ForTarget(Named(amx)).status().code(), StatusCode::kFailedPrecondition);
}

TEST(Target, NamesItsMicroarchitectureInJsonKeyAndDescription) {
  Target zen4 = Named("znver4"), v3 = Named("x86-64-v3");
  EXPECT_EQ(zen4.microarch, "znver4");
  EXPECT_EQ(v3.microarch, "");  // an ISA level is no one machine
  EXPECT_NE(zen4.ToJson().find(R"("microarch":"znver4")"), std::string::npos) << zen4.ToJson();
  EXPECT_EQ(v3.ToJson().find("microarch"), std::string::npos) << v3.ToJson();
  EXPECT_EQ(v3.Key(), v3.LegacyKey());
  EXPECT_NE(zen4.Key(), zen4.LegacyKey());
  EXPECT_TRUE(zen4.IsKey(zen4.LegacyKey()) && zen4.IsKey(zen4.Key()));
  EXPECT_FALSE(zen4.IsKey(v3.Key()));
  // Codegen's CPU and the machine's name may differ: both are said.
  auto emr = Target::Parse(R"({"cpu":"sapphirerapids","microarch":"emeraldrapids"})");
  ASSERT_TRUE(emr.ok()) << emr.status().ToString();
  EXPECT_EQ(emr->name(), "emeraldrapids");
  EXPECT_EQ(emr->Describe().rfind("emeraldrapids (LLVM sapphirerapids, x86_64-avx512", 0), 0u) << emr->Describe();
  EXPECT_EQ(Target::FromJson(emr->ToJson())->Key(), emr->Key());
  EXPECT_NE(emr->Key(), Named("sapphirerapids").Key());
  EXPECT_NE(ParseError(R"({"cpu":"x86-64-v3","microarch":7})").find("field 'microarch'"), std::string::npos);
  EXPECT_NE(ParseError(R"({"cpu":"x86-64-v3","microarch":""})").find("field 'microarch'"), std::string::npos);
}

TEST(Target, JsonFromBeforeMicroarchitecturesGetsOneAndKeepsItsOldKey) {
  // This host as it was written before: its own name, and the key it had then.
  Target host = Target::HostWithCores(2);
  Target old = host;
  old.microarch.clear();
  auto back = Target::FromJson(old.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->microarch, host.microarch);
  EXPECT_EQ(back->Key(), host.Key());
  EXPECT_EQ(back->LegacyKey(), HashKey(old.ToJson()));
  // Another machine: its LLVM name when that names one microarchitecture, else none.
  Target zen3 = Named("znver3");
  zen3.microarch.clear();
  zen3.l3_bytes += 1 << 20;  // not this host, whatever it is
  EXPECT_EQ(Target::FromJson(zen3.ToJson())->microarch, "znver3");
  auto generic = Target::FromJson(R"({"cpu":"generic","features":["avx2","avx","fma","sse4.2"],"l3_bytes":1})");
  ASSERT_TRUE(generic.ok()) << generic.status().ToString();
  EXPECT_EQ(generic->microarch, "");
  EXPECT_EQ(generic->Key(), generic->LegacyKey());
}

TEST(Target, HostAvx2IsThisCpuWithoutAvx512) {
  Target host = Target::Host();
  auto avx2 = Target::Parse("host-avx2", 1);
  ASSERT_TRUE(avx2.ok()) << avx2.status().ToString();
  EXPECT_EQ(avx2->microarch, host.microarch);
  EXPECT_EQ(avx2->cpu, host.cpu);
  EXPECT_EQ(avx2->isa_family(), "x86_64-avx2");
  EXPECT_EQ(avx2->vector_lanes(), 8);
  EXPECT_EQ(avx2->vector_registers, 16);
  EXPECT_EQ(avx2->l2_bytes, host.l2_bytes);
  for (const auto& f : avx2->features) {
    EXPECT_NE(f.rfind("avx512", 0), 0u) << f;
    EXPECT_NE(f.rfind("amx", 0), 0u) << f;
  }
  EXPECT_TRUE(avx2->CheckRunsOnHost().ok());
  // On an AVX2 host (Zen 3) it is the host itself (at the same thread count: the key
  // holds the cores).
  const Target host1 = Target::HostWithCores(1);
  if (host.has("avx512f"))
    EXPECT_NE(avx2->Key(), host1.Key());
  else
    EXPECT_EQ(avx2->Key(), host1.Key());
  // Its code really is AVX2 code: built and run here, with 256-bit vectors.
  auto jit = Jit::ForTarget(*avx2);
  EXPECT_TRUE(jit.ok()) << jit.status().ToString();
}

TEST(Target, HostWithCoresIsTheHostOnThatManyCores) {
  Target one = Target::HostWithCores(1), host = Target::Host();
  EXPECT_EQ(one.cores, 1);
  one.cores = host.cores;
  EXPECT_EQ(one.Key(), host.Key());
  EXPECT_TRUE(host.CheckRunsOnHost().ok());
}

TEST(Target, CodegenKeepsVectorsAtTheTargetsWidth) {
  // An AVX-512 target narrowed to 256-bit vectors: 8-lane vectors stay in ymm registers.
  Target narrow = Target::Parse(R"({"cpu":"x86-64-v4","vector_bits":256})").value();
  Tensor A = Placeholder("A", {64});
  Tensor B = Compute("B", {64}, [&](Expr i) { return A(i) * 2; });
  Schedule s({B});
  auto [o, i] = s[B].split(s[B].axis(0), narrow.vector_lanes());
  s[B].vectorize(i);
  auto f = Lower(s, "narrow", {A, B});
  ASSERT_TRUE(f.ok());
  auto text = EmitCodeText(*f, CodeFileType::kAssembly, narrow);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_NE(text->find("ymm"), std::string::npos);
  EXPECT_EQ(text->find("zmm"), std::string::npos) << *text;
}

}  // namespace
}  // namespace priortune::compiler

// The constructed targets that ISA-specific tests run over, one per x86-64 level we
// support, so that what a test covers does not depend on the machine it runs on. Tests
// are parameterised by the ISA name; ctest labels them isa-sse42, isa-avx2, isa-avx512.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "compiler/target/target.h"

namespace priortune::testing {

struct Isa {
  std::string name;             // the test-name suffix and ctest label: sse42, avx2, avx512
  std::string cpu;              // LLVM's generic CPU of that level
  std::string vector_register;  // what its widest f32 vectors are called in assembly
};

inline const std::vector<Isa>& Isas() {
  static const std::vector<Isa> kIsas = {
      {"sse42", "x86-64-v2", "xmm"}, {"avx2", "x86-64-v3", "ymm"}, {"avx512", "x86-64-v4", "zmm"}};
  return kIsas;
}

inline std::vector<std::string> IsaNames() {
  std::vector<std::string> names;
  for (const auto& i : Isas()) names.push_back(i.name);
  return names;
}

inline const Isa& IsaNamed(const std::string& name) {
  for (const auto& i : Isas())
    if (i.name == name) return i;
  ADD_FAILURE() << "unknown ISA " << name;
  return Isas().front();
}

// The target of an ISA level, one core.
inline compiler::Target IsaTarget(const std::string& name) {
  auto t = compiler::Target::Parse(IsaNamed(name).cpu, 1);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : compiler::Target();
}

// Whether this machine can execute the ISA's code (else tests compile it only).
// PRIORTUNE_TEST_HOST_LACKS=avx512f makes an AVX-512 machine take the compile-only path
// of an AVX2 one, to check that path where no AVX2-only machine is at hand.
inline bool HostRuns(const compiler::Target& t) {
  const char* lacks = std::getenv("PRIORTUNE_TEST_HOST_LACKS");
  if (lacks && *lacks && t.has(lacks)) return false;
  return t.CheckRunsOnHost().ok();
}

// An x86-64 CPU with AMX that this machine cannot run: Sapphire Rapids where the host
// has no AMX (our Zen 3 and Zen 4), Granite Rapids (AMX-FP16) on a Sapphire Rapids host.
inline std::string CpuWithAmxTheHostLacks() {
  for (const char* cpu : {"sapphirerapids", "graniterapids"}) {
    auto t = compiler::Target::Parse(cpu, 1);
    if (t.ok() && !t->CheckRunsOnHost().ok()) return cpu;
  }
  ADD_FAILURE() << "this host runs every AMX CPU LLVM 16 knows; the test needs one it cannot run";
  return "graniterapids";
}

inline std::string IsaParamName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

}  // namespace priortune::testing

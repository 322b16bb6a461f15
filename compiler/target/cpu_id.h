// Which CPU this is, from CPUID: vendor, family and model mapped to a microarchitecture
// name (znver4, emeraldrapids, ...) by one table. LLVM 16's host detection is not enough:
// it calls a Zen 5 "generic" and an Emerald Rapids "sapphirerapids", and a target key
// should say which machine its timings came from. Codegen keeps using LLVM's name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace priortune::compiler {

struct CpuId {
  std::string vendor;  // "AuthenticAMD", "GenuineIntel", ...; empty off x86
  int family = 0;      // display family (base + extended when base is 0xf)
  int model = 0;       // display model (extended model prepended for families 6 and 0xf)
  int stepping = 0;
};

// Decodes CPUID leaf 0 (ebx, edx, ecx: the vendor string) and leaf 1's eax.
CpuId DecodeCpuId(uint32_t leaf0_ebx, uint32_t leaf0_edx, uint32_t leaf0_ecx, uint32_t leaf1_eax);

// This machine's CPUID (read once); an empty vendor off x86.
CpuId HostCpuId();

// One row of the table: a vendor's family, a model range (inclusive) and a stepping
// range (inclusive), and the name. The first matching row wins.
struct MicroarchRow {
  const char* vendor;
  int family;
  int model_first, model_last;
  int stepping_first, stepping_last;
  const char* name;
};
const std::vector<MicroarchRow>& MicroarchTable();

// The table's name for `id`, else "unknown (family F, model M)". Never empty for an x86
// CPU; empty when `id` has no vendor (not x86).
std::string MicroarchName(const CpuId& id);

// Whether `name` is one of the table's names (so an LLVM CPU name of that spelling names
// one microarchitecture, not an ISA level like x86-64-v3).
bool IsMicroarchName(const std::string& name);

}  // namespace priortune::compiler

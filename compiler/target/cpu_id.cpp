#include "compiler/target/cpu_id.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace priortune::compiler {
namespace {

constexpr const char* kAmd = "AuthenticAMD";
constexpr const char* kIntel = "GenuineIntel";
constexpr int kAny = 0xff;  // every stepping

}  // namespace

CpuId DecodeCpuId(uint32_t ebx, uint32_t edx, uint32_t ecx, uint32_t eax) {
  char vendor[13];
  std::memcpy(vendor, &ebx, 4);
  std::memcpy(vendor + 4, &edx, 4);
  std::memcpy(vendor + 8, &ecx, 4);
  vendor[12] = 0;
  CpuId id;
  id.vendor = vendor;
  const int base_family = static_cast<int>((eax >> 8) & 0xf);
  const int base_model = static_cast<int>((eax >> 4) & 0xf);
  id.stepping = static_cast<int>(eax & 0xf);
  id.family = base_family == 0xf ? base_family + static_cast<int>((eax >> 20) & 0xff) : base_family;
  id.model =
      (base_family == 0x6 || base_family == 0xf) ? (static_cast<int>((eax >> 16) & 0xf) << 4) | base_model : base_model;
  return id;
}

CpuId HostCpuId() {
  static const CpuId id = [] {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return CpuId{};
    const unsigned vb = b, vd = d, vc = c;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return CpuId{};
    return DecodeCpuId(vb, vd, vc, a);
#else
    return CpuId{};
#endif
  }();
  return id;
}

// Sources: AMD's and Intel's family/model lists (the same ones LLVM's host detection and
// Linux's intel-family.h use). Every row has a case in tests/compiler/cpu_id_test.cpp.
const std::vector<MicroarchRow>& MicroarchTable() {
  static const std::vector<MicroarchRow> table = {
      // AMD family 17h: Zen and Zen+, then Zen 2.
      {kAmd, 0x17, 0x00, 0x2f, 0, kAny, "znver1"},
      {kAmd, 0x17, 0x30, 0xaf, 0, kAny, "znver2"},
      // AMD family 19h: Zen 3 (Milan 01h, Vermeer 21h, Cezanne 50h, ...) and Zen 4 (Genoa
      // 11h, Bergamo a0h, Raphael 61h, Phoenix 74h, ...).
      {kAmd, 0x19, 0x00, 0x0f, 0, kAny, "znver3"},
      {kAmd, 0x19, 0x10, 0x1f, 0, kAny, "znver4"},
      {kAmd, 0x19, 0x20, 0x5f, 0, kAny, "znver3"},
      {kAmd, 0x19, 0x60, 0x7f, 0, kAny, "znver4"},
      {kAmd, 0x19, 0xa0, 0xaf, 0, kAny, "znver4"},
      // AMD family 1Ah: Zen 5 (Turin 02h, Turin dense 11h, Strix 24h, Granite Ridge 44h, ...).
      {kAmd, 0x1a, 0x00, 0x77, 0, kAny, "znver5"},
      // Intel family 6.
      {kIntel, 6, 0x3c, 0x3c, 0, kAny, "haswell"},
      {kIntel, 6, 0x3f, 0x3f, 0, kAny, "haswell"},
      {kIntel, 6, 0x45, 0x46, 0, kAny, "haswell"},
      {kIntel, 6, 0x3d, 0x3d, 0, kAny, "broadwell"},
      {kIntel, 6, 0x47, 0x47, 0, kAny, "broadwell"},
      {kIntel, 6, 0x4f, 0x4f, 0, kAny, "broadwell"},
      {kIntel, 6, 0x56, 0x56, 0, kAny, "broadwell"},
      {kIntel, 6, 0x4e, 0x4e, 0, kAny, "skylake"},
      {kIntel, 6, 0x5e, 0x5e, 0, kAny, "skylake"},
      {kIntel, 6, 0x8e, 0x8e, 0, kAny, "skylake"},  // Kaby/Coffee/Whiskey Lake: Skylake cores
      {kIntel, 6, 0x9e, 0x9e, 0, kAny, "skylake"},
      {kIntel, 6, 0xa5, 0xa6, 0, kAny, "skylake"},  // Comet Lake
      // Skylake-SP, then Cascade Lake (steppings 5-7), then Cooper Lake (10-11) share 55h.
      {kIntel, 6, 0x55, 0x55, 0, 4, "skylake-avx512"},
      {kIntel, 6, 0x55, 0x55, 5, 7, "cascadelake"},
      {kIntel, 6, 0x55, 0x55, 8, kAny, "cooperlake"},
      {kIntel, 6, 0x66, 0x66, 0, kAny, "cannonlake"},
      {kIntel, 6, 0x7d, 0x7e, 0, kAny, "icelake-client"},
      {kIntel, 6, 0x6a, 0x6a, 0, kAny, "icelake-server"},
      {kIntel, 6, 0x6c, 0x6c, 0, kAny, "icelake-server"},
      {kIntel, 6, 0x8c, 0x8d, 0, kAny, "tigerlake"},
      {kIntel, 6, 0xa7, 0xa7, 0, kAny, "rocketlake"},
      {kIntel, 6, 0x97, 0x97, 0, kAny, "alderlake"},
      {kIntel, 6, 0x9a, 0x9a, 0, kAny, "alderlake"},
      {kIntel, 6, 0xb7, 0xb7, 0, kAny, "raptorlake"},
      {kIntel, 6, 0xba, 0xba, 0, kAny, "raptorlake"},
      {kIntel, 6, 0xbf, 0xbf, 0, kAny, "raptorlake"},
      {kIntel, 6, 0xaa, 0xaa, 0, kAny, "meteorlake"},
      {kIntel, 6, 0xac, 0xac, 0, kAny, "meteorlake"},
      {kIntel, 6, 0xc5, 0xc6, 0, kAny, "arrowlake"},
      {kIntel, 6, 0xb5, 0xb5, 0, kAny, "arrowlake"},
      {kIntel, 6, 0xbd, 0xbd, 0, kAny, "lunarlake"},
      {kIntel, 6, 0x8f, 0x8f, 0, kAny, "sapphirerapids"},
      {kIntel, 6, 0xcf, 0xcf, 0, kAny, "emeraldrapids"},
      {kIntel, 6, 0xad, 0xae, 0, kAny, "graniterapids"},
      {kIntel, 6, 0xaf, 0xaf, 0, kAny, "sierraforest"},
      {kIntel, 6, 0xb6, 0xb6, 0, kAny, "grandridge"},
      {kIntel, 6, 0xdd, 0xdd, 0, kAny, "clearwaterforest"},
  };
  return table;
}

std::string MicroarchName(const CpuId& id) {
  if (id.vendor.empty()) return "";
  for (const MicroarchRow& r : MicroarchTable())
    if (id.vendor == r.vendor && id.family == r.family && id.model >= r.model_first && id.model <= r.model_last &&
        id.stepping >= r.stepping_first && id.stepping <= r.stepping_last)
      return r.name;
  return "unknown (family " + std::to_string(id.family) + ", model " + std::to_string(id.model) + ")";
}

bool IsMicroarchName(const std::string& name) {
  for (const MicroarchRow& r : MicroarchTable())
    if (name == r.name) return true;
  return false;
}

}  // namespace priortune::compiler

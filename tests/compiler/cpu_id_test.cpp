// CPU identity: CPUID's registers decoded, every row of the microarchitecture table named
// by a case written independently of it, unknown CPUs, and the host's name on its target.
#include "compiler/target/cpu_id.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <tuple>

#include "compiler/target/target.h"

namespace priortune::compiler {
namespace {

// CPUID leaf 0's ebx, edx, ecx for a vendor string.
std::tuple<uint32_t, uint32_t, uint32_t> VendorRegisters(const char* vendor) {
  uint32_t r[3];
  std::memcpy(r, vendor, 12);
  return {r[0], r[1], r[2]};
}

CpuId Decoded(const char* vendor, uint32_t leaf1_eax) {
  auto [b, d, c] = VendorRegisters(vendor);
  return DecodeCpuId(b, d, c, leaf1_eax);
}

TEST(CpuId, DecodesVendorFamilyModelAndSteppingFromTheRegisters) {
  // Leaf 1 eax of real parts: extended family and model fields included.
  struct Case {
    const char* vendor;
    uint32_t eax;
    int family, model, stepping;
    const char* name;
  } cases[] = {
      {"AuthenticAMD", 0x00A00F11, 25, 0x01, 1, "znver3"},         // EPYC 7003 (Milan)
      {"AuthenticAMD", 0x00A20F10, 25, 0x21, 0, "znver3"},         // Ryzen 5000 (Vermeer)
      {"AuthenticAMD", 0x00A10F11, 25, 0x11, 1, "znver4"},         // EPYC 9004 (Genoa)
      {"AuthenticAMD", 0x00A60F12, 25, 0x61, 2, "znver4"},         // Ryzen 7000 (Raphael)
      {"AuthenticAMD", 0x00B00F21, 26, 0x02, 1, "znver5"},         // EPYC 9005 (Turin)
      {"AuthenticAMD", 0x00B40F40, 26, 0x44, 0, "znver5"},         // Ryzen 9000 (Granite Ridge)
      {"AuthenticAMD", 0x00800F12, 23, 0x01, 2, "znver1"},         // EPYC 7001 (Naples)
      {"AuthenticAMD", 0x00830F10, 23, 0x31, 0, "znver2"},         // EPYC 7002 (Rome)
      {"GenuineIntel", 0x000806F8, 6, 0x8F, 8, "sapphirerapids"},  // Xeon 4th gen
      {"GenuineIntel", 0x000C06F2, 6, 0xCF, 2, "emeraldrapids"},   // Xeon 5th gen
      {"GenuineIntel", 0x000A06D1, 6, 0xAD, 1, "graniterapids"},   // Xeon 6 P-core
      {"GenuineIntel", 0x000606A6, 6, 0x6A, 6, "icelake-server"},  // Xeon 3rd gen
      {"GenuineIntel", 0x00050654, 6, 0x55, 4, "skylake-avx512"},  // Xeon 1st gen
      {"GenuineIntel", 0x00050657, 6, 0x55, 7, "cascadelake"},     // Xeon 2nd gen
      {"GenuineIntel", 0x0005065B, 6, 0x55, 11, "cooperlake"},
      {"GenuineIntel", 0x000306F2, 6, 0x3F, 2, "haswell"},  // Xeon E5 v3
  };
  for (const Case& c : cases) {
    CpuId id = Decoded(c.vendor, c.eax);
    EXPECT_EQ(id.vendor, c.vendor);
    EXPECT_EQ(id.family, c.family) << std::hex << c.eax;
    EXPECT_EQ(id.model, c.model) << std::hex << c.eax;
    EXPECT_EQ(id.stepping, c.stepping) << std::hex << c.eax;
    EXPECT_EQ(MicroarchName(id), c.name) << std::hex << c.eax;
  }
}

// Every row of the table, named by a case here: (vendor, family, model, stepping) -> name,
// at the first and last model of each row's range.
TEST(CpuId, EveryRowOfTheTableHasACase) {
  struct Case {
    const char* vendor;
    int family, model, stepping;
    const char* name;
  };
  const Case cases[] = {
      {"AuthenticAMD", 0x17, 0x00, 0, "znver1"},      {"AuthenticAMD", 0x17, 0x2f, 0, "znver1"},
      {"AuthenticAMD", 0x17, 0x30, 0, "znver2"},      {"AuthenticAMD", 0x17, 0xaf, 0, "znver2"},
      {"AuthenticAMD", 0x19, 0x00, 0, "znver3"},      {"AuthenticAMD", 0x19, 0x0f, 0, "znver3"},
      {"AuthenticAMD", 0x19, 0x10, 0, "znver4"},      {"AuthenticAMD", 0x19, 0x1f, 0, "znver4"},
      {"AuthenticAMD", 0x19, 0x20, 0, "znver3"},      {"AuthenticAMD", 0x19, 0x5f, 0, "znver3"},
      {"AuthenticAMD", 0x19, 0x60, 0, "znver4"},      {"AuthenticAMD", 0x19, 0x7f, 0, "znver4"},
      {"AuthenticAMD", 0x19, 0xa0, 0, "znver4"},      {"AuthenticAMD", 0x19, 0xaf, 0, "znver4"},
      {"AuthenticAMD", 0x1a, 0x00, 0, "znver5"},      {"AuthenticAMD", 0x1a, 0x77, 0, "znver5"},
      {"GenuineIntel", 6, 0x3c, 0, "haswell"},        {"GenuineIntel", 6, 0x3f, 0, "haswell"},
      {"GenuineIntel", 6, 0x45, 0, "haswell"},        {"GenuineIntel", 6, 0x46, 0, "haswell"},
      {"GenuineIntel", 6, 0x3d, 0, "broadwell"},      {"GenuineIntel", 6, 0x47, 0, "broadwell"},
      {"GenuineIntel", 6, 0x4f, 0, "broadwell"},      {"GenuineIntel", 6, 0x56, 0, "broadwell"},
      {"GenuineIntel", 6, 0x4e, 0, "skylake"},        {"GenuineIntel", 6, 0x5e, 0, "skylake"},
      {"GenuineIntel", 6, 0x8e, 0, "skylake"},        {"GenuineIntel", 6, 0x9e, 0, "skylake"},
      {"GenuineIntel", 6, 0xa5, 0, "skylake"},        {"GenuineIntel", 6, 0xa6, 0, "skylake"},
      {"GenuineIntel", 6, 0x55, 0, "skylake-avx512"}, {"GenuineIntel", 6, 0x55, 4, "skylake-avx512"},
      {"GenuineIntel", 6, 0x55, 5, "cascadelake"},    {"GenuineIntel", 6, 0x55, 7, "cascadelake"},
      {"GenuineIntel", 6, 0x55, 8, "cooperlake"},     {"GenuineIntel", 6, 0x55, 15, "cooperlake"},
      {"GenuineIntel", 6, 0x66, 0, "cannonlake"},     {"GenuineIntel", 6, 0x7d, 0, "icelake-client"},
      {"GenuineIntel", 6, 0x7e, 0, "icelake-client"}, {"GenuineIntel", 6, 0x6a, 0, "icelake-server"},
      {"GenuineIntel", 6, 0x6c, 0, "icelake-server"}, {"GenuineIntel", 6, 0x8c, 0, "tigerlake"},
      {"GenuineIntel", 6, 0x8d, 0, "tigerlake"},      {"GenuineIntel", 6, 0xa7, 0, "rocketlake"},
      {"GenuineIntel", 6, 0x97, 0, "alderlake"},      {"GenuineIntel", 6, 0x9a, 0, "alderlake"},
      {"GenuineIntel", 6, 0xb7, 0, "raptorlake"},     {"GenuineIntel", 6, 0xba, 0, "raptorlake"},
      {"GenuineIntel", 6, 0xbf, 0, "raptorlake"},     {"GenuineIntel", 6, 0xaa, 0, "meteorlake"},
      {"GenuineIntel", 6, 0xac, 0, "meteorlake"},     {"GenuineIntel", 6, 0xc5, 0, "arrowlake"},
      {"GenuineIntel", 6, 0xc6, 0, "arrowlake"},      {"GenuineIntel", 6, 0xb5, 0, "arrowlake"},
      {"GenuineIntel", 6, 0xbd, 0, "lunarlake"},      {"GenuineIntel", 6, 0x8f, 0, "sapphirerapids"},
      {"GenuineIntel", 6, 0xcf, 0, "emeraldrapids"},  {"GenuineIntel", 6, 0xad, 0, "graniterapids"},
      {"GenuineIntel", 6, 0xae, 0, "graniterapids"},  {"GenuineIntel", 6, 0xaf, 0, "sierraforest"},
      {"GenuineIntel", 6, 0xb6, 0, "grandridge"},     {"GenuineIntel", 6, 0xdd, 0, "clearwaterforest"},
  };
  std::set<size_t> covered;
  const auto& table = MicroarchTable();
  for (const Case& c : cases) {
    CpuId id{c.vendor, c.family, c.model, c.stepping};
    EXPECT_EQ(MicroarchName(id), c.name) << c.vendor << " family " << c.family << " model " << c.model;
    EXPECT_TRUE(IsMicroarchName(c.name)) << c.name;
    for (size_t i = 0; i < table.size(); ++i) {
      const MicroarchRow& r = table[i];
      if (id.vendor == r.vendor && id.family == r.family && id.model >= r.model_first && id.model <= r.model_last &&
          id.stepping >= r.stepping_first && id.stepping <= r.stepping_last) {
        covered.insert(i);
        break;
      }
    }
  }
  for (size_t i = 0; i < table.size(); ++i)
    EXPECT_TRUE(covered.count(i)) << "table row " << i << " (" << table[i].name << ") has no case here";
}

TEST(CpuId, AnUnknownCpuSaysItsFamilyAndModelAndIsNoName) {
  EXPECT_EQ(MicroarchName({"AuthenticAMD", 26, 0xc8, 0}), "unknown (family 26, model 200)");
  EXPECT_EQ(MicroarchName({"GenuineIntel", 6, 0x01, 0}), "unknown (family 6, model 1)");
  EXPECT_EQ(MicroarchName({"HygonGenuine", 24, 0x01, 0}), "unknown (family 24, model 1)");
  EXPECT_EQ(MicroarchName({"", 0, 0, 0}), "");  // not x86
  EXPECT_FALSE(IsMicroarchName("x86-64-v3"));
  EXPECT_FALSE(IsMicroarchName("generic"));
}

TEST(CpuId, TheHostIsNamedAndItsTargetCarriesTheName) {
  const CpuId host = HostCpuId();
  ASSERT_FALSE(host.vendor.empty());  // every machine we run on is x86-64
  const std::string name = MicroarchName(host);
  EXPECT_FALSE(name.empty());
  EXPECT_EQ(Target::Host().microarch, name);
  EXPECT_EQ(Target::Host().name(), name);
  EXPECT_NE(Target::Host().Describe().find(name), std::string::npos) << Target::Host().Describe();
}

}  // namespace
}  // namespace priortune::compiler

// The host target fingerprint: what a kernel is built for and measured on. Its key is a
// hash of its canonical JSON, so equal machines share tuning records.
#pragma once

#include <string>
#include <vector>

namespace priortune::compiler {

struct Target {
  std::string arch;                   // "x86_64"
  std::string cpu;                    // LLVM's host CPU name, e.g. "znver4"
  std::vector<std::string> features;  // enabled ISA features, sorted ("avx512f", "fma", ...)
  int cores = 1;                      // cores a kernel may use
  int vector_bits = 128;              // widest float SIMD register

  // Detected with LLVM's host detection; cores from the OS.
  static Target Host();

  int vector_lanes() const { return vector_bits / 32; }  // fp32 lanes
  bool has(const std::string& feature) const;
  // "x86_64-avx512", "x86_64-avx2", ...: lookups fall back to the same family.
  std::string isa_family() const;
  // Canonical JSON: sorted keys, no whitespace.
  std::string ToJson() const;
  // 16 hex digits of a 64-bit FNV-1a hash of ToJson().
  std::string Key() const;
};

// 16 hex digits of the 64-bit FNV-1a hash of `text`.
std::string HashKey(const std::string& text);

}  // namespace priortune::compiler

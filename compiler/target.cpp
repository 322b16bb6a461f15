#include "compiler/target.h"

#include <llvm/ADT/StringMap.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

namespace priortune::compiler {

Target Target::Host() {
  Target t;
  t.arch = llvm::Triple(llvm::sys::getProcessTriple()).getArchName().str();
  t.cpu = llvm::sys::getHostCPUName().str();
  llvm::StringMap<bool> features;
  if (llvm::sys::getHostCPUFeatures(features)) {
    for (const auto& f : features)
      if (f.second) t.features.push_back(f.first().str());
  }
  std::sort(t.features.begin(), t.features.end());
  t.cores = std::max(1u, std::thread::hardware_concurrency());
  if (t.has("avx512f")) {
    t.vector_bits = 512;
  } else if (t.has("avx")) {
    t.vector_bits = 256;
  }
  return t;
}

bool Target::has(const std::string& feature) const {
  return std::binary_search(features.begin(), features.end(), feature);
}

std::string Target::isa_family() const {
  std::string level = "base";
  if (has("avx512f")) level = "avx512";
  else if (has("avx2")) level = "avx2";
  else if (has("avx")) level = "avx";
  else if (has("neon")) level = "neon";
  return arch + "-" + level;
}

std::string Target::ToJson() const {
  nlohmann::json j = {{"arch", arch}, {"cpu", cpu}, {"features", features},
                      {"cores", cores}, {"vector_bits", vector_bits}};
  return j.dump();  // nlohmann sorts object keys
}

std::string HashKey(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string Target::Key() const { return HashKey(ToJson()); }

}  // namespace priortune::compiler

#include "compiler/target/target.h"

#include <llvm/ADT/SmallVector.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>
#include <llvm/TargetParser/X86TargetParser.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "compiler/target/cpu_id.h"

namespace priortune::compiler {
namespace {

using nlohmann::json;

// Features that change what code LLVM may emit for our kernels. Everything else (rdrnd,
// xsave, pku, ...) is a system feature: hosts, VMs in particular, hide some of them, and
// a kernel never needs them.
bool IsCodeFeature(const std::string& f) {
  static const char* kPrefixes[] = {"sse", "ssse3", "avx", "fma", "f16c", "bmi", "amx"};
  static const char* kExact[] = {"aes", "adx",   "cmov",   "crc32",  "cx16", "cx8", "gfni", "lzcnt",
                                 "mmx", "movbe", "pclmul", "popcnt", "sahf", "sha", "vaes", "vpclmulqdq"};
  for (const char* p : kPrefixes)
    if (f.rfind(p, 0) == 0) return true;
  return std::find(std::begin(kExact), std::end(kExact), f) != std::end(kExact);
}

std::vector<std::string> CodeFeatures(const llvm::StringMap<bool>& map) {
  std::vector<std::string> out;
  for (const auto& f : map)
    if (f.second && IsCodeFeature(f.first().str())) out.push_back(f.first().str());
  std::sort(out.begin(), out.end());
  return out;
}

// The features of an LLVM x86 CPU name with everything they imply ("avx2" -> "avx", ...).
std::vector<std::string> CpuFeatures(const std::string& cpu) {
  llvm::SmallVector<llvm::StringRef, 64> listed;
  llvm::X86::getFeaturesForCPU(cpu, listed);
  llvm::StringMap<bool> map;
  for (llvm::StringRef f : listed) {
    map[f] = true;  // updateImpliedFeatures sets what `f` implies, not `f` itself
    llvm::X86::updateImpliedFeatures(f, true, map);
  }
  return CodeFeatures(map);
}

struct CacheSizes {
  const char* cpu;
  int64_t l1d, l2, l3;
};

// Caches of CPUs we name (per core L1d/L2, shared L3 of one CCX or socket slice).
constexpr CacheSizes kKnownCaches[] = {
    {"znver1", 32 << 10, 512 << 10, 8 << 20},           {"znver2", 32 << 10, 512 << 10, 16 << 20},
    {"znver3", 32 << 10, 512 << 10, 32 << 20},          {"znver4", 32 << 10, 1 << 20, 32 << 20},
    {"haswell", 32 << 10, 256 << 10, 8 << 20},          {"skylake", 32 << 10, 256 << 10, 8 << 20},
    {"skylake-avx512", 32 << 10, 1 << 20, 32 << 20},    {"cascadelake", 32 << 10, 1 << 20, 32 << 20},
    {"icelake-server", 48 << 10, 1280 << 10, 48 << 20}, {"sapphirerapids", 48 << 10, 2 << 20, 64 << 20},
};

// Everything AVX2 hosts lack that an AVX-512 host's code may use: AVX-512 (and the
// features that only come with it) and AMX.
bool BeyondAvx2(const std::string& f) {
  return f.rfind("avx512", 0) == 0 || f.rfind("amx", 0) == 0 || f.rfind("avx10", 0) == 0 || f == "evex512";
}

// The machine model that follows from the features (and the CPU's caches when known).
void FillModel(Target& t) {
  t.vector_bits = t.has("avx512f") ? 512 : t.has("avx") ? 256 : 128;
  t.vector_registers = t.has("avx512f") ? 32 : 16;
  t.fma_units = t.has("fma") ? 2 : 0;  // every x86 core with FMA3 so far has two FMA pipes
  t.l1d_bytes = 32 << 10;
  t.l2_bytes = t.has("avx512f") ? 1 << 20 : t.has("avx2") ? 512 << 10 : 256 << 10;
  t.l3_bytes = t.has("avx2") ? 16 << 20 : 8 << 20;
  for (const auto& c : kKnownCaches)
    if (t.cpu == c.cpu) {
      t.l1d_bytes = c.l1d;
      t.l2_bytes = c.l2;
      t.l3_bytes = c.l3;
    }
}

// "48K" -> 49152.
int64_t ParseSize(const std::string& text) {
  if (text.empty()) return 0;
  int64_t v = std::atoll(text.c_str());
  char unit = text.back();
  if (unit == '\n' && text.size() > 1) unit = text[text.size() - 2];
  if (unit == 'K') v <<= 10;
  if (unit == 'M') v <<= 20;
  return v;
}

std::string ReadLine(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// Host caches from sysfs, else sysconf; 0 where neither knows.
void DetectCaches(Target& t) {
  for (int i = 0; i < 8; ++i) {
    std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::string level = ReadLine(dir + "level"), type = ReadLine(dir + "type");
    int64_t size = ParseSize(ReadLine(dir + "size"));
    if (level.empty() || size <= 0 || type == "Instruction") continue;
    if (level == "1") t.l1d_bytes = size;
    if (level == "2") t.l2_bytes = size;
    if (level == "3") t.l3_bytes = size;
  }
#ifdef _SC_LEVEL1_DCACHE_SIZE
  auto from_sysconf = [](int name, int64_t& field) {
    long v = sysconf(name);
    if (v > 0) field = v;
  };
  if (ReadLine("/sys/devices/system/cpu/cpu0/cache/index0/size").empty()) {
    from_sysconf(_SC_LEVEL1_DCACHE_SIZE, t.l1d_bytes);
    from_sysconf(_SC_LEVEL2_CACHE_SIZE, t.l2_bytes);
    from_sysconf(_SC_LEVEL3_CACHE_SIZE, t.l3_bytes);
  }
#endif
}

StatusOr<int64_t> PositiveField(const json& j, const char* name, int64_t fallback) {
  if (!j.contains(name)) return fallback;
  const json& v = j.at(name);
  if (!v.is_number_integer() || v.get<int64_t>() <= 0)
    return InvalidArgument(std::string("target field '") + name + "': must be a positive integer");
  return v.get<int64_t>();
}

}  // namespace

Target Target::Host() {
  // Detected once: LLVM's host detection and the sysfs reads do not change while we run.
  static const Target detected = [] {
    Target t;
    t.arch = llvm::Triple(llvm::sys::getProcessTriple()).getArchName().str();
    t.cpu = llvm::sys::getHostCPUName().str();
    t.microarch = MicroarchName(HostCpuId());
    llvm::StringMap<bool> features;
    if (llvm::sys::getHostCPUFeatures(features)) t.features = CodeFeatures(features);
    t.cores = std::max(1u, std::thread::hardware_concurrency());
    FillModel(t);
    DetectCaches(t);
    return t;
  }();
  return detected;
}

Target Target::HostWithCores(int cores) {
  Target t = Host();
  t.cores = std::max(1, cores);
  return t;
}

StatusOr<Target> Target::Parse(const std::string& spec, int cores) {
  if (spec.empty() || spec == "host") return HostWithCores(cores);
  if (spec == "host-avx2") {
    Target t = HostWithCores(cores);
    if (!t.has("avx2")) return InvalidArgument("target 'host-avx2': this host (" + t.name() + ") has no AVX2");
    t.features.erase(std::remove_if(t.features.begin(), t.features.end(), BeyondAvx2), t.features.end());
    const Target host = t;
    FillModel(t);  // 256-bit vectors, 16 registers; the host's own caches
    t.l1d_bytes = host.l1d_bytes;
    t.l2_bytes = host.l2_bytes;
    t.l3_bytes = host.l3_bytes;
    return t;
  }
  if (spec.front() == '{') return FromJson(spec);
  if (llvm::X86::parseArchX86(spec, /*Only64Bit=*/true) == llvm::X86::CK_None) {
    llvm::SmallVector<llvm::StringRef, 128> names;
    llvm::X86::fillValidCPUArchList(names, /*Only64Bit=*/true);
    std::string known;
    for (auto n : names)
      if (n.startswith("x86-64") || n.startswith("znver") || n == "haswell" || n == "skylake-avx512" ||
          n == "icelake-server" || n == "sapphirerapids")
        known += (known.empty() ? "" : ", ") + n.str();
    return InvalidArgument("target '" + spec + "' is not an x86-64 CPU LLVM knows (e.g. " + known +
                           ", host, or a target JSON object)");
  }
  Target t;
  t.arch = "x86_64";
  t.cpu = spec;
  if (IsMicroarchName(spec)) t.microarch = spec;
  t.features = CpuFeatures(spec);
  t.cores = std::max(1, cores);
  FillModel(t);
  return t;
}

StatusOr<Target> Target::FromJson(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("target: not a JSON object");
  Target t;
  if (j.contains("arch")) {
    if (!j["arch"].is_string()) return InvalidArgument("target field 'arch': must be a string");
    t.arch = j["arch"].get<std::string>();
  }
  if (t.arch != "x86_64")
    return InvalidArgument("target field 'arch': '" + t.arch + "' is not supported (x86_64 only)");
  if (!j.contains("cpu") || !j["cpu"].is_string())
    return InvalidArgument("target field 'cpu': must be a string (an LLVM CPU name)");
  t.cpu = j["cpu"].get<std::string>();
  bool legacy = !j.contains("microarch");
  if (!legacy) {
    if (!j["microarch"].is_string() || j["microarch"].get<std::string>().empty())
      return InvalidArgument("target field 'microarch': must be a non-empty string (e.g. znver4)");
    t.microarch = j["microarch"].get<std::string>();
  }
  if (j.contains("features")) {
    if (!j["features"].is_array()) return InvalidArgument("target field 'features': must be an array of strings");
    for (const auto& f : j["features"]) {
      if (!f.is_string()) return InvalidArgument("target field 'features': must be an array of strings");
      t.features.push_back(f.get<std::string>());
    }
    std::sort(t.features.begin(), t.features.end());
    t.features.erase(std::unique(t.features.begin(), t.features.end()), t.features.end());
  } else {
    if (llvm::X86::parseArchX86(t.cpu, true) == llvm::X86::CK_None)
      return InvalidArgument("target field 'features': needed, since cpu '" + t.cpu + "' is not one LLVM knows");
    t.features = CpuFeatures(t.cpu);
  }
  FillModel(t);
  PT_ASSIGN_OR_RETURN(int64_t cores, PositiveField(j, "cores", 1));
  PT_ASSIGN_OR_RETURN(int64_t bits, PositiveField(j, "vector_bits", t.vector_bits));
  PT_ASSIGN_OR_RETURN(int64_t regs, PositiveField(j, "vector_registers", t.vector_registers));
  PT_ASSIGN_OR_RETURN(int64_t l1, PositiveField(j, "l1d_bytes", t.l1d_bytes));
  PT_ASSIGN_OR_RETURN(int64_t l2, PositiveField(j, "l2_bytes", t.l2_bytes));
  PT_ASSIGN_OR_RETURN(int64_t l3, PositiveField(j, "l3_bytes", t.l3_bytes));
  PT_ASSIGN_OR_RETURN(int64_t stack, PositiveField(j, "stack_bytes", t.stack_bytes));
  if (j.contains("fma_units")) {
    if (!j["fma_units"].is_number_integer() || j["fma_units"].get<int64_t>() < 0)
      return InvalidArgument("target field 'fma_units': must be a non-negative integer");
    t.fma_units = j["fma_units"].get<int>();
  }
  if (bits != 128 && bits != 256 && bits != 512)
    return InvalidArgument("target field 'vector_bits': " + std::to_string(bits) + " is not 128, 256 or 512");
  int max_bits = t.has("avx512f") ? 512 : t.has("avx") ? 256 : 128;
  if (bits > max_bits)
    return InvalidArgument("target field 'vector_bits': " + std::to_string(bits) +
                           " needs ISA features the target does not list (widest: " + std::to_string(max_bits) + ")");
  if (regs != 16 && regs != 32)
    return InvalidArgument("target field 'vector_registers': " + std::to_string(regs) + " is not 16 or 32");
  if (regs == 32 && !t.has("avx512f")) return InvalidArgument("target field 'vector_registers': 32 needs avx512f");
  t.cores = static_cast<int>(cores);
  t.vector_bits = static_cast<int>(bits);
  t.vector_registers = static_cast<int>(regs);
  t.l1d_bytes = l1;
  t.l2_bytes = l2;
  t.l3_bytes = l3;
  t.stack_bytes = stack;
  if (legacy) t.microarch = LegacyMicroarch(t);
  return t;
}

std::string LegacyMicroarch(const Target& t) {
  Target host = Target::Host();
  host.cores = t.cores;
  if (host.LegacyKey() == t.LegacyKey()) return host.microarch;
  return IsMicroarchName(t.cpu) ? t.cpu : "";
}

bool Target::has(const std::string& feature) const {
  return std::binary_search(features.begin(), features.end(), feature);
}

std::string Target::isa_family() const {
  std::string level = "base";
  if (has("avx512f"))
    level = "avx512";
  else if (has("avx2"))
    level = "avx2";
  else if (has("avx"))
    level = "avx";
  else if (has("sse4.2"))
    level = "sse4.2";
  else if (has("neon"))
    level = "neon";
  return arch + "-" + level;
}

std::vector<std::string> Target::MissingOn(const Target& host) const {
  if (arch != host.arch) return {"arch " + arch};
  std::vector<std::string> missing;
  for (const auto& f : features)
    if (!host.has(f)) missing.push_back(f);
  return missing;
}

Status Target::CheckRunsOnHost() const {
  const Target host = Host();
  std::vector<std::string> missing = MissingOn(host);
  if (missing.empty()) return OkStatus();
  std::string list;
  for (const auto& f : missing) list += (list.empty() ? "" : ", ") + f;
  return FailedPrecondition("target " + name() + " (" + isa_family() + ") cannot run on this host (" + host.name() +
                            ", " + host.isa_family() + "): it lacks " + list + "; emit an object file instead");
}

std::string Target::Describe() const {
  std::string llvm_cpu = !microarch.empty() && microarch != cpu ? "LLVM " + cpu + ", " : "";
  return name() + " (" + llvm_cpu + isa_family() + ", " + std::to_string(vector_lanes()) + " f32 lanes, " +
         std::to_string(vector_registers) + " vector registers)";
}

std::string Target::ToJson() const {
  json j = {{"arch", arch},
            {"cpu", cpu},
            {"features", features},
            {"cores", cores},
            {"vector_bits", vector_bits},
            {"vector_registers", vector_registers},
            {"fma_units", fma_units},
            {"l1d_bytes", l1d_bytes},
            {"l2_bytes", l2_bytes},
            {"l3_bytes", l3_bytes}};
  if (stack_bytes != kDefaultStackBytes) j["stack_bytes"] = stack_bytes;
  if (!microarch.empty()) j["microarch"] = microarch;
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

std::string Target::LegacyKey() const {
  Target t = *this;
  t.microarch.clear();
  return HashKey(t.ToJson());
}

}  // namespace priortune::compiler

// The target: what a kernel is built for and measured on, and the machine model that
// schedules read (vector lanes, registers, FMA units, caches). Templates, constraints and
// codegen take machine facts only from here. Its key is a hash of its canonical JSON, so
// equal machines share tuning records.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/support/status.h"

namespace priortune::compiler {

struct Target {
  std::string arch = "x86_64";
  // The CPU's microarchitecture from CPUID (cpu_id.h): "znver5", "emeraldrapids", or
  // "unknown (family F, model M)". What records and corpora are named by: it differs from
  // `cpu` where LLVM 16 has no name for the CPU (a Zen 5 is `cpu` "generic", an Emerald
  // Rapids "sapphirerapids"). Empty for a target that is no one machine (an ISA level such
  // as x86-64-v3); then it is left out of the JSON and the key.
  std::string microarch;
  // LLVM's CPU name, what codegen tunes for: "znver4", "x86-64-v3", or "generic" for a host LLVM does not know
  // (its features still say what it can run).
  std::string cpu = "x86-64";
  // The ISA features generated code may use, sorted, implied ones included ("avx2" brings
  // "avx", "sse4.2", ...). System features (rdrnd, xsave, ...) are left out: kernels never
  // use them, and hosts that hide some of them can still run a target's code.
  std::vector<std::string> features;
  int cores = 1;  // cores (= threads) a kernel may use

  // The machine model.
  int vector_bits = 128;         // width of the f32 vectors schedules and codegen use
  int vector_registers = 16;     // architectural vector registers (32 with AVX-512)
  int fma_units = 0;             // f32 FMA pipes per core; 0 without FMA (mul + add)
  int64_t l1d_bytes = 32 << 10;  // per core
  int64_t l2_bytes = 512 << 10;  // per core
  int64_t l3_bytes = 8 << 20;    // shared
  // The stack a kernel call may use for its temporaries; larger ones go to the caller's
  // workspace (memory_plan.h). A limit of the code, not a fact of the CPU: it is in the
  // key only when it differs from the default, so targets keep the keys they had.
  static constexpr int64_t kDefaultStackBytes = 64 << 10;
  int64_t stack_bytes = kDefaultStackBytes;

  // This machine, detected (once per process) with LLVM's host detection; caches from
  // sysfs (or sysconf); cores from the OS.
  static Target Host();
  // This machine with `cores` cores: what a tuning worker or a timed kernel is given.
  static Target HostWithCores(int cores);
  // "host", "host-avx2" (this machine restricted to AVX2: no AVX-512 or AMX, 256-bit
  // vectors; its own timings, e.g. for an AVX2 corpus on an AVX-512 host), an LLVM x86-64
  // CPU name ("znver3", "skylake-avx512", "x86-64-v3", ...; a microarchitecture's name
  // sets `microarch` too) or a target JSON object (as ToJson writes; missing machine-model
  // fields get the defaults of its features; JSON written before `microarch` existed gets
  // one as LegacyMicroarch says). InvalidArgument naming the unknown CPU or the bad field.
  // `cores` applies to named targets; JSON says its own.
  static StatusOr<Target> Parse(const std::string& spec, int cores = 1);
  static StatusOr<Target> FromJson(const std::string& json);

  int vector_lanes() const { return vector_bits / 32; }  // f32 lanes
  bool has(const std::string& feature) const;
  // "x86_64-avx512", "x86_64-avx2", ...: lookups fall back to the same family.
  std::string isa_family() const;
  // The features of this target that `host` lacks: empty when host can run its code.
  std::vector<std::string> MissingOn(const Target& host) const;
  // OK if this target's code runs on the machine we are on; FailedPrecondition naming the
  // missing features otherwise.
  Status CheckRunsOnHost() const;
  // The microarchitecture, else LLVM's CPU name: what messages and tables call the target.
  const std::string& name() const { return microarch.empty() ? cpu : microarch; }
  // "znver3 (x86_64-avx2, 8 f32 lanes, 16 vector registers)", or "emeraldrapids (LLVM
  // sapphirerapids, x86_64-avx512, ...)" when codegen's CPU differs, for messages and tables.
  std::string Describe() const;
  // Canonical JSON: sorted keys, no whitespace.
  std::string ToJson() const;
  // 16 hex digits of a 64-bit FNV-1a hash of ToJson().
  std::string Key() const;
  // The key this target had before `microarch` was part of it (its JSON without that
  // field): models and logs written then name targets by it.
  std::string LegacyKey() const;
  // Whether `key` names this target: its key, or its LegacyKey (a model file trained
  // before keys named the microarchitecture still counts as this target's).
  bool IsKey(const std::string& key) const { return key == Key() || key == LegacyKey(); }
};

// The microarchitecture of a target written before the field existed: this host's, if
// the target is this host as it was described then (same CPU name, features and machine
// model, any cores); else `cpu` itself when that names a microarchitecture (znver4,
// sapphirerapids, ...); else empty (generic, an ISA level).
std::string LegacyMicroarch(const Target& t);

// 16 hex digits of the 64-bit FNV-1a hash of `text`.
std::string HashKey(const std::string& text);

}  // namespace priortune::compiler

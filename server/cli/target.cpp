// priortune target: what a target is (microarchitecture, LLVM CPU, ISA family, key, JSON).
#include "compiler/target/target.h"

#include <cstdio>
#include <memory>

#include "compiler/target/cpu_id.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"

namespace priortune::server::cli {

namespace {

struct TargetOptions {
  std::string target = "host";
  int threads = 1;
};

int RunTarget(const TargetOptions& o) {
  if (o.threads < 1) return Fail(InvalidArgument("--threads must be at least 1"));
  auto t = compiler::Target::Parse(o.target, o.threads);
  if (!t.ok()) return Fail(t.status());
  const compiler::CpuId id = compiler::HostCpuId();
  std::printf("name %s\nmicroarch %s\nllvm-cpu %s\nisa %s\nkey %s\nlegacy-key %s\njson %s\n", t->name().c_str(),
              t->microarch.empty() ? "-" : t->microarch.c_str(), t->cpu.c_str(), t->isa_family().c_str(),
              t->Key().c_str(), t->LegacyKey().c_str(), t->ToJson().c_str());
  std::printf("host-cpuid %s family %d model %d stepping %d\n", id.vendor.empty() ? "-" : id.vendor.c_str(), id.family,
              id.model, id.stepping);
  return 0;
}

}  // namespace

void AddTarget(Commands& commands) {
  auto o = std::make_shared<TargetOptions>();
  CLI::App* cmd = commands.app().add_subcommand(
      "target", "print a target: its microarchitecture (from CPUID for the host), LLVM CPU, ISA family, key and JSON");
  AddTargetOption(cmd, o->target);
  cmd->add_option("--threads", o->threads, "threads it is deployed with (default 1)");
  commands.Add(cmd, [o] { return RunTarget(*o); });
}

}  // namespace priortune::server::cli

// priortune knobs: a template's knobs, constraints, space size and configs for a workload.
#include <cstdio>
#include <memory>

#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "tuner/search_space.h"

namespace priortune::server::cli {

namespace {

struct KnobsOptions {
  WorkloadArgs workload;
  std::string target = "host";
};

int RunKnobs(const KnobsOptions& o) {
  auto args = ParseKernelArgs(o.workload, o.target);
  if (!args.ok()) return Fail(args.status());
  const compiler::Workload& w = args->workload;
  const compiler::Target& target = args->target;
  const compiler::OpTemplate* tmpl = args->tmpl;
  std::printf("workload %s  key %s\ntarget %s, %d cores  key %s\n", w.ToJson().c_str(), w.Key().c_str(),
              target.Describe().c_str(), target.cores, target.Key().c_str());
  auto space = priortune::tuner::SearchSpace::ForWorkload(w, target);
  if (!space.ok()) return Fail(space.status());
  for (const auto& k : tmpl->Knobs(w, target)) {
    if (k.kind == compiler::KnobKind::kTile) {
      std::string levels;
      for (const auto& l : k.levels) levels += (levels.empty() ? "" : " x ") + l;
      std::printf("  %-10s %zu tuples (%s):", k.name.c_str(), k.tuples.size(), levels.c_str());
      for (const auto& label : k.labels) std::printf(" %s", label.c_str());
    } else {
      std::printf("  %-10s", k.name.c_str());
      for (size_t i = 0; i < k.values.size(); ++i)
        std::printf(" %lld%s%s", static_cast<long long>(k.values[i]), k.labels.empty() ? "" : "=",
                    k.labels.empty() ? "" : k.labels[i].c_str());
    }
    std::printf("   # %s\n", k.help.c_str());
  }
  for (const auto& c : tmpl->Constraints(w, target)) std::printf("  constraint: %s\n", c.description.c_str());
  std::printf("template %s v%d: %llu points, %llu valid configs\n", tmpl->op().c_str(), tmpl->version(),
              static_cast<unsigned long long>(space->size()), static_cast<unsigned long long>(space->CountValid()));
  std::printf("default %s\nhand-picked %s\n", compiler::ConfigToJson(tmpl->DefaultConfig(w, target)).c_str(),
              compiler::ConfigToJson(tmpl->HandPickedConfig(w, target)).c_str());
  return 0;
}

}  // namespace

void AddKnobs(Commands& commands) {
  auto o = std::make_shared<KnobsOptions>();
  CLI::App* cmd = commands.app().add_subcommand("knobs", "print the template's knobs and configs");
  AddWorkloadOptions(cmd, o->workload);
  AddTargetOption(cmd, o->target);
  commands.Add(cmd, [o] { return RunKnobs(*o); });
}

}  // namespace priortune::server::cli

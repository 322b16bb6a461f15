// priortune emit: a kernel as an object file, assembly, LLVM IR or its loop nest.
#include <cstdio>
#include <memory>

#include "compiler/codegen/jit.h"
#include "compiler/ir/lower.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"

namespace priortune::server::cli {

namespace {

struct EmitOptions {
  WorkloadArgs workload;
  std::string target = "host";
  std::string config;  // JSON; empty: the hand-picked config
  std::string out;     // the suffix picks the format: .o, .s, .ll or .ir
  compiler::CompileOptions compile;
};

int RunEmit(const EmitOptions& o) {
  auto args = ParseKernelArgs(o.workload, o.target);
  if (!args.ok()) return Fail(args.status());
  const compiler::Workload& w = args->workload;
  const compiler::Target& target = args->target;
  const compiler::OpTemplate* tmpl = args->tmpl;
  compiler::Config c = tmpl->HandPickedConfig(w, target);
  if (!o.config.empty()) {
    auto parsed = compiler::ConfigFromJson(o.config);
    if (!parsed.ok()) return Fail(parsed.status());
    c = *parsed;
  }
  auto f = compiler::LowerWorkload(w, target, c);
  if (!f.ok()) return Fail(f.status());
  if (o.out.size() > 3 && o.out.substr(o.out.size() - 3) == ".ir") {
    // The lowered loop nest as text: what the cost model's features are read from.
    std::FILE* out = std::fopen(o.out.c_str(), "w");
    if (!out) return Fail(InvalidArgument("cannot write --out " + o.out));
    for (const auto& p : f->prepacks)
      std::fprintf(out, "// prepack %s\n%s\n", p.func.name.c_str(), compiler::ToString(p.func.body).c_str());
    std::fprintf(out, "// %s\n%s\n", f->name.c_str(), compiler::ToString(f->body).c_str());
    std::fclose(out);
    std::printf("wrote the loop nest of %s to %s\n", f->name.c_str(), o.out.c_str());
    return 0;
  }
  compiler::CodeFileType type = compiler::CodeFileType::kObject;
  if (o.out.size() > 2 && o.out.substr(o.out.size() - 2) == ".s") type = compiler::CodeFileType::kAssembly;
  if (o.out.size() > 3 && o.out.substr(o.out.size() - 3) == ".ll") type = compiler::CodeFileType::kLLVMIR;
  Status s = compiler::EmitCodeFile(*f, o.out, type, target, o.compile);
  if (!s.ok()) return Fail(s);
  std::printf("wrote %s for %s (entry points %s and %s_packed)\n", o.out.c_str(), target.Describe().c_str(),
              f->name.c_str(), f->name.c_str());
  for (size_t i = 0; i < f->prepacks.size(); ++i)
    std::printf(
        "  prepack of argument %zu (%s -> %s): %s_prepack%zu and %s_prepack%zu_packed, run once per set of weights\n",
        f->prepacks[i].arg, f->prepacks[i].func.args[0].name.c_str(), f->prepacks[i].func.args[1].name.c_str(),
        f->name.c_str(), i, f->name.c_str(), i);
  return 0;
}

}  // namespace

void AddEmit(Commands& commands) {
  auto o = std::make_shared<EmitOptions>();
  CLI::App* cmd =
      commands.app().add_subcommand("emit", "write the kernel as an object file, .s, .ll or its loop nest (.ir)");
  AddWorkloadOptions(cmd, o->workload);
  AddTargetOption(cmd, o->target);
  cmd->add_option("--config", o->config, "config JSON (default: the hand-picked one)");
  cmd->add_option("--out", o->out, "output path; the suffix picks the format")->required();
  cmd->add_flag("--check-bounds", o->compile.check_bounds, kCheckBoundsHelp);
  commands.Add(cmd, [o] { return RunEmit(*o); });
}

}  // namespace priortune::server::cli

// WriteModelLibrary: a plan as a shared library. The kernels are object files from the
// same lowered functions the JIT compiles (position-independent code); the plan and the
// weights are data the deploy runtime reads; the C++ compiler only assembles and links.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compiler/codegen/jit.h"
#include "compiler/model/model.h"

namespace priortune::compiler {
namespace {

namespace fs = std::filesystem;

// Runs `cmd` (a shell command), its output appended to `log`; Internal with the output on
// a failure.
Status Run(const std::string& cmd, const std::string& what) {
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return Internal(what + ": cannot run " + cmd);
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int status = pclose(p);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Internal(what + " failed (" + cmd + "):\n" + out);
  return OkStatus();
}

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Writes `text` to `path`; Internal naming it if that fails.
Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  if (!f) return Internal("cannot write " + path.string());
  return OkStatus();
}

// The weights, each 64-byte aligned (16 floats), in buffer order; each constant buffer's
// offset in floats (-1: not a constant).
StatusOr<std::vector<int64_t>> WriteParams(const ModelPlan& plan, const fs::path& dir) {
  std::vector<int64_t> offset(plan.buffers.size(), -1);
  std::ofstream params(dir / "model.params", std::ios::binary | std::ios::trunc);
  int64_t at = 0;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer& b = plan.buffers[i];
    if (!b.constant) continue;
    if (static_cast<int64_t>(b.data.size()) != b.elements)
      return InvalidArgument("buffer '" + b.name + "': the plan holds no weights (a plan already compiled?)");
    offset[i] = at;
    params.write(reinterpret_cast<const char*>(b.data.data()), static_cast<std::streamsize>(b.data.size() * 4));
    at += b.elements;
    const int64_t pad = (16 - at % 16) % 16;
    const std::vector<float> zeros(static_cast<size_t>(pad), 0.0f);
    params.write(reinterpret_cast<const char*>(zeros.data()), static_cast<std::streamsize>(pad * 4));
    at += pad;
  }
  if (!params) return Internal("cannot write " + (dir / "model.params").string());
  return offset;
}

// The plan text's inputs and outputs: buffer, type, index bound (inputs), shape, name.
void WriteIo(std::ostream& text, const ModelPlan& plan) {
  for (int k = 0; k < 2; ++k) {
    const auto& specs = k == 0 ? plan.inputs : plan.outputs;
    const auto& buffers = k == 0 ? plan.input_buffers : plan.output_buffers;
    text << (k == 0 ? "inputs " : "outputs ") << specs.size() << "\n";
    for (size_t i = 0; i < specs.size(); ++i) {
      text << (k == 0 ? "i " : "o ") << buffers[i] << " " << static_cast<int>(specs[i].dtype);
      if (k == 0) text << " " << specs[i].index_bound;
      text << " " << specs[i].shape.size();
      for (int64_t d : specs[i].shape) text << " " << d;
      text << " " << specs[i].name << "\n";
    }
  }
}

// The kernels' object files and the plan's text; the function table in index order.
struct KernelFiles {
  std::string plan_text, objects;  // objects: quoted paths, each after a space
  std::vector<std::string> functions;
};

StatusOr<KernelFiles> WriteKernels(const ModelPlan& plan, const fs::path& dir, const std::string& info,
                                   const std::vector<int64_t>& offset, const CompileOptions& options) {
  KernelFiles out;
  std::ostringstream text;
  std::string one_line_info = info;
  for (char& c : one_line_info)
    if (c == '\n') c = ' ';
  text << "priortune-plan 4\ninfo " << one_line_info << "\nthreads " << std::max(1, plan.target.cores) << "\nbuffers "
       << plan.buffers.size() << "\n";
  for (size_t i = 0; i < plan.buffers.size(); ++i)
    text << "b " << plan.buffers[i].elements << " " << offset[i] << " " << plan.buffers[i].view_of << "\n";
  text << "steps " << plan.steps.size() << "\n";
  for (const PlanStep& s : plan.steps) {
    const fs::path obj = dir / "kernels" / (s.func.name + ".o");
    Status st = EmitCodeFile(s.func, obj.string(), CodeFileType::kObject, plan.target, options);
    if (!st.ok()) return Status(st.code(), "step '" + s.name + "': " + st.message());
    out.objects += " " + Quote(obj.string());
    text << "s " << out.functions.size() << " " << s.args.size();
    out.functions.push_back(s.func.name + "_packed");
    for (int b : s.args) text << " " << b;
    const KernelWorkspace ws = WorkspaceOf(s.func, plan.target);
    text << " " << ws.fixed_bytes << " " << ws.slot_bytes;
    text << " " << s.func.prepacks.size();
    for (size_t k = 0; k < s.func.prepacks.size(); ++k) {
      const LoweredPrepack& p = s.func.prepacks[k];
      int64_t elements = 1;
      for (int64_t d : p.func.args[1].shape) elements *= d;
      text << " " << p.arg << " " << elements << " " << out.functions.size();
      out.functions.push_back(s.func.name + "_prepack" + std::to_string(k) + "_packed");
    }
    text << "\n";
  }
  WriteIo(text, plan);
  out.plan_text = text.str();
  return out;
}

// What each kernel was built with: for people, and for comparing two builds (the objects
// themselves may differ in instruction order from one run to the next).
std::string KernelsJson(const ModelPlan& plan) {
  nlohmann::json kernels = nlohmann::json::array();
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const PlanStep& s = plan.steps[i];
    nlohmann::json k = {{"step", i}, {"node", s.name}, {"op", s.op}, {"function", s.func.name}};
    if (s.workload) {
      k["workload"] = nlohmann::json::parse(s.workload->ToJson());
      k["config"] = nlohmann::json::parse(ConfigToJson(s.choice.config));
      k["level"] = s.choice.level;
      k["layouts"] = {{"data", s.layouts.data}, {"residual", s.layouts.residual}, {"out", s.layouts.out}};
      if (!s.choice.check.empty()) k["check"] = s.choice.check;
      if (!s.choice.skipped.empty()) k["passed_over"] = s.choice.skipped;
      if (!s.choice.from.empty()) k["from"] = s.choice.from;
    }
    kernels.push_back(k);
  }
  return kernels.dump(1) + "\n";
}

// The sources linked beside the kernels: the function table, the plan and weights as
// data, and the export map (only the C API is exported: two model libraries in one
// process, or one beside priortune's own runtime, must not resolve each other's plan,
// weights or kernels).
Status WriteLinkSources(const fs::path& dir, const std::vector<std::string>& functions) {
  std::ostringstream table;
  table << "/* Written by priortune build-model: the kernels' entry points in plan order. */\n#include <stdint.h>\n"
           "typedef int32_t (*pt_fn)(void**, void*);\n";
  for (const auto& fn : functions) table << "extern int32_t " << fn << "(void**, void*);\n";
  table << "const pt_fn pt_model_functions[] = {\n";
  for (const auto& fn : functions) table << "  " << fn << ",\n";
  table << "};\nconst int64_t pt_model_function_count = " << functions.size() << ";\n";
  PT_RETURN_IF_ERROR(WriteText(dir / "model_table.c", table.str()));
  std::ostringstream data;
  data << "/* Written by priortune build-model: the plan and the weights. */\n"
          "  .section .rodata\n  .globl pt_model_plan_text\n  .p2align 6\npt_model_plan_text:\n  .incbin \""
       << (dir / "model.plan").string() << "\"\n  .byte 0\n  .globl pt_model_params\n  .p2align 6\npt_model_params:\n"
       << "  .incbin \"" << (dir / "model.params").string() << "\"\n"
       << "  .section .note.GNU-stack,\"\",@progbits\n";
  PT_RETURN_IF_ERROR(WriteText(dir / "model_data.S", data.str()));
  std::ostringstream map;
  map << "{\n  global:\n";
  for (const char* fn :
       {"pt_model_create", "pt_model_run", "pt_model_run_named", "pt_model_destroy", "pt_model_input_size",
        "pt_model_output_size", "pt_model_set_threads", "pt_model_threads", "pt_model_info", "pt_model_last_error"})
    map << "    " << fn << ";\n";
  for (const char* side : {"input", "output"})
    for (const char* what : {"count", "name", "dtype", "elements", "shape"})
      map << "    pt_model_" << side << "_" << what << ";\n";
  map << "  local: *;\n};\n";
  return WriteText(dir / "exports.map", map.str());
}

// Checks the toolchain and makes the library's directory; its absolute path.
StatusOr<fs::path> PrepareDirectory(const std::string& dir_arg, const DeployToolchain& toolchain) {
  std::error_code exists;
  for (const std::string* part : {&toolchain.archive, &toolchain.header})
    if (part->empty() || !fs::is_regular_file(*part, exists))
      return FailedPrecondition("the deploy runtime is missing: no file '" + *part +
                                "' (libpt_deploy.a and priortune_model.h are installed beside priortune, in "
                                "lib/priortune and include/priortune)");
  if (toolchain.cxx.empty()) return InvalidArgument("no C++ compiler to link the model library with");
  std::error_code ec;
  fs::create_directories(fs::path(dir_arg) / "kernels", ec);
  if (ec) return InvalidArgument("cannot create '" + dir_arg + "': " + ec.message());
  const fs::path dir = fs::absolute(dir_arg);
  if (dir.string().find_first_of("\"\\\n") != std::string::npos)
    return InvalidArgument("'" + dir.string() +
                           "': a library directory may not contain quotes, backslashes or newlines");
  return dir;
}

}  // namespace

StatusOr<ModelLibrary> WriteModelLibrary(const ModelPlan& plan, const std::string& dir_arg, const std::string& info,
                                         const DeployToolchain& toolchain, const CompileOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  for (const auto* specs : {&plan.inputs, &plan.outputs})
    for (const IoSpec& io : *specs)
      if (io.name.empty() || io.name.find_first_of("\n\r") != std::string::npos || io.name[0] == ' ')
        return InvalidArgument("'" + io.name + "': a model library's input and output names are one line each");
  PT_ASSIGN_OR_RETURN(const fs::path dir, PrepareDirectory(dir_arg, toolchain));
  PT_ASSIGN_OR_RETURN(std::vector<int64_t> offset, WriteParams(plan, dir));
  PT_ASSIGN_OR_RETURN(KernelFiles kernels, WriteKernels(plan, dir, info, offset, options));
  PT_RETURN_IF_ERROR(WriteText(dir / "kernels.json", KernelsJson(plan)));
  PT_RETURN_IF_ERROR(WriteText(dir / "model.plan", kernels.plan_text));
  PT_RETURN_IF_ERROR(WriteLinkSources(dir, kernels.functions));
  std::error_code ec;
  fs::copy_file(toolchain.header, dir / "priortune_model.h", fs::copy_options::overwrite_existing, ec);
  if (ec) return Internal("cannot copy the C API header: " + ec.message());

  ModelLibrary lib;
  lib.library = (dir / "libpriortune_model.so").string();
  lib.header = (dir / "priortune_model.h").string();
  std::string cmd =
      Quote(toolchain.cxx) + " -shared -o " + Quote(lib.library) + kernels.objects + " -x c " +
      Quote((dir / "model_table.c").string()) + " -x assembler-with-cpp " + Quote((dir / "model_data.S").string()) +
      " -x none -Wl,--whole-archive " + Quote(toolchain.archive) +
      " -Wl,--no-whole-archive -Wl,--no-undefined -Wl,--version-script=" + Quote((dir / "exports.map").string()) +
      " -pthread -lm";
  PT_RETURN_IF_ERROR(Run(cmd, "linking the model library"));
  lib.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return lib;
}

}  // namespace priortune::compiler

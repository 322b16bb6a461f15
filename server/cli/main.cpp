// priortune: the command-line front end.
//   priortune bench --op matmul --shape 512x512x512   build, check and time the default
//                                                       and hand-picked configs
//   priortune knobs --op conv2d --shape 64x64x56x3x1x1  print the template's knobs
//   priortune target [--target host-avx2]               what a target is: microarch, LLVM CPU, key
//   priortune emit  --op matmul --shape ... --out k.o   write an object file (or .s/.ll/.ir)
//   priortune tune  --op matmul --shape 512x512x512     tune with an embedded server and
//                   [--trials N --strategy ga|random|grid|xgb-ga|meta-ga|one-shot --transfer auto|fade|off
//                    --db PATH --workers N]
//   priortune lookup --op ... --shape ... [--db PATH]   the best stored config
//   priortune eval-model [--db PATH] [--op OP]          cost-model metrics on held-out workloads
//                   [--neural FILE ...]                 few-shot metrics of neural models
//   priortune train-model [--db PATH] [--log FILE]      meta-train the neural cost model
//   priortune export [--db PATH] [--out FILE]           the JSON-lines tuning log
//   priortune import FILE [--db PATH]                   all or nothing
//   priortune worker --server HOST:PORT                 a measurement worker
//   priortune tasks MODEL.onnx                          a model's distinct tunable workloads
//   priortune tune-model MODEL.onnx [--trials N]        tune all its tasks in one budget
//   priortune build-model MODEL.onnx --out DIR          its deployable library (C API)
//   priortune run-model MODEL.onnx [--db PATH]          compile it in-process, time each step
//   priortune fuzz [--op OP --cases N --seed S]         every template's configs against their
//                   [--check-bounds --replay FILE]      references, in isolated processes
//   priortune serve --db PATH --listen ADDR             the tuning service (jobs, lookup, logs)
//   priortune submit|watch|jobs|cancel --server ADDR    its clients; lookup --server too
// The only place that reads the process environment ($PRIORTUNE_TOKEN, $PRIORTUNE_CXX,
// $PRIORTUNE_MODEL_DIR) and locates what priortune ships relative to the executable.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "server/cli/commands.h"

namespace {

namespace cli = priortune::server::cli;

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The executable is PREFIX/bin/priortune when installed and build/server/priortune in the
// build tree; both have the shipped files under the folder above.
cli::Environment ReadEnvironment() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  cli::Environment env;
  env.prefix = ec ? std::string(".") : exe.parent_path().parent_path().string();
  const fs::path prefix(env.prefix);
  env.model_dir = Getenv("PRIORTUNE_MODEL_DIR");
  if (env.model_dir.empty()) env.model_dir = (prefix / "share" / "priortune" / "models").string();
  env.token = Getenv("PRIORTUNE_TOKEN");
  env.deploy_archive = (prefix / "lib" / "priortune" / "libpt_deploy.a").string();
  env.deploy_header = (prefix / "include" / "priortune" / "priortune_model.h").string();
  if (std::string cxx = Getenv("PRIORTUNE_CXX"); !cxx.empty()) env.cxx = cxx;
  return env;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"priortune: a tensor-operator auto-tuner"};
  app.require_subcommand(1);
  cli::Commands commands(app, ReadEnvironment());
  cli::AddTarget(commands);
  cli::AddBench(commands);
  cli::AddKnobs(commands);
  cli::AddEmit(commands);
  cli::AddTune(commands);
  cli::AddLookup(commands);
  cli::AddExport(commands);
  cli::AddImport(commands);
  cli::AddEvalModel(commands);
  cli::AddTrainModel(commands);
  cli::AddWorker(commands);
  cli::AddFuzz(commands);
  cli::AddTasks(commands);
  cli::AddTuneModel(commands);
  cli::AddBuildModel(commands);
  cli::AddRunModel(commands);
  cli::AddServe(commands);
  cli::AddSubmit(commands);
  cli::AddWatch(commands);
  cli::AddJobs(commands);
  cli::AddCancel(commands);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return commands.Run();
}

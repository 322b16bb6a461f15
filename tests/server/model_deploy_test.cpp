// A whole model through the product: tune-model (the task scheduler over real workers),
// build-model (a shared library of the tuned kernels), the example program linked with
// it, run-model in-process, and a second store that only imported the first's log.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "cluster.h"

namespace priortune::server {
namespace {

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

// Compiles `source` with `compiler` (and its flags) against the model library in `lib`
// into `exe`: what a user of build-model does.
std::string BuildAgainst(const std::string& compiler, const std::string& source, const std::string& lib,
                         const std::string& exe, int* code) {
  return Shell(
      compiler + " " + source + " -I " + lib + " -L " + lib + " -lpriortune_model -Wl,-rpath," + lib + " -o " + exe,
      code);
}

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

TEST(ModelDeploy, ATunedModelBuildsALibraryTheExampleRunsAsRunModelDoesAndAnImportedStoreRebuildsIt) {
  Cluster scratch;  // only for its temporary directory
  const std::string exe = PRIORTUNE_EXE, src = PRIORTUNE_SOURCE_DIR, dir = scratch.Path("");
  int code = -1;
  std::string out =
      Shell("/usr/bin/python3 " + src + "/scripts/export_models.py --models mnasnet0_5 --out " + dir, &code);
  ASSERT_EQ(code, 0) << out;
  const std::string model = dir + "/mnasnet0_5.onnx", input = dir + "/mnasnet0_5.input.bin";
  const std::string db = dir + "/a.db";

  // 32 trials in units of 16: the first two tasks of the warm-up.
  out = Shell(exe + " tune-model " + model + " --db " + db + " --trials 32 --unit 16 --strategy ga", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("tuned 32 trials"), std::string::npos) << out;
  EXPECT_NE(out.find("estimated model latency"), std::string::npos) << out;

  out = Shell(exe + " build-model " + model + " --db " + db + " --out " + dir + "/lib_a", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("exact target"), std::string::npos) << out;  // the tuned kernels
  EXPECT_NE(out.find("hand-picked"), std::string::npos) << out;   // the rest fall back
  const std::string lib = dir + "/lib_a";

  // No LLVM, SQLite, gRPC, protobuf, ONNX, LibTorch or XGBoost in its dynamic section.
  std::string needed = Shell("readelf -d " + lib + "/libpriortune_model.so", &code);
  ASSERT_EQ(code, 0) << needed;
  EXPECT_NE(needed.find("NEEDED"), std::string::npos) << needed;
  for (const char* dep : {"LLVM", "llvm", "sqlite", "grpc", "protobuf", "onnx", "torch", "xgboost"})
    EXPECT_EQ(needed.find(dep), std::string::npos) << dep << " in\n" << needed;

  // Only the C API is exported: two model libraries in one process cannot interpose.
  std::string symbols = Shell("nm -D --defined-only " + lib + "/libpriortune_model.so", &code);
  ASSERT_EQ(code, 0) << symbols;
  EXPECT_NE(symbols.find("pt_model_create"), std::string::npos) << symbols;
  for (const char* internal :
       {"pt_model_plan_text", "pt_model_params", "pt_model_functions", "pt_parallel_for", "_packed"})
    EXPECT_EQ(symbols.find(internal), std::string::npos) << internal << " exported:\n" << symbols;

  out = BuildAgainst(std::string(PRIORTUNE_CXX_COMPILER) + " -O2 -std=c++17", src + "/examples/run_model.cpp", lib,
                     dir + "/run_model", &code);
  ASSERT_EQ(code, 0) << out;
  out = Shell(dir + "/run_model --repeat 2 --input " + input + " --output " + dir + "/y_lib.bin", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("ms per inference"), std::string::npos) << out;
  out = Shell(
      exe + " run-model " + model + " --db " + db + " --repeat 2 --input " + input + " --output " + dir + "/y_jit.bin",
      &code);
  ASSERT_EQ(code, 0) << out;

  std::vector<float> by_lib = ReadFloats(dir + "/y_lib.bin"), by_jit = ReadFloats(dir + "/y_jit.bin"),
                     by_torch = ReadFloats(dir + "/mnasnet0_5.output.bin");
  ASSERT_EQ(by_lib.size(), 1000u);
  ASSERT_EQ(by_jit.size(), by_lib.size());
  ASSERT_EQ(by_torch.size(), by_lib.size());
  double max_ref = 0;
  for (float v : by_torch) max_ref = std::max(max_ref, std::fabs(static_cast<double>(v)));
  ASSERT_GT(max_ref, 0);
  for (size_t i = 0; i < by_lib.size(); ++i) {
    // The same kernels from the same lowered functions: the same output, up to rounding.
    EXPECT_NEAR(by_lib[i], by_jit[i], 1e-6 * max_ref) << i;
    EXPECT_NEAR(by_lib[i], by_torch[i], 1e-3 * max_ref) << i;
  }

  // A second machine of the target: only the exported log, imported into its own store.
  ASSERT_EQ((Shell(exe + " export --db " + db + " --out " + dir + "/log.jsonl", &code), code), 0);
  out = Shell(exe + " import " + dir + "/log.jsonl --db " + dir + "/b.db", &code);
  ASSERT_EQ(code, 0) << out;
  out = Shell(exe + " build-model " + model + " --db " + dir + "/b.db --out " + dir + "/lib_b", &code);
  ASSERT_EQ(code, 0) << out;
  // The same plan, and the same workload, config and level for every kernel. The
  // imported records were measured by no job of this store: each was checked before use
  // (built bounds-checked, run against the reference), which kernels.json says.
  EXPECT_EQ(ReadText(dir + "/lib_b/model.plan"), ReadText(lib + "/model.plan"));
  std::string kernels = ReadText(lib + "/kernels.json");
  EXPECT_NE(kernels.find("\"config\""), std::string::npos) << kernels;
  EXPECT_EQ(kernels.find("\"check\""), std::string::npos) << "measured here, nothing to check:\n" << kernels;
  std::string imported = ReadText(dir + "/lib_b/kernels.json"), without_checks;
  EXPECT_NE(imported.find("\"check\": \"passed: built bounds-checked"), std::string::npos) << imported;
  std::istringstream lines(imported);
  for (std::string line; std::getline(lines, line);)
    if (line.find("\"check\":") == std::string::npos) without_checks += line + "\n";
  EXPECT_EQ(without_checks, kernels);
  std::string a_export = Shell(exe + " export --db " + db, &code),
              b_export = Shell(exe + " export --db " + dir + "/b.db", &code);
  EXPECT_EQ(std::count(b_export.begin(), b_export.end(), '\n'), std::count(a_export.begin(), a_export.end(), '\n'))
      << "building measured nothing: the second store holds what it imported";

  out = Shell(exe + " build-model " + dir + "/missing.onnx --db " + db + " --out " + dir + "/lib_c", &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("missing.onnx"), std::string::npos) << out;
}

// Bad models get clear refusals from every model command: exit 2, the node (or the file)
// named, and the store as it was (its records and its jobs).
TEST(ModelDeploy, BadModelsAreRefusedWithExit2NamingTheNodeAndTheStoreIsUntouched) {
  Cluster scratch;
  const std::string exe = PRIORTUNE_EXE, dir = scratch.Path(""), db = dir + "/s.db";
  std::ofstream(dir + "/make.py") << R"(
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T
d = sys.argv[1]
def model(name, nodes, x_shape=(1, 4, 8, 8), extra=()):
    w = h.make_tensor("w", T.FLOAT, (8, 4, 3, 3), np.random.RandomState(0).rand(288).astype("f4").tolist())
    x = h.make_tensor_value_info("x", T.FLOAT, x_shape)
    y = h.make_tensor_value_info("y", T.FLOAT, None)
    g = h.make_graph(nodes, name, [x], [y], [w] + list(extra))
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), d + "/" + name + ".onnx")
conv = lambda out, **kw: h.make_node("Conv", ["x", "w"], [out], name="conv7", kernel_shape=[3, 3], pads=[1] * 4, **kw)
model("good", [conv("c"), h.make_node("Relu", ["c"], ["y"], name="relu")])
model("unsupported", [conv("c"), h.make_node("NonZero", ["c"], ["y"], name="nz9")])
model("dynamic", [conv("c"), h.make_node("Relu", ["c"], ["y"])], x_shape=("batch", 4, 8, 8))
model("attribute", [conv("c"), h.make_node("Softmax", ["c"], ["y"], name="sm5", axis=6)])
model("groups", [conv("y", group=3)])
raw = open(d + "/good.onnx", "rb").read()
open(d + "/truncated.onnx", "wb").write(raw[: len(raw) // 2])
)";
  int code = -1;
  std::string out = Shell("/usr/bin/python3 " + dir + "/make.py " + dir, &code);
  ASSERT_EQ(code, 0) << out;
  out = Shell(exe + " tune-model " + dir + "/good.onnx --db " + db + " --trials 8 --unit 8 --strategy ga", &code);
  ASSERT_EQ(code, 0) << out;
  auto state = [&] {
    return Shell(exe + " export --db " + db, &code) +
           Shell("/usr/bin/python3 -c \"import sqlite3; c = sqlite3.connect('" + db +
                     "'); print([r for r in c.execute('select * from jobs')])\"",
                 &code);
  };
  const std::string before = state();
  ASSERT_NE(before.find("\"config\""), std::string::npos) << before;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"unsupported", "node 'nz9' (NonZero): operator not supported"},
      {"dynamic", "input 'x': dynamic dimension 'batch'"},
      {"attribute", "node 'sm5' (Softmax): axis out of range"},
      {"groups", "node 'conv7' (Conv): group 3 does not divide the 4 input and 8 output channels"},
      {"truncated", "truncated.onnx ("}};
  for (const auto& [name, want] : cases) {
    for (const std::string cmd : {"tasks", "tune-model", "build-model", "run-model"}) {
      std::string args = cmd == "tasks" ? "" : " --db " + db;
      if (cmd == "build-model") args += " --out " + dir + "/lib_" + name;
      if (cmd == "tune-model") args += " --trials 8";
      out = Shell(exe + " " + cmd + " " + dir + "/" + name + ".onnx" + args, &code);
      EXPECT_EQ(code, 2) << cmd << " " << name << ": " << out;
      EXPECT_NE(out.find(want), std::string::npos) << cmd << " " << name << ": " << out;
    }
  }
  EXPECT_EQ(state(), before);
}

// Tuning and deploying are one decision: build-model and the library default to the thread
// count the store tuned the model at, and a build for a count it did not tune says so
// with the command that would.
TEST(ModelDeploy, BuildModelTakesTheThreadCountTheStoreTunedAtAndSaysWhenItHasNone) {
  Cluster scratch;
  const std::string exe = PRIORTUNE_EXE, src = PRIORTUNE_SOURCE_DIR, dir = scratch.Path("");
  int code = -1;
  std::string out =
      Shell("/usr/bin/python3 " + src + "/scripts/export_models.py --models mnasnet0_5 --out " + dir, &code);
  ASSERT_EQ(code, 0) << out;
  const std::string model = dir + "/mnasnet0_5.onnx", db = dir + "/t.db";

  // Without a store: 1 thread, every kernel hand-picked.
  out = Shell(exe + " build-model " + model + " --db '' --out " + dir + "/lib0", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find(", 1 thread: "), std::string::npos) << out;

  out = Shell(exe + " tune-model " + model + " --db " + db + " --threads 2 --trials 16 --unit 16 --strategy ga", &code);
  ASSERT_EQ(code, 0) << out;

  // No --threads: the store's count, said on stderr; the library runs with it by default.
  out = Shell(exe + " build-model " + model + " --db " + db + " --out " + dir + "/lib2", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("build-model: 2 threads, the count the store tuned this model at (1 of "), std::string::npos)
      << out;
  EXPECT_NE(out.find(", 2 threads: "), std::string::npos) << out;
  EXPECT_NE(out.find("exact target"), std::string::npos) << out;
  // The other tasks are untuned at 2 threads: it says how to tune them.
  EXPECT_NE(out.find("the store tuned 1 of this model's"), std::string::npos) << out;
  EXPECT_NE(out.find("priortune tune-model " + model + " --db " + db + " --threads 2"), std::string::npos) << out;
  const std::string lib = dir + "/lib2";
  out = BuildAgainst(std::string(PRIORTUNE_CXX_COMPILER) + " -O2 -std=c++17", src + "/examples/run_model.cpp", lib,
                     dir + "/run_model", &code);
  ASSERT_EQ(code, 0) << out;
  out = Shell(dir + "/run_model --repeat 1 --warmup 0", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("2 thread(s): "), std::string::npos) << out;
  out = Shell(dir + "/run_model --repeat 1 --warmup 0 --threads 1", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("1 thread(s): "), std::string::npos) << out;

  // A count the store never tuned the model at: built, with the reason and the command.
  out = Shell(exe + " build-model " + model + " --db " + db + " --threads 1 --out " + dir + "/lib1", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("the store tuned 0 of this model's"), std::string::npos) << out;
  EXPECT_NE(out.find("at 1 thread (it holds 1 at 2 threads)"), std::string::npos) << out;
  EXPECT_NE(out.find("priortune tune-model " + model + " --db " + db + " --threads 1"), std::string::npos) << out;
  EXPECT_EQ(out.find("exact target"), std::string::npos) << out;
  EXPECT_NE(out.find(", 1 thread: "), std::string::npos) << out;

  // run-model decides the same way; --threads 0 is refused.
  out = Shell(exe + " run-model " + model + " --db " + db + " --repeat 1", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find(", 2 threads: "), std::string::npos) << out;
  out = Shell(exe + " run-model " + model + " --db " + db + " --repeat 1 --threads 0", &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--threads"), std::string::npos) << out;
}

// A language model's library: token ids, token types and a mask (int64) by name through
// the C API from a C program, both outputs matching PyTorch's, and every bad call refused
// with -1 and a message naming what is wrong; the example program and run-model take the
// same named inputs, and run-model's bad ones exit 2 naming the input.
TEST(ModelDeploy, ATokenModelsLibraryTakesNamedTypedInputsAndRefusesBadOnes) {
  Cluster scratch;
  const std::string exe = PRIORTUNE_EXE, src = PRIORTUNE_SOURCE_DIR, dir = scratch.Path("");
  int code = -1;
  std::string out =
      Shell("/usr/bin/python3 " + src + "/scripts/export_models.py --models bert_tiny --out " + dir, &code);
  ASSERT_EQ(code, 0) << out;
  const std::string base = dir + "/bert_tiny", lib = dir + "/lib";
  out = Shell(exe + " build-model " + base + ".onnx --db '' --out " + lib, &code);
  ASSERT_EQ(code, 0) << out;
  out = BuildAgainst(std::string(PRIORTUNE_C_COMPILER) + " -O2 -Wall -Werror",
                     src + "/tests/server/data/c_api_client.c", lib, dir + "/client", &code);
  ASSERT_EQ(code, 0) << out;
  out = Shell(dir + "/client " + base + ".input_ids.bin " + base + ".token_type_ids.bin " + base +
                  ".attention_mask.bin " + dir + "/hidden.bin " + dir + "/pooled.bin",
              &code);
  ASSERT_EQ(code, 0) << out;
  const std::vector<std::pair<std::string, std::string>> lines = {
      {"inputs 3 outputs 2; input_ids 7 rank 2 [1 16]", ""},
      {"out of range: null 0 -1 -1", ""},
      {"good: 0", ""},
      {"no outputs asked: 0", ""},
      {"wrong dtype: -1", "input 'input_ids': int32 given, the model takes int64"},
      {"wrong length: -1", "input 'input_ids': 15 values given, the model takes 16"},
      {"missing input: -1", "input 'token_type_ids' is missing"},
      {"id past the vocabulary: -1",
       "input 'input_ids': value 1000 at element 5 is outside the table it indexes (1000 rows"},
      {"id before the vocabulary: -1", "value -1001 at element 5"},
      {"unknown input: -1", "no input named 'token_types'"},
      {"input twice: -1", "input 'input_ids' is given twice"},
      {"unknown type code: -1", "type code 11"},
      {"null data: -1", "input 'token_type_ids': no data"},
      {"wrong output length: -1", "output 'pooler_output': room for 63 values, the model gives 64"},
      {"unknown output: -1", "no output named 'logits'"},
      {"float-only call: -1", "use pt_model_run_named"},
      {"null model: -1", "no model"},
      {"good again: 0", ""}};
  for (const auto& [head, message] : lines) {
    const size_t at = out.find(head);
    ASSERT_NE(at, std::string::npos) << head << " in\n" << out;
    EXPECT_NE(out.substr(at, out.find('\n', at) - at).find(message), std::string::npos) << head << " in\n" << out;
  }

  auto expect_torch = [&](const std::string& got, const std::string& want) {
    std::vector<float> a = ReadFloats(got), b = ReadFloats(base + "." + want + ".bin");
    ASSERT_EQ(a.size(), b.size()) << want;
    double max_ref = 0, max_err = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(b[i])));
      max_err = std::max(max_err, std::fabs(static_cast<double>(a[i]) - b[i]));
    }
    EXPECT_GT(max_ref, 0) << want;
    EXPECT_LT(max_err, 1e-4 * std::max(1.0, max_ref)) << want;
  };
  expect_torch(dir + "/hidden.bin", "last_hidden_state");
  expect_torch(dir + "/pooled.bin", "pooler_output");

  // The example program: the same inputs by name.
  out = BuildAgainst(std::string(PRIORTUNE_CXX_COMPILER) + " -O2 -std=c++17", src + "/examples/run_model.cpp", lib,
                     dir + "/run_model", &code);
  ASSERT_EQ(code, 0) << out;
  const std::string inputs = " --input input_ids=" + base + ".input_ids.bin --input token_type_ids=" + base +
                             ".token_type_ids.bin --input attention_mask=" + base + ".attention_mask.bin";
  out = Shell(dir + "/run_model --repeat 1 --warmup 0" + inputs + " --output pooler_output=" + dir + "/p2.bin", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("input attention_mask: int64 x 16"), std::string::npos) << out;
  expect_torch(dir + "/p2.bin", "pooler_output");

  // run-model: the same, then bad inputs exit 2 naming the input.
  out = Shell(exe + " run-model " + base + ".onnx --repeat 1 --check" + inputs + " --output last_hidden_state=" + dir +
                  "/h3.bin",
              &code);
  ASSERT_EQ(code, 0) << out;
  expect_torch(dir + "/h3.bin", "last_hidden_state");
  std::ofstream(dir + "/short.bin") << "12345678";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {" --input input_ids=" + dir + "/short.bin", "input 'input_ids': '" + dir + "/short.bin' holds 8 bytes"},
      {" --input tokens=" + base + ".input_ids.bin", "no input named 'tokens'"},
      {" --input " + base + ".input_ids.bin", "the model has 3 inputs; give each as NAME=FILE"},
      {" --input input_ids=" + dir + "/absent.bin", "input 'input_ids': cannot read"},
      {" --input input_ids=" + base + ".last_hidden_state.bin", "input 'input_ids': '"},
      {" --output logits=" + dir + "/l.bin", "no output named 'logits'"}};
  for (const auto& [args, want] : bad) {
    out = Shell(exe + " run-model " + base + ".onnx --repeat 1" + args, &code);
    EXPECT_EQ(code, 2) << args << ": " << out;
    EXPECT_NE(out.find(want), std::string::npos) << args << ": " << out;
  }
  // Ids outside the vocabulary from a file: refused before anything runs.
  std::vector<int64_t> ids(16, 3);
  ids[7] = 5000;
  std::ofstream(dir + "/oov.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size() * 8));
  out = Shell(exe + " run-model " + base + ".onnx --repeat 1 --input input_ids=" + dir + "/oov.bin", &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("input 'input_ids': value 5000 at element 7 is outside the table"), std::string::npos) << out;
}

}  // namespace
}  // namespace priortune::server

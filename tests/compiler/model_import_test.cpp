// Real models end to end through the importer: scripts/export_models.py exports them from
// Debian's python3-torchvision (random weights, randomised BatchNormalization) with a
// reference input and PyTorch's output; the imported graph, run by the reference runner,
// must give PyTorch's output.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "compiler/graph/graph.h"
#include "compiler/model/model.h"

namespace priortune::compiler {
namespace {

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

class ExportedModels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/priortune-models-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string cmd = "timeout 600 /usr/bin/python3 " + std::string(PRIORTUNE_SOURCE_DIR) +
                      "/scripts/export_models.py --out " + dir_ + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    while (p && fgets(buf, sizeof buf, p)) log_ += buf;
    int status = p ? pclose(p) : -1;
    exported_ = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  static std::string dir_, log_;
  static bool exported_;
};
std::string ExportedModels::dir_, ExportedModels::log_;
bool ExportedModels::exported_ = false;

TEST_F(ExportedModels, EachImportedModelComputesWhatPyTorchComputes) {
  ASSERT_TRUE(exported_) << log_;
  for (const char* name : {"resnet18", "mobilenet_v2", "mnasnet0_5"}) {
    std::string base = dir_ + "/" + name;
    auto g = ImportOnnx(base + ".onnx");
    ASSERT_TRUE(g.ok()) << name << ": " << g.status().ToString();
    EXPECT_GT(g->batchnorms_folded, 0) << name;
    EXPECT_GT(g->epilogues_fused, 0) << name;
    std::vector<float> input = ReadFloats(base + ".input.bin"), want = ReadFloats(base + ".output.bin");
    auto got = RunGraphReference(*g, input);
    ASSERT_TRUE(got.ok()) << name << ": " << got.status().ToString();
    ASSERT_EQ(got->size(), want.size()) << name;
    double max_err = 0, max_ref = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      max_err = std::max(max_err, std::fabs(static_cast<double>((*got)[i]) - want[i]));
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    }
    std::printf("%s: %zu nodes, %d BatchNormalization folded, max |error| %.3g of max |output| %.3g\n", name,
                g->nodes.size(), g->batchnorms_folded, max_err, max_ref);
    EXPECT_GT(max_ref, 0) << name;
    EXPECT_LT(max_err, 1e-3 * std::max(1.0, max_ref)) << name << ": max error " << max_err << " of " << max_ref;
    EXPECT_FALSE(ExtractTasks(*g).empty()) << name;

    // Compiled for this host with the hand-picked configs, the model gives the same.
    NoConfigSource none;  // no store: every kernel hand-picked
    auto plan = PlanModel(*g, Target::Host(), none);
    ASSERT_TRUE(plan.ok()) << name << ": " << plan.status().ToString();
    auto model = CompiledModel::Create(std::move(*plan));
    ASSERT_TRUE(model.ok()) << name << ": " << model.status().ToString();
    std::vector<float> out(want.size(), NAN);
    ASSERT_TRUE((*model)->Run(input.data(), input.size(), out.data(), out.size()).ok()) << name;
    double compiled_err = 0;
    for (size_t i = 0; i < want.size(); ++i)
      compiled_err = std::max(compiled_err, std::fabs(static_cast<double>(out[i]) - want[i]));
    std::printf("%s: compiled in %.1f s, %zu steps, max |error| %.3g\n", name, (*model)->compile_seconds(),
                (*model)->plan().steps.size(), compiled_err);
    EXPECT_LT(compiled_err, 1e-3 * std::max(1.0, max_ref)) << name << ": compiled max error " << compiled_err;
  }
}

}  // namespace
}  // namespace priortune::compiler

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

// The whole-model suite's models, and a representative few of the zoo's other families
// (issue 31): SqueezeNet (Concat, ceil_mode pooling), ShuffleNetV2 (Split, channel
// shuffle), EfficientNet-B0 (SiLU, squeeze-excitation), MobileNetV3-small (HardSwish,
// HardSigmoid), RegNet-X-400MF (grouped convolutions) and a reduced ConvNeXt (LayerNorm,
// GELU, channels-last Linear layers).
constexpr const char* kModels =
    "resnet18,resnet50,mobilenet_v2,mnasnet0_5,squeezenet1_1,shufflenet_v2_x0_5,efficientnet_b0,"
    "mobilenet_v3_small,regnet_x_400mf,convnext_reduced,bert_tiny,gpt2_tiny";

class ExportedModels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/priortune-models-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string cmd = "timeout 900 /usr/bin/python3 " + std::string(PRIORTUNE_SOURCE_DIR) +
                      "/scripts/export_models.py --out " + dir_ + " --models " + kModels + " 2>&1";
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

// The imported graph run by the reference runner, and compiled for this host with the
// hand-picked configs, each give PyTorch's output. `folded`: the model has BatchNorms to fold.
void ExpectComputesWhatPyTorchComputes(const std::string& dir, const std::string& name, bool folded) {
  SCOPED_TRACE(name);
  std::string base = dir + "/" + name;
  auto g = ImportOnnx(base + ".onnx");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  if (folded) EXPECT_GT(g->batchnorms_folded, 0);
  std::vector<float> input = ReadFloats(base + ".input.bin"), want = ReadFloats(base + ".output.bin");
  auto got = RunGraphReference(*g, input);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), want.size());
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_err = std::max(max_err, std::fabs(static_cast<double>((*got)[i]) - want[i]));
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
  }
  std::printf("%s: %zu nodes, %d BatchNormalization folded, %d fused, max |error| %.3g of max |output| %.3g\n",
              name.c_str(), g->nodes.size(), g->batchnorms_folded, g->epilogues_fused, max_err, max_ref);
  EXPECT_GT(max_ref, 0);
  EXPECT_LT(max_err, 1e-4 * std::max(1.0, max_ref)) << "max error " << max_err << " of " << max_ref;
  EXPECT_FALSE(ExtractTasks(*g).empty());

  NoConfigSource none;  // no store: every kernel hand-picked
  auto plan = PlanModel(*g, Target::Host(), none);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto model = CompiledModel::Create(std::move(*plan));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<float> out(want.size(), NAN);
  ASSERT_TRUE((*model)->Run(input.data(), input.size(), out.data(), out.size()).ok());
  double compiled_err = 0;
  for (size_t i = 0; i < want.size(); ++i)
    compiled_err = std::max(compiled_err, std::fabs(static_cast<double>(out[i]) - want[i]));
  std::printf("%s: compiled in %.1f s, %zu steps, max |error| %.3g\n", name.c_str(), (*model)->compile_seconds(),
              (*model)->plan().steps.size(), compiled_err);
  EXPECT_LT(compiled_err, 1e-4 * std::max(1.0, max_ref)) << "compiled max error " << compiled_err;
}

TEST_F(ExportedModels, EachImportedModelComputesWhatPyTorchComputes) {
  ASSERT_TRUE(exported_) << log_;
  for (const char* name : {"resnet18", "mobilenet_v2", "mnasnet0_5"}) {
    ExpectComputesWhatPyTorchComputes(dir_, name, true);
    auto g = ImportOnnx(dir_ + "/" + name + ".onnx");
    ASSERT_TRUE(g.ok());
    EXPECT_GT(g->epilogues_fused, 0) << name;
  }
}

TEST_F(ExportedModels, TheZoosFamiliesComputeWhatPyTorchComputes) {
  ASSERT_TRUE(exported_) << log_;
  for (const char* name : {"squeezenet1_1", "shufflenet_v2_x0_5", "efficientnet_b0", "mobilenet_v3_small",
                           "regnet_x_400mf", "convnext_reduced"})
    ExpectComputesWhatPyTorchComputes(dir_, name,
                                      std::string(name) != "squeezenet1_1" && std::string(name) != "convnext_reduced");
  // What each family brought is there: groups, recognised patterns, fused activations.
  auto regnet = ImportOnnx(dir_ + "/regnet_x_400mf.onnx");
  ASSERT_TRUE(regnet.ok());
  bool grouped = false;
  for (const auto& n : regnet->nodes) grouped = grouped || (n.workload && n.workload->op == "group_conv2d");
  EXPECT_TRUE(grouped);
  auto convnext = ImportOnnx(dir_ + "/convnext_reduced.onnx");
  ASSERT_TRUE(convnext.ok());
  EXPECT_GT(convnext->layernorms_recognised, 0);
  EXPECT_GT(convnext->gelus_recognised, 0);
  auto effnet = ImportOnnx(dir_ + "/efficientnet_b0.onnx");
  ASSERT_TRUE(effnet.ok());
  int silu = 0;
  for (const auto& n : effnet->nodes) silu += n.workload && n.workload->silu;
  EXPECT_GT(silu, 30);
}

// The token encoders of scripts/encoders.py (issue 32), reduced: BERT (three int64
// inputs, an additive mask, erf GELU, two outputs) and GPT-2 (a causal Where, tanh GELU).
// The reference runner and the compiled model, fed the exported ids and masks by name,
// give each of PyTorch's outputs.
TEST_F(ExportedModels, TheTokenEncodersComputeWhatPyTorchComputes) {
  ASSERT_TRUE(exported_) << log_;
  const std::vector<std::pair<std::string, std::vector<std::string>>> models = {
      {"bert_tiny", {"input_ids", "token_type_ids", "attention_mask"}}, {"gpt2_tiny", {"input_ids", "attention_mask"}}};
  for (const auto& [name, input_names] : models) {
    SCOPED_TRACE(name);
    const std::string base = dir_ + "/" + name;
    auto g = ImportOnnx(base + ".onnx");
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ASSERT_EQ(g->inputs, input_names);
    EXPECT_EQ(g->gelus_recognised, 2);  // one per layer: erf form (BERT), tanh form (GPT-2)
    std::vector<std::vector<int64_t>> ids;
    std::vector<std::vector<float>> as_float;
    std::vector<TypedIn> typed;
    for (const auto& in : input_names) {
      std::vector<float> raw = ReadFloats(base + "." + in + ".bin");  // int64 bytes
      ids.emplace_back(raw.size() / 2);
      std::memcpy(ids.back().data(), raw.data(), raw.size() * 4);
      as_float.emplace_back(ids.back().begin(), ids.back().end());
    }
    for (size_t i = 0; i < ids.size(); ++i)
      typed.push_back({input_names[i], ElemType::kInt64, ids[i].data(), static_cast<int64_t>(ids[i].size())});
    auto ref = RunGraphReference(*g, as_float);
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    NoConfigSource none;
    auto plan = PlanModel(*g, Target::Host(), none);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_EQ(plan->inputs[0].index_bound, 1000);  // the vocabulary
    auto model = CompiledModel::Create(std::move(*plan));
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    std::vector<std::vector<float>> got;
    std::vector<TypedOut> outs;
    for (size_t j = 0; j < g->outputs.size(); ++j) got.emplace_back(ref->at(j).size(), NAN);
    for (size_t j = 0; j < g->outputs.size(); ++j)
      outs.push_back({g->outputs[j], ElemType::kFloat32, got[j].data(), static_cast<int64_t>(got[j].size())});
    ASSERT_TRUE((*model)->Run(typed, outs).ok());
    for (size_t j = 0; j < g->outputs.size(); ++j) {
      std::vector<float> want = ReadFloats(base + "." + g->outputs[j] + ".bin");
      ASSERT_EQ(want.size(), got[j].size()) << g->outputs[j];
      double max_ref = 0, ref_err = 0, compiled_err = 0;
      for (size_t k = 0; k < want.size(); ++k) {
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[k])));
        ref_err = std::max(ref_err, std::fabs(static_cast<double>(ref->at(j)[k]) - want[k]));
        compiled_err = std::max(compiled_err, std::fabs(static_cast<double>(got[j][k]) - want[k]));
      }
      std::printf("%s %s: max |error| reference %.3g, compiled %.3g, of max |output| %.3g\n", name.c_str(),
                  g->outputs[j].c_str(), ref_err, compiled_err, max_ref);
      EXPECT_GT(max_ref, 0);
      EXPECT_LT(ref_err, 1e-4 * std::max(1.0, max_ref));
      EXPECT_LT(compiled_err, 1e-4 * std::max(1.0, max_ref));
    }
  }
}

}  // namespace
}  // namespace priortune::compiler

// ONNX import: models built here with the ONNX protobuf API (Debian's libonnx-dev), so
// each case is exact and small; the real models come from scripts/export_models.py.
#include "compiler/graph/graph.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <fstream>
#include <random>

#include "compiler/ops/op_template.h"
#include "tests/compiler/onnx_builder.h"

namespace priortune::compiler {
namespace {

using testing::FusableModel;
using testing::ModelBuilder;
using testing::Options;

// conv 3x3 (8 -> 16, stride 2, pad 1) -> BatchNormalization -> Relu -> GlobalAveragePool
// -> Flatten -> Gemm (16 -> 10, transB).
ModelBuilder SmallCnn(std::vector<float>* w, std::vector<float>* b, std::vector<std::vector<float>>* bn) {
  ModelBuilder m;
  m.Input("x", {1, 8, 12, 12});
  *w = m.Weight("w", {16, 8, 3, 3});
  *b = m.Weight("b", {16});
  bn->push_back(m.Weight("scale", {16}, 0.5, 1.5));
  bn->push_back(m.Weight("shift", {16}));
  bn->push_back(m.Weight("mean", {16}));
  bn->push_back(m.Weight("var", {16}, 0.5, 2));
  auto* conv = m.Node("Conv", "conv1", {"x", "w", "b"}, {"c"});
  ModelBuilder::Ints(conv, "kernel_shape", {3, 3});
  ModelBuilder::Ints(conv, "strides", {2, 2});
  ModelBuilder::Ints(conv, "pads", {1, 1, 1, 1});
  m.Node("BatchNormalization", "bn1", {"c", "scale", "shift", "mean", "var"}, {"n"});
  m.Node("Relu", "relu1", {"n"}, {"r"});
  m.Node("GlobalAveragePool", "gap", {"r"}, {"g"});
  m.Node("Flatten", "flat", {"g"}, {"f"});
  m.Weight("fc_w", {10, 16});
  m.Weight("fc_b", {10});
  auto* gemm = m.Node("Gemm", "fc", {"f", "fc_w", "fc_b"}, {"y"});
  ModelBuilder::Int(gemm, "transB", 1);
  m.Output("y");
  return m;
}

TEST(OnnxImport, InfersShapesFoldsBatchNormalizationIntoTheConvAndListsTheTasks) {
  std::vector<float> w, b;
  std::vector<std::vector<float>> bn;
  ModelBuilder m = SmallCnn(&w, &b, &bn);
  auto g = ImportOnnxBytes(m.Bytes(), "model", Options(true, false));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  std::vector<GraphOp> ops;
  for (const auto& n : g->nodes) ops.push_back(n.op);
  EXPECT_EQ(ops, (std::vector<GraphOp>{GraphOp::kConv2d, GraphOp::kRelu, GraphOp::kGlobalAveragePool, GraphOp::kReshape,
                                       GraphOp::kDense}));
  EXPECT_EQ(g->batchnorms_folded, 1);
  const GraphNode& conv = g->nodes[0];
  EXPECT_TRUE(conv.folded_batchnorm);
  EXPECT_EQ(conv.outputs[0], "n");  // it writes what the BatchNormalization wrote
  EXPECT_EQ(g->tensors.at("n").shape, (std::vector<int64_t>{1, 16, 6, 6}));
  EXPECT_EQ(g->tensors.at("g").shape, (std::vector<int64_t>{1, 16, 1, 1}));
  EXPECT_EQ(g->tensors.at("f").shape, (std::vector<int64_t>{1, 16}));
  EXPECT_EQ(g->tensors.at("y").shape, (std::vector<int64_t>{1, 10}));
  EXPECT_EQ(g->outputs, std::vector<std::string>{"y"});
  // The folded weights and bias: y = s * (conv + b - mean) + shift, s = scale / sqrt(var + eps).
  const auto& fw = g->tensors.at(conv.inputs[1]).data;
  const auto& fb = g->tensors.at(conv.inputs[2]).data;
  ASSERT_EQ(fw.size(), w.size());
  for (int o = 0; o < 16; ++o) {
    float s = bn[0][o] / std::sqrt(bn[3][o] + 1e-5f);
    EXPECT_NEAR(fb[o], (b[o] - bn[2][o]) * s + bn[1][o], 1e-5);
    for (int i = 0; i < 72; ++i) EXPECT_NEAR(fw[o * 72 + i], w[o * 72 + i] * s, 1e-5);
  }
  // The dense weight is stored [K, M] whatever the model's layout (transB here).
  EXPECT_EQ(g->tensors.at(g->nodes[4].inputs[1]).shape, (std::vector<int64_t>{16, 10}));
  // Tasks: the conv and the dense, with their FLOPs.
  auto tasks = ExtractTasks(*g);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].workload.op, "conv2d");
  EXPECT_TRUE(tasks[0].workload.bias);
  EXPECT_EQ(tasks[1].workload.op, "matmul");
  EXPECT_EQ(tasks[1].workload.dim("M"), 1);
  EXPECT_EQ(tasks[1].workload.dim("N"), 10);
  EXPECT_EQ(tasks[1].workload.dim("K"), 16);
  EXPECT_NEAR(tasks[0].flop_share + tasks[1].flop_share, 1.0, 1e-12);
  double conv_flops = (*FindTemplate("conv2d"))->Flops(tasks[0].workload);
  EXPECT_EQ(tasks[0].flops, conv_flops);
  EXPECT_GT(tasks[0].flop_share, tasks[1].flop_share);
}

TEST(OnnxImport, CountsRepeatedWorkloadsAsOneTask) {
  ModelBuilder m;
  m.Input("x", {1, 8, 10, 10});
  std::string prev = "x";
  for (int i = 0; i < 3; ++i) {
    std::string w = "w" + std::to_string(i), out = "c" + std::to_string(i);
    m.Weight(w, {8, 8, 3, 3});
    auto* conv = m.Node("Conv", "conv" + std::to_string(i), {prev, w}, {out});
    ModelBuilder::Ints(conv, "kernel_shape", {3, 3});
    ModelBuilder::Ints(conv, "pads", {1, 1, 1, 1});
    prev = out;
  }
  m.Output(prev);
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  auto tasks = ExtractTasks(*g);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].count, 3);
  EXPECT_DOUBLE_EQ(tasks[0].flop_share, 1.0);
}

TEST(GraphPasses, EpilogueFusionAndBatchNormFoldingChangeTheGraphAndKeepItsOutput) {
  ModelBuilder m = FusableModel();
  auto fused = ImportOnnxBytes(m.Bytes(), "model", Options(true, true));
  ASSERT_TRUE(fused.ok()) << fused.status().ToString();
  std::vector<std::string> names;
  for (const auto& n : fused->nodes) names.push_back(n.name);
  // e runs where the Add it absorbed ran: after f, whose output is its residual.
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "f", "e", "c", "d", "gap", "flat", "fc"}));
  EXPECT_EQ(fused->epilogues_fused, 8);
  auto node = [&](const std::string& name) -> const GraphNode& {
    for (const auto& n : fused->nodes)
      if (n.name == name) return n;
    ADD_FAILURE() << "no node " << name;
    return fused->nodes[0];
  };
  auto epilogue = [&](const std::string& name) {
    const Workload& w = *node(name).workload;
    return std::string(w.residual ? "residual+" : "") + (w.relu ? "relu" : w.relu6 ? "relu6" : "none");
  };
  EXPECT_EQ(epilogue("a"), "relu");
  EXPECT_EQ(epilogue("b"), "residual+relu");
  EXPECT_EQ(node("b").inputs.back(), "x");
  EXPECT_EQ(node("b").fused, (std::vector<std::string>{"b_add", "b_relu"}));
  EXPECT_EQ(epilogue("f"), "none");
  EXPECT_EQ(epilogue("e"), "residual+relu");
  EXPECT_EQ(node("e").inputs.back(), "f_out");
  EXPECT_EQ(node("e").outputs[0], "y2");
  EXPECT_EQ(epilogue("c"), "relu6");
  EXPECT_EQ(epilogue("d"), "relu6");
  EXPECT_TRUE(node("d").workload->bias);
  EXPECT_EQ(epilogue("fc"), "relu");
  // The fused workloads are the tasks: b and e are one (same shape and epilogue), a
  // another (no residual).
  auto tasks = ExtractTasks(*fused);
  EXPECT_EQ(tasks.size(), 6u);
  for (const auto& t : tasks)
    if (t.workload.Key() == node("b").workload->Key()) EXPECT_EQ(t.count, 2);

  std::vector<float> input(800);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : input) v = u(rng);
  auto want = RunGraphReference(*fused, input);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  for (auto [fold, fuse] : {std::pair{true, false}, {false, false}, {false, true}}) {
    SCOPED_TRACE(std::string("fold ") + (fold ? "on" : "off") + ", fuse " + (fuse ? "on" : "off"));
    auto g = ImportOnnxBytes(m.Bytes(), "model", Options(fold, fuse));
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_GT(g->nodes.size(), fused->nodes.size());
    EXPECT_EQ(g->batchnorms_folded, fold ? 5 : 0);
    auto got = RunGraphReference(*g, input);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), want->size());
    for (size_t i = 0; i < want->size(); ++i)
      EXPECT_NEAR((*got)[i], (*want)[i], 1e-4 * (1 + std::fabs((*want)[i]))) << i;
  }
}

std::string ImportError(const ModelBuilder& m) {
  auto g = ImportOnnxBytes(m.Bytes());
  EXPECT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument) << g.status().ToString();
  return g.status().message();
}

TEST(OnnxImport, RefusesUnsupportedOperatorsAndDynamicShapesNamingTheNode) {
  {
    ModelBuilder m;
    m.Input("x", {1, 4});
    m.Node("LSTM", "lstm7", {"x"}, {"y"});
    m.Output("y");
    std::string e = ImportError(m);
    EXPECT_NE(e.find("node 'lstm7' (LSTM)"), std::string::npos) << e;
    EXPECT_NE(e.find("not supported"), std::string::npos) << e;
  }
  {
    ModelBuilder m;
    m.Input("x", {0, 3, 8, 8}, "batch");
    m.Node("Relu", "r", {"x"}, {"y"});
    m.Output("y");
    std::string e = ImportError(m);
    EXPECT_NE(e.find("input 'x'"), std::string::npos) << e;
    EXPECT_NE(e.find("dynamic dimension 'batch'"), std::string::npos) << e;
  }
  {
    ModelBuilder m;
    m.Input("x", {1, 4, 8, 8});
    m.Weight("w", {4, 4, 3, 3});
    auto* conv = m.Node("Conv", "dilated", {"x", "w"}, {"y"});
    ModelBuilder::Ints(conv, "kernel_shape", {3, 3});
    ModelBuilder::Ints(conv, "dilations", {2, 2});
    m.Output("y");
    std::string e = ImportError(m);
    EXPECT_NE(e.find("node 'dilated' (Conv)"), std::string::npos) << e;
    EXPECT_NE(e.find("dilation 2"), std::string::npos) << e;
  }
  {
    ModelBuilder m;
    m.Input("x", {1, 4, 8, 8});
    m.Weight("w", {6, 2, 3, 3});
    auto* conv = m.Node("Conv", "grouped", {"x", "w"}, {"y"});
    ModelBuilder::Ints(conv, "kernel_shape", {3, 3});
    ModelBuilder::Int(conv, "group", 3);
    m.Output("y");
    std::string e = ImportError(m);
    EXPECT_NE(e.find("node 'grouped' (Conv): group 3 does not divide the 4 input and 6 output channels"),
              std::string::npos)
        << e;
  }
  auto garbage = ImportOnnxBytes("this is not a protobuf", "junk.onnx");
  EXPECT_EQ(garbage.status().code(), StatusCode::kDataLoss) << garbage.status().ToString();
  EXPECT_EQ(ImportOnnx("/nonexistent/model.onnx").status().code(), StatusCode::kNotFound);
}

TEST(OnnxImport, AGroupedConvolutionIsAGroupConvWorkloadAndItsWeightIsChecked) {
  for (int64_t per_group : {2, 3}) {
    ModelBuilder m;
    m.Input("x", {1, 8, 14, 14});
    m.Weight("w", {12, per_group, 3, 3});
    auto* conv = m.Node("Conv", "g4", {"x", "w"}, {"y"});
    ModelBuilder::Ints(conv, "kernel_shape", {3, 3});
    ModelBuilder::Ints(conv, "pads", {1, 1, 1, 1});
    ModelBuilder::Int(conv, "group", 4);
    m.Output("y");
    auto g = ImportOnnxBytes(m.Bytes());
    if (per_group == 3) {  // 8 channels in 4 groups are 2 per group
      ASSERT_FALSE(g.ok());
      EXPECT_NE(g.status().message().find("node 'g4' (Conv): weight has 3 input channels per group, the input 2"),
                std::string::npos)
          << g.status().ToString();
      continue;
    }
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ASSERT_EQ(g->nodes.size(), 1u);
    EXPECT_EQ(g->nodes[0].op, GraphOp::kConv2d);
    EXPECT_EQ(g->nodes[0].workload->op, "group_conv2d");
    EXPECT_EQ(g->nodes[0].workload->dim("G"), 4);
    EXPECT_EQ(g->tensors.at("y").shape, (std::vector<int64_t>{1, 12, 14, 14}));
  }
}

// A model past ONNX's 2 GB limit keeps its weights in files beside it (external data):
// read from there; a missing or short file is an error naming it. A truncated model file
// is refused with its name and size.
TEST(OnnxImport, ExternalDataIsReadFromBesideTheModelAndATruncatedFileIsRefused) {
  char tmpl[] = "/tmp/pt_external_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ModelBuilder m;
  m.Input("x", {1, 4, 5, 5});
  const std::vector<float> w = m.Weight("w", {6, 4, 3, 3});
  auto* conv = m.Node("Conv", "conv", {"x", "w"}, {"y"});
  ModelBuilder::Ints(conv, "kernel_shape", {3, 3});
  m.Output("y");
  const std::string bytes = m.MakeExternal("w", "weights.bin", 16);
  auto write = [&](const std::string& name, const std::string& data) {
    std::ofstream(dir + "/" + name, std::ios::binary) << data;
  };
  write("model.onnx", m.Bytes());
  write("weights.bin", std::string(16, 'x') + bytes);
  auto g = ImportOnnx(dir + "/model.onnx");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->tensors.at(g->nodes[0].inputs[1]).data, w);
  EXPECT_EQ(ImportOnnxBytes(m.Bytes()).status().code(), StatusCode::kInvalidArgument);
  write("weights.bin", std::string(16, 'x') + bytes.substr(0, 100));
  auto shortened = ImportOnnx(dir + "/model.onnx");
  EXPECT_EQ(shortened.status().code(), StatusCode::kDataLoss) << shortened.status().ToString();
  EXPECT_NE(shortened.status().message().find("external data 'weights.bin': the file ends before"), std::string::npos)
      << shortened.status().ToString();
  std::remove((dir + "/weights.bin").c_str());
  auto missing = ImportOnnx(dir + "/model.onnx");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
  // Truncated: the first half of a model with its weights inline.
  ModelBuilder inline_model;
  inline_model.Input("x", {1, 4, 5, 5});
  inline_model.Weight("w", {6, 4, 3, 3});
  ModelBuilder::Ints(inline_model.Node("Conv", "conv", {"x", "w"}, {"y"}), "kernel_shape", {3, 3});
  inline_model.Output("y");
  const std::string full = inline_model.Bytes();
  write("cut.onnx", full.substr(0, full.size() / 2));
  auto cut = ImportOnnx(dir + "/cut.onnx");
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(cut.status().message().find(dir + "/cut.onnx (" + std::to_string(full.size() / 2) + " bytes)"),
            std::string::npos)
      << cut.status().ToString();
  for (const char* f : {"model.onnx", "cut.onnx"}) std::remove((dir + "/" + f).c_str());
  rmdir(dir.c_str());
}

TEST(OnnxImport, ADepthwiseConvolutionIsItsOwnWorkload) {
  ModelBuilder m;
  m.Input("x", {1, 8, 14, 14});
  m.Weight("w", {8, 1, 3, 3});
  auto* conv = m.Node("Conv", "dw", {"x", "w"}, {"y"});
  ModelBuilder::Ints(conv, "kernel_shape", {3, 3});
  ModelBuilder::Ints(conv, "strides", {2, 2});
  ModelBuilder::Ints(conv, "pads", {1, 1, 1, 1});
  ModelBuilder::Int(conv, "group", 8);
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->nodes.size(), 1u);
  EXPECT_EQ(g->nodes[0].op, GraphOp::kDepthwiseConv2d);
  EXPECT_EQ(g->nodes[0].workload->op, "depthwise_conv2d");
  EXPECT_EQ(g->tensors.at("y").shape, (std::vector<int64_t>{1, 8, 7, 7}));
}

}  // namespace
}  // namespace priortune::compiler

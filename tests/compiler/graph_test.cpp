// ONNX import: models built here with the ONNX protobuf API (Debian's libonnx-dev), so
// each case is exact and small; the real models come from scripts/export_models.py.
#include "compiler/graph.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <random>

#include "compiler/op_template.h"

namespace priortune::compiler {
namespace {

class ModelBuilder {
 public:
  ModelBuilder() {
    model_.set_ir_version(7);
    model_.add_opset_import()->set_version(13);
  }
  void Input(const std::string& name, std::vector<int64_t> shape, const std::string& dynamic = "") {
    auto* in = model_.mutable_graph()->add_input();
    in->set_name(name);
    auto* t = in->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) {
      auto* dim = t->mutable_shape()->add_dim();
      if (d > 0) dim->set_dim_value(d);
      else dim->set_dim_param(dynamic);
    }
  }
  // A float initializer of random values (kept for the test's own reference math).
  std::vector<float> Weight(const std::string& name, std::vector<int64_t> shape, float lo = -1, float hi = 1) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : shape) {
      t->add_dims(d);
      n *= d;
    }
    std::vector<float> v(static_cast<size_t>(n));
    std::uniform_real_distribution<float> u(lo, hi);
    for (auto& x : v) x = u(rng_);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
    return v;
  }
  onnx::NodeProto* Node(const std::string& op, const std::string& name, std::vector<std::string> in,
                        std::vector<std::string> out) {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& i : in) n->add_input(i);
    for (auto& o : out) n->add_output(o);
    return n;
  }
  static void Ints(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void Int(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  void Output(const std::string& name) { model_.mutable_graph()->add_output()->set_name(name); }
  std::string Bytes() const { return model_.SerializeAsString(); }

 private:
  onnx::ModelProto model_;
  std::mt19937 rng_{7};
};

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
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  std::vector<GraphOp> ops;
  for (const auto& n : g->nodes) ops.push_back(n.op);
  EXPECT_EQ(ops, (std::vector<GraphOp>{GraphOp::kConv2d, GraphOp::kRelu, GraphOp::kGlobalAveragePool,
                                       GraphOp::kFlatten, GraphOp::kDense}));
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
    m.Weight("w", {4, 2, 3, 3});
    auto* conv = m.Node("Conv", "grouped", {"x", "w"}, {"y"});
    ModelBuilder::Ints(conv, "kernel_shape", {3, 3});
    ModelBuilder::Int(conv, "group", 2);
    m.Output("y");
    std::string e = ImportError(m);
    EXPECT_NE(e.find("node 'grouped' (Conv): group 2"), std::string::npos) << e;
  }
  auto garbage = ImportOnnxBytes("this is not a protobuf", "junk.onnx");
  EXPECT_EQ(garbage.status().code(), StatusCode::kDataLoss) << garbage.status().ToString();
  EXPECT_EQ(ImportOnnx("/nonexistent/model.onnx").status().code(), StatusCode::kNotFound);
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

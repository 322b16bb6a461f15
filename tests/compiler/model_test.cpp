// Compiled models: a graph planned for a target and run through the JIT gives what the
// graph's reference runner gives, with the graph passes on and off (each changes the
// plan, not the output), and for the simple ops (pooling, add, relu, softmax) as their
// tensor-expression kernels.
#include "compiler/model/model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "tests/compiler/onnx_builder.h"

namespace priortune::compiler {
namespace {

using testing::ModelBuilder;

std::vector<float> RandomInput(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& x : v) x = u(rng);
  return v;
}

// Plans and runs `g` on the host; expects the reference's output. `source` null: no
// store, every kernel hand-picked. `plan_out`: the plan, before it was compiled.
void ExpectCompiledMatchesReference(const Graph& g, size_t* steps = nullptr, ConfigSource* source = nullptr,
                                    const PlanOptions& options = {}, ModelPlan* plan_out = nullptr) {
  NoConfigSource none;
  auto plan = PlanModel(g, Target::Host(), source ? *source : none, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  if (steps) *steps = plan->steps.size();
  if (!source)
    for (const auto& s : plan->steps)
      if (s.workload) EXPECT_EQ(s.choice.level, "hand-picked") << s.name;
  if (plan_out) {
    *plan_out = *plan;
    for (auto& b : plan_out->buffers) b.data.clear();
  }
  auto model = CompiledModel::Create(std::move(*plan));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<float> input = RandomInput((*model)->input_elements(), 11);
  auto want = RunGraphReference(g, input);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  std::vector<float> got((*model)->output_elements(), NAN);
  ASSERT_TRUE((*model)->Run(input.data(), input.size(), got.data(), got.size()).ok());
  ASSERT_EQ(got.size(), want->size());
  double max_ref = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>((*want)[i])));
    EXPECT_NEAR(got[i], (*want)[i], 1e-4 * (1 + std::fabs((*want)[i]))) << "output " << i;
  }
  EXPECT_GT(max_ref, 0);
  // A second run on the same buffers gives the same answer (no state carried over).
  std::vector<float> again(got.size(), NAN);
  ASSERT_TRUE((*model)->Run(input.data(), input.size(), again.data(), again.size()).ok());
  EXPECT_EQ(again, got);
}

TEST(CompiledModel, MatchesTheReferenceWithAndWithoutFoldingAndFusion) {
  ModelBuilder m = testing::FusableModel();
  size_t fused_steps = 0;
  {
    auto g = ImportOnnxBytes(m.Bytes(), "model", testing::Options(true, true));
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ExpectCompiledMatchesReference(*g, &fused_steps);
  }
  for (auto [fold, fuse] : {std::pair{true, false}, {false, false}, {false, true}}) {
    SCOPED_TRACE(std::string("fold ") + (fold ? "on" : "off") + ", fuse " + (fuse ? "on" : "off"));
    auto g = ImportOnnxBytes(m.Bytes(), "model", testing::Options(fold, fuse));
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    size_t steps = 0;
    ExpectCompiledMatchesReference(*g, &steps);
    EXPECT_GT(steps, fused_steps);  // a pass off leaves more kernels to run
  }
}

TEST(CompiledModel, PoolingAddAndSoftmaxKernelsMatchTheReference) {
  // MaxPool 3x3 s2 p1, AveragePool 3x3 s1 p1 (edge windows count only what is inside),
  // AveragePool 2x2 s2, an Add of two of them, Relu, GlobalAveragePool, Flatten, Softmax.
  ModelBuilder m;
  m.Input("x", {1, 5, 19, 21});
  testing::Pool(m, "MaxPool", "max", "x", "a", 3, 2, 1);
  testing::Pool(m, "AveragePool", "avg", "a", "b", 3, 1, 1);
  m.Node("Add", "add", {"a", "b"}, {"c"});
  m.Node("Relu", "relu", {"c"}, {"d"});
  testing::Pool(m, "AveragePool", "avg2", "d", "e", 2, 2, 0);
  m.Node("GlobalAveragePool", "gap", {"e"}, {"f"});
  m.Node("Flatten", "flat", {"f"}, {"g"});
  m.Node("Softmax", "softmax", {"g"}, {"y"});
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  size_t steps = 0;
  ExpectCompiledMatchesReference(*g, &steps);
  EXPECT_EQ(steps, 7u);  // Flatten is a view, not a kernel
}

TEST(CompiledModel, TwoInputsGoByNameAndASizeThatIsNotTheModelsIsRefused) {
  ModelBuilder two;
  two.Input("x", {1, 4, 4, 4});
  two.Input("z", {1, 4, 4, 4});
  two.Node("Add", "add", {"x", "z"}, {"y"});
  two.Output("y");
  auto g = ImportOnnxBytes(two.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  NoConfigSource none;  // no store: every kernel hand-picked
  auto plan = PlanModel(*g, Target::Host(), none);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto added = CompiledModel::Create(std::move(*plan));
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  std::vector<float> x = RandomInput(64, 1), z = RandomInput(64, 2), y(64, NAN);
  Status one_input = (*added)->Run(x.data(), 64, y.data(), 64);
  EXPECT_EQ(one_input.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(one_input.message().find("give them by name"), std::string::npos) << one_input.ToString();
  ASSERT_TRUE((*added)
                  ->Run({{"z", ElemType::kFloat32, z.data(), 64}, {"x", ElemType::kFloat32, x.data(), 64}},
                        {{"y", ElemType::kFloat32, y.data(), 64}})
                  .ok());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], x[i] + z[i]) << i;

  // An int64 output: the float-only call refuses it (it would write 8 bytes per value into
  // a float buffer); by name it comes back truncated toward zero.
  ModelBuilder ints;
  ints.Input("x", {4});
  ModelBuilder::Int(ints.Node("Cast", "to_int", {"x"}, {"y"}), "to", onnx::TensorProto::INT64);
  ints.Output("y");
  auto gi = ImportOnnxBytes(ints.Bytes());
  ASSERT_TRUE(gi.ok()) << gi.status().ToString();
  auto pi = PlanModel(*gi, Target::Host(), none);
  ASSERT_TRUE(pi.ok()) << pi.status().ToString();
  auto truncating = CompiledModel::Create(std::move(*pi));
  ASSERT_TRUE(truncating.ok()) << truncating.status().ToString();
  const std::vector<float> xi = {-2.5f, -0.5f, 0.5f, 7.9f};
  std::vector<float> as_float(4, NAN);
  Status float_only = (*truncating)->Run(xi.data(), 4, as_float.data(), 4);
  EXPECT_EQ(float_only.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(float_only.message().find("float32 asked for, the model gives int64"), std::string::npos)
      << float_only.ToString();
  std::vector<int64_t> yi(4, 99);
  ASSERT_TRUE(
      (*truncating)->Run({{"x", ElemType::kFloat32, xi.data(), 4}}, {{"y", ElemType::kInt64, yi.data(), 4}}).ok());
  EXPECT_EQ(yi, (std::vector<int64_t>{-2, 0, 0, 7}));

  ModelBuilder one;
  one.Input("x", {1, 4, 4, 4});
  one.Node("Relu", "relu", {"x"}, {"y"});
  one.Output("y");
  auto g1 = ImportOnnxBytes(one.Bytes());
  ASSERT_TRUE(g1.ok());
  auto p1 = PlanModel(*g1, Target::Host(), none);
  ASSERT_TRUE(p1.ok()) << p1.status().ToString();
  auto model = CompiledModel::Create(std::move(*p1));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<float> in(63), out(64);
  Status s = (*model)->Run(in.data(), in.size(), out.data(), out.size());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("the model takes 64"), std::string::npos) << s.ToString();
}

// A fake store behind the ConfigSource interface: for each workload a config drawn at
// random (seeded) among those of the space that compute in channel blocks (conv2d's
// nchwc, depthwise's nchwc), so that producers and readers have different blocks.
class BlockedConfigs : public ConfigSource {
 public:
  explicit BlockedConfigs(uint32_t seed) : rng_(seed) {}
  StatusOr<ConfigChoice> BestConfig(const Workload& w, const Target& t) override {
    PT_ASSIGN_OR_RETURN(const OpTemplate* tmpl, FindTemplate(w.op));
    ConfigChoice c;
    c.level = "exact target";
    if (w.op != "conv2d" && w.op != "depthwise_conv2d" && w.op != "group_conv2d") {
      c.config = tmpl->HandPickedConfig(w, t);
      return c;
    }
    const auto knobs = tmpl->Knobs(w, t);
    for (int tries = 0; tries < 100000; ++tries) {
      Config cfg;
      for (const auto& k : knobs) k.Assign(rng_() % k.size(), cfg);
      if (tmpl->NativeBlock(w, t, cfg) > 0 && CheckConfigInSpace(*tmpl, w, t, cfg).ok()) {
        c.config = cfg;
        return c;
      }
    }
    return Internal("no blocked config drawn for " + w.ShortName());
  }

 private:
  std::mt19937 rng_;
};

// conv3x3+BN -> Relu -> MaxPool 3x3 s1 p1 -> conv3x3+BN -> Add(pool) -> Relu
//   -> depthwise 3x3+BN -> Clip(0, 6) -> AveragePool 2x2 s2 -> conv1x1+BN (16 -> 24)
//   -> GlobalAveragePool -> Flatten -> Gemm
ModelBuilder BlockedChainModel() {
  ModelBuilder m;
  m.Input("x", {1, 8, 12, 12});
  Conv(m, "a", "x", 8, 16, 3, true);
  m.Node("Relu", "a_relu", {"a_out"}, {"a_r"});
  testing::Pool(m, "MaxPool", "pool", "a_r", "p", 3, 1, 1);
  Conv(m, "b", "p", 16, 16, 3, true);
  m.Node("Add", "b_add", {"b_out", "p"}, {"b_sum"});
  m.Node("Relu", "b_relu", {"b_sum"}, {"b_r"});
  Conv(m, "d", "b_r", 16, 16, 3, true, /*depthwise=*/true);
  m.Scalar("zero", 0);
  m.Scalar("six", 6);
  m.Node("Clip", "d_clip", {"d_out", "zero", "six"}, {"d_r"});
  testing::Pool(m, "AveragePool", "avg", "d_r", "q", 2, 2, 0);
  Conv(m, "e", "q", 16, 24, 1, true);
  m.Node("GlobalAveragePool", "gap", {"e_out"}, {"g"});
  m.Node("Flatten", "flat", {"g"}, {"fl"});
  m.Weight("fc_w", {24, 10});
  m.Weight("fc_b", {10});
  m.Node("Gemm", "fc", {"fl", "fc_w", "fc_b"}, {"y"});
  m.Output("y");
  return m;
}

// conv3x3 -> MaxPool (2x2 s2, or ResNet's 3x3 s2 p1) -> Flatten -> Gemm: a pooling step
// that reads blocks and writes NCHW (its reader, Flatten, takes NCHW only).
ModelBuilder BlockedPoolThenFlattenModel(int kernel, int pad) {
  ModelBuilder m;
  m.Input("x", {1, 8, 8, 8});
  Conv(m, "a", "x", 8, 16, 3, true);
  testing::Pool(m, "MaxPool", "pool", "a_out", "p", kernel, 2, pad);
  m.Node("Flatten", "flat", {"p"}, {"fl"});
  m.Weight("fc_w", {256, 10});
  m.Weight("fc_b", {10});
  m.Node("Gemm", "fc", {"fl", "fc_w", "fc_b"}, {"y"});
  m.Output("y");
  return m;
}

TEST(CompiledModel, APoolingStepReadsBlocksAndWritesNchwForFlatten) {
  for (auto [kernel, pad] : {std::pair{2, 0}, {3, 1}}) {
    for (uint32_t seed : {3u, 4u}) {
      SCOPED_TRACE("kernel " + std::to_string(kernel) + ", seed " + std::to_string(seed));
      auto g = ImportOnnxBytes(BlockedPoolThenFlattenModel(kernel, pad).Bytes());
      ASSERT_TRUE(g.ok()) << g.status().ToString();
      BlockedConfigs source(seed);
      ModelPlan plan;
      ExpectCompiledMatchesReference(*g, nullptr, &source, PlanOptions{true}, &plan);
      std::map<std::string, int64_t> block;
      for (const auto& b : plan.buffers) block[b.name] = b.block;
      EXPECT_GT(block.at("a_out"), 0);
      EXPECT_EQ(block.at("p"), 0);
      EXPECT_EQ(plan.blocked_buffers, 1);
    }
  }
}

// NCHWc propagation: with blocked configs, every tensor between the convolutions, the
// pooling and (unfused) elementwise steps stays blocked in its producer's block; the graph's
// input and output and what Flatten and Gemm read stay NCHW; the output equals the
// reference's with propagation on and off, folding and fusion on and off. Off, no tensor
// is blocked and the blocked kernels take and give NCHW.
TEST(CompiledModel, UnaryActivationsMatchTheReferenceInBothLayouts) {
  // Sigmoid, HardSigmoid (its own alpha and beta), Tanh, Erf and HardSwish, each a kernel,
  // between two convolutions (so that with NCHWc propagation they run on blocked tensors).
  ModelBuilder m;
  m.Input("x", {1, 8, 9, 11});
  m.Weight("w1", {16, 8, 3, 3});
  m.Weight("b1", {16});
  auto* conv1 = m.Node("Conv", "conv1", {"x", "w1", "b1"}, {"c"});
  ModelBuilder::Ints(conv1, "kernel_shape", {3, 3});
  ModelBuilder::Ints(conv1, "pads", {1, 1, 1, 1});
  m.Node("Sigmoid", "sigmoid", {"c"}, {"s"});
  auto* hs = m.Node("HardSigmoid", "hard_sigmoid", {"s"}, {"h"});
  ModelBuilder::Float(hs, "alpha", 0.3f);
  ModelBuilder::Float(hs, "beta", 0.4f);
  m.Node("Tanh", "tanh", {"h"}, {"t"});
  m.Node("Erf", "erf", {"c"}, {"e"});
  m.Node("Add", "add", {"t", "e"}, {"a"});
  m.Node("HardSwish", "hard_swish", {"a"}, {"d"});
  m.Weight("w2", {8, 16, 1, 1});
  m.Weight("b2", {8});
  auto* conv2 = m.Node("Conv", "conv2", {"d", "w2", "b2"}, {"y"});
  ModelBuilder::Ints(conv2, "kernel_shape", {1, 1});
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  int unary = 0;
  for (const GraphNode& n : g->nodes) unary += n.op == GraphOp::kUnary;
  EXPECT_EQ(unary, 5);
  size_t steps = 0;
  ExpectCompiledMatchesReference(*g, &steps);
  EXPECT_EQ(steps, 8u);
  // With blocked convolution configs, the activations between them stay blocked.
  for (uint32_t seed : {1u, 2u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    BlockedConfigs source(seed);
    ModelPlan on;
    ExpectCompiledMatchesReference(*g, nullptr, &source, PlanOptions{true}, &on);
    int blocked_unary = 0;
    for (const auto& step : on.steps)
      if (!step.workload && step.op != "add" && on.buffers[step.args.back()].block > 0) ++blocked_unary;
    EXPECT_EQ(blocked_unary, 5);
  }
}

TEST(CompiledModel, CeilModePoolingKeepsTheLastPartialWindowAsOnnxRuntimeDoes) {
  // 10x10 -> MaxPool 3x3 s2 ceil: 5x5 (floor: 4x4); -> AveragePool 2x2 s2 ceil: 3x3, the
  // last window half outside; -> AveragePool 2x2 s2 p1 ceil: 2x2 (a third window would
  // start in the padding only).
  ModelBuilder m;
  m.Input("x", {1, 4, 10, 10});
  ModelBuilder::Int(testing::Pool(m, "MaxPool", "max", "x", "a", 3, 2, 0), "ceil_mode", 1);
  ModelBuilder::Int(testing::Pool(m, "AveragePool", "avg", "a", "b", 2, 2, 0), "ceil_mode", 1);
  ModelBuilder::Int(testing::Pool(m, "AveragePool", "avg_pad", "b", "y", 2, 2, 1), "ceil_mode", 1);
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->tensors.at("a").shape, (std::vector<int64_t>{1, 4, 5, 5}));
  EXPECT_EQ(g->tensors.at("b").shape, (std::vector<int64_t>{1, 4, 3, 3}));
  EXPECT_EQ(g->tensors.at("y").shape, (std::vector<int64_t>{1, 4, 2, 2}));
  ExpectCompiledMatchesReference(*g);
  // The reference's last window of the half-outside pool averages only what is inside.
  std::vector<float> input(400);
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>(i % 10 + 10 * ((i / 10) % 10));
  ModelBuilder one;
  one.Input("x", {1, 4, 10, 10});
  ModelBuilder::Int(testing::Pool(one, "AveragePool", "avg", "x", "y", 3, 3, 0), "ceil_mode", 1);  // 4x4
  one.Output("y");
  auto g1 = ImportOnnxBytes(one.Bytes());
  ASSERT_TRUE(g1.ok()) << g1.status().ToString();
  auto y = RunGraphReference(*g1, input);
  ASSERT_TRUE(y.ok());
  ASSERT_EQ(y->size(), 64u);
  EXPECT_FLOAT_EQ((*y)[15], 99.0f);  // the corner window holds x(9, 9) = 99 alone
  EXPECT_FLOAT_EQ((*y)[0], 11.0f);   // the mean of rows 0-2 x columns 0-2
  ExpectCompiledMatchesReference(*g1);
  // A window larger than the padded input is refused, naming the node.
  ModelBuilder big;
  big.Input("x", {1, 4, 3, 3});
  testing::Pool(big, "MaxPool", "huge", "x", "y", 5, 1, 0);
  big.Output("y");
  auto refused = ImportOnnxBytes(big.Bytes());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("node 'huge' (MaxPool)"), std::string::npos) << refused.status().ToString();
}

TEST(CompiledModel, ConcatAlongChannelsAndAlongWidthMatchesTheReference) {
  // A SqueezeNet fire module: squeeze 1x1, then expand 1x1 and 3x3 side by side along the
  // channels; then the result beside itself along the width (axis -1).
  ModelBuilder m;
  m.Input("x", {1, 12, 9, 7});
  auto conv = [&](const std::string& name, const std::string& in, const std::string& out, int64_t c, int64_t o,
                  int64_t k) {
    m.Weight(name + "_w", {o, c, k, k});
    m.Weight(name + "_b", {o});
    auto* n = m.Node("Conv", name, {in, name + "_w", name + "_b"}, {out});
    ModelBuilder::Ints(n, "kernel_shape", {k, k});
    ModelBuilder::Ints(n, "pads", {k / 2, k / 2, k / 2, k / 2});
  };
  conv("squeeze", "x", "s", 12, 4, 1);
  m.Node("Relu", "squeeze_relu", {"s"}, {"sr"});
  conv("expand1", "sr", "e1", 4, 8, 1);
  conv("expand3", "sr", "e3", 4, 8, 3);
  ModelBuilder::Int(m.Node("Concat", "fire", {"e1", "e3"}, {"c"}), "axis", 1);
  m.Node("Relu", "fire_relu", {"c"}, {"r"});
  ModelBuilder::Int(m.Node("Concat", "wide", {"r", "r", "c"}, {"y"}), "axis", -1);
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->tensors.at("c").shape, (std::vector<int64_t>{1, 16, 9, 7}));
  EXPECT_EQ(g->tensors.at("y").shape, (std::vector<int64_t>{1, 16, 9, 21}));
  ExpectCompiledMatchesReference(*g);
  for (uint32_t seed : {1u, 2u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    BlockedConfigs source(seed);
    ExpectCompiledMatchesReference(*g, nullptr, &source, PlanOptions{true});
  }
  // The reference puts each input's run in turn: y[.., 0:7] = r, [7:14] = r, [14:21] = c.
  ModelBuilder pair;
  pair.Input("x", {1, 2, 2, 3});
  pair.Node("Relu", "relu", {"x"}, {"r"});
  ModelBuilder::Int(pair.Node("Concat", "cat", {"x", "r"}, {"y"}), "axis", 3);
  pair.Output("y");
  auto gp = ImportOnnxBytes(pair.Bytes());
  ASSERT_TRUE(gp.ok()) << gp.status().ToString();
  std::vector<float> x = {-1, 2, -3, 4, -5, 6, 7, -8, 9, -10, 11, -12};
  auto y = RunGraphReference(*gp, x);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(*y, (std::vector<float>{-1, 2, -3, 0, 2, 0, 4, -5, 6, 4, 0, 6, 7, -8, 9, 7, 0, 9, -10, 11, -12, 0, 11, 0}));
  ExpectCompiledMatchesReference(*gp);
  // Refused, naming the node: inputs that differ off the axis, an axis out of range.
  ModelBuilder bad;
  bad.Input("x", {1, 2, 2, 3});
  testing::Pool(bad, "MaxPool", "pool", "x", "p", 2, 1, 0);  // 1x2x1x2
  ModelBuilder::Int(bad.Node("Concat", "mismatch", {"x", "p"}, {"y"}), "axis", 1);
  bad.Output("y");
  auto refused = ImportOnnxBytes(bad.Bytes());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("node 'mismatch' (Concat): input 1 differs"), std::string::npos)
      << refused.status().ToString();
  ModelBuilder far;
  far.Input("x", {1, 2, 2, 3});
  ModelBuilder::Int(far.Node("Concat", "far", {"x", "x"}, {"y"}), "axis", 4);
  far.Output("y");
  auto out_of_range = ImportOnnxBytes(far.Bytes());
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.status().message().find("axis 4 out of range for rank 4"), std::string::npos)
      << out_of_range.status().ToString();
}

TEST(CompiledModel, AResNeXtBlockWithAGroupedConvolutionMatchesTheReference) {
  // 1x1+BN+Relu (16 -> 32), grouped 3x3+BN+Relu (8 groups of 4), 1x1+BN (32 -> 16),
  // + x, Relu; then a grouped 3x3 with stride 1 and fewer outputs than inputs (4 groups,
  // 16 -> 8) and BatchNormalization after a Concat (DenseNet's, left unfolded).
  ModelBuilder m;
  m.Input("x", {1, 16, 10, 10});
  Conv(m, "a", "x", 16, 32, 1, true);
  m.Node("Relu", "a_relu", {"a_out"}, {"a_r"});
  Conv(m, "b", "a_r", 32, 32, 3, true, false, /*groups=*/8);
  m.Node("Relu", "b_relu", {"b_out"}, {"b_r"});
  Conv(m, "c", "b_r", 32, 16, 1, true);
  m.Node("Add", "c_add", {"c_out", "x"}, {"c_sum"});
  m.Node("Relu", "c_relu", {"c_sum"}, {"c_r"});
  Conv(m, "d", "c_r", 16, 8, 3, false, false, /*groups=*/4);
  ModelBuilder::Int(m.Node("Concat", "cat", {"d_c", "c_r"}, {"cat_out"}), "axis", 1);
  m.Weight("n_s", {24}, 0.5, 1.5);
  m.Weight("n_h", {24});
  m.Weight("n_m", {24});
  m.Weight("n_v", {24}, 0.5, 2);
  m.Node("BatchNormalization", "n_bn", {"cat_out", "n_s", "n_h", "n_m", "n_v"}, {"y"});
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  int grouped = 0, unfolded = 0;
  for (const auto& n : g->nodes) {
    grouped += n.workload && n.workload->op == "group_conv2d";
    unfolded += n.op == GraphOp::kBatchNorm;
  }
  EXPECT_EQ(grouped, 2);
  EXPECT_EQ(unfolded, 1);
  EXPECT_EQ(g->batchnorms_folded, 3);
  ExpectCompiledMatchesReference(*g);
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    BlockedConfigs source(seed);
    ExpectCompiledMatchesReference(*g, nullptr, &source, PlanOptions{true});
  }
}

// The graph's only ops on a random input: the compiled kernels against the reference,
// and the reference's output for `x` (a small exact case) when `want` is given.
void ExpectOps(const ModelBuilder& m, const std::vector<int64_t>& out_shape, const std::vector<float>& x = {},
               const std::vector<float>& want = {}) {
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->tensors.at(g->outputs[0]).shape, out_shape);
  ExpectCompiledMatchesReference(*g);
  if (want.empty()) return;
  auto y = RunGraphReference(*g, x);
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(*y, want);
}

TEST(CompiledModel, SiluAndHardSwishAfterAConvAreFusedIntoItsEpilogue) {
  // conv -> Sigmoid + Mul (SiLU), depthwise -> HardSwish, conv -> HardSigmoid(1/6, 1/2) +
  // Mul (HardSwish as opset 13 spells it), conv -> HardSigmoid(0.2, 0.5) + Mul (not
  // HardSwish: stays), conv -> Sigmoid + Mul whose Sigmoid is also a graph output (not
  // fused: the graph needs it).
  ModelBuilder m;
  m.Input("x", {1, 8, 9, 9});
  Conv(m, "a", "x", 8, 16, 3, true);
  m.Node("Sigmoid", "a_sig", {"a_out"}, {"a_s"});
  m.Node("Mul", "a_silu", {"a_out", "a_s"}, {"a_y"});
  Conv(m, "d", "a_y", 16, 16, 3, true, /*depthwise=*/true);
  m.Node("HardSwish", "d_hs", {"d_out"}, {"d_y"});
  Conv(m, "h", "d_y", 16, 16, 1, true);
  ModelBuilder::Float(m.Node("HardSigmoid", "h_gate", {"h_out"}, {"h_g"}), "alpha", 1.0f / 6.0f);
  m.Node("Mul", "h_hs", {"h_g", "h_out"}, {"h_y"});
  Conv(m, "k", "h_y", 16, 16, 1, false);
  m.Node("HardSigmoid", "k_gate", {"k_c"}, {"k_g"});
  m.Node("Mul", "k_mul", {"k_c", "k_g"}, {"k_y"});
  Conv(m, "e", "k_y", 16, 8, 1, false);
  m.Node("Sigmoid", "e_sig", {"e_c"}, {"e_s"});
  m.Node("Mul", "e_silu", {"e_s", "e_c"}, {"y"});
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->nodes.size(), 7u);
  EXPECT_TRUE(g->nodes[0].workload->silu);
  EXPECT_TRUE(g->nodes[1].workload->hardswish);
  EXPECT_TRUE(g->nodes[2].workload->hardswish);  // the HardSigmoid read first, then the Mul
  EXPECT_FALSE(g->nodes[3].workload->hardswish || g->nodes[3].workload->silu);
  EXPECT_EQ(g->nodes[4].op, GraphOp::kUnary);
  EXPECT_EQ(g->nodes[5].op, GraphOp::kBinary);
  EXPECT_TRUE(g->nodes[6].workload->silu);  // the Sigmoid read first, then the Mul
  EXPECT_EQ(g->epilogues_fused, 7);
  ExpectCompiledMatchesReference(*g);
  for (uint32_t seed : {1u, 2u}) {
    BlockedConfigs source(seed);
    ExpectCompiledMatchesReference(*g, nullptr, &source, PlanOptions{true});
  }
  m.Output("e_s");
  auto kept = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE(kept->nodes[6].workload && kept->nodes[6].workload->silu);
  EXPECT_EQ(kept->epilogues_fused, 5);
}

// Attention's products of two activations (MatMul -> batch_matmul) and ViT's class-token
// Gather x[:, 0], on x [2, 6, 8].
// A model of typed inputs (int64 ids, a bool mask, int32 ids, floats): Gather of run-time
// ids along axes 0 and 1 (negative ids from the end), Cast to float, to int64 (toward
// zero) and to bool, Where with broadcasting; three outputs. The reference is checked by
// hand, the compiled model against it, and its inputs by name and type.
TEST(CompiledModel, TypedInputsGatherCastAndWhereAtRunTimeMatchTheReference) {
  ModelBuilder m;
  m.Input("ids", {2, 3}, "", onnx::TensorProto::INT64);
  m.Input("mask", {1, 3}, "", onnx::TensorProto::BOOL);
  m.Input("cols", {2}, "", onnx::TensorProto::INT32);
  m.Input("x", {2, 3});
  const std::vector<float> table = m.Weight("table", {10, 4}), wide = m.Weight("wide", {3, 5});
  m.Node("Gather", "embed", {"table", "ids"}, {"rows"});                                 // [2, 3, 4]
  ModelBuilder::Int(m.Node("Gather", "pick", {"wide", "cols"}, {"picked"}), "axis", 1);  // [3, 2]
  ModelBuilder::Int(m.Node("Cast", "mask_f", {"mask"}, {"mf"}), "to", onnx::TensorProto::FLOAT);
  ModelBuilder::Int(m.Node("Cast", "trunc", {"x"}, {"xi"}), "to", onnx::TensorProto::INT64);
  ModelBuilder::Int(m.Node("Cast", "nonzero", {"xi"}, {"xb"}), "to", onnx::TensorProto::BOOL);
  ModelBuilder::Int(m.Node("Cast", "back", {"xb"}, {"xbf"}), "to", onnx::TensorProto::FLOAT);
  m.Scalar("low", -100.0f);
  m.Node("Where", "masked", {"mask", "x", "low"}, {"w"});  // [2, 3]
  m.Node("Add", "sum", {"w", "xbf"}, {"ws"});
  m.Node("Mul", "scale", {"ws", "mf"}, {"y"});
  m.Output("rows");
  m.Output("picked");
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->outputs.size(), 3u);
  EXPECT_EQ(g->tensors.at("xi").dtype, ElemType::kInt64);

  const std::vector<int64_t> ids = {0, 9, -1, 3, -10, 5};
  const uint8_t mask[3] = {1, 0, 1};
  const std::vector<int32_t> cols = {4, -5};
  const std::vector<float> x = {-1.7f, 0.4f, 2.9f, -0.2f, 3.0f, 1.5f};
  std::vector<std::vector<float>> in = {
      std::vector<float>(ids.begin(), ids.end()), {1, 0, 1}, std::vector<float>(cols.begin(), cols.end()), x};
  auto want = RunGraphReference(*g, in);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  for (int k = 0; k < 6; ++k)
    for (int d = 0; d < 4; ++d) {
      const int64_t row = ids[k] < 0 ? ids[k] + 10 : ids[k];
      EXPECT_EQ((*want)[0][k * 4 + d], table[row * 4 + d]) << k;
    }
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ((*want)[1][r * 2], wide[r * 5 + 4]);
    EXPECT_EQ((*want)[1][r * 2 + 1], wide[r * 5 + 0]);
  }
  // y = (mask ? x : -100) + (trunc(x) != 0), times mask: column 1 is 0.
  const std::vector<float> y = {-1.7f + 1, 0, 2.9f + 1, -0.2f + 0, 0, 1.5f + 1};
  for (int k = 0; k < 6; ++k) EXPECT_FLOAT_EQ((*want)[2][k], y[k]) << k;

  NoConfigSource none;
  auto plan = PlanModel(*g, Target::Host(), none);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->inputs[0].index_bound, 10);  // ids index the table
  EXPECT_EQ(plan->inputs[2].index_bound, 5);   // cols index wide's axis 1
  EXPECT_EQ(plan->inputs[3].index_bound, 0);
  auto model = CompiledModel::Create(std::move(*plan));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<std::vector<float>> got = {std::vector<float>(24, NAN), std::vector<float>(6, NAN),
                                         std::vector<float>(6, NAN)};
  std::vector<TypedIn> typed = {{"x", ElemType::kFloat32, x.data(), 6},
                                {"cols", ElemType::kInt32, cols.data(), 2},
                                {"mask", ElemType::kBool, mask, 3},
                                {"ids", ElemType::kInt64, ids.data(), 6}};
  std::vector<TypedOut> outs = {{"y", ElemType::kFloat32, got[2].data(), 6},
                                {"rows", ElemType::kFloat32, got[0].data(), 24},
                                {"picked", ElemType::kFloat32, got[1].data(), 6}};
  ASSERT_TRUE((*model)->Run(typed, outs).ok());
  for (size_t j = 0; j < 3; ++j)
    for (size_t k = 0; k < got[j].size(); ++k) EXPECT_FLOAT_EQ(got[j][k], (*want)[j][k]) << j << " " << k;

  // Inputs it refuses, naming them; an out-of-table id is refused before anything runs.
  const std::vector<int64_t> bad_ids = {0, 1, 2, 3, 4, 10};
  auto refused = [&](std::vector<TypedIn> in, const std::string& want_text) {
    Status s = (*model)->Run(in, outs);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << want_text;
    EXPECT_NE(s.message().find(want_text), std::string::npos) << s.message();
  };
  auto with = [&](size_t k, TypedIn t) {
    auto v = typed;
    v[k] = t;
    return v;
  };
  refused(with(3, {"ids", ElemType::kInt64, bad_ids.data(), 6}), "input 'ids': value 10 at element 5 is outside");
  refused(with(3, {"ids", ElemType::kInt32, cols.data(), 6}), "input 'ids': int32 given, the model takes int64");
  refused(with(0, {"x", ElemType::kFloat32, x.data(), 5}), "input 'x': 5 values given, the model takes 6");
  refused(std::vector<TypedIn>(typed.begin(), typed.begin() + 3), "input 'ids' is missing");
  refused(with(2, {"masks", ElemType::kBool, mask, 3}), "no input named 'masks'");
  const std::vector<int64_t> huge = {0, 1, 2, 3, 4, int64_t{1} << 40};
  refused(with(3, {"ids", ElemType::kInt64, huge.data(), 6}), "value 1099511627776 at element 5");
  EXPECT_EQ((*model)->Run(x.data(), 6, got[2].data(), 6).code(), StatusCode::kInvalidArgument);
  // The outputs are as they were after the good run: nothing ran.
  for (size_t k = 0; k < 6; ++k) EXPECT_FLOAT_EQ(got[2][k], (*want)[2][k]);
}

// Einsum as MaxViT exports its attention: "BGHID,BGHJD->BGHIJ" (B transposed) and
// "BGHIJ,BGHJD->BGHID", checked against the loops of the equation; another form is refused
// naming the node and the equation.
TEST(CompiledModel, EinsumOfABatchedProductMatchesTheReference) {
  auto einsum = [](const std::string& eq, std::vector<int64_t> a, std::vector<int64_t> b) {
    ModelBuilder m;
    m.Input("a", a);
    m.Weight("b", b);  // a constant operand, as a batch_matmul argument
    auto* n = m.Node("Einsum", "es", {"a", "b"}, {"y"});
    auto* attr = n->add_attribute();
    attr->set_name("equation");
    attr->set_type(onnx::AttributeProto::STRING);
    attr->set_s(eq);
    m.Output("y");
    return m;
  };
  {
    ModelBuilder m = einsum("b g h i d, b g h j d -> b g h i j", {1, 2, 3, 4, 5}, {1, 2, 3, 6, 5});
    auto g = ImportOnnxBytes(m.Bytes());
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    std::vector<float> a = RandomInput(120, 5);
    const std::vector<float>& b = g->tensors.at("b").data;
    auto y = RunGraphReference(*g, a);
    ASSERT_TRUE(y.ok()) << y.status().ToString();
    ASSERT_EQ(y->size(), 6u * 4 * 6);
    for (int p = 0; p < 6; ++p)
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 6; ++j) {
          double acc = 0;
          for (int d = 0; d < 5; ++d) acc += double(a[(p * 4 + i) * 5 + d]) * b[(p * 6 + j) * 5 + d];
          EXPECT_NEAR((*y)[(p * 4 + i) * 6 + j], acc, 1e-5);
        }
    ExpectCompiledMatchesReference(*g);
  }
  {
    ModelBuilder m = einsum("BGHIJ,BGHJD->BGHID", {1, 2, 3, 4, 6}, {1, 2, 3, 6, 5});
    auto g = ImportOnnxBytes(m.Bytes());
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    bool task = false;
    for (const auto& n : g->nodes)
      task = task || (n.workload && n.workload->ShortName() == "batch_matmul B=6,K=6,M=4,N=5");
    EXPECT_TRUE(task);
    ExpectCompiledMatchesReference(*g);
  }
  for (const char* eq : {"ij,jk", "bij,bjk->bik,", "bij,bkj->bjk", "ii,ij->ij", "bij,bjk->bki"}) {
    ModelBuilder m = einsum(eq, {2, 3, 4}, {2, 4, 3});
    auto g = ImportOnnxBytes(m.Bytes());
    EXPECT_FALSE(g.ok()) << eq;
    EXPECT_NE(g.status().message().find("node 'es' (Einsum): equation"), std::string::npos) << g.status().ToString();
  }
}

TEST(CompiledModel, MatMulOfTwoActivationsAndGatherMatchTheReference) {
  auto check = [](ModelBuilder& m, const std::string& want_task) {
    auto g = ImportOnnxBytes(m.Bytes());
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    bool found = want_task.empty();
    for (const auto& n : g->nodes)
      if (n.workload && n.workload->ShortName() == want_task) found = true;
    EXPECT_TRUE(found) << want_task;
    ExpectCompiledMatchesReference(*g);
  };
  {  // 3-D, same batch: x x^T, softmax, then by x; the reference checked by hand too.
    auto scores = [](ModelBuilder& m) {
      m.Input("x", {2, 6, 8});
      ModelBuilder::Ints(m.Node("Transpose", "t", {"x"}, {"xt"}), "perm", {0, 2, 1});
      m.Node("MatMul", "qk", {"x", "xt"}, {"s"});
    };
    ModelBuilder m;
    scores(m);
    m.Output("s");
    auto g = ImportOnnxBytes(m.Bytes());
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    std::vector<float> x = RandomInput(2 * 6 * 8, 3);
    auto y = RunGraphReference(*g, x);
    ASSERT_TRUE(y.ok());
    ASSERT_EQ(y->size(), 2u * 6 * 6);
    for (int b = 0; b < 2; ++b)
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) {
          double acc = 0;
          for (int k = 0; k < 8; ++k) acc += double(x[(b * 6 + i) * 8 + k]) * x[(b * 6 + j) * 8 + k];
          EXPECT_NEAR((*y)[(b * 6 + i) * 6 + j], acc, 1e-5);
        }
    check(m, "batch_matmul B=2,K=8,M=6,N=6");
    ModelBuilder a;
    scores(a);
    ModelBuilder::Int(a.Node("Softmax", "sm", {"s"}, {"p"}), "axis", -1);
    a.Node("MatMul", "av", {"p", "x"}, {"y"});
    a.Output("y");
    check(a, "batch_matmul B=2,K=6,M=6,N=8");
  }
  {  // 4-D heads: [2, 2, 3, 8] x [2, 2, 8, 3].
    ModelBuilder m;
    m.Input("x", {2, 6, 8});
    m.Ints("heads", {4}, {2, 2, 3, 8});
    m.Node("Reshape", "r", {"x", "heads"}, {"h"});
    ModelBuilder::Ints(m.Node("Transpose", "t", {"h"}, {"ht"}), "perm", {0, 1, 3, 2});
    m.Node("MatMul", "qk", {"h", "ht"}, {"y"});
    m.Output("y");
    check(m, "batch_matmul B=4,K=8,M=3,N=3");
  }
  {  // One B for every batch: x [2, 6, 8] by (x[0])^T [8, 6], x[0] a scalar Gather.
    ModelBuilder m;
    m.Input("x", {2, 6, 8});
    m.Ints("zero", {}, {0});
    m.Node("Gather", "first", {"x", "zero"}, {"x0"});
    ModelBuilder::Ints(m.Node("Transpose", "t", {"x0"}, {"x0t"}), "perm", {1, 0});
    m.Node("MatMul", "mm", {"x", "x0t"}, {"y"});
    m.Output("y");
    check(m, "batch_matmul B=1,K=8,M=12,N=6");
  }
  {  // Evenly spaced indices, backwards, along axis 1: rows 5, 3, 1.
    ModelBuilder m;
    m.Input("x", {2, 6, 8});
    m.Ints("rows", {3}, {-1, 3, 1});
    ModelBuilder::Int(m.Node("Gather", "g", {"x", "rows"}, {"y"}), "axis", 1);
    m.Output("y");
    auto g = ImportOnnxBytes(m.Bytes());
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_EQ(g->tensors.at("y").shape, (std::vector<int64_t>{2, 3, 8}));
    std::vector<float> x = RandomInput(2 * 6 * 8, 4);
    auto y = RunGraphReference(*g, x);
    ASSERT_TRUE(y.ok());
    for (int b = 0; b < 2; ++b)
      for (int r = 0; r < 3; ++r)
        for (int k = 0; k < 8; ++k) EXPECT_EQ((*y)[(b * 3 + r) * 8 + k], x[(b * 6 + 5 - 2 * r) * 8 + k]);
    check(m, "");
  }
}

TEST(CompiledModel, UnsupportedMatMulsAndGathersAreRefusedNamingTheNode) {
  auto refused = [](ModelBuilder& m, const std::string& text) {
    auto g = ImportOnnxBytes(m.Bytes());
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(g.status().message().find(text), std::string::npos) << g.status().ToString();
  };
  {  // A shared by several B's
    ModelBuilder m;
    m.Input("x", {2, 6, 6});
    m.Ints("zero", {}, {0});
    m.Node("Gather", "first", {"x", "zero"}, {"x0"});
    m.Node("MatMul", "mm5", {"x0", "x"}, {"y"});
    m.Output("y");
    refused(m, "node 'mm5' (MatMul): batch axes that broadcast A against several B's");
  }
  {  // K differs
    ModelBuilder m;
    m.Input("x", {2, 6, 8});
    m.Node("MatMul", "mm6", {"x", "x"}, {"y"});
    m.Output("y");
    refused(m, "node 'mm6' (MatMul): A's last axis (8) does not match B's second last (6)");
  }
  {  // uneven indices (a kGather of constant rows: no slice takes them), and one out of range
    ModelBuilder m;
    m.Input("x", {2, 6, 8});
    m.Ints("rows", {3}, {0, 1, -1});
    ModelBuilder::Int(m.Node("Gather", "g7", {"x", "rows"}, {"y"}), "axis", 1);
    m.Output("y");
    auto g = ImportOnnxBytes(m.Bytes());
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ASSERT_EQ(g->nodes.size(), 1u);
    EXPECT_EQ(g->nodes[0].op, GraphOp::kGather);
    std::vector<float> x = RandomInput(96, 4);
    auto y = RunGraphReference(*g, x);
    ASSERT_TRUE(y.ok());
    for (int b = 0; b < 2; ++b)
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 8; ++c) EXPECT_EQ((*y)[(b * 3 + r) * 8 + c], x[(b * 6 + (r == 2 ? 5 : r)) * 8 + c]);
    ExpectCompiledMatchesReference(*g);
    ModelBuilder o;
    o.Input("x", {2, 6, 8});
    o.Ints("rows", {1}, {6});
    ModelBuilder::Int(o.Node("Gather", "g8", {"x", "rows"}, {"y"}), "axis", 1);
    o.Output("y");
    refused(o, "node 'g8' (Gather): index 6 out of range for axis 1 (6)");
  }
}

TEST(CompiledModel, ChannelShuffleSplitAndSliceMatchTheReference) {
  // ShuffleNetV2: Split into halves, a branch, Concat, then Reshape [N, 2, C/2, H, W],
  // Transpose (0 2 1 3 4), Reshape back; a strided, backward Slice after it.
  ModelBuilder m;
  m.Input("x", {1, 8, 6, 5});
  m.Ints("halves", {2}, {4, 4});
  ModelBuilder::Int(m.Node("Split", "split", {"x", "halves"}, {"a", "b"}), "axis", 1);
  Conv(m, "branch", "b", 4, 4, 3, false);
  ModelBuilder::Int(m.Node("Concat", "cat", {"a", "branch_c"}, {"c"}), "axis", 1);
  m.Ints("s5", {5}, {1, 2, 4, 6, 5});
  m.Node("Reshape", "r5", {"c", "s5"}, {"c5"});
  ModelBuilder::Ints(m.Node("Transpose", "shuffle", {"c5"}, {"t5"}), "perm", {0, 2, 1, 3, 4});
  m.Ints("s4", {4}, {0, -1, 6, 5});  // 0 copies the batch
  m.Node("Reshape", "r4", {"t5", "s4"}, {"t"});
  m.Ints("st", {2}, {7, -1});
  m.Ints("en", {2}, {0, -100});
  m.Ints("ax", {2}, {1, 3});
  m.Ints("sp", {2}, {-2, -2});
  m.Node("Slice", "slice", {"t", "st", "en", "ax", "sp"}, {"y"});
  m.Output("y");
  ExpectOps(m, {1, 4, 6, 3});
  // By value: a 2x3 transposed, then its second column sliced off.
  ModelBuilder v;
  v.Input("x", {2, 3});
  ModelBuilder::Ints(v.Node("Transpose", "t", {"x"}, {"t"}), "perm", {1, 0});
  v.Ints("st", {1}, {1});
  v.Ints("en", {1}, {2});
  v.Ints("ax", {1}, {1});
  v.Node("Slice", "s", {"t", "st", "en", "ax"}, {"y"});
  v.Output("y");
  ExpectOps(v, {3, 1}, {1, 2, 3, 4, 5, 6}, {4, 5, 6});
}

TEST(CompiledModel, PadThenAveragePoolAndCountIncludePadMatchPyTorchsRule) {
  // Inception's avg_pool2d(3, 1, 1) exported as Pad then AveragePool; the same as
  // AveragePool with count_include_pad 1; by value on a 2x2 of ones: every window
  // divides by 9.
  for (bool as_pad : {true, false}) {
    ModelBuilder m;
    m.Input("x", {1, 3, 7, 6});
    std::string in = "x";
    if (as_pad) {
      m.Ints("pads", {8}, {0, 0, 1, 1, 0, 0, 1, 1});
      m.Node("Pad", "pad", {"x", "pads"}, {"p"});
      in = "p";
    }
    auto* pool = testing::Pool(m, "AveragePool", "avg", in, "y", 3, 1, as_pad ? 0 : 1);
    if (!as_pad) ModelBuilder::Int(pool, "count_include_pad", 1);
    m.Output("y");
    ExpectOps(m, {1, 3, 7, 6});
    ModelBuilder v;
    v.Input("x", {1, 1, 2, 2});
    ModelBuilder::Int(testing::Pool(v, "AveragePool", "avg", "x", "y", 3, 1, 1), "count_include_pad", 1);
    v.Output("y");
    ExpectOps(v, {1, 1, 2, 2}, {1, 1, 1, 1}, {4.f / 9, 4.f / 9, 4.f / 9, 4.f / 9});
  }
}

TEST(CompiledModel, ReduceSoftmaxPowSqrtAndLayerNormalizationMatchTheReference) {
  ModelBuilder m;  // ReduceSum over (1, 3) kept, ReduceMean over 2 dropped, Softmax along 1
  m.Input("x", {2, 5, 4, 3});
  ModelBuilder::Int(m.Node("Softmax", "sm", {"x"}, {"s"}), "axis", 1);
  m.Ints("axes", {2}, {1, -1});
  m.Node("ReduceSum", "sum", {"s", "axes"}, {"r"});
  auto* mean = m.Node("ReduceMean", "mean", {"r"}, {"q"});
  ModelBuilder::Ints(mean, "axes", {2});
  ModelBuilder::Int(mean, "keepdims", 0);
  m.Output("q");
  ExpectOps(m, {2, 1, 1});
  ModelBuilder v;  // by value: softmax lines along axis 1 sum to 1, so the sum over it is 1
  v.Input("x", {1, 2, 2});
  ModelBuilder::Int(v.Node("Softmax", "sm", {"x"}, {"s"}), "axis", 1);
  v.Ints("axes", {1}, {1});
  v.Node("ReduceSum", "sum", {"s", "axes"}, {"y"});
  v.Output("y");
  auto g = ImportOnnxBytes(v.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  auto y = RunGraphReference(*g, {0.5f, -1.f, 2.f, 3.f});
  ASSERT_TRUE(y.ok());
  for (float e : *y) EXPECT_NEAR(e, 1.0f, 1e-6);
  // Softmax over the last axis (attention's scores), lines in vectors: 16 and 48 values
  // (one and three native vectors), 128 (past lowering's 64 lanes), 197 (ViT's tokens: no
  // whole vectors, a scalar line) and 1.
  for (int64_t width : {16, 48, 128, 197, 1}) {
    SCOPED_TRACE(width);
    ModelBuilder sm;
    sm.Input("x", {2, 3, width});
    ModelBuilder::Int(sm.Node("Softmax", "sm", {"x"}, {"y"}), "axis", -1);
    sm.Output("y");
    ExpectOps(sm, {2, 3, width});
  }
  // LayerNormalization over the last two axes (opset 17), then Pow 2 and Sqrt: |normalised|.
  ModelBuilder ln;
  ln.Opset(17);
  ln.Input("x", {2, 3, 4, 5});
  ln.Weight("scale", {4, 5}, 0.5, 1.5);
  ln.Weight("bias", {5});
  ModelBuilder::Int(ln.Node("LayerNormalization", "ln", {"x", "scale", "bias"}, {"n"}), "axis", -2);
  ln.Scalar("two", 2);
  ln.Node("Pow", "sq", {"n", "two"}, {"p"});
  ln.Node("Sqrt", "root", {"p"}, {"y"});
  ln.Output("y");
  ExpectOps(ln, {2, 3, 4, 5});
  // Over 128 and 192 values (MaxViT's and wider): vectors past lowering's 64 lanes split;
  // 48 and 768 (BERT's): the sums in vectors of partial sums, then across the lanes.
  for (int64_t width : {48, 128, 192, 768}) {
    ModelBuilder wide;
    wide.Opset(17);
    wide.Input("x", {3, width});
    wide.Weight("scale", {width}, 0.5, 1.5);
    wide.Weight("bias", {width});
    wide.Node("LayerNormalization", "ln", {"x", "scale", "bias"}, {"y"});
    wide.Output("y");
    ExpectOps(wide, {3, width});
  }
  // By value: a normalised row has mean 0 and variance 1 (scale 1, no bias).
  ModelBuilder lv;
  lv.Opset(17);
  lv.Input("x", {2, 4});
  ModelBuilder::Float(lv.Node("LayerNormalization", "ln", {"x"}, {"y"}), "epsilon", 0);
  lv.Output("y");
  auto gl = ImportOnnxBytes(lv.Bytes());
  ASSERT_TRUE(gl.ok()) << gl.status().ToString();
  auto yl = RunGraphReference(*gl, {1, 2, 3, 4, -5, 0, 5, 10});
  ASSERT_TRUE(yl.ok());
  for (int r = 0; r < 2; ++r) {
    double mean = 0, var = 0;
    for (int i = 0; i < 4; ++i) mean += (*yl)[r * 4 + i] / 4.0;
    for (int i = 0; i < 4; ++i) var += ((*yl)[r * 4 + i] - mean) * ((*yl)[r * 4 + i] - mean) / 4.0;
    EXPECT_NEAR(mean, 0, 1e-6);
    EXPECT_NEAR(var, 1, 1e-5);
  }
}

TEST(CompiledModel, AConvNeXtBlockWithAChannelsLastLinearAndAnOblongConvMatchesTheReference) {
  // Depthwise 7x7, Transpose to NHWC, the decomposed opset-13 LayerNorm over C, MatMul
  // [N, H, W, C] x [C, 4C] + bias, GELU as exported (Div, Erf, Add, Mul, Mul), MatMul
  // back, a layer scale, Transpose to NCHW, + x; then Inception's 1x7 and 7x1 convs.
  ModelBuilder m;
  m.Input("x", {1, 8, 6, 6});
  Conv(m, "dw", "x", 8, 8, 7, false, /*depthwise=*/true);
  ModelBuilder::Ints(m.Node("Transpose", "to_nhwc", {"dw_c"}, {"h"}), "perm", {0, 2, 3, 1});
  ModelBuilder::Ints(m.Node("ReduceMean", "mu", {"h"}, {"mu"}), "axes", {-1});
  m.Node("Sub", "dev", {"h", "mu"}, {"d"});
  m.Scalar("two", 2);
  m.Node("Pow", "sq", {"d", "two"}, {"d2"});
  ModelBuilder::Ints(m.Node("ReduceMean", "var", {"d2"}, {"var"}), "axes", {-1});
  m.Scalar("eps", 1e-6f);
  m.Node("Add", "var_eps", {"var", "eps"}, {"ve"});
  m.Node("Sqrt", "std", {"ve"}, {"sd"});
  m.Node("Div", "norm", {"d", "sd"}, {"nrm"});
  m.Weight("gamma", {8}, 0.5, 1.5);
  m.Weight("beta", {8});
  m.Node("Mul", "scale", {"nrm", "gamma"}, {"ns"});
  m.Node("Add", "shift", {"ns", "beta"}, {"ln"});
  m.Weight("w1", {8, 32});
  m.Weight("b1", {32});
  m.Node("MatMul", "fc1", {"ln", "w1"}, {"f1"});
  m.Node("Add", "fc1_bias", {"f1", "b1"}, {"f1b"});
  m.Scalar("sqrt2", 1.4142135f);
  m.Node("Div", "gelu_div", {"f1b", "sqrt2"}, {"g1"});
  m.Node("Erf", "gelu_erf", {"g1"}, {"g2"});
  m.Scalar("one", 1);
  m.Node("Add", "gelu_add", {"g2", "one"}, {"g3"});
  m.Node("Mul", "gelu_mul", {"f1b", "g3"}, {"g4"});
  m.Scalar("half", 0.5);
  m.Node("Mul", "gelu_half", {"g4", "half"}, {"gl"});
  m.Weight("w2", {32, 8});
  m.Node("MatMul", "fc2", {"gl", "w2"}, {"f2"});
  ModelBuilder::Ints(m.Node("Transpose", "to_nchw", {"f2"}, {"back"}), "perm", {0, 3, 1, 2});
  m.Weight("layer_scale", {8, 1, 1});
  m.Node("Mul", "ls", {"back", "layer_scale"}, {"lsd"});
  m.Node("Add", "residual", {"lsd", "x"}, {"blk"});
  m.Weight("w17", {8, 8, 1, 7});
  auto* c17 = m.Node("Conv", "c1x7", {"blk", "w17"}, {"o17"});
  ModelBuilder::Ints(c17, "kernel_shape", {1, 7});
  ModelBuilder::Ints(c17, "pads", {0, 3, 0, 3});
  m.Weight("w71", {4, 8, 7, 1});
  auto* c71 = m.Node("Conv", "c7x1", {"o17", "w71"}, {"y"});
  ModelBuilder::Ints(c71, "kernel_shape", {7, 1});
  ModelBuilder::Ints(c71, "pads", {3, 0, 3, 0});
  ModelBuilder::Ints(c71, "strides", {2, 1});
  m.Output("y");
  ExpectOps(m, {1, 4, 3, 6});
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok());
  int dense = 0, layernorm = 0, gelu = 0, gelu_fused = 0;
  bool bias_folded = false;  // fc1's Add of b1 went into its bias
  for (const auto& n : g->nodes) {
    dense += n.op == GraphOp::kDense;
    bias_folded = bias_folded || std::count(n.fused.begin(), n.fused.end(), "fc1_bias") == 1;
    layernorm += n.op == GraphOp::kLayerNorm;
    gelu += n.op == GraphOp::kUnary && n.unary == UnaryOp::kGelu;
    gelu_fused += n.op == GraphOp::kDense && n.workload->gelu && !n.workload->gelu_tanh;
  }
  EXPECT_EQ(dense, 2);  // the channels-last Linear layers are tunable dense workloads
  EXPECT_TRUE(bias_folded);
  // The decomposed LayerNorm and GELU are recognised, each as one node, and compute what
  // their parts compute; the GELU, fc1's only reader, is then fused into fc1's epilogue
  // (ExpectOps above: compiled = reference).
  EXPECT_EQ(layernorm, 1);
  EXPECT_EQ(gelu, 0);
  EXPECT_EQ(gelu_fused, 1);
  EXPECT_EQ(g->layernorms_recognised, 1);
  EXPECT_EQ(g->gelus_recognised, 1);
  ImportOptions parts;
  parts.recognise_patterns = false;
  auto spelled = ImportOnnxBytes(m.Bytes(), "model", parts);
  ASSERT_TRUE(spelled.ok());
  EXPECT_GT(spelled->nodes.size(), g->nodes.size() + 10);
  const std::vector<float> x = RandomInput(8 * 36, 5);
  auto a = RunGraphReference(*g, x), b = RunGraphReference(*spelled, x);
  ASSERT_TRUE(a.ok() && b.ok());
  for (size_t i = 0; i < a->size(); ++i) EXPECT_NEAR((*a)[i], (*b)[i], 1e-4 * (1 + std::fabs((*b)[i]))) << i;
  // A pattern whose inner tensor is read elsewhere is left as it is: here the variance.
  m.Output("var");
  auto kept = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->layernorms_recognised, 0);
  EXPECT_EQ(kept->gelus_recognised, 1);
}

// GELU's tanh form as torch exports GPT-2's (x * x * x, or Pow 3), recognised as one
// kGeluTanh node that computes what its parts compute; with its cube read elsewhere it is
// left as it is.
TEST(OnnxImport, GeluTanhFormIsRecognisedAsOneNode) {
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    ModelBuilder m;
    m.Input("x", {2, 5, 8});
    m.Weight("w", {8, 16});
    m.Node("MatMul", "fc", {"x", "w"}, {"h"});
    if (variant == 1) {
      m.Scalar("three", 3);
      m.Node("Pow", "cube", {"h", "three"}, {"h3"});
    } else {
      m.Node("Mul", "sq", {"h", "h"}, {"h2"});
      m.Node("Mul", "cube", {"h", "h2"}, {"h3"});
    }
    m.Scalar("c", 0.044715f);
    m.Node("Mul", "c_mul", {"c", "h3"}, {"ch3"});
    m.Node("Add", "inner_add", {"h", "ch3"}, {"in"});
    m.Scalar("k", 0.7978845608f);
    m.Node("Mul", "k_mul", {"k", "in"}, {"kin"});
    m.Node("Tanh", "tanh", {"kin"}, {"t"});
    m.Scalar("one", 1);
    m.Node("Add", "add1", {"t", "one"}, {"t1"});
    m.Node("Mul", "mulx", {"h", "t1"}, {"ht"});
    m.Scalar("half", 0.5f);
    m.Node("Mul", "half_mul", {"half", "ht"}, {"y"});
    m.Output("y");
    if (variant == 2) m.Output("h3");  // the cube read elsewhere: not a GELU of its own
    // Recognised, then fused into the dense layer's epilogue (fc's only reader); without
    // the fusion a node of its own.
    auto g = ImportOnnxBytes(m.Bytes());
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_EQ(g->gelus_recognised, variant == 2 ? 0 : 1);
    ImportOptions unfused;
    unfused.fuse_epilogues = false;
    auto alone = ImportOnnxBytes(m.Bytes(), "model", unfused);
    ASSERT_TRUE(alone.ok()) << alone.status().ToString();
    auto count = [](const Graph& graph, bool fused) {
      int gelu = 0;
      for (const auto& n : graph.nodes)
        gelu += fused ? n.op == GraphOp::kDense && n.workload->gelu_tanh && !n.workload->gelu
                      : n.op == GraphOp::kUnary && n.unary == UnaryOp::kGeluTanh;
      return gelu;
    };
    EXPECT_EQ(count(*g, true), variant == 2 ? 0 : 1);
    EXPECT_EQ(count(*g, false), 0);
    EXPECT_EQ(count(*alone, false), variant == 2 ? 0 : 1);
    EXPECT_EQ(count(*alone, true), 0);
    ImportOptions parts;
    parts.recognise_patterns = false;
    auto spelled = ImportOnnxBytes(m.Bytes(), "model", parts);
    ASSERT_TRUE(spelled.ok());
    const std::vector<float> x = RandomInput(80, 6);
    auto a = RunGraphReference(*g, x), b = RunGraphReference(*spelled, x), c = RunGraphReference(*alone, x);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    for (size_t i = 0; i < a->size(); ++i) EXPECT_NEAR((*a)[i], (*b)[i], 1e-5 * (1 + std::fabs((*b)[i]))) << i;
    for (size_t i = 0; i < a->size(); ++i) EXPECT_NEAR((*c)[i], (*b)[i], 1e-5 * (1 + std::fabs((*b)[i]))) << i;
    if (variant != 2) ExpectCompiledMatchesReference(*g);
    if (variant != 2) ExpectCompiledMatchesReference(*alone);
  }
}

// ScatterND on constants (Swin's shifted-window mask, region by region) is folded: rows
// (k = 1) and single elements (k = 2, a negative index from the end); an index out of
// range and a reduction are refused naming the node; the folded mask is used at run time.
TEST(OnnxImport, ScatterNDOnConstantsIsFoldedAndUsedAtRunTime) {
  ModelBuilder m;
  m.Input("x", {3, 4});
  m.Ints("zeros", {3, 4}, std::vector<int64_t>(12, 0));
  m.Ints("rows", {2, 1}, {2, 0});
  m.Ints("row_values", {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  m.Node("ScatterND", "put_rows", {"zeros", "rows", "row_values"}, {"a"});
  m.Ints("cells", {1, 2}, {1, -1});
  m.Ints("cell_values", {1}, {9});
  m.Node("ScatterND", "put_cell", {"a", "cells", "cell_values"}, {"mask"});
  ModelBuilder::Int(m.Node("Cast", "to_float", {"mask"}, {"mf"}), "to", onnx::TensorProto::FLOAT);
  m.Node("Add", "add", {"x", "mf"}, {"y"});
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->tensors.at("mask").ints, (std::vector<int64_t>{5, 6, 7, 8, 0, 0, 0, 9, 1, 2, 3, 4}));
  ASSERT_EQ(g->nodes.size(), 1u);  // only the Add runs
  auto y = RunGraphReference(*g, std::vector<float>(12, 0.5f));
  ASSERT_TRUE(y.ok());
  EXPECT_EQ((*y)[7], 9.5f);
  ExpectCompiledMatchesReference(*g);
  for (const std::string bad : {"range", "reduction"}) {
    ModelBuilder b;
    b.Input("x", {3, 4});
    b.Ints("zeros", {3, 4}, std::vector<int64_t>(12, 0));
    b.Ints("rows", {1, 1}, {bad == "range" ? 3 : 0});
    b.Ints("row_values", {1, 4}, {1, 2, 3, 4});
    auto* sc = b.Node("ScatterND", "put", {"zeros", "rows", "row_values"}, {"mask"});
    if (bad == "reduction") {
      auto* a = sc->add_attribute();
      a->set_name("reduction");
      a->set_type(onnx::AttributeProto::STRING);
      a->set_s("add");
    }
    ModelBuilder::Int(b.Node("Cast", "to_float", {"mask"}, {"mf"}), "to", onnx::TensorProto::FLOAT);
    b.Node("Add", "add", {"x", "mf"}, {"y"});
    b.Output("y");
    auto refused = ImportOnnxBytes(b.Bytes());
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find("node 'put' (ScatterND): "), std::string::npos)
        << refused.status().ToString();
  }
}

// What Swin v2's cosine attention and MaxViT need: ReduceL2, Clip of it, Expand at run time
// and Div (F.normalize: rows of unit L2 norm), Min and Max with broadcasting, Exp, and Log
// of a constant folded; a Log of a run-time tensor is refused by the planner, naming it.
TEST(CompiledModel, NormaliseMinMaxExpAndExpandMatchTheReference) {
  ModelBuilder m;
  m.Input("x", {2, 3, 4});
  m.Ints("last", {1}, {-1});
  m.Node("ReduceL2", "l2", {"x", "last"}, {"n"});  // opset 13: axes as an attribute
  m.Scalar("eps", 1e-12f);
  m.Node("Clip", "clip", {"n", "eps"}, {"nc"});
  m.Ints("shape", {3}, {2, 3, 4});
  m.Node("Expand", "expand", {"nc", "shape"}, {"ne"});
  m.Node("Div", "normalise", {"x", "ne"}, {"u"});
  m.Scalar("two", 2.0f);
  m.Node("Log", "log2", {"two"}, {"ln2"});
  m.Node("Mul", "scale", {"u", "ln2"}, {"s"});
  m.Scalar("hi", 0.5f);
  m.Weight("lo", {4}, -0.6f, -0.4f);
  m.Node("Min", "min", {"s", "hi"}, {"a"});
  m.Node("Max", "max", {"a", "lo"}, {"b"});
  m.Node("Exp", "exp", {"b"}, {"y"});
  m.Output("u");
  m.Output("y");
  // The exporter's ReduceL2 at opset 13 takes its axes as an attribute: move them there.
  std::string bytes = m.Bytes();
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(bytes));
  for (auto& n : *proto.mutable_graph()->mutable_node())
    if (n.op_type() == "ReduceL2") {
      n.mutable_input()->RemoveLast();
      ModelBuilder::Ints(&n, "axes", {-1});
    }
  auto g = ImportOnnxBytes(proto.SerializeAsString());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_NEAR(g->tensors.at("ln2").data.at(0), std::log(2.0f), 1e-7);  // folded
  std::vector<float> x = RandomInput(24, 9);
  auto want = RunGraphReference(*g, std::vector<std::vector<float>>{x});
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  for (int r = 0; r < 6; ++r) {
    double sq = 0;
    for (int i = 0; i < 4; ++i) sq += double((*want)[0][r * 4 + i]) * (*want)[0][r * 4 + i];
    EXPECT_NEAR(sq, 1.0, 1e-5) << r;
  }
  for (float v : (*want)[1]) {
    EXPECT_LE(v, std::exp(0.5f) * (1 + 1e-6f));
    EXPECT_GE(v, std::exp(-0.6f) * (1 - 1e-6f));
  }
  NoConfigSource none;
  auto plan = PlanModel(*g, Target::Host(), none);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto model = CompiledModel::Create(std::move(*plan));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<float> u(24, NAN), y(24, NAN);
  ASSERT_TRUE((*model)
                  ->Run({{"x", ElemType::kFloat32, x.data(), 24}},
                        {{"u", ElemType::kFloat32, u.data(), 24}, {"y", ElemType::kFloat32, y.data(), 24}})
                  .ok());
  for (size_t k = 0; k < 24; ++k) {
    EXPECT_NEAR(u[k], (*want)[0][k], 1e-5) << k;
    EXPECT_NEAR(y[k], (*want)[1][k], 1e-5) << k;
  }
  ModelBuilder bad;
  bad.Input("x", {4});
  bad.Node("Log", "runtime_log", {"x"}, {"y"});
  bad.Output("y");
  auto gb = ImportOnnxBytes(bad.Bytes());
  ASSERT_TRUE(gb.ok()) << gb.status().ToString();
  auto refused = PlanModel(*gb, Target::Host(), none);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("node 'runtime_log' (Log): Log of a run-time tensor"), std::string::npos)
      << refused.status().ToString();
}

TEST(OnnxImport, ModAndNotOnConstantsAreFolded) {
  // Swin's window padding: (w - H % w) % w on shapes, with Python's sign rule for int64
  // Mod; Not of a mask. Checked value by value; C's fmod for floats.
  ModelBuilder m;
  m.Input("x", {6});
  m.Ints("a", {4}, {7, -7, 7, -6});
  m.Ints("b", {4}, {3, 3, -3, -3});
  m.Node("Mod", "mod", {"a", "b"}, {"r"});
  m.Ints("zero", {1}, {0});
  m.Node("Equal", "eq", {"r", "zero"}, {"e"});
  m.Node("Not", "not", {"e"}, {"ne"});
  m.Scalar("fa", -7.5f);
  m.Scalar("fb", 2.0f);
  ModelBuilder::Int(m.Node("Mod", "fmod", {"fa", "fb"}, {"fr"}), "fmod", 1);
  m.Node("Relu", "y_node", {"x"}, {"y"});
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->tensors.at("r").ints, (std::vector<int64_t>{1, 2, -2, 0}));
  EXPECT_EQ(g->tensors.at("ne").ints, (std::vector<int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(g->tensors.at("fr").data, (std::vector<float>{-1.5f}));
  ModelBuilder z;
  z.Input("x", {2});
  z.Ints("a", {1}, {5});
  z.Ints("b", {1}, {0});
  z.Node("Mod", "mod0", {"a", "b"}, {"r"});
  z.Node("Relu", "y_node", {"x"}, {"y"});
  z.Output("y");
  auto refused = ImportOnnxBytes(z.Bytes());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("node 'mod0' (Mod): integer modulo by zero"), std::string::npos)
      << refused.status().ToString();
}

TEST(OnnxImport, ShapeSubgraphsAreFoldedToConstantsAtImport) {
  // x.view(x.size(0), -1) as a traced export writes it: Shape, Gather, Unsqueeze, Concat,
  // Reshape; and a mask from ConstantOfShape, Equal, Where, Expand. Only the Reshape and
  // the Mul stay as nodes.
  ModelBuilder m;
  m.Input("x", {2, 3, 4});
  m.Node("Shape", "shape", {"x"}, {"s"});
  m.Ints("zero", {}, {0});
  ModelBuilder::Int(m.Node("Gather", "batch", {"s", "zero"}, {"n"}), "axis", 0);
  m.Ints("ax0", {1}, {0});
  m.Node("Unsqueeze", "n1", {"n", "ax0"}, {"n_1"});
  m.Ints("minus1", {1}, {-1});
  ModelBuilder::Int(m.Node("Concat", "shape2", {"n_1", "minus1"}, {"s2"}), "axis", 0);
  m.Node("Reshape", "flat", {"x", "s2"}, {"f"});
  m.Ints("len", {1}, {12});
  m.Node("ConstantOfShape", "zeros", {"len"}, {"z"});
  m.Node("Equal", "is_zero", {"z", "z"}, {"eq"});
  m.Scalar("three", 3);
  m.Scalar("four", 4);
  m.Node("Where", "pick", {"eq", "three", "four"}, {"w"});
  m.Ints("to", {2}, {2, 12});
  m.Node("Expand", "wide", {"w", "to"}, {"we"});
  m.Node("Mul", "scale", {"f", "we"}, {"y"});
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->nodes.size(), 2u);
  EXPECT_EQ(g->nodes[0].op, GraphOp::kReshape);
  EXPECT_EQ(g->tensors.at("s2").ints, (std::vector<int64_t>{2, -1}));
  EXPECT_EQ(g->tensors.at("we").data, std::vector<float>(24, 3.0f));
  std::vector<float> x(24);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  auto y = RunGraphReference(*g, x);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ((*y)[23], 69.0f);
  ExpectCompiledMatchesReference(*g);
  // A shape computation that depends on the input's values is refused, naming the node.
  ModelBuilder bad;
  bad.Input("x", {4});
  ModelBuilder::Int(bad.Node("Cast", "pick", {"x"}, {"xi"}), "to", 7);  // int64 from the input: run time
  bad.Node("ConstantOfShape", "fill", {"xi"}, {"y"});                   // a shape from it: refused
  bad.Output("y");
  auto refused = ImportOnnxBytes(bad.Bytes());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("node 'fill' (ConstantOfShape): input 'xi' depends on the model's input"),
            std::string::npos)
      << refused.status().ToString();
  // Folded ops missing an input are refused, not read past their inputs.
  for (const char* op : {"Where", "Expand", "Equal"}) {
    ModelBuilder few;
    few.Input("x", {2});
    few.Ints("c", {1}, {1});
    few.Node(op, "short", {"c"}, {"s"});
    few.Node("Reshape", "use", {"x", "s"}, {"y"});
    few.Output("y");
    auto r = ImportOnnxBytes(few.Bytes());
    ASSERT_FALSE(r.ok()) << op;
    EXPECT_NE(r.status().message().find("node 'short' (" + std::string(op) + "): missing inputs"), std::string::npos)
        << r.status().ToString();
  }
}

TEST(CompiledModel, BroadcastingMulSubDivAndAddMatchTheReference) {
  // Squeeze-excitation's scale (x * sigmoid(gap(x)), [1,8,1,1] against [1,8,6,5]), SiLU
  // (x * sigmoid(x), same shapes), a constant per-channel divisor, a scalar subtracted,
  // and an Add along the last axis only ([5] against [1,8,6,5]).
  ModelBuilder m;
  m.Input("x", {1, 8, 6, 5});
  m.Node("GlobalAveragePool", "gap", {"x"}, {"p"});
  m.Node("Sigmoid", "gate", {"p"}, {"s"});
  m.Node("Mul", "scale", {"x", "s"}, {"a"});
  m.Node("Sigmoid", "sig", {"a"}, {"sa"});
  m.Node("Mul", "silu", {"a", "sa"}, {"b"});
  m.Weight("div", {1, 8, 1, 1}, 0.5, 2.0);
  m.Node("Div", "divide", {"b", "div"}, {"c"});
  m.Weight("one", {1}, 1.0, 1.5);
  m.Node("Sub", "minus", {"one", "c"}, {"d"});
  m.Weight("row", {5});
  m.Node("Add", "shift", {"d", "row"}, {"y"});
  m.Output("y");
  auto g = ImportOnnxBytes(m.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->tensors.at("a").shape, (std::vector<int64_t>{1, 8, 6, 5}));
  EXPECT_EQ(g->tensors.at("y").shape, (std::vector<int64_t>{1, 8, 6, 5}));
  int binary = 0;
  for (const GraphNode& n : g->nodes) binary += n.op == GraphOp::kBinary;
  EXPECT_EQ(binary, 5);
  ExpectCompiledMatchesReference(*g);
  // The reference broadcasts as numpy: [2,1] - [3] is [2,3].
  ModelBuilder tiny;
  tiny.Input("x", {2, 1});
  tiny.Weight("w", {3});
  tiny.Node("Sub", "sub", {"x", "w"}, {"y"});
  tiny.Output("y");
  auto gt = ImportOnnxBytes(tiny.Bytes());
  ASSERT_TRUE(gt.ok()) << gt.status().ToString();
  const std::vector<float>& w = gt->tensors.at("w").data;
  auto y = RunGraphReference(*gt, {10, 20});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(*y, (std::vector<float>{10 - w[0], 10 - w[1], 10 - w[2], 20 - w[0], 20 - w[1], 20 - w[2]}));
  EXPECT_EQ(BroadcastShape({1, 8, 6, 5}, {5}), (std::vector<int64_t>{1, 8, 6, 5}));
  EXPECT_FALSE(BroadcastShape({1, 8, 6, 5}, {6}).has_value());
  // Shapes that do not broadcast are refused, naming the node.
  ModelBuilder bad;
  bad.Input("x", {1, 8, 6, 5});
  bad.Weight("w", {6});
  bad.Node("Mul", "mismatch", {"x", "w"}, {"y"});
  bad.Output("y");
  auto refused = ImportOnnxBytes(bad.Bytes());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("node 'mismatch' (Mul): operand shapes do not broadcast"),
            std::string::npos)
      << refused.status().ToString();
}

TEST(GraphReference, UnaryValuesAreTheFunctionsTheyName) {
  for (float x : {-7.5f, -2.0f, -0.3f, 0.0f, 0.4f, 1.7f, 3.0f, 9.0f}) {
    EXPECT_FLOAT_EQ(UnaryValue(UnaryOp::kSigmoid, 0, 0, x), 1 / (1 + std::exp(-x)));
    EXPECT_FLOAT_EQ(UnaryValue(UnaryOp::kHardSigmoid, 0.2f, 0.5f, x), std::clamp(0.2f * x + 0.5f, 0.0f, 1.0f));
    EXPECT_FLOAT_EQ(UnaryValue(UnaryOp::kHardSwish, 0, 0, x), x * std::clamp(x / 6 + 0.5f, 0.0f, 1.0f));
    EXPECT_FLOAT_EQ(UnaryValue(UnaryOp::kTanh, 0, 0, x), std::tanh(x));
    EXPECT_FLOAT_EQ(UnaryValue(UnaryOp::kErf, 0, 0, x), std::erf(x));
  }
  EXPECT_FLOAT_EQ(UnaryValue(UnaryOp::kHardSwish, 0, 0, -4), 0);  // below -3: 0
  EXPECT_FLOAT_EQ(UnaryValue(UnaryOp::kHardSwish, 0, 0, 4), 4);   // above 3: x
  EXPECT_FLOAT_EQ(UnaryValue(UnaryOp::kSigmoid, 0, 0, 0), 0.5f);
}

TEST(CompiledModel, NchwcPropagationKeepsBlocksBetweenKernelsAndTheOutput) {
  ModelBuilder m = BlockedChainModel();
  for (auto [fold, fuse] : {std::pair{true, true}, {true, false}, {false, false}}) {
    auto g = ImportOnnxBytes(m.Bytes(), "model", testing::Options(fold, fuse));
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    for (uint32_t seed : {1u, 2u}) {
      SCOPED_TRACE(std::string("fold ") + (fold ? "on" : "off") + ", fuse " + (fuse ? "on" : "off") + ", seed " +
                   std::to_string(seed));
      ModelPlan on, off;
      {
        BlockedConfigs source(seed);
        ExpectCompiledMatchesReference(*g, nullptr, &source, PlanOptions{true}, &on);
      }
      {
        BlockedConfigs source(seed);
        ExpectCompiledMatchesReference(*g, nullptr, &source, PlanOptions{false}, &off);
      }
      ASSERT_EQ(on.steps.size(), off.steps.size());
      EXPECT_EQ(off.blocked_buffers, 0);
      for (const auto& s : off.steps) EXPECT_TRUE(s.layouts.plain()) << s.name;
      // Every activation 4-D and read only by blocked kernels, pooling, elementwise ops
      // or global average pooling is blocked: all of them but the input, the GAP's
      // output and what Flatten reads.
      std::map<std::string, int64_t> block;
      int activations = 0;
      for (const auto& b : on.buffers) {
        block[b.name] = b.block;
        if (!b.constant && b.shape.size() == 4 && b.shape[2] > 1) {
          ++activations;
          if (b.name != "x") EXPECT_GT(b.block, 0) << b.name;
        }
      }
      EXPECT_EQ(block.at("x"), 0);
      EXPECT_EQ(block.at("g"), 0);
      EXPECT_EQ(on.blocked_buffers, activations - 1);
      EXPECT_GE(on.blocked_buffers, fuse ? 5 : 8);
      // Each tensor takes its producer's block: a convolution's own (the config's), a
      // pooling or elementwise step's input's.
      for (const auto& s : on.steps) {
        const int64_t out = on.buffers[s.args.back()].block;
        if (s.workload) {
          auto tmpl = FindTemplate(s.workload->op);
          ASSERT_TRUE(tmpl.ok());
          const int64_t native = (*tmpl)->NativeBlock(*s.workload, on.target, s.choice.config);
          EXPECT_EQ(s.layouts.out, out) << s.name;
          EXPECT_EQ(s.layouts.data, on.buffers[s.args[0]].block) << s.name;
          if (out) EXPECT_EQ(out, native) << s.name;
        } else if (s.op != "global_avg_pool" && out) {
          EXPECT_EQ(out, on.buffers[s.args[0]].block) << s.name;
        }
      }
    }
  }
}

}  // namespace
}  // namespace priortune::compiler

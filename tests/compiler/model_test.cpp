// Compiled models: a graph planned for a target and run through the JIT gives what the
// graph's reference runner gives, with the graph passes on and off (each changes the
// plan, not the output), and for the simple ops (pooling, add, relu, softmax) as their
// tensor-expression kernels.
#include "compiler/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

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

// Plans and runs `g` on the host; expects the reference's output.
void ExpectCompiledMatchesReference(const Graph& g, size_t* steps = nullptr) {
  NoConfigSource none;  // no store: every kernel hand-picked
  auto plan = PlanModel(g, Target::Host(), none);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  if (steps) *steps = plan->steps.size();
  for (const auto& s : plan->steps)
    if (s.workload) EXPECT_EQ(s.choice.level, "hand-picked") << s.name;
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
  auto pool = [&](const char* op, const char* name, const char* in, const char* out, int64_t k, int64_t s,
                  int64_t p) {
    auto* n = m.Node(op, name, {in}, {out});
    ModelBuilder::Ints(n, "kernel_shape", {k, k});
    ModelBuilder::Ints(n, "strides", {s, s});
    ModelBuilder::Ints(n, "pads", {p, p, p, p});
  };
  pool("MaxPool", "max", "x", "a", 3, 2, 1);
  pool("AveragePool", "avg", "a", "b", 3, 1, 1);
  m.Node("Add", "add", {"a", "b"}, {"c"});
  m.Node("Relu", "relu", {"c"}, {"d"});
  pool("AveragePool", "avg2", "d", "e", 2, 2, 0);
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

TEST(CompiledModel, RefusesAGraphWithTwoInputsAndASizeThatIsNotTheModels) {
  ModelBuilder two;
  two.Input("x", {1, 4, 4, 4});
  two.Input("z", {1, 4, 4, 4});
  two.Node("Add", "add", {"x", "z"}, {"y"});
  two.Output("y");
  auto g = ImportOnnxBytes(two.Bytes());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  NoConfigSource none;  // no store: every kernel hand-picked
  auto plan = PlanModel(*g, Target::Host(), none);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("one input"), std::string::npos) << plan.status().ToString();

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

}  // namespace
}  // namespace priortune::compiler

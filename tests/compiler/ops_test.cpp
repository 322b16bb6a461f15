// Every operator, under its default, hand-picked and randomly drawn configs, on regular
// and odd shapes, matches its reference implementation.
#include <gtest/gtest.h>

#include <random>

#include "compiler/build.h"

namespace priortune::compiler {
namespace {

const Target& Host() {
  static const Target t = Target::Host();
  return t;
}

// `n` configs drawn uniformly from the knobs' candidates with a fixed seed.
std::vector<Config> RandomConfigs(const OpTemplate& tmpl, const Workload& w, int n, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<Config> out;
  auto knobs = tmpl.Knobs(w, Host());
  for (int i = 0; i < n; ++i) {
    Config c;
    for (const auto& k : knobs) c[k.name] = k.values[g() % k.values.size()];
    out.push_back(c);
  }
  return out;
}

void ExpectMatchesReference(const Workload& w, const Config& c) {
  auto tmpl = FindTemplate(w.op);
  ASSERT_TRUE(tmpl.ok());
  auto k = BuildKernel(w, Host(), c);
  ASSERT_TRUE(k.ok()) << w.ShortName() << " " << ConfigToJson(c) << ": " << k.status().ToString();
  KernelArgs args(**tmpl, w, 7);
  CheckResult r = CheckAgainstReference(*k, w, args);
  EXPECT_TRUE(r.ok()) << w.ShortName() << " " << ConfigToJson(c) << ": first bad output "
                      << r.first_bad << ", max abs error " << r.max_abs_error;
}

void ExpectAllConfigsMatch(const Workload& w, int random_configs) {
  auto tmpl = FindTemplate(w.op);
  ASSERT_TRUE(tmpl.ok());
  ASSERT_TRUE((*tmpl)->Validate(w).ok()) << (*tmpl)->Validate(w).ToString();
  ExpectMatchesReference(w, (*tmpl)->DefaultConfig(w, Host()));
  ExpectMatchesReference(w, (*tmpl)->HandPickedConfig(w, Host()));
  for (const auto& c : RandomConfigs(**tmpl, w, random_configs, 1234)) ExpectMatchesReference(w, c);
}

TEST(Matmul, SquareShapesMatchReference) { ExpectAllConfigsMatch(MatmulWorkload(64, 64, 64), 4); }
TEST(Matmul, PrimeSizesMatchReference) { ExpectAllConfigsMatch(MatmulWorkload(97, 89, 61), 6); }
TEST(Matmul, SingleRowMatchesReference) { ExpectAllConfigsMatch(MatmulWorkload(1, 1000, 512), 3); }
TEST(Matmul, BiasAndReluEpilogueMatchesReference) {
  ExpectAllConfigsMatch(MatmulWorkload(33, 70, 45, /*bias=*/true, /*relu=*/true), 4);
}
TEST(Matmul, NarrowOutputBelowVectorWidthMatchesReference) {
  ExpectAllConfigsMatch(MatmulWorkload(9, 5, 13), 4);
}

TEST(BatchMatmul, OddShapesMatchReference) { ExpectAllConfigsMatch(BatchMatmulWorkload(3, 17, 33, 19), 5); }

TEST(Conv2d, ResNetStageShapeMatchesReference) {
  ExpectAllConfigsMatch(Conv2dWorkload(1, 32, 14, 14, 32, 3, 3, 1, 1), 3);
}
TEST(Conv2d, SevenBySevenFeatureMapMatchesReference) {
  ExpectAllConfigsMatch(Conv2dWorkload(1, 64, 7, 7, 32, 3, 3, 1, 1), 3);
}
TEST(Conv2d, StridedStemWithThreeChannelsMatchesReference) {
  ExpectAllConfigsMatch(Conv2dWorkload(1, 3, 29, 29, 16, 7, 7, 2, 3), 3);
}
TEST(Conv2d, PointwiseStrideTwoMatchesReference) {
  ExpectAllConfigsMatch(Conv2dWorkload(1, 16, 15, 15, 32, 1, 1, 2, 0), 3);
}
TEST(Conv2d, BatchOfTwoNonSquareWithEpilogueMatchesReference) {
  ExpectAllConfigsMatch(Conv2dWorkload(2, 8, 11, 13, 24, 3, 3, 1, 1, true, true), 3);
}

TEST(DepthwiseConv2d, StrideOneAndTwoMatchReference) {
  ExpectAllConfigsMatch(DepthwiseConv2dWorkload(1, 8, 19, 19, 3, 3, 1, 1), 4);
  ExpectAllConfigsMatch(DepthwiseConv2dWorkload(1, 5, 7, 7, 3, 3, 2, 1), 4);
}

}  // namespace
}  // namespace priortune::compiler

// Correctness over the rich search spaces: for every op on odd shapes (primes, 1 x N,
// 7x7 maps, stride 2, 1x1), configs drawn from the space the tuner searches, and every
// extreme value of every knob, compute what the reference computes. On the host's own
// ISA (tests/compiler/ops_test.cpp covers each ISA level with fewer configs).
#include <gtest/gtest.h>

#include <random>

#include "compiler/ops/build.h"
#include "tuner/search_space.h"

namespace priortune::tuner {
namespace {

using compiler::Workload;

// The odd shapes of each op; configs are spread over them.
std::vector<Workload> OddShapes(const std::string& op) {
  if (op == "matmul")
    return {compiler::MatmulWorkload(1, 97, 61), compiler::MatmulWorkload(37, 29, 53),
            compiler::MatmulWorkload(13, 70, 9, /*bias=*/true, /*relu=*/true)};
  if (op == "batch_matmul")
    return {compiler::BatchMatmulWorkload(3, 7, 19, 23), compiler::BatchMatmulWorkload(2, 1, 41, 5)};
  if (op == "conv2d")
    return {compiler::Conv2dWorkload(1, 12, 7, 7, 20, 3, 3, 1, 1),               // 7x7 map
            compiler::Conv2dWorkload(1, 6, 13, 13, 10, 3, 3, 2, 1),              // stride 2, odd size
            compiler::Conv2dWorkload(1, 16, 11, 11, 24, 1, 1, 2, 0),             // 1x1 stride 2
            compiler::Conv2dWorkload(1, 3, 10, 10, 8, 3, 3, 1, 1, true, true)};  // 3 channels, epilogue
  if (op == "group_conv2d")
    return {compiler::GroupConv2dWorkload(1, 32, 7, 7, 32, 3, 3, 1, 1, 8),    // ResNeXt's 4 per group
            compiler::GroupConv2dWorkload(1, 48, 13, 13, 48, 3, 3, 2, 1, 2),  // wide groups, stride 2
            compiler::GroupConv2dWorkload(1, 12, 9, 9, 18, 1, 1, 1, 0, 3)};   // grouped 1x1
  return {compiler::DepthwiseConv2dWorkload(1, 12, 7, 7, 3, 3, 1, 1),
          compiler::DepthwiseConv2dWorkload(1, 5, 13, 13, 3, 3, 2, 1)};
}

void ExpectCorrect(const Workload& w, const compiler::Target& t, const compiler::Config& c) {
  SCOPED_TRACE(w.ShortName() + " " + compiler::ConfigToJson(c));
  auto k = compiler::BuildKernel(w, t, c);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  compiler::KernelArgs args(**compiler::FindTemplate(w.op), w, 11);
  compiler::CheckResult r = compiler::CheckAgainstReference(*k, w, args);
  EXPECT_TRUE(r.ok()) << "first bad output " << r.first_bad << ", max abs error " << r.max_abs_error;
}

class RichSpace : public ::testing::TestWithParam<std::string> {};

TEST_P(RichSpace, FiftyDrawnConfigsAndEveryExtremeKnobValueMatchTheReference) {
  compiler::Target t = compiler::Target::Host();
  std::vector<Workload> shapes = OddShapes(GetParam());
  std::mt19937_64 rng(2026);
  for (int i = 0; i < 50; ++i) {
    const Workload& w = shapes[i % shapes.size()];
    auto space = SearchSpace::ForWorkload(w, t);
    ASSERT_TRUE(space.ok()) << space.status().ToString();
    auto c = space->Sample(rng);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ExpectCorrect(w, t, *c);
  }
  // Each knob at its first and last candidate, the other knobs drawn around it (from
  // the candidates that keep the constraints where that is possible).
  for (const Workload& w : shapes) {
    auto space = SearchSpace::ForWorkload(w, t);
    ASSERT_TRUE(space.ok());
    const auto& knobs = space->knobs();
    for (size_t i = 0; i < knobs.size(); ++i) {
      for (size_t pos : {size_t{0}, knobs[i].size() - 1}) {
        compiler::Config c = *space->Sample(rng);
        knobs[i].Assign(pos, c);
        std::vector<bool> others(knobs.size(), true);
        others[i] = false;
        compiler::Config around = c;
        for (int attempt = 0; attempt < 20; ++attempt) {
          around = c;
          if (space->Redraw(around, others, rng)) break;
          around = c;  // no valid config holds this extreme: keep it outside the space
        }
        ExpectCorrect(w, t, around);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, RichSpace,
                         ::testing::Values("matmul", "batch_matmul", "conv2d", "depthwise_conv2d", "group_conv2d"));

}  // namespace
}  // namespace priortune::tuner

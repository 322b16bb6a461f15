// The synthetic search problem the strategy tests share: 8 knobs x 8 candidates = 16.7M
// points, one optimum (cost 1.0 at k_i = (i % 8) + 1) in a smooth, separable bowl, like
// tile sizes.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tuner/search_space.h"

namespace priortune::tuner::testing {

inline SearchSpace SyntheticSpace() {
  std::vector<KnobDef> knobs;
  for (int i = 0; i < 8; ++i)
    knobs.push_back({"k" + std::to_string(i), compiler::KnobKind::kSplit, {1, 2, 3, 4, 5, 6, 7, 8}, {}, ""});
  auto s = SearchSpace::Create(knobs);
  EXPECT_TRUE(s.ok());
  return *s;
}

// Lower is better; the minimum 1.0 sits at k_i = (i % 8) + 1.
inline double SyntheticObjective(const Config& c) {
  double cost = 1.0;
  for (int i = 0; i < 8; ++i) {
    double d = static_cast<double>(c.at("k" + std::to_string(i)) - (i % 8 + 1));
    cost += 0.3 * d * d;
  }
  return cost;
}

}  // namespace priortune::tuner::testing

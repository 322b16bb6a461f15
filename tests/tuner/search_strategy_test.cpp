#include "tuner/search_strategy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "synthetic_space.h"

namespace priortune::tuner {
namespace {

using compiler::KnobKind;

using testing::SyntheticObjective;
using testing::SyntheticSpace;

double BestAfter(SearchStrategy& s, int trials, int batch) {
  double best = INFINITY;
  for (int done = 0; done < trials;) {
    auto configs = s.NextBatch(std::min(batch, trials - done));
    if (configs.empty()) break;
    std::vector<TrialResult> results;
    for (auto& c : configs) {
      results.push_back({c, SyntheticObjective(c)});
      best = std::min(best, results.back().cost);
    }
    s.Update(results);
    done += static_cast<int>(configs.size());
  }
  return best;
}

TEST(GeneticSearch, BeatsRandomOnASyntheticObjectiveWithFixedSeeds) {
  SearchSpace space = SyntheticSpace();
  double ga_sum = 0, random_sum = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    auto ga = MakeGeneticSearch(space, GeneticOptions{}, seed);
    auto random = MakeRandomSearch(space, seed);
    double g = BestAfter(*ga, 400, 16), r = BestAfter(*random, 400, 16);
    EXPECT_LT(g, r) << "seed " << seed;
    ga_sum += g;
    random_sum += r;
  }
  EXPECT_LT(ga_sum, 0.5 * random_sum);
}

TEST(GeneticSearch, NeverProposesAMeasuredConfigTwice) {
  auto space = SearchSpace::Create({{"a", KnobKind::kSplit, {1, 2, 4, 8}, {}, ""},
                                    {"b", KnobKind::kSplit, {1, 2, 4}, {}, ""},
                                    {"c", KnobKind::kEnum, {0, 1}, {"x", "y"}, ""}});
  ASSERT_TRUE(space.ok());
  auto ga = MakeGeneticSearch(*space, GeneticOptions{4, 2, 0.2}, 7);
  // A config measured by an earlier run, reported before the search starts.
  Config earlier{{"a", 8}, {"b", 4}, {"c", 1}};
  ga->Update({{earlier, 1.0}});
  std::set<Config> seen{earlier};
  for (int round = 0; round < 10; ++round) {
    auto batch = ga->NextBatch(5);
    std::vector<TrialResult> results;
    for (auto& c : batch) {
      EXPECT_TRUE(seen.insert(c).second) << compiler::ConfigToJson(c);
      EXPECT_TRUE(space->Valid(c));
      results.push_back({c, static_cast<double>(c.at("a") + c.at("b"))});
    }
    ga->Update(results);
  }
  // 24 points, one measured earlier: exactly 23 proposals, then the space is exhausted.
  EXPECT_EQ(seen.size(), 24u);
  EXPECT_TRUE(ga->NextBatch(5).empty());
}

TEST(GeneticSearch, IsReproducibleFromItsSeed) {
  SearchSpace space = SyntheticSpace();
  auto run = [&](uint64_t seed) {
    auto ga = MakeGeneticSearch(space, GeneticOptions{}, seed);
    std::vector<Config> all;
    for (int round = 0; round < 6; ++round) {
      auto batch = ga->NextBatch(8);
      std::vector<TrialResult> results;
      for (auto& c : batch) results.push_back({c, SyntheticObjective(c)});
      ga->Update(results);
      all.insert(all.end(), batch.begin(), batch.end());
    }
    return all;
  };
  EXPECT_EQ(run(3), run(3));
  EXPECT_NE(run(3), run(4));
}

TEST(GeneticSearch, FailedCandidatesNeverBecomeParents) {
  SearchSpace space = SyntheticSpace();
  const int population = 4;
  auto ga = MakeGeneticSearch(space, GeneticOptions{population, 2, 0.0}, 1);
  // Every trial of the first generation fails. Failed trials must not count as parents:
  // the GA keeps drawing at random. Were they parents, every child (no mutation) would
  // be a crossover of the first `population` failed configs: each of its knob values
  // taken from one of them.
  auto first = ga->NextBatch(8);
  std::vector<TrialResult> failed;
  for (const auto& c : first) failed.push_back({c, INFINITY});
  ga->Update(failed);
  auto bred_from_failed = [&](const Config& c) {
    for (const auto& [knob, value] : c) {
      bool held = false;
      for (int p = 0; p < population; ++p) held = held || first[p].at(knob) == value;
      if (!held) return false;
    }
    return true;
  };
  int explained = 0;
  for (const auto& c : ga->NextBatch(8)) explained += bred_from_failed(c) ? 1 : 0;
  // A random draw over 8 knobs of 8 values lands inside the failed configs' values with
  // probability about (4/8)^8 per config: 0 of 8 for this seed.
  EXPECT_EQ(explained, 0);
}

TEST(GridSearch, VisitsEveryValidConfigOnceInIndexOrder) {
  auto space =
      SearchSpace::Create({{"a", KnobKind::kSplit, {1, 2, 4}, {}, ""}, {"b", KnobKind::kSplit, {1, 2, 4}, {}, ""}},
                          {{"a*b <= 8", [](const Config& c) { return c.at("a") * c.at("b") <= 8; }}});
  ASSERT_TRUE(space.ok());
  auto grid = MakeGridSearch(*space);
  auto first = grid->NextBatch(3);
  auto rest = grid->NextBatch(100);
  EXPECT_EQ(first.size() + rest.size(), 8u);  // 9 points, (4,4) breaks the constraint
  EXPECT_EQ(first[0], (Config{{"a", 1}, {"b", 1}}));
  EXPECT_EQ(first[1], (Config{{"a", 1}, {"b", 2}}));
  EXPECT_TRUE(grid->NextBatch(1).empty());
}

TEST(RandomSearch, SamplesWithoutReplacementUntilExhausted) {
  auto space = SearchSpace::Create(
      {{"a", KnobKind::kSplit, {1, 2, 3, 4, 5}, {}, ""}, {"b", KnobKind::kSplit, {1, 2, 3, 4}, {}, ""}});
  ASSERT_TRUE(space.ok());
  auto random = MakeRandomSearch(*space, 11);
  std::set<Config> seen;
  for (int i = 0; i < 10; ++i)
    for (auto& c : random->NextBatch(3)) EXPECT_TRUE(seen.insert(c).second);
  EXPECT_EQ(seen.size(), 20u);
}

TEST(SearchStrategy, ModelGuidedStrategiesAreRefusedWithoutFeatures) {
  SearchSpace space = SyntheticSpace();
  auto s = MakeSearchStrategy(Strategy::kXgbGa, space, 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("xgb-ga needs the workload's features"), std::string::npos)
      << s.status().message();
  EXPECT_TRUE(MakeSearchStrategy(Strategy::kGa, space, 1).ok());
  EXPECT_TRUE(MakeSearchStrategy(Strategy::kGrid, space, 1).ok());
}

TEST(StrategyNames, EveryStrategyPrintsAndParsesBackAndOthersAreRefused) {
  int seen = 0;
  for (Strategy s :
       {Strategy::kGa, Strategy::kRandom, Strategy::kGrid, Strategy::kXgbGa, Strategy::kMetaGa, Strategy::kOneShot}) {
    auto back = ParseStrategy(StrategyName(s));
    ASSERT_TRUE(back.ok()) << StrategyName(s);
    EXPECT_EQ(*back, s);
    EXPECT_NE(KnownStrategies().find(StrategyName(s)), std::string::npos);
    ++seen;
  }
  EXPECT_EQ(seen, 6);
  auto bad = ParseStrategy("annealing");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "unknown search strategy 'annealing' (known: ga, random, grid, xgb-ga, meta-ga, one-shot)");
  EXPECT_FALSE(ParseStrategy("GA").ok());
  EXPECT_FALSE(ParseStrategy("").ok());
}

TEST(StrategyNames, CostModelsFollowTheirStrategiesAndCombineWithGa) {
  EXPECT_EQ(CostModelOf(Strategy::kGa), CostModelKind::kNone);
  EXPECT_EQ(CostModelOf(Strategy::kXgbGa), CostModelKind::kXgboost);
  EXPECT_EQ(CostModelOf(Strategy::kOneShot), CostModelKind::kNeural);
  EXPECT_FALSE(ModelGuided(Strategy::kGrid));
  EXPECT_TRUE(ModelGuided(Strategy::kMetaGa));
  EXPECT_EQ(WithCostModel(Strategy::kGa, CostModelKind::kXgboost).value(), Strategy::kXgbGa);
  EXPECT_EQ(WithCostModel(Strategy::kGa, CostModelKind::kNeural).value(), Strategy::kMetaGa);
  EXPECT_EQ(WithCostModel(Strategy::kOneShot, CostModelKind::kNeural).value(), Strategy::kOneShot);
  auto misfit = WithCostModel(Strategy::kRandom, CostModelKind::kXgboost);
  ASSERT_FALSE(misfit.ok());
  EXPECT_EQ(misfit.status().message(), "cost_model: 'xgboost' does not fit strategy 'random' (it uses none)");
  for (CostModelKind k : {CostModelKind::kNone, CostModelKind::kXgboost, CostModelKind::kNeural})
    EXPECT_EQ(ParseCostModel(CostModelName(k)).value(), k);
  EXPECT_FALSE(ParseCostModel("forest").ok());
}

}  // namespace
}  // namespace priortune::tuner

// The model-guided GA with the real XGBoost model on a synthetic objective, features
// taken from the knob values (a small fake behind FeatureFunction).
#include "tuner/model_guided_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "synthetic_space.h"

namespace priortune::tuner {
namespace {

using compiler::KnobKind;

using testing::SyntheticObjective;
using testing::SyntheticSpace;

std::optional<std::vector<float>> KnobFeatures(const Config& c) {
  std::vector<float> f;
  for (const auto& [k, v] : c) f.push_back(static_cast<float>(v));
  return f;
}

// Evaluations until the optimum is measured (`cap` if never).
int TrialsToOptimum(SearchStrategy& s, int cap, int batch) {
  int done = 0;
  while (done < cap) {
    auto configs = s.NextBatch(std::min(batch, cap - done));
    if (configs.empty()) break;
    std::vector<TrialResult> results;
    for (auto& c : configs) {
      ++done;
      results.push_back({c, SyntheticObjective(c)});
      if (results.back().cost == 1.0) return done;
    }
    s.Update(results);
  }
  return cap;
}

ModelGuidedOptions Options() {
  ModelGuidedOptions o;
  o.target_key = "synthetic";
  return o;
}

TEST(ModelGuidedSearch, ReachesTheOptimumInFewerEvaluationsThanTheGeneticSearch) {
  SearchSpace space = SyntheticSpace();
  std::vector<int> model, ga;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    auto m = MakeModelGuidedSearch(space, KnobFeatures, Options(), seed);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto g = MakeGeneticSearch(space, GeneticOptions{}, seed);
    model.push_back(TrialsToOptimum(**m, 2000, 32));
    ga.push_back(TrialsToOptimum(*g, 2000, 32));
  }
  std::sort(model.begin(), model.end());
  std::sort(ga.begin(), ga.end());
  EXPECT_LT(model[1], ga[1]) << "median evaluations: xgb-ga " << model[1] << ", ga " << ga[1];
  EXPECT_LT(model[1], 2000);
}

TEST(ModelGuidedSearch, NeverProposesAVisitedConfigAndMixesInRandomOnes) {
  auto space = SearchSpace::Create({{"a", KnobKind::kSplit, {1, 2, 4, 8}, {}, ""},
                                    {"b", KnobKind::kSplit, {1, 2, 4}, {}, ""},
                                    {"c", KnobKind::kEnum, {0, 1}, {"x", "y"}, ""}});
  ASSERT_TRUE(space.ok());
  auto o = Options();
  o.population = 8;
  auto s = MakeModelGuidedSearch(*space, KnobFeatures, o, 3);
  ASSERT_TRUE(s.ok());
  Config earlier{{"a", 8}, {"b", 4}, {"c", 1}};
  (*s)->Update({{earlier, 1.0}});
  std::set<Config> seen{earlier};
  int total = 1;
  for (int round = 0; round < 10; ++round) {
    auto batch = (*s)->NextBatch(5);
    for (auto& c : batch) {
      EXPECT_TRUE(seen.insert(c).second) << compiler::ConfigToJson(c);
      EXPECT_TRUE(space->Valid(c));
    }
    std::vector<TrialResult> results;
    for (auto& c : batch) results.push_back({c, static_cast<double>(c.at("a") * c.at("b"))});
    (*s)->Update(results);
    total += static_cast<int>(batch.size());
  }
  EXPECT_EQ(total, 24);  // the whole space, then nothing more
  EXPECT_TRUE((*s)->NextBatch(5).empty());
  EXPECT_GT((*s)->model_seconds(), 0);
}

TEST(ModelGuidedSearch, AGuardDropsAPriorThatRanksBackwards) {
  SearchSpace space = SyntheticSpace();
  // A prior trained on the objective's opposite: it ranks this task backwards.
  costmodel::Dataset wrong;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 400; ++i) {
    Config c = *space.Sample(rng);
    wrong.Add(*KnobFeatures(c), 1.0 / SyntheticObjective(c), 0);
  }
  auto prior = costmodel::MakeXGBoostModel({}, "synthetic");
  ASSERT_TRUE(prior.ok());
  ASSERT_TRUE((*prior)->Fit(wrong).ok());
  auto o = Options();
  o.prior = std::shared_ptr<const costmodel::CostModel>(std::move(prior).value());
  o.guard_batches = 2;
  auto s = MakeModelGuidedSearch(space, KnobFeatures, o, 1);
  ASSERT_TRUE(s.ok());
  TrialsToOptimum(**s, 32 * 4, 32);
  EXPECT_NE((*s)->notes().find("kept the task-only model"), std::string::npos) << (*s)->notes();
}

}  // namespace
}  // namespace priortune::tuner

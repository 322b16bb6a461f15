// The model-guided GA with the real XGBoost model (made as xgb-ga makes it,
// tuner/transfer.h) on a synthetic objective, features taken from the knob values (a small
// fake behind FeatureFunction); and with a fake CostModel, since the search takes any.
#include "tuner/model_guided_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "synthetic_space.h"
#include "tuner/transfer.h"

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

// The search as xgb-ga builds it: XGBoost models, with `prior` guarded against a model of
// the task alone.
StatusOr<std::unique_ptr<SearchStrategy>> XgbSearch(const SearchSpace& space, const ModelGuidedOptions& o,
                                                    uint64_t seed,
                                                    std::shared_ptr<const costmodel::CostModel> prior = nullptr) {
  PT_ASSIGN_OR_RETURN(GuidedModels models, XGBoostGuidedModels({}, "synthetic", prior, o.guard_batches));
  return MakeModelGuidedSearch(space, KnobFeatures, o, seed, std::move(models));
}

// A cost model that knows the objective: it rebuilds the config from the knob features
// (SyntheticSpace's knobs k0..k7, in the config's order) and scores 1 / cost.
class OracleModel : public costmodel::CostModel {
 public:
  Status Fit(const costmodel::Dataset&) override {
    ++fits;
    return OkStatus();
  }
  Status Update(const costmodel::Dataset&) override {
    ++fits;
    return OkStatus();
  }
  StatusOr<std::vector<float>> Predict(const float* features, size_t rows) const override {
    std::vector<float> scores;
    for (size_t r = 0; r < rows; ++r) {
      Config c;
      for (int i = 0; i < 8; ++i) c["k" + std::to_string(i)] = static_cast<int64_t>(features[r * 8 + i]);
      scores.push_back(static_cast<float>(1.0 / SyntheticObjective(c)));
    }
    ++predictions;
    return scores;
  }
  StatusOr<std::string> Save() const override { return Unimplemented("oracle"); }
  bool trained() const override { return true; }
  const costmodel::ModelMetadata& metadata() const override { return meta; }
  costmodel::ModelMetadata& mutable_metadata() override { return meta; }
  costmodel::ModelMetadata meta;
  int fits = 0;
  mutable int predictions = 0;
};

TEST(ModelGuidedSearch, ReachesTheOptimumInFewerEvaluationsThanTheGeneticSearch) {
  SearchSpace space = SyntheticSpace();
  std::vector<int> model, ga;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    auto m = XgbSearch(space, ModelGuidedOptions{}, seed);
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
  ModelGuidedOptions o;
  o.population = 8;
  auto s = XgbSearch(*space, o, 3);
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
  ModelGuidedOptions o;
  o.guard_batches = 2;
  auto s = XgbSearch(space, o, 1, std::shared_ptr<const costmodel::CostModel>(std::move(prior).value()));
  ASSERT_TRUE(s.ok());
  TrialsToOptimum(**s, 32 * 4, 32);
  const TaskNotes notes = (*s)->notes();
  const TaskNote* kept = FindNote(notes, "guard.kept");
  ASSERT_NE(kept, nullptr) << NotesText(notes);
  EXPECT_EQ(kept->String("chosen"), "task-only");
  EXPECT_EQ(kept->String("alternative"), "task-only");
  EXPECT_EQ(kept->Number("batches"), 2);
  // It kept the model that ranked the guarded batches better, and says by how much.
  EXPECT_GT(kept->Number("alternative_accuracy"), kept->Number("primary_accuracy")) << kept->text;
  EXPECT_GT(kept->Number("pairs"), 0);
}

TEST(ModelGuidedSearch, TakesAnyCostModelAndFollowsItsPredictions) {
  SearchSpace space = SyntheticSpace();
  std::vector<int> oracle, xgb;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    auto model = std::make_unique<OracleModel>();
    OracleModel* seen = model.get();
    GuidedModels models;
    models.primary = std::move(model);
    models.primary_name = "oracle";
    auto s = MakeModelGuidedSearch(space, KnobFeatures, ModelGuidedOptions{}, seed, std::move(models));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    oracle.push_back(TrialsToOptimum(**s, 2000, 32));
    EXPECT_GT(seen->predictions, 0);
    EXPECT_GT(seen->fits, 0) << "the model is given the measured batches";
    auto x = XgbSearch(space, ModelGuidedOptions{}, seed);
    ASSERT_TRUE(x.ok());
    xgb.push_back(TrialsToOptimum(**x, 2000, 32));
  }
  std::sort(oracle.begin(), oracle.end());
  std::sort(xgb.begin(), xgb.end());
  // Perfect predictions find the optimum sooner than a model learning from the samples.
  EXPECT_LT(oracle[1], xgb[1]) << "median evaluations: oracle " << oracle[1] << ", xgb-ga " << xgb[1];
  // No model at all is refused.
  EXPECT_EQ(MakeModelGuidedSearch(space, KnobFeatures, ModelGuidedOptions{}, 1, GuidedModels{}).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace priortune::tuner

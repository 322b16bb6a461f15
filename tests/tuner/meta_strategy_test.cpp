// meta-ga and one-shot through the tuning loop: a real neural model (LibTorch) found in a
// real SQLite store or a file, features from real lowering, a fake measurer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>

#include "compiler/target/target.h"
#include "costmodel/features.h"
#include "costmodel/neural_model.h"
#include "tests/tuner/fake_measurer.h"
#include "tuner/meta_model.h"
#include "tuner/search_space.h"
#include "tuner/transfer.h"
#include "tuner/tuning_loop.h"

namespace priortune::tuner {
namespace {

compiler::Target Avx2() { return compiler::Target::Parse("x86-64-v3", 1).value(); }

// A small model trained on random rows: its predictions are arbitrary but real.
std::unique_ptr<costmodel::CostModel> TinyModel(const std::string& target_key) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> u(0, 4);
  costmodel::Dataset d;
  const size_t cols = static_cast<size_t>(costmodel::LoopNestFeatureCount());
  for (int g = 0; g < 3; ++g)
    for (int r = 0; r < 16; ++r) {
      std::vector<float> f(cols);
      for (auto& v : f) v = u(rng);
      d.Add(f, 1e-3 * (1 + f[0] + g), g);
    }
  costmodel::NeuralOptions o;
  o.hidden = 16;
  o.adapt_steps = 5;
  costmodel::NeuralTrainOptions t;
  t.method = "joint";
  t.steps = 5;
  auto m = costmodel::TrainNeuralModel(d, o, t, target_key, "tiny test model");
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

class MetaStrategy : public testing::Test {
 protected:
  void SetUp() override {
    // No shipped model: what a test finds is what it put there.
    dir_ = std::filesystem::path(testing::TempDir()) / ("no-models-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    store_ = std::move(db::OpenSqliteStore(":memory:")).value();
  }

  StatusOr<TuneSummary> Tune(Strategy strategy, int trials, const std::string& model_path = "") {
    TuneOptions o;
    o.strategy = strategy;
    o.trials = trials;
    o.model_path = model_path;
    o.shipped_model_dir = dir_.string();
    o.one_shot_trials = 24;
    std::atomic<bool> cancel{false};
    return TuneTask(compiler::MatmulWorkload(64, 64, 64), Avx2(), o, measurer_, *store_, 0, nullptr, cancel);
  }

  std::filesystem::path dir_;
  std::unique_ptr<db::Store> store_;
  FakeMeasurer measurer_;
};

TEST_F(MetaStrategy, OneShotNeverMeasuresMoreThanNCandidates) {
  std::string path = (dir_ / "model.bin").string();  // not .ptm: not a shipped model
  {
    auto blob = TinyModel(Avx2().Key())->Save();
    ASSERT_TRUE(blob.ok());
    std::ofstream(path, std::ios::binary) << *blob;
  }
  auto s = Tune(Strategy::kOneShot, 200, path);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->budget, 24);
  EXPECT_EQ(s->measured, 24);
  EXPECT_EQ(measurer_.calls, 24);
  const TaskNote* model = FindNote(s->notes, "meta.model");
  ASSERT_NE(model, nullptr) << NotesText(s->notes);
  EXPECT_EQ(model->String("source"), "file " + path);
  EXPECT_EQ(model->Number("same_target"), 1);
  EXPECT_EQ(FindNote(s->notes, "one_shot.other_target"), nullptr) << NotesText(s->notes);  // its own target
  // Run again: the budget counts the store's records, so nothing more is measured.
  auto again = Tune(Strategy::kOneShot, 24, path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->measured, 0);
  EXPECT_EQ(measurer_.calls, 24);
}

TEST_F(MetaStrategy, MetaGaAdaptsTheStoresModelAndSpendsItsBudgetWithoutRepeats) {
  auto id = StoreModel(*store_, *TinyModel(Avx2().Key()));
  ASSERT_TRUE(id.ok());
  auto s = Tune(Strategy::kMetaGa, 64);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->measured, 64);
  std::set<std::string> unique(measurer_.hashes.begin(), measurer_.hashes.end());
  EXPECT_EQ(unique.size(), measurer_.hashes.size());
  const TaskNote* model = FindNote(s->notes, "meta.model");
  ASSERT_NE(model, nullptr) << NotesText(s->notes);
  EXPECT_EQ(model->String("source"), "model #" + std::to_string(*id) + " of the store");
  const TaskNote* plan = FindNote(s->notes, "cost_model.plan");
  ASSERT_NE(plan, nullptr) << NotesText(s->notes);
  EXPECT_EQ(plan->String("primary"), "adapted");
  EXPECT_EQ(plan->String("alternative"), "un-adapted meta-trained");
  EXPECT_GT(s->model_seconds, 0);
}

TEST_F(MetaStrategy, AnotherTargetsModelIsOnlyAPriorAndOneShotSaysSo) {
  ASSERT_TRUE(StoreModel(*store_, *TinyModel("another-target-key")).ok());
  auto meta = Tune(Strategy::kMetaGa, 32);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  const TaskNote* model = FindNote(meta->notes, "meta.model");
  ASSERT_NE(model, nullptr) << NotesText(meta->notes);
  EXPECT_EQ(model->Number("same_target"), 0);
  EXPECT_EQ(model->String("model_target"), "another-target-key");
  store_ = std::move(db::OpenSqliteStore(":memory:")).value();
  ASSERT_TRUE(StoreModel(*store_, *TinyModel("another-target-key")).ok());
  auto one = Tune(Strategy::kOneShot, 200);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  const TaskNote* guess = FindNote(one->notes, "one_shot.other_target");
  ASSERT_NE(guess, nullptr) << NotesText(one->notes);
  EXPECT_EQ(guess->String("model_target"), "another-target-key");
  EXPECT_LE(one->measured, 24);
}

TEST_F(MetaStrategy, TheDefaultIsMetaGaOnlyWithAModelForTheTargetAndSaysWhy) {
  compiler::Target zen4 = compiler::Target::Parse("znver4", 1).value();
  auto none = DefaultStrategy(*store_, zen4, Strategy::kXgbGa, dir_.string());
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->strategy, Strategy::kXgbGa);
  EXPECT_NE(none->why.find("no meta-trained model for znver4"), std::string::npos) << none->why;
  // Another target's model is no reason.
  ASSERT_TRUE(StoreModel(*store_, *TinyModel(Avx2().Key())).ok());
  auto other = DefaultStrategy(*store_, zen4, Strategy::kXgbGa, dir_.string());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->strategy, Strategy::kXgbGa);
  EXPECT_NE(other->why.find("the nearest"), std::string::npos) << other->why;
  // A model trained for this target, also one from before keys named the microarchitecture.
  ASSERT_TRUE(StoreModel(*store_, *TinyModel(zen4.LegacyKey())).ok());
  auto own = DefaultStrategy(*store_, zen4, Strategy::kXgbGa, dir_.string());
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->strategy, Strategy::kMetaGa);
  EXPECT_NE(own->why.find("a meta-trained model for znver4 (x86_64-avx512) exists"), std::string::npos) << own->why;
}

TEST_F(MetaStrategy, ACorruptStoredModelIsRefusedAndTuningGoesOnWithoutIt) {
  db::ModelRow bad;
  bad.kind = "neural";
  bad.feature_version = costmodel::kFeatureVersion;
  bad.target_key = Avx2().Key();
  bad.training_set = "corrupt";
  bad.blob = "priortune-costmodel 1\n{\"kind\":\"neural\"}\nnot weights";
  ASSERT_TRUE(store_->AddModel(bad).ok());
  auto s = Tune(Strategy::kMetaGa, 32);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->measured, 32);
  const TaskNote* refused = FindNote(s->notes, "meta.refused");
  ASSERT_NE(refused, nullptr) << NotesText(s->notes);
  EXPECT_EQ(refused->String("error").rfind("DATA_LOSS", 0), 0u) << refused->String("error");
  const TaskNote* fallback = FindNote(s->notes, "meta.fallback");
  ASSERT_NE(fallback, nullptr) << NotesText(s->notes);
  EXPECT_EQ(fallback->String("strategy"), "meta-ga");
  EXPECT_EQ(fallback->String("instead"), "xgb-ga");
  EXPECT_NE(FindNote(s->notes, "meta.none"), nullptr) << NotesText(s->notes);
  // A model file asked for by name that does not load is an error of the request.
  std::string path = (dir_ / "corrupt.bin").string();
  std::ofstream(path, std::ios::binary) << bad.blob;
  auto named = Tune(Strategy::kMetaGa, 64, path);
  EXPECT_EQ(named.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(named.status().message().find(path), std::string::npos) << named.status().message();
  auto missing = Tune(Strategy::kMetaGa, 64, (dir_ / "none.ptm").string());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(measurer_.calls, 32);
}

// The repo's shipped model loads with today's feature layout and scores real candidates:
// a change of the features (kFeatureVersion) must come with a model trained again
// (scripts/train_shipped_model.sh).
TEST(ShippedModel, LoadsWithTodaysFeatureLayoutAndScoresRealCandidates) {
  const std::string shipped = std::string(PRIORTUNE_SOURCE_DIR) + "/data/models";
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(shipped, ec))
    if (e.path().extension() == ".ptm") files.push_back(e.path());
  ASSERT_FALSE(files.empty()) << "no shipped model in " << shipped;
  auto w = compiler::MatmulWorkload(64, 64, 64);
  auto t = Avx2();
  auto space = SearchSpace::ForWorkload(w, t);
  ASSERT_TRUE(space.ok());
  std::mt19937_64 rng(1);
  std::vector<float> rows;
  for (int i = 0; i < 8; ++i) {
    auto c = space->Sample(rng);
    ASSERT_TRUE(c.ok());
    auto f = costmodel::CandidateFeatures(w, t, *c);
    ASSERT_TRUE(f.ok());
    rows.insert(rows.end(), f->begin(), f->end());
  }
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::string blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto m = costmodel::LoadNeuralModel(blob, "");
    ASSERT_TRUE(m.ok()) << file << ": " << m.status().ToString();
    EXPECT_TRUE((*m)->trained());
    EXPECT_NE((*m)->metadata().training_set.find("train-model meta"), std::string::npos);
    auto s = (*m)->Predict(rows.data(), 8);
    ASSERT_TRUE(s.ok());
    for (float v : *s) EXPECT_TRUE(std::isfinite(v));
  }
}

TEST(MetaStrategyOptions, OneShotTrialsMustBePositive) {
  TuneOptions o;
  o.strategy = Strategy::kOneShot;
  o.one_shot_trials = 0;
  EXPECT_NE(o.Validate().message().find("one-shot trials"), std::string::npos);
  o.one_shot_trials = 64;
  EXPECT_TRUE(o.Validate().ok());
}

}  // namespace
}  // namespace priortune::tuner

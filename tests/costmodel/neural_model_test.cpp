// The neural cost model with the real LibTorch: training, adaptation, blobs through a real
// SQLite store. The tasks are synthetic (a fixed, seeded family), so that what is learned
// is known: a task's throughput rises with a task-specific weighting of a few features.
#include "costmodel/neural_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "costmodel/features.h"
#include "costmodel/metrics.h"
#include "costmodel/xgboost_model.h"
#include "db/store.h"
#include "tuner/transfer.h"

namespace priortune::costmodel {
namespace {

const size_t kCols = static_cast<size_t>(LoopNestFeatureCount());

// Task weights: the family's shared direction plus a task's own deviation.
std::vector<double> TaskWeights(std::mt19937_64& rng, double spread) {
  std::normal_distribution<double> n(0, spread);
  return {1.0 + n(rng), 0.5 + n(rng), -0.5 + n(rng), n(rng)};
}

// `rows` candidates of one task: features in slot 0 and the global part, cost from the
// task's weights (lower cost: faster).
void AddTask(Dataset& d, int group, const std::vector<double>& w, int rows, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(0, 1);
  const int global = kStoreSlots * SlotFeatureCount();
  for (int r = 0; r < rows; ++r) {
    std::vector<float> f(kCols, 0.f);
    for (int i = 0; i < 6; ++i) f[i] = u(rng);
    f[10] = 1;  // the slot is present
    for (int i = 0; i < 4; ++i) f[global + i] = u(rng);
    double score = w[0] * f[0] + w[1] * f[1] + w[2] * f[2] + w[3] * f[global] + 0.3 * f[3] * f[4];
    d.Add(f, std::exp(-2.0 * score) * 1e-3, group);
  }
}

Dataset Family(int tasks, int rows, uint64_t seed, double spread = 0.6) {
  std::mt19937_64 rng(seed);
  Dataset d;
  for (int t = 0; t < tasks; ++t) AddTask(d, t, TaskWeights(rng, spread), rows, rng);
  return d;
}

NeuralOptions Small() {
  NeuralOptions o;
  o.hidden = 32;
  o.seed = 7;
  return o;
}

NeuralTrainOptions Joint(int steps) {
  NeuralTrainOptions t;
  t.method = "joint";
  t.steps = steps;
  t.lr = 3e-3;
  t.tasks_per_batch = 4;
  t.rows_per_task = 32;
  return t;
}

double PairwiseAccuracy(const CostModel& m, const Dataset& d) {
  auto s = m.Predict(d.features.data(), d.rows());
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return EvaluateRanking(*s, d).pairwise_accuracy;
}

TEST(NeuralModel, TrainingOnAFixedSyntheticCorpusLowersItsRankingLoss) {
  Dataset corpus = Family(10, 48, 1);
  auto untrained = MakeNeuralModel(Small(), kCols, "t");
  ASSERT_TRUE(untrained.ok()) << untrained.status().ToString();
  auto before = NeuralRankingLoss(**untrained, corpus);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  auto trained = TrainNeuralModel(corpus, Small(), Joint(150), "t", "synthetic");
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  auto after = NeuralRankingLoss(**trained, corpus);
  ASSERT_TRUE(after.ok());
  EXPECT_LT(*after, 0.8 * *before) << "before " << *before << ", after " << *after;
  std::printf("ranking loss before %.4f, after %.4f\n", *before, *after);
  EXPECT_GT(PairwiseAccuracy(**trained, corpus), 0.75);
  EXPECT_EQ((*trained)->metadata().kind, CostModelKind::kNeural);
  EXPECT_EQ((*trained)->metadata().feature_version, kFeatureVersion);
  EXPECT_EQ((*trained)->metadata().samples, static_cast<int64_t>(corpus.rows()));
}

TEST(NeuralModel, SaveAndLoadThroughTheStoreGiveIdenticalPredictions) {
  Dataset corpus = Family(4, 32, 2);
  auto trained = TrainNeuralModel(corpus, Small(), Joint(20), "target-a", "synthetic");
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  (*trained)->mutable_metadata().metrics_json = R"({"pairwise_accuracy":0.5})";
  auto store = db::OpenSqliteStore(testing::TempDir() + "/neural_models.db");
  ASSERT_TRUE(store.ok());
  auto id = tuner::StoreModel(**store, **trained);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto rows = (*store)->Models({"neural", "target-a", "", *id, 0, true});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  auto loaded = LoadCostModel(rows->front().blob, "target-a");  // dispatches on the blob's kind
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto a = (*trained)->Predict(corpus.features.data(), corpus.rows());
  auto b = (*loaded)->Predict(corpus.features.data(), corpus.rows());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ((*loaded)->metadata().training_set, "synthetic");
  EXPECT_EQ((*loaded)->metadata().metrics_json, R"({"pairwise_accuracy":0.5})");
  // The store's model for another target is refused by a loader that names its target.
  auto other = LoadCostModel(rows->front().blob, "target-b");
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(other.status().message().find("target-a"), std::string::npos) << other.status().message();
}

TEST(NeuralModel, AdaptingOnKSamplesImprovesPairwiseAccuracyOnTheSameTasksHeldOutSamples) {
  NeuralOptions o = Small();
  o.adapt_steps = 60;
  o.adapt_lr = 3e-3;
  NeuralTrainOptions t = Joint(150);
  t.method = "meta";
  t.meta_iterations = 60;
  t.meta_batch = 2;
  Dataset corpus = Family(12, 48, 3, 1.0);
  auto meta = TrainNeuralModel(corpus, o, t, "t", "synthetic");
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  auto blob = (*meta)->Save();
  ASSERT_TRUE(blob.ok());
  // New tasks of the same family, never seen in training.
  Dataset fresh = Family(6, 96, 99, 1.0);
  ModelMaker make = [&]() { return LoadNeuralModel(*blob, "", o); };
  auto few = EvaluateFewShot(fresh, make, {0, 32}, 2, 5);
  ASSERT_TRUE(few.ok()) << few.status().ToString();
  ASSERT_EQ(few->size(), 2u);
  const auto& zero = (*few)[0].mean;
  const auto& adapted = (*few)[1].mean;
  EXPECT_EQ((*few)[1].tasks, 6);
  std::printf("pairwise accuracy on new tasks: k=0 %.3f, k=32 %.3f\n", zero.pairwise_accuracy,
              adapted.pairwise_accuracy);
  EXPECT_GT(adapted.pairwise_accuracy, zero.pairwise_accuracy + 0.02)
      << "k=0 " << zero.pairwise_accuracy << ", k=32 " << adapted.pairwise_accuracy;
}

TEST(NeuralModel, EachFitStartsAgainFromTheInitialWeights) {
  Dataset corpus = Family(4, 32, 4);
  auto m = TrainNeuralModel(corpus, Small(), Joint(20), "t", "synthetic");
  ASSERT_TRUE(m.ok());
  Dataset task = Family(1, 24, 5);
  ASSERT_TRUE((*m)->Fit(task).ok());
  auto first = (*m)->Predict(corpus.features.data(), corpus.rows());
  Dataset other = Family(1, 24, 6);
  ASSERT_TRUE((*m)->Fit(other).ok());
  ASSERT_TRUE((*m)->Fit(task).ok());  // the same samples again, from the same start
  auto again = (*m)->Predict(corpus.features.data(), corpus.rows());
  ASSERT_TRUE(first.ok() && again.ok());
  for (size_t i = 0; i < first->size(); ++i) EXPECT_NEAR((*first)[i], (*again)[i], 1e-4) << i;
}

// The blob's header line, edited, for the refusal tests.
std::string EditHeader(const std::string& blob, const std::string& from, const std::string& to) {
  size_t eol = blob.find('\n', blob.find('\n') + 1);
  std::string header = blob.substr(0, eol);
  size_t at = header.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at == std::string::npos) return blob;
  return header.replace(at, from.size(), to) + blob.substr(eol);
}

TEST(NeuralModel, AModelOfAnotherFeatureLayoutIsRefusedWithAClearError) {
  auto m = MakeNeuralModel(Small(), kCols, "t");
  ASSERT_TRUE(m.ok());
  auto blob = (*m)->Save();
  ASSERT_TRUE(blob.ok());
  auto version = LoadCostModel(EditHeader(*blob, "\"feature_version\":" + std::to_string(kFeatureVersion),
                                          "\"feature_version\":" + std::to_string(kFeatureVersion + 7)),
                               "");
  EXPECT_EQ(version.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(version.status().message().find("feature version"), std::string::npos) << version.status().message();
  auto slots = LoadCostModel(EditHeader(*blob, "\"slot_size\":" + std::to_string(SlotFeatureCount()),
                                        "\"slot_size\":" + std::to_string(SlotFeatureCount() - 3)),
                             "");
  EXPECT_EQ(slots.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(slots.status().message().find("feature layout"), std::string::npos) << slots.status().message();
  // Rows of another width are refused by Fit, not misread.
  Dataset narrow;
  narrow.Add(std::vector<float>(kCols - 1, 0.5f), 1e-3, 0);
  narrow.Add(std::vector<float>(kCols - 1, 0.25f), 2e-3, 0);
  EXPECT_EQ((*m)->Fit(narrow).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeNeuralModel(Small(), 10, "t").status().code(), StatusCode::kInvalidArgument);
}

TEST(NeuralModel, ACorruptOrTruncatedBlobIsRefusedAsDataLoss) {
  auto m = TrainNeuralModel(Family(3, 16, 8), Small(), Joint(5), "t", "synthetic");
  ASSERT_TRUE(m.ok());
  auto blob = (*m)->Save();
  ASSERT_TRUE(blob.ok());
  std::string flipped = *blob;
  flipped[flipped.size() - 100] ^= 0x5a;
  EXPECT_EQ(LoadCostModel(flipped, "").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(LoadCostModel(blob->substr(0, blob->size() / 2), "").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(LoadCostModel(EditHeader(*blob, "\"hidden\":32", "\"hidden\":48"), "").status().code(),
            StatusCode::kDataLoss);  // weights of another shape
  EXPECT_EQ(LoadCostModel("priortune-costmodel 1\n{\"kind\":\"neural\"}\n", "").status().code(), StatusCode::kDataLoss);
}

TEST(NeuralModel, AFrozenViewIgnoresFitAndPredictsAsTheModel) {
  auto m = TrainNeuralModel(Family(4, 32, 9), Small(), Joint(20), "t", "synthetic");
  ASSERT_TRUE(m.ok());
  std::shared_ptr<const CostModel> shared = std::move(m).value();
  auto frozen = FrozenModel(shared);
  Dataset task = Family(1, 24, 10);
  auto before = frozen->Predict(task.features.data(), task.rows());
  ASSERT_TRUE(frozen->Fit(task).ok());
  auto after = frozen->Predict(task.features.data(), task.rows());
  auto direct = shared->Predict(task.features.data(), task.rows());
  ASSERT_TRUE(before.ok() && after.ok() && direct.ok());
  EXPECT_EQ(*before, *after);
  EXPECT_EQ(*after, *direct);
  EXPECT_TRUE(frozen->trained());
}

TEST(NeuralModel, BadOptionsAreRefusedNamingTheField) {
  NeuralOptions o;
  o.loss = "hinge";
  auto s = MakeNeuralModel(o, kCols, "t").status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("loss"), std::string::npos);
  NeuralTrainOptions t;
  t.method = "maml2";
  EXPECT_NE(t.Validate().message().find("method"), std::string::npos);
  t = NeuralTrainOptions{};
  t.support_size = 4;
  EXPECT_NE(t.Validate().message().find("support"), std::string::npos);
  // One task is not a corpus.
  auto one = TrainNeuralModel(Family(1, 32, 11), NeuralOptions{}, Joint(5), "t", "x");
  EXPECT_EQ(one.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace priortune::costmodel

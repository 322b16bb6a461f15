// The XGBoost cost model on synthetic samples: it learns a ranking, round-trips through a
// real SQLite store, and refuses blobs that are corrupt or made for something else.
#include "costmodel/xgboost_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "costmodel/features.h"
#include "costmodel/metrics.h"
#include "db/store.h"

namespace priortune::costmodel {
namespace {

// Tasks of `rows` samples each: the cost falls with f0 and f2*f3 and rises with f1 (the
// same rule in every task, scaled per task, as a workload's size scales its costs).
Dataset Synthetic(int first_group, int groups, int rows, uint64_t seed, size_t cols = 8) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  Dataset d;
  for (int g = first_group; g < first_group + groups; ++g) {
    double scale = 1e-3 * (1 + g);
    for (int r = 0; r < rows; ++r) {
      std::vector<float> f(cols);
      for (auto& v : f) v = u(rng);
      double cost = scale * std::exp(-(2.0 * f[0] - f[1] + 1.5 * f[2] * f[3]));
      if (r % 17 == 0) cost = std::numeric_limits<double>::infinity();  // a failure
      d.Add(f, cost, g);
    }
  }
  return d;
}

std::unique_ptr<CostModel> Trained(const Dataset& d, const std::string& objective = "rank:pairwise") {
  XGBoostOptions o;
  o.objective = objective;
  auto m = MakeXGBoostModel(o, "target-a");
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  Status s = (*m)->Fit(d);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return std::move(m).value();
}

TEST(XGBoostModel, LearnsARankingThatHoldsOnTasksItHasNotSeen) {
  for (const char* objective : {"rank:pairwise", "reg:throughput"}) {
    auto model = Trained(Synthetic(0, 4, 150, 1), objective);
    Dataset held_out = Synthetic(10, 2, 150, 2);
    auto scores = model->Predict(held_out.features.data(), held_out.rows());
    ASSERT_TRUE(scores.ok()) << scores.status().ToString();
    RankingMetrics m = EvaluateRanking(*scores, held_out, 10);
    EXPECT_GT(m.pairwise_accuracy, 0.8) << objective;  // failures (1 in 17) are unpredictable coin flips
    EXPECT_GT(m.peak_at_5, 0.8) << objective;
    EXPECT_EQ(m.groups, 2);
  }
}

TEST(XGBoostModel, AnUntrainedModelScoresZeroAndAnEmptyFitIsAnError) {
  auto m = MakeXGBoostModel({}, "t");
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE((*m)->trained());
  Dataset d = Synthetic(0, 1, 4, 3);
  auto s = (*m)->Predict(d.features.data(), d.rows());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, std::vector<float>(4, 0.f));
  EXPECT_EQ((*m)->Fit(Dataset{}).code(), StatusCode::kInvalidArgument);
  XGBoostOptions bad;
  bad.objective = "rank:magic";
  EXPECT_EQ(MakeXGBoostModel(bad, "t").status().code(), StatusCode::kInvalidArgument);
}

TEST(XGBoostModel, FitPredictSaveLoadThroughASqliteStoreGivesIdenticalPredictions) {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/priortune-cm-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  Dataset train = Synthetic(0, 3, 100, 4), probe = Synthetic(20, 1, 50, 5);
  auto base = Trained(train);
  base->mutable_metadata().training_set = "synthetic: 3 tasks";
  // A model on top of a base (transfer) must save and load the base with it.
  auto top = MakeXGBoostModel({}, "target-a", std::shared_ptr<const CostModel>(std::move(base)));
  ASSERT_TRUE(top.ok());
  ASSERT_TRUE((*top)->Fit(Synthetic(30, 1, 40, 6)).ok());
  auto before = (*top)->Predict(probe.features.data(), probe.rows());
  ASSERT_TRUE(before.ok());
  auto blob = (*top)->Save();
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  int64_t id = 0;
  {
    auto store = db::OpenSqliteStore((dir / "m.db").string());
    ASSERT_TRUE(store.ok());
    const auto& meta = (*top)->metadata();
    auto added = (*store)->AddModel({0, CostModelName(meta.kind), meta.feature_version, meta.target_key, "synthetic",
                                     "{}", meta.samples, 0, *blob});
    ASSERT_TRUE(added.ok()) << added.status().ToString();
    id = *added;
  }
  auto store = db::OpenSqliteStore((dir / "m.db").string());
  ASSERT_TRUE(store.ok());
  auto rows = (*store)->Models({"", "", "", id, 0, true});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  auto loaded = LoadCostModel((*rows)[0].blob, "target-a");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto after = (*loaded)->Predict(probe.features.data(), probe.rows());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*before, *after);
  EXPECT_EQ((*loaded)->metadata().feature_count, 8u);
  EXPECT_EQ((*loaded)->metadata().samples, 40);
  fs::remove_all(dir);
}

TEST(XGBoostModel, ACorruptOrMismatchedBlobIsRefusedWithItsReason) {
  auto model = Trained(Synthetic(0, 2, 60, 7));
  auto blob = model->Save();
  ASSERT_TRUE(blob.ok());
  // Another target.
  auto other = LoadCostModel(*blob, "target-b");
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(other.status().message().find("target-a"), std::string::npos) << other.status().message();
  // Another feature version.
  std::string v = *blob;
  std::string from = "\"feature_version\":" + std::to_string(kFeatureVersion);
  size_t at = v.find(from);
  ASSERT_NE(at, std::string::npos);
  v.replace(at, from.size(), "\"feature_version\":999");
  auto version = LoadCostModel(v, "");
  EXPECT_EQ(version.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(version.status().message().find("999"), std::string::npos) << version.status().message();
  // A flipped byte in the model, a truncation, garbage.
  std::string flipped = *blob;
  flipped[flipped.size() - 10] ^= 0x5a;
  EXPECT_EQ(LoadCostModel(flipped, "").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(LoadCostModel(blob->substr(0, blob->size() / 2), "").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(LoadCostModel("not a model", "").status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(LoadCostModel(*blob, "target-a").ok());
}

TEST(XGBoostModel, AModelOnABaseStartsFromTheBasesScores) {
  auto base = std::shared_ptr<const CostModel>(Trained(Synthetic(0, 3, 100, 8)));
  Dataset probe = Synthetic(40, 1, 30, 9);
  auto top = MakeXGBoostModel({}, "target-a", base);
  ASSERT_TRUE(top.ok());
  EXPECT_TRUE((*top)->trained());  // its base is
  auto a = base->Predict(probe.features.data(), probe.rows());
  auto b = (*top)->Predict(probe.features.data(), probe.rows());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(XGBoostModel, UpdateRefitsOnEverySampleSoFar) {
  Dataset a = Synthetic(0, 2, 50, 10), b = Synthetic(2, 1, 50, 11), probe = Synthetic(9, 1, 20, 12);
  auto updated = Trained(a);
  ASSERT_TRUE(updated->Update(b).ok());
  Dataset both = a;
  both.Append(b);
  auto at_once = Trained(both);
  EXPECT_EQ(updated->metadata().samples, 150);
  EXPECT_EQ(updated->Predict(probe.features.data(), probe.rows()).value(),
            at_once->Predict(probe.features.data(), probe.rows()).value());
}

TEST(XGBoostModel, AFadingBaseIsDroppedOnceItsWeightFallsBelowFivePercent) {
  auto base = std::shared_ptr<const CostModel>(Trained(Synthetic(0, 3, 100, 13)));
  Dataset probe = Synthetic(50, 1, 30, 14), many = Synthetic(60, 2, 320, 15);
  XGBoostOptions fading;
  fading.base_half_life = 64;
  // 640 samples: weight 2^-10, dropped: the same trees as a model without a base.
  auto top = MakeXGBoostModel(fading, "target-a", base);
  ASSERT_TRUE(top.ok());
  ASSERT_TRUE((*top)->Fit(many).ok());
  auto plain = Trained(many);
  EXPECT_EQ((*top)->Predict(probe.features.data(), probe.rows()).value(),
            plain->Predict(probe.features.data(), probe.rows()).value());
  // 32 samples: weight 2^-0.5, the base still counts.
  Dataset few = Synthetic(70, 1, 32, 16);
  auto young = MakeXGBoostModel(fading, "target-a", base);
  ASSERT_TRUE(young.ok());
  ASSERT_TRUE((*young)->Fit(few).ok());
  EXPECT_NE((*young)->Predict(probe.features.data(), probe.rows()).value(),
            Trained(few)->Predict(probe.features.data(), probe.rows()).value());
  XGBoostOptions bad;
  bad.base_half_life = -1;
  EXPECT_EQ(MakeXGBoostModel(bad, "t").status().code(), StatusCode::kInvalidArgument);
}

TEST(Metrics, PerfectAndReversedScoresGiveTheExtremes) {
  Dataset d;
  for (int i = 0; i < 6; ++i) d.Add({static_cast<float>(i)}, 1.0 + i, 0);  // cost grows with i
  std::vector<float> right = {6, 5, 4, 3, 2, 1}, wrong = {1, 2, 3, 4, 5, 6};
  RankingMetrics r = EvaluateRanking(right, d, 2), w = EvaluateRanking(wrong, d, 2);
  EXPECT_DOUBLE_EQ(r.pairwise_accuracy, 1);
  EXPECT_DOUBLE_EQ(r.kendall_tau, 1);
  EXPECT_DOUBLE_EQ(r.top_k_recall, 1);
  EXPECT_DOUBLE_EQ(r.peak_at_1, 1);
  EXPECT_DOUBLE_EQ(w.pairwise_accuracy, 0);
  EXPECT_DOUBLE_EQ(w.kendall_tau, -1);
  EXPECT_DOUBLE_EQ(w.top_k_recall, 0);
  EXPECT_DOUBLE_EQ(w.peak_at_1, 1.0 / 6);  // picks the slowest: 1 / 6 of the best throughput
  EXPECT_DOUBLE_EQ(w.peak_at_5, 1.0 / 2);  // its top 5 include the second fastest
  EXPECT_EQ(r.pairs, 15);
}

}  // namespace
}  // namespace priortune::costmodel

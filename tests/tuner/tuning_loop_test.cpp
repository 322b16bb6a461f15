#include "tuner/tuning_loop.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "compiler/target/target.h"
#include "costmodel/features.h"
#include "tests/tuner/fake_measurer.h"
#include "tuner/search_space.h"
#include "tuner/transfer.h"

namespace priortune::tuner {
namespace {

// A constructed target (AVX2, one core): what these tests cover does not depend on the
// machine they run on. The fake measurer never runs code.
compiler::Target Avx2() { return compiler::Target::Parse("x86-64-v3", 1).value(); }

std::unique_ptr<db::Store> MemoryStore() { return std::move(db::OpenSqliteStore(":memory:")).value(); }

TEST(TuneTask, StoresEveryTrialAndNeverMeasuresAConfigTwiceAcrossRuns) {
  auto store = MemoryStore();
  auto w = compiler::MatmulWorkload(64, 64, 64);
  auto t = Avx2();
  FakeMeasurer m;
  std::atomic<bool> cancel{false};
  TuneOptions o;
  o.trials = 40;
  auto first = TuneTask(w, t, o, m, *store, 0, nullptr, cancel);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->measured, 40);
  // The same budget again: already tuned, answered from the store without measuring.
  auto again = TuneTask(w, t, o, m, *store, 0, nullptr, cancel);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->known_before, 40);
  EXPECT_EQ(again->measured, 0);
  EXPECT_EQ(m.calls, 40);
  EXPECT_EQ(again->best_cost, first->best_cost);
  // A bigger budget measures only the difference.
  o.trials = 80;
  auto second = TuneTask(w, t, o, m, *store, 0, nullptr, cancel);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->known_before, 40);
  EXPECT_EQ(second->measured, 40);
  EXPECT_EQ(store->History({}).value().size(), 80u);
  std::set<std::string> unique(m.hashes.begin(), m.hashes.end());
  EXPECT_EQ(unique.size(), m.hashes.size());
  // The best comes from the store and is a correct record.
  auto best = store->Best(w.Key(), t.Key(), t.isa_family()).value();
  ASSERT_TRUE(best.has_value());
  EXPECT_DOUBLE_EQ(best->record.cost(), second->best_cost);
  EXPECT_NE((*second->best_config).at("mr"), 7);
}

TEST(TuneTask, CancelKeepsWhatWasMeasuredAndStoresNothingElse) {
  auto store = MemoryStore();
  FakeMeasurer m;
  m.cancel_after = 21;
  std::atomic<bool> cancel{false};
  m.cancel_flag = &cancel;
  TuneOptions o;
  o.trials = 100;
  o.batch_size = 8;
  auto s = TuneTask(compiler::MatmulWorkload(64, 64, 64), Avx2(), o, m, *store, 0, nullptr, cancel);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->cancelled);
  EXPECT_EQ(s->measured, 21);
  EXPECT_EQ(store->History({}).value().size(), 21u);
}

TEST(TuneTask, EarlyStoppingEndsARunThatStopsImproving) {
  auto store = MemoryStore();
  FakeMeasurer m;
  std::atomic<bool> cancel{false};
  TuneOptions o;
  o.trials = 1000;
  o.batch_size = 4;
  o.early_stopping = 12;
  o.strategy = Strategy::kGrid;  // index order: tile_m (mc x mr) is the slowest-varying knob, improves slowly
  auto s = TuneTask(compiler::MatmulWorkload(64, 64, 64), Avx2(), o, m, *store, 0, nullptr, cancel);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->early_stopped);
  EXPECT_LT(s->measured, 1000);
  // The last improvement happened exactly early_stopping trials (rounded up to a batch) ago.
  int last_improvement = 0;
  double best = INFINITY;
  for (size_t i = 0; i < s->trial_costs.size(); ++i)
    if (s->trial_costs[i] < best) best = s->trial_costs[i], last_improvement = static_cast<int>(i);
  EXPECT_GE(s->measured - 1 - last_improvement, 12);
  EXPECT_LT(s->measured - 1 - last_improvement, 12 + 4);
}

TEST(TuneTask, BadOptionsAreRejectedBeforeAnythingIsMeasured) {
  auto store = MemoryStore();
  FakeMeasurer m;
  std::atomic<bool> cancel{false};
  TuneOptions o;
  o.trials = 0;
  auto s = TuneTask(compiler::MatmulWorkload(8, 8, 8), Avx2(), o, m, *store, 0, nullptr, cancel);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  o.trials = 10;
  o.batch_size = 0;
  s = TuneTask(compiler::MatmulWorkload(8, 8, 8), Avx2(), o, m, *store, 0, nullptr, cancel);
  EXPECT_NE(s.status().message().find("batch size"), std::string::npos);
  EXPECT_EQ(m.calls, 0);
}

TEST(TuneTask, MeasuresTheHandPickedConfigInTheFirstBatchAndNeverTwice) {
  auto store = MemoryStore();
  auto w = compiler::MatmulWorkload(64, 64, 64);
  auto t = Avx2();
  Config hand = (*compiler::FindTemplate("matmul"))->HandPickedConfig(w, t);
  FakeMeasurer m;
  std::atomic<bool> cancel{false};
  TuneOptions o;
  o.trials = 8;
  o.batch_size = 8;
  o.strategy = Strategy::kGrid;  // index order: the hand-picked config is far from the first 8
  auto first = TuneTask(w, t, o, m, *store, 0, nullptr, cancel);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(m.calls, 8);
  EXPECT_EQ(m.hashes.count(ConfigHash(hand)), 1u);
  // Tuning further never measures it again.
  o.trials = 24;
  ASSERT_TRUE(TuneTask(w, t, o, m, *store, 0, nullptr, cancel).ok());
  EXPECT_EQ(m.calls, 24);
  EXPECT_EQ(m.hashes.count(ConfigHash(hand)), 1u);
  EXPECT_EQ(std::set<std::string>(m.hashes.begin(), m.hashes.end()).size(), 24u);

  // Off (as strategy studies want): grid's first 8 configs do not include it.
  auto other = MemoryStore();
  FakeMeasurer unseeded;
  o.trials = 8;
  o.seed_hand_picked = false;
  ASSERT_TRUE(TuneTask(w, t, o, unseeded, *other, 0, nullptr, cancel).ok());
  EXPECT_EQ(unseeded.hashes.count(ConfigHash(hand)), 0u);
}

// A fake with a synthetic cost that means the same on every matmul shape: throughput
// grows with the register tile's accumulators (up to 24 vectors), an unrolled reduction
// and prepacked weights. The cost model has to find these in the loop-nest features.
class TileModelMeasurer : public Measurer {
 public:
  std::vector<MeasureResult> Measure(const std::vector<Candidate>& candidates,
                                     const std::atomic<bool>& /*cancel*/) override {
    std::vector<MeasureResult> out;
    for (const auto& c : candidates) {
      const Config& k = c.config;
      double acc = static_cast<double>(k.at("mr") * k.at("nr")) / c.target.vector_lanes();
      double eff = std::min(1.0, acc / 24) * (k.at("ku") >= 4 ? 1.0 : 0.6 + 0.1 * k.at("ku")) *
                   (k.at("pack_b") == 2 ? 1.0 : 0.8);
      double flops = (*compiler::FindTemplate("matmul"))->Flops(c.workload);
      MeasureResult r;
      r.costs = {flops / (1e10 * eff)};
      r.worker = "fake";
      out.push_back(r);
    }
    batches.push_back(out);
    return out;
  }
  std::vector<std::vector<MeasureResult>> batches;
};

double MedianCost(const std::vector<MeasureResult>& batch) {
  std::vector<double> c;
  for (const auto& r : batch) c.push_back(r.cost());
  std::sort(c.begin(), c.end());
  return c[c.size() / 2];
}

// Three similar matmuls tuned at random: the history a new task transfers from.
void FillHistory(db::Store& store, const compiler::Target& t) {
  TileModelMeasurer m;
  std::atomic<bool> cancel{false};
  TuneOptions o;
  o.trials = 64;
  o.strategy = Strategy::kRandom;
  o.seed_hand_picked = false;
  for (auto w : {compiler::MatmulWorkload(64, 64, 64), compiler::MatmulWorkload(96, 64, 128),
                 compiler::MatmulWorkload(128, 96, 64)})
    ASSERT_TRUE(TuneTask(w, t, o, m, store, 0, nullptr, cancel).ok());
}

TEST(TuneTask, TheFirstBatchOfXgbGaWithTransferBeatsTheGeneticSearchsFirstBatch) {
  auto t = Avx2();
  auto w = compiler::MatmulWorkload(80, 112, 96);
  std::atomic<bool> cancel{false};
  int wins = 0;
  double transfer_sum = 0, ga_sum = 0;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    double median[2];
    for (int k = 0; k < 2; ++k) {
      auto store = MemoryStore();
      FillHistory(*store, t);
      TileModelMeasurer m;
      TuneOptions o;
      o.trials = 16;
      o.batch_size = 16;
      o.seed = seed;
      o.seed_hand_picked = false;
      o.strategy = k == 0 ? Strategy::kXgbGa : Strategy::kGa;
      auto s = TuneTask(w, t, o, m, *store, 0, nullptr, cancel);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      ASSERT_EQ(m.batches.size(), 1u);
      median[k] = MedianCost(m.batches[0]);
      if (k == 0) EXPECT_NE(FindNote(s->notes, "transfer.trained"), nullptr) << NotesText(s->notes);
    }
    wins += median[0] < median[1];
    transfer_sum += median[0];
    ga_sum += median[1];
  }
  EXPECT_GE(wins, 2) << "seeds where transfer's first batch had the lower median cost";
  EXPECT_LT(transfer_sum, ga_sum);
}

TEST(TuneTask, ACorruptStoredModelIsRefusedAndAFreshOneTrainedSayingSo) {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/priortune-transfer-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  std::string path = (dir / "s.db").string();
  auto t = Avx2();
  auto w = compiler::MatmulWorkload(80, 112, 96);
  std::atomic<bool> cancel{false};
  TuneOptions o;
  o.strategy = Strategy::kXgbGa;
  o.batch_size = 8;
  o.trials = 8;
  {
    auto store = std::move(db::OpenSqliteStore(path)).value();
    FillHistory(*store, t);
    TileModelMeasurer m;
    auto first = TuneTask(w, t, o, m, *store, 0, nullptr, cancel);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    const TaskNote* trained = FindNote(first->notes, "transfer.trained");
    ASSERT_NE(trained, nullptr) << NotesText(first->notes);
    EXPECT_EQ(trained->Number("model_id"), 1);
    EXPECT_EQ(trained->Number("records"), 192);
    EXPECT_EQ(trained->String("scope"), "matmul");
    // The same history again: the stored model is reused, not retrained.
    o.trials = 16;
    auto reuse = TuneTask(w, t, o, m, *store, 0, nullptr, cancel);
    ASSERT_TRUE(reuse.ok());
    const TaskNote* reused = FindNote(reuse->notes, "transfer.reused");
    ASSERT_NE(reused, nullptr) << NotesText(reuse->notes);
    EXPECT_EQ(reused->Number("model_id"), 1);
    EXPECT_EQ(reused->String("training_set"), trained->String("training_set"));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE models SET blob = substr(blob, 1, length(blob) - 100)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = std::move(db::OpenSqliteStore(path)).value();
  size_t records = store->History({}).value().size();
  TileModelMeasurer m;
  o.trials = 24;
  auto s = TuneTask(w, t, o, m, *store, 0, nullptr, cancel);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const TaskNote* refused = FindNote(s->notes, "transfer.refused");
  ASSERT_NE(refused, nullptr) << NotesText(s->notes);
  EXPECT_EQ(refused->Number("model_id"), 1);
  EXPECT_EQ(refused->String("error").rfind("DATA_LOSS", 0), 0u) << refused->String("error");
  ASSERT_NE(FindNote(s->notes, "transfer.trained"), nullptr) << NotesText(s->notes);
  EXPECT_EQ(FindNote(s->notes, "transfer.trained")->Number("model_id"), 2);
  EXPECT_EQ(s->measured, 8);
  EXPECT_EQ(store->History({}).value().size(), records + 8);  // nothing lost
  fs::remove_all(dir);
}

TEST(FeaturesOfRecords, TheStoresCacheGivesTheSameFeaturesAndADamagedEntryIsRecomputed) {
  auto store = MemoryStore();
  auto t = Avx2();
  FillHistory(*store, t);
  auto records = store->History({}).value();
  ASSERT_EQ(records.size(), 192u);
  costmodel::FeatureOptions with_context;
  with_context.workload_context = true;
  RecordFeatures plain = FeaturesOfRecords(records, with_context);  // no cache
  RecordFeatures first = FeaturesOfRecords(records, with_context, store.get());
  EXPECT_EQ(first.computed, 192);
  EXPECT_EQ(first.cached, 0);
  EXPECT_EQ(first.cache_error, "");
  RecordFeatures second = FeaturesOfRecords(records, with_context, store.get());
  EXPECT_EQ(second.computed, 0);
  EXPECT_EQ(second.cached, 192);
  EXPECT_EQ(second.data.features, plain.data.features);  // the context is appended to the cached part
  EXPECT_EQ(second.data.costs, plain.data.costs);
  EXPECT_EQ(second.data.groups, plain.data.groups);
  EXPECT_EQ(second.data.cols, plain.data.cols);
  // A truncated entry and one holding a NaN are recomputed and replaced.
  std::vector<float> nan(costmodel::LoopNestFeatureCount(), 0.0f);
  nan[3] = std::nanf("");
  ASSERT_TRUE(store
                  ->AddFeatureBlobs(costmodel::kFeatureVersion,
                                    {{records[5].id, "short"}, {records[9].id, costmodel::FeatureBlob(nan)}})
                  .ok());
  RecordFeatures damaged = FeaturesOfRecords(records, with_context, store.get());
  EXPECT_EQ(damaged.computed, 2);
  EXPECT_EQ(damaged.data.features, plain.data.features);
  EXPECT_EQ(FeaturesOfRecords(records, with_context, store.get()).computed, 0);
}

TEST(TuneTask, TransferOffOrAnEmptyStoreStartsFromTheTasksOwnMeasurements) {
  auto store = MemoryStore();
  TileModelMeasurer m;
  std::atomic<bool> cancel{false};
  TuneOptions o;
  o.strategy = Strategy::kXgbGa;
  o.trials = 16;
  o.batch_size = 8;
  auto empty = TuneTask(compiler::MatmulWorkload(64, 64, 64), Avx2(), o, m, *store, 0, nullptr, cancel);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_NE(FindNote(empty->notes, "transfer.no_records"), nullptr) << NotesText(empty->notes);
  EXPECT_GT(empty->model_seconds, 0);
  o.transfer = "off";
  auto off = TuneTask(compiler::MatmulWorkload(96, 64, 64), Avx2(), o, m, *store, 0, nullptr, cancel);
  ASSERT_TRUE(off.ok());
  for (const TaskNote& n : off->notes) EXPECT_NE(n.kind.rfind("transfer.", 0), 0u) << NotesText(off->notes);
  o.transfer = "sometimes";
  EXPECT_NE(TuneTask(compiler::MatmulWorkload(96, 64, 64), Avx2(), o, m, *store, 0, nullptr, cancel)
                .status()
                .message()
                .find("sometimes"),
            std::string::npos);
}

}  // namespace
}  // namespace priortune::tuner

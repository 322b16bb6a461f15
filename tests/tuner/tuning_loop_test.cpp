#include "tuner/tuning_loop.h"

#include <gtest/gtest.h>

#include <set>

#include "compiler/target.h"
#include "tuner/search_space.h"

namespace priortune::tuner {
namespace {

// A fake measurer behind the interface: cost from the knobs, no compiler involved.
class FakeMeasurer : public Measurer {
 public:
  std::vector<MeasureResult> Measure(const std::vector<Candidate>& candidates,
                                     const std::atomic<bool>& /*cancel*/) override {
    std::vector<MeasureResult> out;
    for (const auto& c : candidates) {
      MeasureResult r;
      if (cancel_after >= 0 && calls >= cancel_after) {
        r.measured = false;
        *cancel_flag = true;  // as Ctrl-C would, mid-batch
      } else if (c.config.at("mr") == 7) {
        r.error = db::ErrorKind::kCompileError;
        r.error_message = "fake";
      } else {
        r.costs = {1.0 / (c.config.at("mr") * c.config.at("nr"))};
      }
      r.worker = "fake";
      ++calls;
      hashes.insert(ConfigHash(c.config));
      out.push_back(r);
    }
    return out;
  }
  int calls = 0;
  int cancel_after = -1;
  std::atomic<bool>* cancel_flag = nullptr;
  std::multiset<std::string> hashes;
};

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
  auto s = TuneTask(compiler::MatmulWorkload(64, 64, 64), Avx2(), o, m, *store, 0,
                    nullptr, cancel);
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
  o.strategy = "grid";  // index order: tile_m (mc x mr) is the slowest-varying knob, improves slowly
  auto s = TuneTask(compiler::MatmulWorkload(64, 64, 64), Avx2(), o, m, *store, 0,
                    nullptr, cancel);
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
  auto s = TuneTask(compiler::MatmulWorkload(8, 8, 8), Avx2(), o, m, *store, 0,
                    nullptr, cancel);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  o.trials = 10;
  o.strategy = "annealing";
  s = TuneTask(compiler::MatmulWorkload(8, 8, 8), Avx2(), o, m, *store, 0, nullptr,
               cancel);
  EXPECT_NE(s.status().message().find("annealing"), std::string::npos);
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
  o.strategy = "grid";  // index order: the hand-picked config is far from the first 8
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

}  // namespace
}  // namespace priortune::tuner

// Search strategies: what to measure next. Each proposes batches of configs it never
// proposed before and learns from measured costs; the tuning loop (tuner/tuning_loop.h)
// drives them. Implementations live behind the factory functions below.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "compiler/support/status.h"
#include "tuner/search_space.h"
#include "tuner/strategy.h"
#include "tuner/task_notes.h"

namespace priortune::tuner {

// One measured config. `cost` is seconds per call; +infinity for a failed candidate
// (compile error, wrong answer, timeout, ...), which a strategy must never prefer.
struct TrialResult {
  Config config;
  double cost = std::numeric_limits<double>::infinity();
};

// Not thread-safe. The strategy borrows the SearchSpace it was made with, which must
// outlive it. Deterministic for a given seed and sequence of Update calls.
class SearchStrategy {
 public:
  virtual ~SearchStrategy() = default;
  // Up to `n` valid configs, none proposed or reported before; fewer (or none) once the
  // space is exhausted.
  virtual std::vector<Config> NextBatch(int n) = 0;
  // Costs of measured configs. Configs the strategy did not propose (earlier runs read
  // back from the store) are welcome: they count as visited and as knowledge.
  virtual void Update(const std::vector<TrialResult>& results) = 0;
  // What the strategy decided that a user should see (which cost model it kept, a model
  // it could not use), newest last; empty for the strategies without a model.
  virtual TaskNotes notes() const { return {}; }
  // Seconds spent on the cost model so far: features, fitting, search over predictions.
  virtual double model_seconds() const { return 0; }
};

// Uniform sampling without replacement.
std::unique_ptr<SearchStrategy> MakeRandomSearch(const SearchSpace& space, uint64_t seed);

// Every valid config in index order: for spaces small enough to enumerate.
std::unique_ptr<SearchStrategy> MakeGridSearch(const SearchSpace& space);

struct GeneticOptions {
  int population = 24;          // parents: the best configs measured so far (elitism)
  int tournament = 3;           // candidates per parent selection
  double mutation_rate = 0.15;  // per-knob probability of a random redraw in a child
};
// Genetic algorithm: (mu + lambda) selection over everything measured, tournament
// selection of parents, per-knob uniform crossover, per-knob mutation. The first
// `population` proposals are random. Never proposes a visited config.
std::unique_ptr<SearchStrategy> MakeGeneticSearch(const SearchSpace& space, const GeneticOptions& options,
                                                  uint64_t seed);

// ga, random or grid; InvalidArgument naming the strategy otherwise (the model-guided
// ones: MakeModelGuidedSearch makes them, with the candidates' features).
StatusOr<std::unique_ptr<SearchStrategy>> MakeSearchStrategy(Strategy strategy, const SearchSpace& space,
                                                             uint64_t seed);

}  // namespace priortune::tuner

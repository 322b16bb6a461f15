// Map of the genetic search (the other strategies are simple):
//
//   NextBatch(n) ──> fewer than `population` measured? ──yes──> random unvisited config
//                         │ no
//                         v
//        parents = best `population` measured configs   (elitism: (mu + lambda))
//        child   = crossover(tournament(parents), tournament(parents))  per knob
//        child   = mutate(child)                                       per knob
//        invalid or visited? retry (bounded), then fall back to a random unvisited config
//
//   Update(results) ──> remember cost per config index; visited set grows.
#include "tuner/search_strategy.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "tuner/internal/search_common.h"

namespace priortune::tuner {
namespace internal {

std::optional<Config> DrawUnvisited(const SearchSpace& space, const VisitedSet& visited, std::mt19937_64& rng) {
  for (int attempt = 0; attempt < 256; ++attempt) {
    auto c = space.Sample(rng);
    if (!c.ok()) break;
    if (!visited.Contains(*space.IndexOf(*c))) return *c;
  }
  std::uniform_int_distribution<uint64_t> pick(0, space.size() - 1);
  if (space.size() > (uint64_t{1} << 24)) return std::nullopt;  // too big to scan
  uint64_t start = pick(rng);
  for (uint64_t k = 0; k < space.size(); ++k) {
    uint64_t i = (start + k) % space.size();
    if (visited.Contains(i)) continue;
    Config c = *space.ConfigAt(i);
    if (space.Valid(c)) return c;
  }
  return std::nullopt;
}

Config Breed(const SearchSpace& space, const Config& a, const Config& b, double mutation_rate, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> coin(0, 1);
  Config child;
  for (const auto& k : space.knobs()) {
    const Config& from = coin(rng) < 0.5 ? a : b;
    for (const auto& e : k.Entries()) child[e] = from.at(e);
  }
  std::vector<bool> redraw(space.knobs().size());
  bool any = false;
  for (size_t i = 0; i < redraw.size(); ++i) any |= redraw[i] = coin(rng) < mutation_rate;
  if (any) space.Redraw(child, redraw, rng);  // a dead end leaves a child Valid() rejects
  return child;
}

}  // namespace internal

namespace {

using internal::DrawUnvisited;
using internal::VisitedSet;

// The strategies that learn nothing from costs: results only grow the visited set.
class UninformedSearch : public SearchStrategy {
 public:
  explicit UninformedSearch(const SearchSpace& space) : space_(space), visited_(space) {}
  void Update(const std::vector<TrialResult>& results) override {
    for (const auto& r : results) visited_.Insert(r.config);
  }

 protected:
  const SearchSpace& space_;
  VisitedSet visited_;
};

class RandomSearch : public UninformedSearch {
 public:
  RandomSearch(const SearchSpace& space, uint64_t seed) : UninformedSearch(space), rng_(seed) {}

  std::vector<Config> NextBatch(int n) override {
    std::vector<Config> out;
    while (static_cast<int>(out.size()) < n) {
      auto c = DrawUnvisited(space_, visited_, rng_);
      if (!c) break;
      visited_.Insert(*c);
      out.push_back(std::move(*c));
    }
    return out;
  }

 private:
  std::mt19937_64 rng_;
};

class GridSearch : public UninformedSearch {
 public:
  explicit GridSearch(const SearchSpace& space) : UninformedSearch(space) {}

  std::vector<Config> NextBatch(int n) override {
    std::vector<Config> out;
    while (static_cast<int>(out.size()) < n && next_ < space_.size()) {
      uint64_t i = next_++;
      if (visited_.Contains(i)) continue;
      Config c = *space_.ConfigAt(i);
      if (!space_.Valid(c)) continue;
      visited_.Insert(c);
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  uint64_t next_ = 0;
};

class GeneticSearch : public SearchStrategy {
 public:
  GeneticSearch(const SearchSpace& space, const GeneticOptions& options, uint64_t seed)
      : space_(space), options_(options), visited_(space), rng_(seed) {}

  std::vector<Config> NextBatch(int n) override {
    std::vector<const TrialResult*> parents = Parents();
    std::vector<Config> out;
    while (static_cast<int>(out.size()) < n) {
      std::optional<Config> c;
      if (static_cast<int>(parents.size()) >= std::min(options_.population, 2)) {
        for (int attempt = 0; attempt < 64 && !c; ++attempt) {
          Config child = Breed(parents);
          auto index = space_.IndexOf(child);
          if (index.ok() && !visited_.Contains(*index) && space_.Valid(child)) c = child;
        }
      }
      if (!c) c = DrawUnvisited(space_, visited_, rng_);
      if (!c) break;
      visited_.Insert(*c);
      out.push_back(std::move(*c));
    }
    return out;
  }

  void Update(const std::vector<TrialResult>& results) override {
    for (const auto& r : results) {
      visited_.Insert(r.config);
      if (std::isfinite(r.cost) && r.cost > 0) measured_.push_back(r);
    }
  }

 private:
  // The best `population` measured configs; empty until that many have succeeded, so
  // the first generation is random.
  std::vector<const TrialResult*> Parents() const {
    if (static_cast<int>(measured_.size()) < options_.population) return {};
    std::vector<const TrialResult*> all;
    for (const auto& r : measured_) all.push_back(&r);
    std::stable_sort(all.begin(), all.end(),
                     [](const TrialResult* a, const TrialResult* b) { return a->cost < b->cost; });
    all.resize(options_.population);
    return all;  // sorted best first
  }

  const TrialResult& Tournament(const std::vector<const TrialResult*>& parents) {
    // Parents are sorted best first: the smallest drawn position wins.
    std::uniform_int_distribution<size_t> pick(0, parents.size() - 1);
    size_t best = pick(rng_);
    for (int i = 1; i < options_.tournament; ++i) best = std::min(best, pick(rng_));
    return *parents[best];
  }

  Config Breed(const std::vector<const TrialResult*>& parents) {
    const Config& a = Tournament(parents).config;
    const Config& b = Tournament(parents).config;
    return internal::Breed(space_, a, b, options_.mutation_rate, rng_);
  }

  const SearchSpace& space_;
  GeneticOptions options_;
  VisitedSet visited_;
  std::mt19937_64 rng_;
  std::vector<TrialResult> measured_;  // successful trials, in arrival order
};

}  // namespace

std::unique_ptr<SearchStrategy> MakeRandomSearch(const SearchSpace& space, uint64_t seed) {
  return std::make_unique<RandomSearch>(space, seed);
}

std::unique_ptr<SearchStrategy> MakeGridSearch(const SearchSpace& space) { return std::make_unique<GridSearch>(space); }

std::unique_ptr<SearchStrategy> MakeGeneticSearch(const SearchSpace& space, const GeneticOptions& options,
                                                  uint64_t seed) {
  PT_CHECK(options.population >= 2 && options.tournament >= 1, "bad genetic options");
  return std::make_unique<GeneticSearch>(space, options, seed);
}

StatusOr<std::unique_ptr<SearchStrategy>> MakeSearchStrategy(Strategy strategy, const SearchSpace& space,
                                                             uint64_t seed) {
  switch (strategy) {
    case Strategy::kGa:
      return MakeGeneticSearch(space, GeneticOptions{}, seed);
    case Strategy::kRandom:
      return MakeRandomSearch(space, seed);
    case Strategy::kGrid:
      return MakeGridSearch(space);
    default:
      break;
  }
  // The model-guided ones read features of candidates, which only a caller with the
  // workload has.
  return InvalidArgument(std::string("strategy ") + StrategyName(strategy) +
                         " needs the workload's features: use MakeModelGuidedSearch");
}

}  // namespace priortune::tuner

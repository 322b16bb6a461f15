// What the genetic searches share (tuner/search_strategy.cpp, model_guided_search.cpp):
// the set of visited configs, drawing an unvisited one, and breeding a child.
#pragma once

#include <optional>
#include <random>
#include <set>

#include "tuner/search_space.h"

namespace priortune::tuner::internal {

// Which config indices were proposed or reported.
class VisitedSet {
 public:
  explicit VisitedSet(const SearchSpace& space) : space_(space) {}
  bool Contains(uint64_t index) const { return indices_.count(index) > 0; }
  // Returns false if the config is outside the space or already visited.
  bool Insert(const Config& c) {
    auto index = space_.IndexOf(c);
    return index.ok() && indices_.insert(*index).second;
  }
  size_t size() const { return indices_.size(); }

 private:
  const SearchSpace& space_;
  std::set<uint64_t> indices_;
};

// A valid config not visited yet, drawn uniformly; nullopt when none is found. Falls
// back to a scan from a random start so that nearly exhausted spaces still finish.
std::optional<Config> DrawUnvisited(const SearchSpace& space, const VisitedSet& visited, std::mt19937_64& rng);

// Per-knob uniform crossover of a and b, then each knob redrawn with probability
// `mutation_rate` from the candidates that keep the constraints. The child may be
// invalid (a dead end in the redraw): callers check Valid().
Config Breed(const SearchSpace& space, const Config& a, const Config& b, double mutation_rate, std::mt19937_64& rng);

}  // namespace priortune::tuner::internal

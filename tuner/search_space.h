// The search space of a template: the product of its knobs' candidates, minus the points
// that break a constraint. A Config is one point; its index is the mixed-radix number of
// its candidate positions (knobs in declaration order, the last knob varying fastest).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "compiler/op_template.h"
#include "compiler/status.h"

namespace priortune::tuner {

using compiler::Config;
using compiler::KnobDef;

using Constraint = compiler::ConfigConstraint;

class SearchSpace {
 public:
  // InvalidArgument for an empty knob list, a knob without candidates, duplicate knob
  // names or duplicate candidates, or a space larger than 2^62 points.
  static StatusOr<SearchSpace> Create(std::vector<KnobDef> knobs,
                                      std::vector<Constraint> constraints = {});
  // The space of `w`'s template on `t`, with the template's constraints.
  static StatusOr<SearchSpace> ForWorkload(const compiler::Workload& w, const compiler::Target& t);

  const std::vector<KnobDef>& knobs() const { return knobs_; }
  uint64_t size() const { return size_; }  // all points, valid or not

  // The config at `index`; OutOfRange if index >= size().
  StatusOr<Config> ConfigAt(uint64_t index) const;
  // InvalidArgument if `c` misses a knob, names an unknown one or holds a non-candidate.
  StatusOr<uint64_t> IndexOf(const Config& c) const;
  // Index known and every constraint holds.
  bool Valid(const Config& c) const;

  // A uniformly drawn valid config (rejection sampling; NotFound if 10000 draws found
  // none). Deterministic for a given generator state.
  StatusOr<Config> Sample(std::mt19937_64& rng) const;
  // Each knob is redrawn with probability `rate` (at least one knob changes); retried
  // until valid, returning `c` unchanged if no valid mutant turns up.
  Config Mutate(const Config& c, std::mt19937_64& rng, double rate) const;
  // Valid configs that differ from `c` in one knob by one candidate position.
  std::vector<Config> Neighbours(const Config& c) const;
  // ConfigHash with this space's knobs.
  std::string Hash(const Config& c) const;

 private:
  std::vector<KnobDef> knobs_;
  std::vector<Constraint> constraints_;
  uint64_t size_ = 1;
};

// A stable hash of a config: FNV-1a over its "name=value" pairs sorted by name, so it
// does not depend on knob declaration order or on a knob's position in the space. Knobs
// of `knobs` that sit at their neutral value are left out, so adding an unrelated knob
// to a template does not change the hash of the configs stored before.
std::string ConfigHash(const Config& c, const std::vector<KnobDef>& knobs = {});
// The hash of `c` with the knobs of w's template on t (NotFound for an unknown op).
StatusOr<std::string> WorkloadConfigHash(const compiler::Workload& w, const compiler::Target& t,
                                         const Config& c);

}  // namespace priortune::tuner

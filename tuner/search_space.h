// The search space of a template: the product of its knobs' candidates, minus the points
// that break a constraint. A Config is one point; its index is the mixed-radix number of
// its candidate positions (knobs in declaration order, the last knob varying fastest).
// A tile knob is one dimension whose candidates are whole factor tuples.
//
// Constraints are applied while drawing, not by rejection: knobs are drawn in declaration
// order and each from the candidates that keep every constraint whose knobs are all
// drawn by then. Spaces of 10^7 points and more with a small valid share sample as fast
// as unconstrained ones.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "compiler/ops/op_template.h"
#include "compiler/support/status.h"

namespace priortune::tuner {

using compiler::Config;
using compiler::KnobDef;

using Constraint = compiler::ConfigConstraint;

class SearchSpace {
 public:
  // InvalidArgument for an empty knob list, a knob without candidates, duplicate knob
  // names or duplicate candidates, or a space larger than 2^62 points.
  static StatusOr<SearchSpace> Create(std::vector<KnobDef> knobs, std::vector<Constraint> constraints = {});
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

  // A valid config: each knob drawn uniformly from the candidates that keep the
  // constraints given the knobs before it (so not uniform over valid configs when
  // constraints couple knobs). NotFound if 1000 draws ran into dead ends.
  // Deterministic for a given generator state.
  StatusOr<Config> Sample(std::mt19937_64& rng) const;
  // Each knob is redrawn with probability `rate` (at least one knob changes), from the
  // candidates that keep the constraints; `c` unchanged if no valid mutant turns up.
  Config Mutate(const Config& c, std::mt19937_64& rng, double rate) const;
  // Valid configs one step from `c` in one knob: the next candidate position either way
  // for a scalar knob; for a tile knob, the next larger and smaller value of one level
  // with the other levels kept.
  std::vector<Config> Neighbours(const Config& c) const;
  // The number of valid configs, counted exactly (depth-first over the constrained
  // knobs, times the candidates of the free ones).
  uint64_t CountValid() const;
  // Draws the knobs marked in `redraw` (one flag per knob, declaration order) into c and
  // keeps the others, each from the candidates that keep the constraints over the knobs
  // drawn or kept so far. False on a dead end (a knob with no candidate left) or a failed
  // constraint that declares no knobs; c is then partly redrawn.
  bool Redraw(Config& c, const std::vector<bool>& redraw, std::mt19937_64& rng) const;
  // ConfigHash with this space's knobs.
  std::string Hash(const Config& c) const;

 private:
  bool Holds(size_t constraint, const Config& c) const { return constraints_[constraint].holds(c); }

  std::vector<KnobDef> knobs_;
  std::vector<Constraint> constraints_;
  std::vector<std::vector<size_t>> constraint_knobs_;  // knob positions each constraint reads
  std::vector<std::vector<size_t>> knob_constraints_;  // per knob: the constraints reading it
  std::vector<size_t> final_constraints_;              // those that declare no knobs
  uint64_t size_ = 1;
};

// A stable hash of a config: FNV-1a over its "name=value" pairs sorted by name, so it
// does not depend on knob declaration order or on a knob's position in the space. Knobs
// of `knobs` that sit at their neutral value are left out, so adding an unrelated knob
// to a template does not change the hash of the configs stored before.
std::string ConfigHash(const Config& c, const std::vector<KnobDef>& knobs = {});
// The hash of `c` with the knobs of w's template on t (NotFound for an unknown op).
StatusOr<std::string> WorkloadConfigHash(const compiler::Workload& w, const compiler::Target& t, const Config& c);

}  // namespace priortune::tuner

#include "tuner/search_space.h"

#include <algorithm>
#include <functional>
#include <set>

#include "compiler/target/target.h"

namespace priortune::tuner {

StatusOr<SearchSpace> SearchSpace::Create(std::vector<KnobDef> knobs, std::vector<Constraint> constraints) {
  if (knobs.empty()) return InvalidArgument("search space: no knobs");
  SearchSpace s;
  std::set<std::string> names, entries;
  for (const auto& k : knobs) {
    if (!names.insert(k.name).second) return InvalidArgument("search space: knob '" + k.name + "' declared twice");
    if (k.values.empty()) return InvalidArgument("search space: knob '" + k.name + "' has no candidates");
    std::set<int64_t> seen(k.values.begin(), k.values.end());
    if (seen.size() != k.values.size())
      return InvalidArgument("search space: knob '" + k.name + "' lists a candidate twice");
    if (k.kind == compiler::KnobKind::kTile &&
        (k.levels.empty() || k.tuples.size() != k.values.size() || !k.tuple_index))
      return InvalidArgument("search space: tile knob '" + k.name + "' is malformed (use TileKnob)");
    for (const auto& e : k.Entries())
      if (!entries.insert(e).second)
        return InvalidArgument("search space: config entry '" + e + "' belongs to two knobs");
    if (s.size_ > (uint64_t{1} << 62) / k.values.size()) return InvalidArgument("search space: more than 2^62 points");
    s.size_ *= k.values.size();
  }
  for (const auto& c : constraints) {
    std::vector<size_t> reads;
    for (const auto& name : c.knobs) {
      auto it = std::find_if(knobs.begin(), knobs.end(), [&](const KnobDef& k) { return k.name == name; });
      if (it == knobs.end())
        return InvalidArgument("search space: constraint '" + c.description + "' reads unknown knob '" + name + "'");
      reads.push_back(static_cast<size_t>(it - knobs.begin()));
    }
    std::sort(reads.begin(), reads.end());
    reads.erase(std::unique(reads.begin(), reads.end()), reads.end());
    if (reads.empty()) s.final_constraints_.push_back(s.constraint_knobs_.size());
    s.constraint_knobs_.push_back(std::move(reads));
  }
  s.knob_constraints_.resize(knobs.size());
  for (size_t r = 0; r < s.constraint_knobs_.size(); ++r)
    for (size_t i : s.constraint_knobs_[r]) s.knob_constraints_[i].push_back(r);
  s.knobs_ = std::move(knobs);
  s.constraints_ = std::move(constraints);
  return s;
}

StatusOr<SearchSpace> SearchSpace::ForWorkload(const compiler::Workload& w, const compiler::Target& t) {
  PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(w.op));
  PT_RETURN_IF_ERROR(tmpl->Validate(w));
  return Create(tmpl->Knobs(w, t), tmpl->Constraints(w, t));
}

StatusOr<Config> SearchSpace::ConfigAt(uint64_t index) const {
  if (index >= size_)
    return Status(StatusCode::kOutOfRange,
                  "index " + std::to_string(index) + " is outside the space of " + std::to_string(size_));
  Config c;
  for (auto it = knobs_.rbegin(); it != knobs_.rend(); ++it) {
    uint64_t radix = it->size();
    it->Assign(index % radix, c);
    index /= radix;
  }
  return c;
}

StatusOr<uint64_t> SearchSpace::IndexOf(const Config& c) const {
  PT_RETURN_IF_ERROR(compiler::CheckKnobValues(knobs_, c, "this search space"));
  uint64_t index = 0;
  for (const auto& k : knobs_) index = index * k.size() + static_cast<uint64_t>(k.PositionIn(c));
  return index;
}

bool SearchSpace::Valid(const Config& c) const {
  if (!IndexOf(c).ok()) return false;
  return std::all_of(constraints_.begin(), constraints_.end(), [&](const Constraint& k) { return k.holds(c); });
}

bool SearchSpace::Redraw(Config& c, const std::vector<bool>& redraw, std::mt19937_64& rng) const {
  // settled[i]: knob i holds its final value (kept, or drawn already).
  std::vector<bool> settled(knobs_.size());
  for (size_t i = 0; i < knobs_.size(); ++i) settled[i] = !redraw[i];
  std::vector<size_t> candidates;
  for (size_t i = 0; i < knobs_.size(); ++i) {
    if (!redraw[i]) continue;
    settled[i] = true;
    std::vector<size_t> checks;  // constraints on i whose knobs are all settled now
    for (size_t r : knob_constraints_[i]) {
      const auto& reads = constraint_knobs_[r];
      if (std::all_of(reads.begin(), reads.end(), [&](size_t j) { return settled[j]; })) checks.push_back(r);
    }
    const KnobDef& k = knobs_[i];
    if (checks.empty()) {
      k.Assign(rng() % k.size(), c);
      continue;
    }
    candidates.clear();
    for (size_t pos = 0; pos < k.size(); ++pos) {
      k.Assign(pos, c);
      if (std::all_of(checks.begin(), checks.end(), [&](size_t r) { return Holds(r, c); })) candidates.push_back(pos);
    }
    if (candidates.empty()) return false;
    k.Assign(candidates[rng() % candidates.size()], c);
  }
  return std::all_of(final_constraints_.begin(), final_constraints_.end(), [&](size_t r) { return Holds(r, c); });
}

StatusOr<Config> SearchSpace::Sample(std::mt19937_64& rng) const {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    Config c;
    if (Redraw(c, std::vector<bool>(knobs_.size(), true), rng)) return c;
  }
  return NotFound("search space: no valid config in 1000 draws; are the constraints satisfiable?");
}

Config SearchSpace::Mutate(const Config& c, std::mt19937_64& rng, double rate) const {
  std::uniform_real_distribution<double> coin(0, 1);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::vector<bool> redraw(knobs_.size());
    redraw[rng() % knobs_.size()] = true;  // at least one knob is redrawn
    for (size_t i = 0; i < knobs_.size(); ++i)
      if (coin(rng) < rate) redraw[i] = true;
    Config m = c;
    if (Redraw(m, redraw, rng) && m != c) return m;
  }
  return c;
}

std::vector<Config> SearchSpace::Neighbours(const Config& c) const {
  std::vector<Config> out;
  for (const auto& k : knobs_) {
    int64_t pos = k.PositionIn(c);
    if (pos < 0) continue;
    if (k.kind != compiler::KnobKind::kTile) {
      for (long d : {-1L, 1L}) {
        long p = pos + d;
        if (p < 0 || p >= static_cast<long>(k.size())) continue;
        Config n = c;
        k.Assign(p, n);
        if (Valid(n)) out.push_back(n);
      }
      continue;
    }
    const auto& here = k.tuples[pos];
    for (size_t l = 0; l < k.levels.size(); ++l) {
      // Among tuples equal to `here` but in level l: the nearest value below and above.
      int64_t below = -1, above = -1;
      for (size_t p = 0; p < k.tuples.size(); ++p) {
        const auto& t = k.tuples[p];
        bool same_elsewhere = true;
        for (size_t o = 0; o < t.size() && same_elsewhere; ++o) same_elsewhere = o == l || t[o] == here[o];
        if (!same_elsewhere || t[l] == here[l]) continue;
        if (t[l] < here[l] && (below < 0 || t[l] > k.tuples[below][l])) below = static_cast<int64_t>(p);
        if (t[l] > here[l] && (above < 0 || t[l] < k.tuples[above][l])) above = static_cast<int64_t>(p);
      }
      for (int64_t p : {below, above}) {
        if (p < 0) continue;
        Config n = c;
        k.Assign(p, n);
        if (Valid(n)) out.push_back(n);
      }
    }
  }
  return out;
}

uint64_t SearchSpace::CountValid() const {
  // Knobs that a constraint reads are enumerated depth-first; each constraint is checked
  // at the deepest of its knobs. The free knobs multiply the count.
  std::vector<bool> constrained(knobs_.size(), !final_constraints_.empty());
  for (const auto& reads : constraint_knobs_)
    for (size_t i : reads) constrained[i] = true;
  std::vector<size_t> order;
  uint64_t free = 1;
  for (size_t i = 0; i < knobs_.size(); ++i) {
    if (constrained[i])
      order.push_back(i);
    else
      free *= knobs_[i].size();
  }
  std::vector<std::vector<size_t>> checks(order.size());
  for (size_t r = 0; r < constraint_knobs_.size(); ++r) {
    size_t deepest = 0;
    for (size_t d = 0; d < order.size(); ++d) {
      const auto& reads = constraint_knobs_[r];
      if (reads.empty() || std::find(reads.begin(), reads.end(), order[d]) != reads.end()) deepest = d;
    }
    if (!order.empty()) checks[deepest].push_back(r);
  }
  Config c;
  for (const auto& k : knobs_) k.Assign(0, c);  // free knobs need some value to be read
  std::function<uint64_t(size_t)> count = [&](size_t d) -> uint64_t {
    if (d == order.size()) return 1;
    const KnobDef& k = knobs_[order[d]];
    uint64_t n = 0;
    for (size_t pos = 0; pos < k.size(); ++pos) {
      k.Assign(pos, c);
      if (std::all_of(checks[d].begin(), checks[d].end(), [&](size_t r) { return Holds(r, c); })) n += count(d + 1);
    }
    return n;
  };
  return count(0) * free;
}

std::string ConfigHash(const Config& c, const std::vector<KnobDef>& knobs) {
  std::string text;
  for (const auto& [name, value] : c) {  // a map: sorted by name
    auto k = std::find_if(knobs.begin(), knobs.end(), [&](const KnobDef& d) { return d.name == name; });
    if (k != knobs.end() && k->neutral && *k->neutral == value) continue;
    text += name + "=" + std::to_string(value) + ";";
  }
  return compiler::HashKey(text);
}

std::string SearchSpace::Hash(const Config& c) const { return ConfigHash(c, knobs_); }

StatusOr<std::string> WorkloadConfigHash(const compiler::Workload& w, const compiler::Target& t, const Config& c) {
  PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(w.op));
  return ConfigHash(c, tmpl->Knobs(w, t));
}

}  // namespace priortune::tuner

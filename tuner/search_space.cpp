#include "tuner/search_space.h"

#include <algorithm>
#include <set>

#include "compiler/target.h"

namespace priortune::tuner {

StatusOr<SearchSpace> SearchSpace::Create(std::vector<KnobDef> knobs,
                                          std::vector<Constraint> constraints) {
  if (knobs.empty()) return InvalidArgument("search space: no knobs");
  SearchSpace s;
  std::set<std::string> names;
  for (const auto& k : knobs) {
    if (!names.insert(k.name).second)
      return InvalidArgument("search space: knob '" + k.name + "' declared twice");
    if (k.values.empty()) return InvalidArgument("search space: knob '" + k.name + "' has no candidates");
    std::set<int64_t> seen(k.values.begin(), k.values.end());
    if (seen.size() != k.values.size())
      return InvalidArgument("search space: knob '" + k.name + "' lists a candidate twice");
    if (s.size_ > (uint64_t{1} << 62) / k.values.size())
      return InvalidArgument("search space: more than 2^62 points");
    s.size_ *= k.values.size();
  }
  s.knobs_ = std::move(knobs);
  s.constraints_ = std::move(constraints);
  return s;
}

StatusOr<SearchSpace> SearchSpace::ForWorkload(const compiler::Workload& w,
                                               const compiler::Target& t) {
  PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(w.op));
  PT_RETURN_IF_ERROR(tmpl->Validate(w));
  return Create(tmpl->Knobs(w, t), tmpl->Constraints(w, t));
}

StatusOr<Config> SearchSpace::ConfigAt(uint64_t index) const {
  if (index >= size_)
    return Status(StatusCode::kOutOfRange, "index " + std::to_string(index) +
                                               " is outside the space of " + std::to_string(size_));
  Config c;
  for (auto it = knobs_.rbegin(); it != knobs_.rend(); ++it) {
    uint64_t radix = it->values.size();
    c[it->name] = it->values[index % radix];
    index /= radix;
  }
  return c;
}

StatusOr<uint64_t> SearchSpace::IndexOf(const Config& c) const {
  PT_RETURN_IF_ERROR(compiler::CheckKnobValues(knobs_, c, "this search space"));
  uint64_t index = 0;
  for (const auto& k : knobs_) index = index * k.values.size() + static_cast<uint64_t>(k.IndexOf(c.at(k.name)));
  return index;
}

bool SearchSpace::Valid(const Config& c) const {
  if (!IndexOf(c).ok()) return false;
  return std::all_of(constraints_.begin(), constraints_.end(),
                     [&](const Constraint& k) { return k.holds(c); });
}

StatusOr<Config> SearchSpace::Sample(std::mt19937_64& rng) const {
  std::uniform_int_distribution<uint64_t> pick(0, size_ - 1);
  for (int attempt = 0; attempt < 10000; ++attempt) {
    Config c = *ConfigAt(pick(rng));
    if (Valid(c)) return c;
  }
  return NotFound("search space: no valid config in 10000 draws; are the constraints satisfiable?");
}

Config SearchSpace::Mutate(const Config& c, std::mt19937_64& rng, double rate) const {
  std::uniform_real_distribution<double> coin(0, 1);
  for (int attempt = 0; attempt < 100; ++attempt) {
    Config m = c;
    size_t forced = rng() % knobs_.size();  // at least one knob changes
    for (size_t i = 0; i < knobs_.size(); ++i) {
      const auto& k = knobs_[i];
      if (k.values.size() < 2 || (i != forced && coin(rng) >= rate)) continue;
      int64_t v;
      do v = k.values[rng() % k.values.size()]; while (v == c.at(k.name));
      m[k.name] = v;
    }
    if (m != c && Valid(m)) return m;
  }
  return c;
}

std::vector<Config> SearchSpace::Neighbours(const Config& c) const {
  std::vector<Config> out;
  for (const auto& k : knobs_) {
    int64_t pos = k.IndexOf(c.at(k.name));
    for (long d : {-1L, 1L}) {
      long p = pos + d;
      if (p < 0 || p >= static_cast<long>(k.values.size())) continue;
      Config n = c;
      n[k.name] = k.values[p];
      if (Valid(n)) out.push_back(n);
    }
  }
  return out;
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

StatusOr<std::string> WorkloadConfigHash(const compiler::Workload& w, const compiler::Target& t,
                                         const Config& c) {
  PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(w.op));
  return ConfigHash(c, tmpl->Knobs(w, t));
}

}  // namespace priortune::tuner

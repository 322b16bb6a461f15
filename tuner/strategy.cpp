#include "tuner/strategy.h"

#include <iterator>

namespace priortune::tuner {

namespace {

struct StrategyEntry {
  Strategy strategy;
  const char* name;
  CostModelKind model;
};
constexpr StrategyEntry kStrategies[] = {
    {Strategy::kGa, "ga", CostModelKind::kNone},
    {Strategy::kRandom, "random", CostModelKind::kNone},
    {Strategy::kGrid, "grid", CostModelKind::kNone},
    {Strategy::kXgbGa, "xgb-ga", CostModelKind::kXgboost},
    {Strategy::kMetaGa, "meta-ga", CostModelKind::kNeural},
    {Strategy::kOneShot, "one-shot", CostModelKind::kNeural},
};

const StrategyEntry& Entry(Strategy s) {
  for (const auto& e : kStrategies)
    if (e.strategy == s) return e;
  return kStrategies[0];  // unreachable: every enumerator has an entry
}

}  // namespace

const char* StrategyName(Strategy s) { return Entry(s).name; }

std::string KnownStrategies() {
  std::string out;
  for (const auto& e : kStrategies) out += std::string(out.empty() ? "" : ", ") + e.name;
  return out;
}

StatusOr<Strategy> ParseStrategy(std::string_view name) {
  for (const auto& e : kStrategies)
    if (name == e.name) return e.strategy;
  return InvalidArgument("unknown search strategy '" + std::string(name) + "' (known: " + KnownStrategies() + ")");
}

CostModelKind CostModelOf(Strategy s) { return Entry(s).model; }

StatusOr<Strategy> WithCostModel(Strategy s, CostModelKind model) {
  if (s == Strategy::kGa && model == CostModelKind::kXgboost) return Strategy::kXgbGa;
  if (s == Strategy::kGa && model == CostModelKind::kNeural) return Strategy::kMetaGa;
  if (model != CostModelOf(s))
    return InvalidArgument(std::string("cost_model: '") + CostModelName(model) + "' does not fit strategy '" +
                           StrategyName(s) + "' (it uses " + CostModelName(CostModelOf(s)) + ")");
  return s;
}

}  // namespace priortune::tuner

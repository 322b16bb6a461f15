// The search strategies and cost-model kinds, and the one place their names are parsed
// and printed (the CLI's --strategy, the service's strategy and cost_model fields, the
// stored job requests all go through here).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "compiler/support/status.h"
#include "costmodel/cost_model.h"

namespace priortune::tuner {

enum class Strategy : uint8_t {
  kGa,       // genetic algorithm over measurements
  kRandom,   // uniform random configs
  kGrid,     // the space in index order
  kXgbGa,    // GA over an XGBoost cost model's predictions
  kMetaGa,   // GA over a meta-trained neural model adapted to the task after every batch
  kOneShot,  // GA over the meta-trained model's predictions, no online training
};

using costmodel::CostModelKind;
using costmodel::CostModelName;
using costmodel::ParseCostModel;

// ga, random, grid, xgb-ga, meta-ga, one-shot.
const char* StrategyName(Strategy s);
// InvalidArgument "unknown search strategy 'x' (known: ...)" for any other name.
StatusOr<Strategy> ParseStrategy(std::string_view name);
// "ga, random, grid, xgb-ga, meta-ga, one-shot".
std::string KnownStrategies();

// The cost model a strategy searches with.
CostModelKind CostModelOf(Strategy s);
inline bool ModelGuided(Strategy s) { return CostModelOf(s) != CostModelKind::kNone; }

// A search named apart from its cost model (the service's request): ga with xgboost is
// xgb-ga, ga with neural meta-ga; any other strategy must name the model it uses.
// InvalidArgument naming cost_model when the model does not fit the strategy.
StatusOr<Strategy> WithCostModel(Strategy s, CostModelKind model);

}  // namespace priortune::tuner

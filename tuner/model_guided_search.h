// Model-guided genetic search (xgb-ga, meta-ga, one-shot): a population evolves over
// cost-model predictions (cheap) and only the top unmeasured candidates are measured; the
// models are refit after every measured batch. It takes any CostModel: one, or two that a
// guard compares (a transferred or meta-trained model against one of this task alone).
// The XGBoost models of xgb-ga are made in tuner/transfer.h (XGBoostGuidedModels).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ops/workload.h"
#include "compiler/target/target.h"
#include "costmodel/cost_model.h"
#include "costmodel/features.h"
#include "tuner/search_strategy.h"

namespace priortune::tuner {

// The features of a config; nullopt if it cannot be lowered (the search then skips it).
// Called from one thread.
using FeatureFunction = std::function<std::optional<std::vector<float>>(const Config&)>;

// Lowers each config of (w, t) and reads the loop-nest features.
FeatureFunction LoopNestFeatures(const compiler::Workload& w, const compiler::Target& t,
                                 const costmodel::FeatureOptions& options = {});

struct ModelGuidedOptions {
  int population = 256;  // configs the GA keeps between generations (and batches)
  int generations = 3;   // generations evolved over predictions per batch
  int elites = 32;       // best measured configs seeded into the population
  int tournament = 3;
  double mutation_rate = 0.15;
  double epsilon = 0.05;  // share of each batch drawn at random (at least one if > 0)
  // With two models: over this many measured batches after the first, both the primary
  // (say, a prior plus trees fit on this task's samples) and the alternative (say, a
  // model of this task alone) rank each new batch before they see it; then the one that
  // ranked better is kept and the other dropped. The decision shows in notes().
  int guard_batches = 3;
  // The guard never decides (meta-ga): each batch is guided by whichever model ranked the
  // last guard_batches measured batches better before seeing them, and a change of
  // leader is noted.
  bool continuous_guard = false;
  // InvalidArgument naming the field.
  Status Validate() const;
};

// Names of the guarded models in notes, and what the search says when it starts.
struct GuidedModels {
  std::unique_ptr<costmodel::CostModel> primary;      // guides from the first batch if trained
  std::unique_ptr<costmodel::CostModel> alternative;  // optional: the guard's other side
  std::string primary_name = "transferred", alternative_name = "task-only";
  std::string intro;  // first note, if any
};
// The search over `models`: both are Fit on all of the task's samples after each batch (a
// frozen model ignores it), the guard as the options say. `features` must stay valid
// while the strategy lives. InvalidArgument for bad options or no model.
StatusOr<std::unique_ptr<SearchStrategy>> MakeModelGuidedSearch(const SearchSpace& space, FeatureFunction features,
                                                                const ModelGuidedOptions& options, uint64_t seed,
                                                                GuidedModels models);

}  // namespace priortune::tuner

// What tasks, run-model, build-model and tune-model share: planning a model with a store's
// configs, and the thread count a model is built or run with.
#pragma once

#include <string>

#include "compiler/graph/graph.h"
#include "compiler/model/model.h"
#include "compiler/target/target.h"

namespace priortune::server::cli {

// The store at `path` as a config source (NotFound if there is no file), or none at all
// (every kernel hand-picked) when `path` is empty.
// `layouts`: "nchwc" or "nchw" (PlanOptions::propagate_layouts).
StatusOr<compiler::ModelPlan> PlanWithStore(const compiler::Graph& graph, const compiler::Target& target,
                                            const std::string& path, const std::string& layouts);

// The thread count a model is built or run with: `given` (> 0), or else the one the store
// tuned the most of its tasks at (ties: fewer threads), or 1 for a store that tuned none.
// Tuning and deploying are one decision: a count the store has not tuned the model at is
// said on stderr, with the command that tunes it. `command` names the caller.
StatusOr<int> ModelThreads(const std::string& command, const std::string& model, const compiler::Graph& graph,
                           const std::string& db_path, const std::string& spec, int given);

// Prints the plan's layouts (how many kernels run channel-blocked).
void PrintLayouts(const compiler::ModelPlan& plan);

}  // namespace priortune::server::cli

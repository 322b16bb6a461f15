// The meta-trained model a task starts from (`--strategy meta-ga` and `one-shot`): an
// explicitly named file, else the store's newest neural model for the target, else a
// shipped one (data/models/*.ptm, the repo's model meta-trained on its committed corpus),
// else another target's. A model trained for another target is only a prior to adapt
// from: it is flagged so that one-shot says it is guessing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/target/target.h"
#include "costmodel/cost_model.h"
#include "costmodel/neural_model.h"
#include "db/store.h"
#include "tuner/strategy.h"
#include "tuner/task_notes.h"

namespace priortune::tuner {

struct MetaPrior {
  std::string blob;                                   // empty: no usable model (notes say why)
  std::shared_ptr<const costmodel::CostModel> model;  // loaded from blob
  bool same_target = false;                           // trained for the target being tuned
  std::string description;                            // which model, from where (the last note without its prefix)
  TaskNotes notes;  // which model (meta.model, from where), the ones refused (meta.refused), or meta.none
};

// A model file's bytes; NotFound naming the path if it cannot be read.
StatusOr<std::string> ReadModelFile(const std::string& path);

// `model_path` non-empty: that file, which must load (NotFound, or the loader's DataLoss /
// FailedPrecondition with the path); otherwise the search above, where a model that does
// not load (corrupt, another feature version) is skipped with a note and the search goes
// on. No model at all is not an error: `blob` is then empty. Store errors are returned.
// `shipped_dir`: the directory of shipped models (*.ptm); empty: none.
StatusOr<MetaPrior> MetaPriorFor(db::Store& store, const compiler::Target& target, const std::string& model_path,
                                 const std::string& shipped_dir, const costmodel::NeuralOptions& options = {});

// The strategy a command uses when the user names none (tune-model, a submitted job):
// meta-ga when a meta-trained model for `target` exists (the store's, or a shipped one
// trained on this target's kind of CPU, MetaPriorFor's same_target), else `otherwise`.
// `why` says which and why, for the command to print.
struct DefaultStrategyChoice {
  Strategy strategy = Strategy::kGa;
  std::string why;
};
StatusOr<DefaultStrategyChoice> DefaultStrategy(db::Store& store, const compiler::Target& target, Strategy otherwise,
                                                const std::string& shipped_dir);

}  // namespace priortune::tuner

// The neural cost model (LibTorch, CPU; kept inside neural_model.cpp): an MLP over the
// per-store-group feature slots, summed per program, with the function-level features
// joined after the sum (TenSet's segment-sum MLP); trained with a ranking loss within
// tasks, jointly over many tasks or meta-trained (Reptile) so that a few samples of a new
// task adapt it. As a CostModel, Fit adapts the model's initial weights (the meta-trained
// ones, or random for a model from scratch) to the given samples: each Fit starts again
// from them, so that a prior is never lost to a bad adaptation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "compiler/support/status.h"
#include "costmodel/cost_model.h"

namespace priortune::costmodel {

struct NeuralOptions {
  int hidden = 128;                 // width of the slot encoder and the decoder
  std::string loss = "lambdarank";  // lambdarank (pairs weighted by NDCG change) | pairwise (RankNet)
  // Adaptation (Fit): Adam steps from the initial weights on the given samples, a
  // minibatch of at most adapt_batch of them per step.
  // 20 steps at 3e-4: on the held-out study workloads, 40 at 1e-3 lost more pairwise
  // accuracy at k = 8 (0.709 against 0.749 for a meta-trained model; docs/meta-learning.md).
  int adapt_steps = 20;
  double adapt_lr = 3e-4;
  int adapt_batch = 256;
  // What adaptation changes: "all" weights, or the "head" (the decoder after the sum; the
  // slot encoder stays as trained, as in ANIL).
  std::string adapt_scope = "all";
  // A model from scratch (no trained initial weights) takes this many steps instead.
  int scratch_steps = 300;
  double scratch_lr = 2e-3;
  double weight_decay = 1e-6;
  double grad_clip = 0.5;
  int threads = 1;  // torch intra-op threads while fitting and predicting (1 while tuning)
  uint64_t seed = 1;
  // InvalidArgument naming the field.
  Status Validate() const;
};

// Offline training on many tasks (Dataset groups), TrainNeuralModel.
struct NeuralTrainOptions {
  // joint: minibatches of several tasks, the ranking loss within each (pretraining);
  // meta: joint pretraining for `steps`, then Reptile over tasks.
  std::string method = "meta";
  int steps = 3000;  // joint steps (method joint), or pretraining steps (meta)
  double lr = 7e-4;
  int tasks_per_batch = 8;
  int rows_per_task = 64;
  // Reptile: each iteration adapts copies of the weights to meta_batch tasks exactly as
  // Fit adapts at a new task (NeuralOptions' adapt_* settings), on 8 to support_size of
  // each task's samples, and moves the weights a step meta_lr (annealed linearly to 0)
  // towards their mean.
  int meta_iterations = 600;
  int meta_batch = 4;
  int support_size = 32;
  // 0.1: at 0.5 Reptile undid the pretraining (un-adapted ranking loss 0.07 -> 0.60).
  double meta_lr = 0.1;
  // Progress every this many steps (0: quiet) through `log`.
  int log_every = 0;
  std::function<void(const std::string&)> log;
  Status Validate() const;
};

// An untrained model (random initial weights, seeded) for `feature_count` features laid
// out as costmodel/features.h says (kStoreSlots slots, then function-level features and
// any context). InvalidArgument for bad options or fewer features than the slots take.
StatusOr<std::unique_ptr<CostModel>> MakeNeuralModel(const NeuralOptions& options, size_t feature_count,
                                                     const std::string& target_key);

// Trains a model on every group of `data` (one task per group, at least two groups with
// two rows each); its weights become the model's initial weights and its metadata says
// kind neural, the method and `training_set`. Feature scales (1 / column max) are
// learned from `data`. Internal with LibTorch's message if it fails.
StatusOr<std::unique_ptr<CostModel>> TrainNeuralModel(const Dataset& data, const NeuralOptions& options,
                                                      const NeuralTrainOptions& train, const std::string& target_key,
                                                      const std::string& training_set);

// The mean ranking loss of `model` (a neural one) over data's tasks, for tests and
// training logs. InvalidArgument for a model of another kind.
StatusOr<double> NeuralRankingLoss(const CostModel& model, const Dataset& data);

// The neural blob reader behind LoadCostModel (costmodel/cost_model.h), which
// dispatches on the blob's kind: refuses another feature version (FailedPrecondition),
// another target when `expected_target` is not empty (FailedPrecondition), a corrupt or
// truncated blob (DataLoss). `options` sets what the blob does not hold (threads, seed).
StatusOr<std::unique_ptr<CostModel>> LoadNeuralModel(const std::string& blob, const std::string& expected_target,
                                                     const NeuralOptions& options = {});

// A view of `model` whose Fit and Update do nothing: the model as it was trained, for
// one-shot search and as the fallback of an adaptation.
std::unique_ptr<CostModel> FrozenModel(std::shared_ptr<const CostModel> model);

}  // namespace priortune::costmodel

// The tuning loop of one task (workload x target): ask the search strategy for a batch,
// measure it, store it, learn, until the trial budget is spent, the space is exhausted,
// early stopping fires or the caller cancels.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "compiler/support/status.h"
#include "db/store.h"
#include "tuner/measure.h"
#include "tuner/strategy.h"
#include "tuner/task_notes.h"

namespace priortune::tuner {

struct TuneOptions {
  int trials = 200;  // the task's budget: records of this (workload, target),
                     // earlier runs' included (tune once, deploy many)
  Strategy strategy = Strategy::kGa;
  // xgb-ga only. auto: start from a model trained on the store's records of other
  // workloads on this target (tuner/transfer.h), guarded against a task-only model;
  // fade: the same model, unguarded, its weight halving every 64 samples (AutoTVM's
  // history model, the baseline); off: the model learns from this task's measurements.
  std::string transfer = "auto";
  std::string model_objective = "rank:pairwise";  // xgb-ga: rank:pairwise | reg:throughput
  int model_pair_samples = 0;  // xgb-ga, rank:pairwise: pairs per record and round; 0: the model's default
  // meta-ga and one-shot: the meta-trained model's file; empty: the store's newest neural
  // model for the target, else a shipped one (tuner/meta_model.h). meta-ga adapts it to the
  // task's samples after every batch (falling back to it un-adapted while adapting ranks
  // new batches worse); one-shot only searches its predictions.
  std::string model_path;
  // The directory of shipped meta-trained models (*.ptm) the search above ends with; empty:
  // none. The executable finds it beside itself (share/priortune/models).
  std::string shipped_model_dir;
  int one_shot_trials = 64;  // one-shot: candidates measured at most (a smaller budget wins)
  int batch_size = 16;       // candidates per measurement round
  int early_stopping = 0;    // stop after this many trials without improvement; 0 = off
  uint64_t seed = 1;
  // Measure the template's hand-picked config in the first batch (unless measured before):
  // a tuned result is then never worse than the compiler's own pick, up to timing noise.
  // Studies of search strategies turn it off.
  bool seed_hand_picked = true;
  // Set by a server that shares its store with others: every batch is stored only while
  // `lease_holder` holds the store lease `lease` (db::Store::AddRecordsUnderLease); once
  // it is lost the run ends with Aborted and the batch is not stored.
  std::string lease, lease_holder;
  // InvalidArgument naming the field for non-positive trials/batch/one-shot trials,
  // negative early stop, unknown transfer mode or model objective.
  Status Validate() const;
};

struct TuneProgress {
  int measured = 0;  // trials of this run so far
  int budget = 0;
  int errors = 0;
  double best_cost = std::numeric_limits<double>::infinity();  // seconds; this run and earlier
  double elapsed_seconds = 0;
  TaskNotes notes;  // what the search decided so far (the cost model kept, transfer)
};

struct TuneSummary {
  int measured = 0;                   // trials of this run (stored)
  int budget = 0;                     // trials this run was allowed: options.trials - known_before
  int errors = 0;                     // of which failed (compile error, wrong answer, timeout, ...)
  int known_before = 0;               // records of this (workload, target) in the store that fit the
                                      // template's current space
  std::optional<Config> best_config;  // best of this run and earlier runs
  double best_cost = std::numeric_limits<double>::infinity();
  std::vector<double> trial_costs;    // this run's costs in measurement order (inf: failed)
  std::vector<double> trial_elapsed;  // seconds from the start of the run to each trial's batch end
  bool cancelled = false, early_stopped = false, exhausted = false;
  double seconds = 0;
  double measure_seconds = 0;  // waiting for the workers' results
  double model_seconds = 0;    // cost model: transfer training, features, fits, search over predictions
  TaskNotes notes;             // as in TuneProgress, at the end
};

// Tunes one task. Earlier records of the same (workload, target) in `store` count as
// visited (never measured again), seed the strategy and count against the budget: a task
// already tuned to `options.trials` is answered from the store without measuring. Every batch is stored in one
// transaction before the next is proposed, so a cancel loses nothing measured.
// Errors: InvalidArgument for a bad workload or options; store failures as returned.
StatusOr<TuneSummary> TuneTask(const compiler::Workload& workload, const compiler::Target& target,
                               const TuneOptions& options, Measurer& measurer, db::Store& store, int64_t job_id,
                               const std::function<void(const TuneProgress&)>& progress,
                               const std::atomic<bool>& cancel);

}  // namespace priortune::tuner

// Transfer from history: a cost model trained on the store's records of other workloads
// on the same target, so that a new task's search is guided from its first batch. Trained
// models are kept in the store's models table and reused while the history they learned
// from is unchanged.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/ops/workload.h"
#include "compiler/target/target.h"
#include "costmodel/cost_model.h"
#include "costmodel/features.h"
#include "costmodel/metrics.h"
#include "costmodel/xgboost_model.h"
#include "db/store.h"
#include "tuner/model_guided_search.h"

namespace priortune::tuner {

// Feature rows of stored records: one group per workload, in order of first appearance.
// A record whose workload, target or config no longer lowers (an older template version,
// a config outside today's space) is skipped and counted.
struct RecordFeatures {
  costmodel::Dataset data;
  std::vector<std::string> workload_keys;   // per group id
  std::vector<std::string> workload_names;  // "matmul 512x512x512" per group id
  std::vector<std::string> workload_ops;    // per group id
  int skipped = 0;
  int computed = 0;            // lowered and extracted here (the rest: from the cache)
  int cached = 0;              // read from the store's feature cache
  double seconds = 0;          // cache reads + lowering + extraction, all records
  double extract_seconds = 0;  // extraction alone (the loop-nest walk) of the computed ones
  double lower_seconds = 0;    // lowering + extraction of the computed ones
  std::string cache_error;     // a failed cache read or write (the features are still right)
};
// With `cache`, the loop-nest features of records already in its record_features table
// (for today's kFeatureVersion) are read from it, and the ones computed here are added to
// it, so that a store's history is lowered once, not once per task. A damaged entry is
// recomputed and replaced. An entry is keyed by record and kFeatureVersion only: a change
// to lowering that changes the features of a record of the same template version must
// bump kFeatureVersion (or the template's version), or stale entries are used.
RecordFeatures FeaturesOfRecords(const std::vector<db::Record>& records, const costmodel::FeatureOptions& options = {},
                                 db::Store* cache = nullptr);

struct TransferOptions {
  costmodel::XGBoostOptions model;
  costmodel::FeatureOptions features;
  // The op's own history is used when it holds this many records of other workloads;
  // below that, every op's records on the target are.
  int min_records = 64;
};

struct TransferModel {
  std::shared_ptr<const costmodel::CostModel> model;  // null: no usable history
  std::string training_set;                           // what it learned from (also its key in the models table)
  TaskNotes notes;       // what happened (transfer.*), for the progress output and the task
  int64_t model_id = 0;  // its row in the models table
  bool reused = false;   // loaded from the store instead of trained
  double seconds = 0;    // features + training (or loading)
};

// Saves `model` (its blob and metadata) in the store's models table; returns its id.
StatusOr<int64_t> StoreModel(db::Store& store, const costmodel::CostModel& model);

// The model for a task of `w` on `t`: trained on the records of other workloads on
// t (same op first, see min_records), or loaded from the store if one was trained on
// exactly that history. A stored model that fails to load (corrupt, another feature
// version or target) is refused, noted, and a fresh one trained in its place. No history
// is not an error: `model` is then null and a note says why. Store errors are returned.
StatusOr<TransferModel> TransferModelFor(db::Store& store, const compiler::Workload& w, const compiler::Target& t,
                                         const TransferOptions& options);

// The models of xgb-ga's guided search (tuner/model_guided_search.h): a model of this
// task alone, and with a `prior` (TransferModelFor's) a model that starts from it, guarded
// against the first over `guard_batches` batches (0: kept unguarded, fading as
// options.base_half_life says). InvalidArgument for bad options.
StatusOr<GuidedModels> XGBoostGuidedModels(const costmodel::XGBoostOptions& options, const std::string& target_key,
                                           std::shared_ptr<const costmodel::CostModel> prior, int guard_batches);

// Offline evaluation on a split that holds out whole workloads: each workload in turn is
// held out, a model is trained on the others as transfer would train it (the same op's
// workloads if they hold options.min_records records, else every op's), and its ranking
// of the held-out workload's records is scored.
struct HeldOutWorkload {
  std::string workload;  // short name
  costmodel::RankingMetrics metrics;
  size_t train_rows = 0, test_rows = 0;
  std::string scope;  // the op, or "all ops"
};
struct HeldOutReport {
  std::vector<HeldOutWorkload> workloads;
  costmodel::RankingMetrics mean;  // every metric averaged over held-out workloads
  double fit_seconds = 0;          // all the folds' training
};
// InvalidArgument if `data` holds fewer than two workloads.
StatusOr<HeldOutReport> EvaluateHeldOut(const RecordFeatures& records, const TransferOptions& options, int k = 10);

}  // namespace priortune::tuner

// The CostModel interface: predicts a score for candidates from their features (higher
// is faster), batched; fit on measured samples grouped by task; saved and loaded as a
// versioned blob whose metadata says what it was trained on. Implementations live behind
// factory functions (costmodel/xgboost_model.h, costmodel/neural_model.h); LoadCostModel
// reads a blob of any of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/support/status.h"

namespace priortune::costmodel {

// Measured samples: one feature row per candidate, its cost, and its task (a group:
// rankings and normalised throughputs are computed within a task, never across).
struct Dataset {
  size_t cols = 0;
  std::vector<float> features;  // rows x cols, row-major
  std::vector<double> costs;    // seconds per call; +infinity for a failed candidate
  std::vector<int> groups;      // task per row (any ids; rows need not be contiguous)

  size_t rows() const { return costs.size(); }
  // Aborts if `f` is not `cols` long (the first row sets cols).
  void Add(const std::vector<float>& f, double cost, int group);
  void Append(const Dataset& other);
  const float* row(size_t i) const { return features.data() + i * cols; }
};

// Per row: the best cost of its task divided by its cost (1 for the task's best, 0 for a
// failure); what the regression objective fits and what the metrics rank by.
std::vector<double> NormalisedThroughput(const Dataset& data);

// The kinds of cost model, and the one place their names are parsed and printed (a
// model blob's header, the store's models table, the service's cost_model field).
enum class CostModelKind : uint8_t { kNone, kXgboost, kNeural };
// none, xgboost, neural.
const char* CostModelName(CostModelKind k);
// InvalidArgument "cost_model: 'x' is not one of none, xgboost, neural" for any other name.
StatusOr<CostModelKind> ParseCostModel(std::string_view name);

struct ModelMetadata {
  CostModelKind kind = CostModelKind::kNone;
  int feature_version = 0;  // costmodel::kFeatureVersion it was trained with
  size_t feature_count = 0;
  std::string target_key;    // the Target it was trained for
  std::string objective;     // "rank:pairwise", "reg:throughput"
  std::string training_set;  // what it learned from, in words (ops, workloads, records)
  std::string metrics_json;  // offline metrics, e.g. {"pairwise_accuracy":0.87}
  int64_t samples = 0;
};

// Not thread-safe. Fit replaces what the model knew; Predict before a fit gives zeros.
class CostModel {
 public:
  virtual ~CostModel() = default;
  // Trains on `data` (from scratch). InvalidArgument for rows of the wrong width;
  // Internal with XGBoost's message if the library fails.
  virtual Status Fit(const Dataset& data) = 0;
  // Adds `more` to the samples of the last Fit or Update and refits on all of them (a
  // tree model is refit, not grown: AutoTVM and Ansor do the same per batch).
  virtual Status Update(const Dataset& more) = 0;
  // Scores of `rows` feature rows (row-major, metadata().feature_count wide).
  virtual StatusOr<std::vector<float>> Predict(const float* features, size_t rows) const = 0;
  // The versioned blob (metadata and model bytes) that LoadCostModel reads.
  virtual StatusOr<std::string> Save() const = 0;
  virtual bool trained() const = 0;
  virtual const ModelMetadata& metadata() const = 0;
  virtual ModelMetadata& mutable_metadata() = 0;
};

// Reads a blob that CostModel::Save wrote, of any kind (the blob's header names it).
// Refuses, with FailedPrecondition naming both sides, a model of another feature version,
// feature count or target (empty `expected_target`: any); DataLoss for a truncated or
// corrupt blob.
StatusOr<std::unique_ptr<CostModel>> LoadCostModel(const std::string& blob, const std::string& expected_target);

}  // namespace priortune::costmodel

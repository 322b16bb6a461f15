// Offline metrics of a cost model's scores on measured samples, as TenSet reports them.
// All are computed within a task (a group) and averaged over tasks; higher is better.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "costmodel/cost_model.h"

namespace priortune::costmodel {

struct RankingMetrics {
  double pairwise_accuracy = 0;  // pairs of a task with different throughput ordered right
  double kendall_tau = 0;        // (concordant - discordant) / pairs, over the same pairs
  double top_k_recall = 0;       // share of a task's true top k among the model's top k (k or
                                 // its successes if fewer; tasks without one are skipped)
  double peak_at_1 = 0;          // best throughput among the model's top 1 / the task's best
  double peak_at_5 = 0;          // ... top 5
  int k = 0;                     // of top_k_recall
  long long pairs = 0;
  int groups = 0;
};

// `scores[i]` is the model's score of data row i (higher: predicted faster). Failed rows
// count as throughput 0. Groups with fewer than two rows are skipped for the pairwise
// metrics. Aborts if scores and data differ in length.
RankingMetrics EvaluateRanking(const std::vector<float>& scores, const Dataset& data, int k = 10);

// Every metric averaged over `per_task` (each task weighs the same); pairs and groups summed.
RankingMetrics MeanOverTasks(const std::vector<RankingMetrics>& per_task);

// Few-shot evaluation: for each task (group) of `data` holding more than k + 1 rows,
// `repeats` times, a fresh model from `make` is Fit on k of the task's rows drawn at
// random (k = 0: not fit at all) and scores the task's other rows. Per k: the mean over
// tasks of the mean over repeats. Deterministic for a seed. Errors of make, Fit or
// Predict are returned.
struct FewShotResult {
  int k = 0;
  RankingMetrics mean;
  int tasks = 0;
};
using ModelMaker = std::function<StatusOr<std::unique_ptr<CostModel>>()>;
StatusOr<std::vector<FewShotResult>> EvaluateFewShot(const Dataset& data, const ModelMaker& make,
                                                     const std::vector<int>& ks, int repeats, uint64_t seed,
                                                     int top_k = 10);

// The JSON object of `m` ({"pairwise_accuracy":..., ...}), for model metadata.
std::string MetricsJson(const RankingMetrics& m);

}  // namespace priortune::costmodel

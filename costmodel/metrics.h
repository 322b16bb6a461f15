// Offline metrics of a cost model's scores on measured samples, as TenSet reports them.
// All are computed within a task (a group) and averaged over tasks; higher is better.
#pragma once

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

// The JSON object of `m` ({"pairwise_accuracy":..., ...}), for model metadata.
std::string MetricsJson(const RankingMetrics& m);

}  // namespace priortune::costmodel

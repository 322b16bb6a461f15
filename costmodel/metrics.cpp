#include "costmodel/metrics.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

namespace priortune::costmodel {

RankingMetrics EvaluateRanking(const std::vector<float>& scores, const Dataset& data, int k) {
  PT_CHECK(scores.size() == data.rows(), "a score per row");
  std::vector<double> y = NormalisedThroughput(data);
  std::map<int, std::vector<size_t>> groups;
  for (size_t i = 0; i < data.rows(); ++i) groups[data.groups[i]].push_back(i);
  RankingMetrics m;
  m.k = k;
  long long concordant = 0, discordant = 0;
  double recall = 0, peak1 = 0, peak5 = 0;
  int recall_groups = 0;
  for (const auto& [g, rows] : groups) {
    if (rows.empty()) continue;
    ++m.groups;
    for (size_t a = 0; a < rows.size(); ++a) {
      for (size_t b = a + 1; b < rows.size(); ++b) {
        double dy = y[rows[a]] - y[rows[b]];
        if (dy == 0) continue;
        double ds = static_cast<double>(scores[rows[a]]) - scores[rows[b]];
        ++m.pairs;
        if (ds * dy > 0)
          ++concordant;
        else if (ds * dy < 0)
          ++discordant;
        // equal scores: neither (counts against accuracy, not against tau)
      }
    }
    std::vector<size_t> by_score = rows, by_truth = rows;
    std::stable_sort(by_score.begin(), by_score.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    std::stable_sort(by_truth.begin(), by_truth.end(), [&](size_t a, size_t b) { return y[a] > y[b]; });
    // The true top k: successes at least as fast as the k-th fastest (ties all count, so
    // row order never decides); failures never belong to it.
    size_t successes = std::count_if(rows.begin(), rows.end(), [&](size_t r) { return y[r] > 0; });
    size_t kk = std::min<size_t>(static_cast<size_t>(k), successes);
    if (kk > 0) {
      double threshold = y[by_truth[kk - 1]];
      int hit = 0;
      for (size_t i = 0; i < kk; ++i) hit += y[by_score[i]] >= threshold && y[by_score[i]] > 0;
      recall += static_cast<double>(hit) / kk;
      ++recall_groups;
    }
    double best1 = 0, best5 = 0;
    for (size_t i = 0; i < rows.size() && i < 5; ++i) {
      if (i < 1) best1 = std::max(best1, y[by_score[i]]);
      best5 = std::max(best5, y[by_score[i]]);
    }
    peak1 += best1;
    peak5 += best5;
  }
  if (m.pairs > 0) {
    m.pairwise_accuracy = static_cast<double>(concordant) / m.pairs;
    m.kendall_tau = static_cast<double>(concordant - discordant) / m.pairs;
  }
  if (m.groups > 0) {
    m.top_k_recall = recall_groups > 0 ? recall / recall_groups : 0;
    m.peak_at_1 = peak1 / m.groups;
    m.peak_at_5 = peak5 / m.groups;
  }
  return m;
}

RankingMetrics MeanOverTasks(const std::vector<RankingMetrics>& per_task) {
  RankingMetrics m;
  if (per_task.empty()) return m;
  m.k = per_task.front().k;
  double n = static_cast<double>(per_task.size());
  for (const auto& t : per_task) {
    m.pairwise_accuracy += t.pairwise_accuracy / n;
    m.kendall_tau += t.kendall_tau / n;
    m.top_k_recall += t.top_k_recall / n;
    m.peak_at_1 += t.peak_at_1 / n;
    m.peak_at_5 += t.peak_at_5 / n;
    m.pairs += t.pairs;
    m.groups += t.groups;
  }
  return m;
}

StatusOr<std::vector<FewShotResult>> EvaluateFewShot(const Dataset& data, const ModelMaker& make,
                                                     const std::vector<int>& ks, int repeats, uint64_t seed,
                                                     int top_k) {
  std::map<int, std::vector<size_t>> tasks;
  for (size_t i = 0; i < data.rows(); ++i) tasks[data.groups[i]].push_back(i);
  std::vector<FewShotResult> out;
  for (int k : ks) {
    std::mt19937_64 rng(seed + static_cast<uint64_t>(k));
    std::vector<RankingMetrics> per_task;
    for (const auto& [g, rows] : tasks) {
      if (rows.size() <= static_cast<size_t>(k) + 1) continue;
      std::vector<RankingMetrics> per_repeat;
      for (int r = 0; r < std::max(1, repeats); ++r) {
        std::vector<size_t> order = rows;
        std::shuffle(order.begin(), order.end(), rng);
        Dataset support, query;
        for (size_t i = 0; i < order.size(); ++i) {
          std::vector<float> f(data.row(order[i]), data.row(order[i]) + data.cols);
          (i < static_cast<size_t>(k) ? support : query).Add(f, data.costs[order[i]], g);
        }
        PT_ASSIGN_OR_RETURN(std::unique_ptr<CostModel> model, make());
        if (k > 0) PT_RETURN_IF_ERROR(model->Fit(support));
        PT_ASSIGN_OR_RETURN(std::vector<float> scores, model->Predict(query.features.data(), query.rows()));
        per_repeat.push_back(EvaluateRanking(scores, query, top_k));
      }
      per_task.push_back(MeanOverTasks(per_repeat));
    }
    FewShotResult res;
    res.k = k;
    res.tasks = static_cast<int>(per_task.size());
    res.mean = MeanOverTasks(per_task);
    out.push_back(res);
  }
  return out;
}

std::string MetricsJson(const RankingMetrics& m) {
  nlohmann::json j;
  j["pairwise_accuracy"] = m.pairwise_accuracy;
  j["kendall_tau"] = m.kendall_tau;
  j["top_k_recall"] = m.top_k_recall;
  j["k"] = m.k;
  j["peak_at_1"] = m.peak_at_1;
  j["peak_at_5"] = m.peak_at_5;
  j["pairs"] = m.pairs;
  j["groups"] = m.groups;
  return j.dump();
}

}  // namespace priortune::costmodel

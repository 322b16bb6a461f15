#include "costmodel/cost_model.h"

#include <cmath>
#include <map>

#include "costmodel/internal/blob.h"
#include "costmodel/neural_model.h"
#include "costmodel/xgboost_model.h"

namespace priortune::costmodel {

void Dataset::Add(const std::vector<float>& f, double cost, int group) {
  if (cols == 0 && costs.empty()) cols = f.size();
  PT_CHECK(f.size() == cols,
           "feature row of " + std::to_string(f.size()) + " values, dataset has " + std::to_string(cols));
  features.insert(features.end(), f.begin(), f.end());
  costs.push_back(cost);
  groups.push_back(group);
}

void Dataset::Append(const Dataset& other) {
  if (other.rows() == 0) return;
  if (cols == 0 && costs.empty()) cols = other.cols;
  PT_CHECK(other.cols == cols, "datasets of different widths");
  features.insert(features.end(), other.features.begin(), other.features.end());
  costs.insert(costs.end(), other.costs.begin(), other.costs.end());
  groups.insert(groups.end(), other.groups.begin(), other.groups.end());
}

std::vector<double> NormalisedThroughput(const Dataset& data) {
  std::map<int, double> best;
  for (size_t i = 0; i < data.rows(); ++i) {
    double c = data.costs[i];
    if (!std::isfinite(c) || c <= 0) continue;
    auto it = best.find(data.groups[i]);
    if (it == best.end() || c < it->second) best[data.groups[i]] = c;
  }
  std::vector<double> y(data.rows(), 0);
  for (size_t i = 0; i < data.rows(); ++i) {
    double c = data.costs[i];
    auto it = best.find(data.groups[i]);
    if (std::isfinite(c) && c > 0 && it != best.end()) y[i] = it->second / c;
  }
  return y;
}

namespace {

constexpr std::pair<CostModelKind, const char*> kKinds[] = {
    {CostModelKind::kNone, "none"}, {CostModelKind::kXgboost, "xgboost"}, {CostModelKind::kNeural, "neural"}};

}  // namespace

const char* CostModelName(CostModelKind k) {
  for (const auto& [kind, name] : kKinds)
    if (kind == k) return name;
  return "none";
}

StatusOr<CostModelKind> ParseCostModel(std::string_view name) {
  for (const auto& [kind, n] : kKinds)
    if (name == n) return kind;
  return InvalidArgument("cost_model: '" + std::string(name) + "' is not one of none, xgboost, neural");
}

StatusOr<std::unique_ptr<CostModel>> LoadCostModel(const std::string& blob, const std::string& expected_target) {
  PT_ASSIGN_OR_RETURN(internal::BlobHeader header, internal::ReadBlobHeader(blob));
  if (header.json.value("kind", std::string()) == CostModelName(CostModelKind::kNeural))
    return LoadNeuralModel(blob, expected_target);
  return LoadXGBoostModel(blob, expected_target);
}

}  // namespace priortune::costmodel

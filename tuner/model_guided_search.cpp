// Map of the model-guided GA:
//
//   Update(measured batch) ──> features (cached by config index) ──> samples
//        │                      guard: both models rank the batch before seeing it
//        v
//   NextBatch(n) ──> refit the model(s) on this task's samples (the prior stays fixed)
//        │           no trained model yet? ──> n random configs
//        v
//   pool = kept population + best measured (elites) + random fill
//   repeat `generations`:  children = crossover(tournament, tournament) + mutation
//                          pool = best `population` of pool + children, by prediction
//        v
//   batch = best-predicted unmeasured configs, each differing from those already picked
//           in two knobs or more while there are enough, + epsilon share of random ones
#include "tuner/model_guided_search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "costmodel/metrics.h"
#include "tuner/internal/search_common.h"

namespace priortune::tuner {

FeatureFunction LoopNestFeatures(const compiler::Workload& w, const compiler::Target& t,
                                 const costmodel::FeatureOptions& options) {
  return [w, t, options](const Config& c) -> std::optional<std::vector<float>> {
    auto f = costmodel::CandidateFeatures(w, t, c, options);
    if (!f.ok()) return std::nullopt;
    return std::move(f).value();
  };
}

Status ModelGuidedOptions::Validate() const {
  if (population < 2) return InvalidArgument("model-guided population must be >= 2, got " + std::to_string(population));
  if (generations < 0)
    return InvalidArgument("model-guided generations must be >= 0, got " + std::to_string(generations));
  if (elites < 0) return InvalidArgument("model-guided elites must be >= 0, got " + std::to_string(elites));
  if (tournament < 1) return InvalidArgument("model-guided tournament must be >= 1, got " + std::to_string(tournament));
  if (!(mutation_rate >= 0 && mutation_rate <= 1))
    return InvalidArgument("model-guided mutation rate must be in [0, 1], got " + std::to_string(mutation_rate));
  if (!(epsilon >= 0 && epsilon <= 1))
    return InvalidArgument("model-guided epsilon must be in [0, 1], got " + std::to_string(epsilon));
  if (guard_batches < 0) return InvalidArgument("guard batches must be >= 0, got " + std::to_string(guard_batches));
  return OkStatus();
}

namespace {

using Clock = std::chrono::steady_clock;

class Stopwatch {
 public:
  explicit Stopwatch(double& total) : total_(total), start_(Clock::now()) {}
  ~Stopwatch() { total_ += std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  double& total_;
  Clock::time_point start_;
};

class ModelGuidedSearch : public SearchStrategy {
 public:
  ModelGuidedSearch(const SearchSpace& space, FeatureFunction features, ModelGuidedOptions options, uint64_t seed,
                    GuidedModels models)
      : space_(space),
        visited_(space),
        features_(std::move(features)),
        options_(std::move(options)),
        rng_(seed),
        local_(std::move(models.alternative)),
        transfer_(std::move(models.primary)),
        primary_name_(std::move(models.primary_name)),
        alternative_name_(std::move(models.alternative_name)) {
    decided_ = !transfer_ || !local_ || (options_.guard_batches == 0 && !options_.continuous_guard);
    if (transfer_ && options_.guard_batches == 0 && !options_.continuous_guard)
      local_.reset();  // nothing to compare it with
    if (!models.intro.empty())
      Note({"cost_model.plan", models.intro, {{"primary", primary_name_}, {"alternative", alternative_name_}}, {}});
  }

  std::vector<Config> NextBatch(int n) override {
    Stopwatch watch(model_seconds_);
    started_ = true;
    std::vector<Config> out;
    if (n <= 0) return out;
    Refit();
    const costmodel::CostModel* model = Active();
    int n_random =
        (options_.epsilon > 0 && n >= 2) ? std::max(1, static_cast<int>(std::lround(options_.epsilon * n))) : 0;
    if (model) {
      std::vector<uint64_t> ranked = Evolve(*model);
      PickDiverse(ranked, n - n_random, out);
    }
    for (const auto& c : out) visited_.Insert(c);
    while (static_cast<int>(out.size()) < n) {
      auto c = internal::DrawUnvisited(space_, visited_, rng_);
      if (!c) break;
      visited_.Insert(*c);
      out.push_back(std::move(*c));
    }
    return out;
  }

  void Update(const std::vector<TrialResult>& results) override {
    Stopwatch watch(model_seconds_);
    costmodel::Dataset batch;
    for (const auto& r : results) {
      auto index = space_.IndexOf(r.config);
      if (!index.ok()) continue;
      visited_.Insert(r.config);
      const auto* f = Features(*index, r.config);
      if (!f) continue;
      batch.Add(*f, r.cost, 0);
      if (std::isfinite(r.cost) && r.cost > 0) measured_.push_back({*index, r.cost});
    }
    if (batch.rows() == 0) return;
    if (started_) Guard(batch);
    samples_.Append(batch);
    dirty_ = true;
  }

  TaskNotes notes() const override { return notes_; }
  double model_seconds() const override { return model_seconds_; }

 private:
  void Note(TaskNote note) { notes_.push_back(std::move(note)); }

  // Features of a config, computed once.
  const std::vector<float>* Features(uint64_t index, const Config& c) {
    auto it = cache_.find(index);
    if (it == cache_.end()) it = cache_.emplace(index, features_(c)).first;
    return it->second ? &*it->second : nullptr;
  }

  bool CanFit() const {
    if (samples_.rows() < 2) return false;
    return std::any_of(samples_.costs.begin(), samples_.costs.end(), [](double c) { return std::isfinite(c); });
  }

  void Refit() {
    if (!dirty_ || !CanFit()) return;
    dirty_ = false;
    for (costmodel::CostModel* m : {local_.get(), transfer_.get()}) {
      if (!m) continue;
      Status s = m->Fit(samples_);
      if (!s.ok() && !fit_error_noted_) {
        Note({"cost_model.refit_failed",
              "cost model: refit failed (" + s.ToString() + "); searching with the last model",
              {{"error", s.ToString()}},
              {}});
        fit_error_noted_ = true;
      }
    }
  }

  // The model that guides the search: the transferred one until the guard says
  // otherwise, then the one it kept; nullptr while nothing is trained.
  const costmodel::CostModel* Active() const {
    if (options_.continuous_guard && transfer_ && local_) {
      if (local_leads_ && local_->trained()) return local_.get();
      return transfer_->trained() ? transfer_.get() : (local_->trained() ? local_.get() : nullptr);
    }
    if (transfer_ && (!decided_ || keep_transfer_)) {
      if (!decided_ && guarded_ > 0 && local_ && local_->trained() && local_pairs_ok_ > transfer_pairs_ok_)
        return local_.get();  // leading so far
      return transfer_->trained() ? transfer_.get() : nullptr;
    }
    return local_ && local_->trained() ? local_.get() : nullptr;
  }

  // Both models rank a measured batch before fitting it; after guard_batches such
  // batches the better one is kept.
  void Guard(const costmodel::Dataset& batch) {
    if (!transfer_ || decided_) return;
    if (!local_->trained()) return;  // nothing to compare with yet (first batch)
    auto t = transfer_->Predict(batch.features.data(), batch.rows());
    auto l = local_->Predict(batch.features.data(), batch.rows());
    if (!t.ok() || !l.ok()) return;
    costmodel::RankingMetrics mt = costmodel::EvaluateRanking(*t, batch), ml = costmodel::EvaluateRanking(*l, batch);
    if (options_.continuous_guard) {
      ContinuousGuard(mt, ml);
      return;
    }
    transfer_pairs_ok_ += mt.pairwise_accuracy * static_cast<double>(mt.pairs);
    local_pairs_ok_ += ml.pairwise_accuracy * static_cast<double>(ml.pairs);
    guard_pairs_ += mt.pairs;
    if (++guarded_ < options_.guard_batches) return;
    decided_ = true;
    keep_transfer_ = transfer_pairs_ok_ >= local_pairs_ok_;
    char line[256];
    std::snprintf(line, sizeof(line),
                  "cost model: kept the %s model (pairwise accuracy on the next %d measured batches, before "
                  "seeing them: %s)",
                  (keep_transfer_ ? primary_name_ : alternative_name_).c_str(), guarded_,
                  Accuracies(transfer_pairs_ok_, local_pairs_ok_, guard_pairs_).c_str());
    Note(GuardNote("guard.kept", line, keep_transfer_ ? primary_name_ : alternative_name_, transfer_pairs_ok_,
                   local_pairs_ok_, guard_pairs_));
    if (keep_transfer_)
      local_.reset();
    else
      transfer_.reset();
  }

  // A guard's decision: the model it guides with now, each model's pairwise accuracy on
  // the batches it compared, those batches and pairs.
  TaskNote GuardNote(const char* kind, const std::string& text, const std::string& chosen, double primary_ok,
                     double alternative_ok, long long pairs) const {
    double n = pairs > 0 ? static_cast<double>(pairs) : 1;
    return {kind,
            text,
            {{"chosen", chosen}, {"primary", primary_name_}, {"alternative", alternative_name_}},
            {{"primary_accuracy", primary_ok / n},
             {"alternative_accuracy", alternative_ok / n},
             {"batches", static_cast<double>(options_.continuous_guard ? window_.size() : guarded_)},
             {"pairs", static_cast<double>(pairs)}}};
  }

  // "transferred 0.712, task-only 0.655": each model's share of `pairs` ordered right.
  std::string Accuracies(double primary_ok, double alternative_ok, long long pairs) const {
    double n = pairs > 0 ? static_cast<double>(pairs) : 1;  // no pairs: both 0
    char text[160];
    std::snprintf(text, sizeof(text), "%s %.3f, %s %.3f", primary_name_.c_str(), primary_ok / n,
                  alternative_name_.c_str(), alternative_ok / n);
    return text;
  }

  // The window of the last guard_batches batches decides which model guides the next.
  void ContinuousGuard(const costmodel::RankingMetrics& mt, const costmodel::RankingMetrics& ml) {
    ++guarded_;
    window_.push_back({mt.pairwise_accuracy * static_cast<double>(mt.pairs),
                       ml.pairwise_accuracy * static_cast<double>(ml.pairs), mt.pairs});
    while (static_cast<int>(window_.size()) > std::max(1, options_.guard_batches)) window_.pop_front();
    double transfer_ok = 0, local_ok = 0;
    long long pairs = 0;
    for (const auto& w : window_) {
      transfer_ok += w.transfer_ok;
      local_ok += w.local_ok;
      pairs += w.pairs;
    }
    bool local_leads = local_ok > transfer_ok;
    if (local_leads == local_leads_) return;
    local_leads_ = local_leads;
    char line[320];
    std::snprintf(
        line, sizeof(line),
        "cost model: after %d batches ranked by both models, guiding with the %s one (pairwise accuracy on the last "
        "%zu batches, before seeing them: %s)",
        guarded_, (local_leads ? alternative_name_ : primary_name_).c_str(), window_.size(),
        Accuracies(transfer_ok, local_ok, pairs).c_str());
    Note(GuardNote("guard.switched", line, local_leads ? alternative_name_ : primary_name_, transfer_ok, local_ok,
                   pairs));
  }

  std::vector<float> Score(const std::vector<uint64_t>& indices, const costmodel::CostModel& model) {
    std::vector<float> rows;
    size_t cols = 0;
    for (uint64_t i : indices) {
      const auto& f = *cache_.at(i);
      cols = f.size();
      rows.insert(rows.end(), f.begin(), f.end());
    }
    std::vector<float> out(indices.size(), -INFINITY);
    if (indices.empty() || cols == 0) return out;
    auto scores = model.Predict(rows.data(), indices.size());
    if (scores.ok()) out = std::move(scores).value();
    return out;
  }

  // Adds c to `pool` if its features exist and it is new there.
  bool Admit(const Config& c, std::set<uint64_t>& seen, std::vector<uint64_t>& pool) {
    auto index = space_.IndexOf(c);
    if (!index.ok() || !seen.insert(*index).second) return false;
    if (!Features(*index, c)) return false;
    pool.push_back(*index);
    return true;
  }

  Config Breed(const std::vector<uint64_t>& parents) {
    std::uniform_int_distribution<size_t> pick(0, parents.size() - 1);
    auto tournament = [&]() {
      size_t best = pick(rng_);
      for (int i = 1; i < options_.tournament; ++i) best = std::min(best, pick(rng_));
      return best;  // parents are sorted best first
    };
    Config a = *space_.ConfigAt(parents[tournament()]), b = *space_.ConfigAt(parents[tournament()]);
    return internal::Breed(space_, a, b, options_.mutation_rate, rng_);
  }

  // Evolves the population over `model`'s predictions; returns every config scored in
  // this call that is not measured yet, best predicted first.
  std::vector<uint64_t> Evolve(const costmodel::CostModel& model) {
    std::set<uint64_t> seen;
    std::vector<uint64_t> pool;
    for (uint64_t i : population_) Admit(*space_.ConfigAt(i), seen, pool);
    std::vector<std::pair<double, uint64_t>> best(measured_.size());
    for (size_t i = 0; i < measured_.size(); ++i) best[i] = {measured_[i].second, measured_[i].first};
    std::sort(best.begin(), best.end());
    for (size_t i = 0; i < best.size() && static_cast<int>(i) < options_.elites; ++i)
      Admit(*space_.ConfigAt(best[i].second), seen, pool);
    for (int attempt = 0; static_cast<int>(pool.size()) < options_.population && attempt < 4 * options_.population;
         ++attempt) {
      auto c = space_.Sample(rng_);
      if (!c.ok()) break;
      Admit(*c, seen, pool);
    }
    std::unordered_map<uint64_t, float> score;
    auto rank = [&](std::vector<uint64_t>& v) {
      std::vector<uint64_t> todo;
      for (uint64_t i : v)
        if (!score.count(i)) todo.push_back(i);
      std::vector<float> s = Score(todo, model);
      for (size_t k = 0; k < todo.size(); ++k) score[todo[k]] = s[k];
      std::stable_sort(v.begin(), v.end(), [&](uint64_t a, uint64_t b) { return score[a] > score[b]; });
    };
    rank(pool);
    for (int g = 0; g < options_.generations && pool.size() >= 2; ++g) {
      std::vector<uint64_t> next = pool;
      int children = 0;
      for (int attempt = 0; children < options_.population / 2 && attempt < 2 * options_.population; ++attempt) {
        Config child = Breed(pool);
        if (!space_.Valid(child)) continue;
        children += Admit(child, seen, next);
      }
      rank(next);
      if (static_cast<int>(next.size()) > options_.population) next.resize(options_.population);
      pool = std::move(next);
    }
    population_ = pool;
    std::vector<uint64_t> ranked;
    for (const auto& [i, s] : score)
      if (!visited_.Contains(i)) ranked.push_back(i);
    std::sort(ranked.begin(), ranked.end(), [&](uint64_t a, uint64_t b) {
      if (score[a] != score[b]) return score[a] > score[b];
      return a < b;
    });
    return ranked;
  }

  int Distance(const Config& a, const Config& b) const {
    int d = 0;
    for (const auto& k : space_.knobs()) d += k.PositionIn(a) != k.PositionIn(b);
    return d;
  }

  // The best-predicted configs, each at least two knobs away from those picked before it
  // while such configs remain; then the rest in order.
  void PickDiverse(const std::vector<uint64_t>& ranked, int n, std::vector<Config>& out) {
    std::vector<bool> taken(ranked.size());
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < ranked.size() && static_cast<int>(out.size()) < n; ++i) {
        if (taken[i]) continue;
        Config c = *space_.ConfigAt(ranked[i]);
        bool far = std::all_of(out.begin(), out.end(), [&](const Config& o) { return Distance(c, o) >= 2; });
        if (pass == 0 && !far) continue;
        taken[i] = true;
        out.push_back(std::move(c));
      }
    }
  }

  const SearchSpace& space_;
  internal::VisitedSet visited_;
  FeatureFunction features_;
  ModelGuidedOptions options_;
  std::mt19937_64 rng_;
  std::unique_ptr<costmodel::CostModel> local_, transfer_;
  std::unordered_map<uint64_t, std::optional<std::vector<float>>> cache_;
  std::vector<std::pair<uint64_t, double>> measured_;  // successful: index, cost
  std::vector<uint64_t> population_;
  costmodel::Dataset samples_;  // this task's measurements (and earlier runs')
  bool dirty_ = false, started_ = false, fit_error_noted_ = false;
  bool decided_ = false, keep_transfer_ = true;
  int guarded_ = 0;
  long long guard_pairs_ = 0;
  double transfer_pairs_ok_ = 0, local_pairs_ok_ = 0;
  struct GuardBatch {
    double transfer_ok, local_ok;
    long long pairs;
  };
  std::deque<GuardBatch> window_;  // continuous guard
  bool local_leads_ = false;       // the alternative ranked the window better (continuous guard)
  std::string primary_name_, alternative_name_;
  double model_seconds_ = 0;
  TaskNotes notes_;
};

}  // namespace

StatusOr<std::unique_ptr<SearchStrategy>> MakeModelGuidedSearch(const SearchSpace& space, FeatureFunction features,
                                                                const ModelGuidedOptions& options, uint64_t seed,
                                                                GuidedModels models) {
  PT_RETURN_IF_ERROR(options.Validate());
  if (!models.primary && !models.alternative) return InvalidArgument("model-guided search needs a model");
  return std::unique_ptr<SearchStrategy>(
      std::make_unique<ModelGuidedSearch>(space, std::move(features), options, seed, std::move(models)));
}

}  // namespace priortune::tuner

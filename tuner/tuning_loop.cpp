// Map of one task's tuning loop:
//
//   xgb-ga with transfer: a model of the store's other workloads (tuner/transfer.h)
//   store.History(workload, target) ──> strategy.Update(earlier)      (never re-measure)
//        │
//        v
//   ┌─> strategy.NextBatch(min(batch, budget left)) ── empty? ──> exhausted
//   │        │
//   │        v
//   │   measurer.Measure(candidates, cancel)          (workers build, check, time)
//   │        │
//   │        v
//   │   store.AddRecords(batch)                       (one transaction)
//   │   strategy.Update(results); best; progress()
//   └── budget left, no cancel, no early stop
#include "tuner/tuning_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "compiler/support/timing.h"
#include "costmodel/neural_model.h"
#include "tuner/meta_model.h"
#include "tuner/model_guided_search.h"
#include "tuner/search_space.h"
#include "tuner/search_strategy.h"
#include "tuner/transfer.h"

namespace priortune::tuner {

double MeasureResult::cost() const { return ok() ? Median(costs) : std::numeric_limits<double>::infinity(); }

db::Record ToRecord(const Candidate& c, const MeasureResult& r, int64_t job_id) {
  db::Record rec;
  rec.workload_key = c.workload.Key();
  rec.workload_json = c.workload.ToJson();
  rec.op = c.workload.op;
  rec.target_key = c.target.Key();
  rec.target_json = c.target.ToJson();
  rec.isa_family = c.target.isa_family();
  rec.config_json = compiler::ConfigToJson(c.config);
  auto hash = WorkloadConfigHash(c.workload, c.target, c.config);
  rec.config_hash = hash.ok() ? *hash : ConfigHash(c.config);
  if (auto tmpl = compiler::FindTemplate(c.workload.op); tmpl.ok()) rec.template_version = (*tmpl)->version();
  rec.costs = r.error == db::ErrorKind::kNone ? r.costs : std::vector<double>{};
  rec.error = r.error;
  rec.error_message = r.error_message;
  rec.compile_seconds = r.compile_seconds;
  rec.worker = r.worker.empty() ? "unknown" : r.worker;
  rec.job_id = job_id;
  return rec;
}

namespace {

// xgb-ga's model settings from the task's options.
costmodel::XGBoostOptions XgbOptionsOf(const TuneOptions& o) {
  costmodel::XGBoostOptions model;
  model.objective = o.model_objective;
  if (o.model_pair_samples != 0) model.pair_samples = o.model_pair_samples;
  model.seed = o.seed;
  return model;
}

}  // namespace

Status TuneOptions::Validate() const {
  if (trials <= 0) return InvalidArgument("trials must be positive, got " + std::to_string(trials));
  if (batch_size <= 0) return InvalidArgument("batch size must be positive, got " + std::to_string(batch_size));
  if (one_shot_trials <= 0)
    return InvalidArgument("one-shot trials must be positive, got " + std::to_string(one_shot_trials));
  if (early_stopping < 0) return InvalidArgument("early stopping must be >= 0, got " + std::to_string(early_stopping));
  if (transfer != "auto" && transfer != "fade" && transfer != "off")
    return InvalidArgument("transfer must be auto, fade or off, got '" + transfer + "'");
  return XgbOptionsOf(*this).Validate();
}

namespace {

struct StrategyAndNotes {
  std::unique_ptr<SearchStrategy> strategy;
  TaskNotes notes;     // from making it (transfer, the meta model)
  double seconds = 0;  // of that
};

// meta-ga and one-shot: the meta-trained model, adapted (meta-ga) or frozen (one-shot).
// Without a usable model both search with a model of this task alone, as xgb-ga does.
StatusOr<StrategyAndNotes> MakeMetaStrategy(const compiler::Workload& workload, const compiler::Target& target,
                                            const TuneOptions& options, const SearchSpace& space, db::Store& store) {
  auto start = std::chrono::steady_clock::now();
  StrategyAndNotes out;
  costmodel::NeuralOptions no;
  no.seed = options.seed;
  PT_ASSIGN_OR_RETURN(MetaPrior prior, MetaPriorFor(store, target, options.model_path, options.shipped_model_dir, no));
  out.notes = prior.notes;
  ModelGuidedOptions mo;
  const bool one_shot = options.strategy == Strategy::kOneShot;
  FeatureFunction features = LoopNestFeatures(workload, target);
  if (!prior.model) {
    out.notes.push_back({"meta.fallback",
                         std::string(StrategyName(options.strategy)) +
                             ": no meta-trained model; searching with a model of this task alone (xgb-ga)" +
                             (one_shot ? ", within the one-shot budget" : ""),
                         {{"strategy", StrategyName(options.strategy)}, {"instead", StrategyName(Strategy::kXgbGa)}},
                         {}});
    PT_ASSIGN_OR_RETURN(GuidedModels models,
                        XGBoostGuidedModels(XgbOptionsOf(options), target.Key(), nullptr, mo.guard_batches));
    PT_ASSIGN_OR_RETURN(out.strategy,
                        MakeModelGuidedSearch(space, std::move(features), mo, options.seed, std::move(models)));
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
  }
  GuidedModels models;
  if (one_shot) {
    models.primary = costmodel::FrozenModel(prior.model);
    models.primary_name = "meta-trained";
    if (!prior.same_target)
      out.notes.push_back({"one_shot.other_target",
                           "one-shot: the model was trained for another target, so its picks are a guess for this "
                           "CPU; meta-ga adapts it to measurements",
                           {{"model_target", prior.model->metadata().target_key}},
                           {}});
  } else {
    PT_ASSIGN_OR_RETURN(models.primary, costmodel::LoadNeuralModel(prior.blob, "", no));
    models.alternative = costmodel::FrozenModel(prior.model);
    models.primary_name = "adapted";
    models.alternative_name = "un-adapted meta-trained";
    mo.continuous_guard = true;
    models.intro =
        "cost model: the meta-trained model, adapted to this task's samples after every batch; while "
        "the un-adapted one ranks the last " +
        std::to_string(mo.guard_batches) + " batches better, it guides instead";
  }
  PT_ASSIGN_OR_RETURN(out.strategy,
                      MakeModelGuidedSearch(space, std::move(features), mo, options.seed, std::move(models)));
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

StatusOr<StrategyAndNotes> MakeStrategy(const compiler::Workload& workload, const compiler::Target& target,
                                        const TuneOptions& options, const SearchSpace& space, db::Store& store) {
  StrategyAndNotes out;
  if (CostModelOf(options.strategy) == CostModelKind::kNeural)
    return MakeMetaStrategy(workload, target, options, space, store);
  if (!ModelGuided(options.strategy)) {
    PT_ASSIGN_OR_RETURN(out.strategy, MakeSearchStrategy(options.strategy, space, options.seed));
    return out;
  }
  ModelGuidedOptions mo;
  costmodel::XGBoostOptions xgb = XgbOptionsOf(options);
  if (options.transfer == "fade") {  // AutoTVM's history model: fades, never dropped by a guard
    xgb.base_half_life = 64;
    mo.guard_batches = 0;
  }
  std::shared_ptr<const costmodel::CostModel> prior;
  if (options.transfer != "off") {
    TransferOptions to;
    to.model = xgb;
    to.model.base_half_life = 0;  // the history model itself has no base
    PT_ASSIGN_OR_RETURN(TransferModel tm, TransferModelFor(store, workload, target, to));
    out.notes = tm.notes;
    out.seconds = tm.seconds;
    prior = tm.model;
  }
  PT_ASSIGN_OR_RETURN(GuidedModels models, XGBoostGuidedModels(xgb, target.Key(), prior, mo.guard_batches));
  PT_ASSIGN_OR_RETURN(out.strategy, MakeModelGuidedSearch(space, LoopNestFeatures(workload, target), mo, options.seed,
                                                          std::move(models)));
  return out;
}

// The search's notes: from making the strategy (transfer), then the strategy's own.
TaskNotes JoinNotes(const StrategyAndNotes& made) {
  TaskNotes notes = made.notes;
  for (TaskNote& n : made.strategy->notes()) notes.push_back(std::move(n));
  return notes;
}

// Earlier runs' records of (workload, target) that the template's current version and
// today's space accept: knowledge for the strategy, configs never to measure again. The
// best of them goes into `summary`.
StatusOr<std::vector<TrialResult>> KnownTrials(db::Store& store, const compiler::Workload& workload,
                                               const compiler::Target& target, const SearchSpace& space,
                                               const compiler::OpTemplate& tmpl, TuneSummary& summary) {
  PT_ASSIGN_OR_RETURN(std::vector<db::Record> earlier, store.History({workload.Key(), target.Key(), "", 0}));
  std::vector<TrialResult> known;
  for (const auto& r : earlier) {
    // An older template's record stays stored, but its cost describes another kernel.
    if (r.template_version != tmpl.version()) continue;
    auto config = compiler::ConfigFromJson(r.config_json);
    if (!config.ok() || !space.Valid(*config)) continue;
    known.push_back({*config, r.cost()});
    if (r.cost() < summary.best_cost) {
      summary.best_cost = r.cost();
      summary.best_config = *config;
    }
  }
  return known;
}

// One task's search between batches.
struct TaskSearch {
  const compiler::Workload& workload;
  const compiler::Target& target;
  const TuneOptions& options;
  db::Store& store;
  int64_t job_id;
  SearchStrategy& strategy;
  TuneSummary& summary;
  std::chrono::steady_clock::time_point start;
  std::optional<Config> hand_picked;  // measured first, with the first batch
  int since_improvement = 0;

  // The next batch's configs; empty when the space is exhausted.
  std::vector<Config> NextConfigs() {
    int want = std::min(options.batch_size, summary.budget - summary.measured);
    std::vector<Config> configs = strategy.NextBatch(hand_picked ? want - 1 : want);
    if (hand_picked) {  // first in line; the strategy learns of it with the batch's results
      if (std::find(configs.begin(), configs.end(), *hand_picked) == configs.end())
        configs.insert(configs.begin(), *hand_picked);
      hand_picked.reset();
    }
    return configs;
  }

  // Measures a batch, stores it (under the lease, if any) and tells the strategy.
  Status MeasureBatch(const std::vector<Config>& configs, Measurer& measurer, const std::atomic<bool>& cancel) {
    std::vector<Candidate> candidates;
    for (auto& c : configs) candidates.push_back({workload, target, c});
    auto measure_start = std::chrono::steady_clock::now();
    std::vector<MeasureResult> results = measurer.Measure(candidates, cancel);
    summary.measure_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - measure_start).count();
    PT_CHECK(results.size() == candidates.size(), "measurer returned a result per candidate");
    std::vector<db::Record> records;
    std::vector<TrialResult> trials;
    for (size_t i = 0; i < results.size(); ++i) {
      if (!results[i].measured) continue;  // cancelled: neither stored nor counted
      records.push_back(ToRecord(candidates[i], results[i], job_id));
      double cost = results[i].cost();
      trials.push_back({configs[i], cost});
      summary.trial_costs.push_back(cost);
      ++summary.measured;
      if (!results[i].ok()) ++summary.errors;
      if (cost < summary.best_cost) {
        summary.best_cost = cost;
        summary.best_config = configs[i];
        since_improvement = 0;
      } else {
        ++since_improvement;
      }
    }
    PT_RETURN_IF_ERROR(options.lease.empty()
                           ? store.AddRecords(records)
                           : store.AddRecordsUnderLease(records, options.lease, options.lease_holder));
    double batch_end = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    summary.trial_elapsed.resize(summary.trial_costs.size(), batch_end);
    strategy.Update(trials);
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return OkStatus();
  }
};

}  // namespace

StatusOr<TuneSummary> TuneTask(const compiler::Workload& workload, const compiler::Target& target,
                               const TuneOptions& options, Measurer& measurer, db::Store& store, int64_t job_id,
                               const std::function<void(const TuneProgress&)>& progress,
                               const std::atomic<bool>& cancel) {
  PT_RETURN_IF_ERROR(options.Validate());
  PT_ASSIGN_OR_RETURN(SearchSpace space, SearchSpace::ForWorkload(workload, target));
  auto start = std::chrono::steady_clock::now();
  PT_ASSIGN_OR_RETURN(StrategyAndNotes made, MakeStrategy(workload, target, options, space, store));
  TuneSummary summary;
  PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(workload.op));
  PT_ASSIGN_OR_RETURN(std::vector<TrialResult> known, KnownTrials(store, workload, target, space, *tmpl, summary));
  made.strategy->Update(known);
  summary.known_before = static_cast<int>(known.size());
  summary.budget = std::max(0, options.trials - summary.known_before);
  if (options.strategy == Strategy::kOneShot) summary.budget = std::min(summary.budget, options.one_shot_trials);

  TaskSearch search{workload, target, options, store, job_id, *made.strategy, summary, start};
  if (options.seed_hand_picked) {
    Config c = tmpl->HandPickedConfig(workload, target);
    bool measured = std::any_of(known.begin(), known.end(), [&](const TrialResult& k) { return k.config == c; });
    if (space.Valid(c) && !measured) search.hand_picked = std::move(c);
  }
  while (summary.measured < summary.budget && !cancel.load()) {
    std::vector<Config> configs = search.NextConfigs();
    if (configs.empty()) {
      summary.exhausted = true;
      break;
    }
    PT_RETURN_IF_ERROR(search.MeasureBatch(configs, measurer, cancel));
    if (progress)
      progress({summary.measured, summary.budget, summary.errors, summary.best_cost, summary.seconds, JoinNotes(made)});
    if (options.early_stopping > 0 && search.since_improvement >= options.early_stopping) {
      summary.early_stopped = true;
      break;
    }
  }
  summary.cancelled = cancel.load();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.model_seconds = made.seconds + made.strategy->model_seconds();
  summary.notes = JoinNotes(made);
  return summary;
}

}  // namespace priortune::tuner

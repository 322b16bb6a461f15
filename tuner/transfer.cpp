#include "tuner/transfer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <unordered_map>

#include "costmodel/metrics.h"
#include "tuner/search_space.h"

namespace priortune::tuner {
namespace {

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

RecordFeatures FeaturesOfRecords(const std::vector<db::Record>& records, const costmodel::FeatureOptions& options,
                                 db::Store* cache) {
  auto start = std::chrono::steady_clock::now();
  RecordFeatures out;
  std::map<std::string, int> group_of;
  std::map<std::string, std::optional<compiler::Workload>> workloads;
  std::map<std::string, std::optional<compiler::Target>> targets;
  // The cache's entries for every target the records are on.
  std::unordered_map<int64_t, std::string> cached;
  if (cache) {
    std::set<std::string> keys;
    for (const auto& r : records) keys.insert(r.target_key);
    for (const auto& key : keys) {
      auto blobs = cache->FeatureBlobs(costmodel::kFeatureVersion, key);
      if (!blobs.ok()) {
        out.cache_error = "feature cache not read: " + blobs.status().ToString();
        break;
      }
      cached.merge(*blobs);
    }
  }
  std::vector<std::pair<int64_t, std::string>> computed;
  for (const auto& r : records) {
    auto& w = workloads[r.workload_key];
    if (!w) {
      auto parsed = compiler::Workload::FromJson(r.workload_json);
      if (parsed.ok()) w = *parsed;
    }
    auto& t = targets[r.target_key];
    if (!t) {
      auto parsed = compiler::Target::FromJson(r.target_json);
      if (parsed.ok()) t = *parsed;
    }
    auto tmpl = compiler::FindTemplate(r.op);
    if (!w || !t || !tmpl.ok() || (*tmpl)->version() != r.template_version) {
      ++out.skipped;
      continue;
    }
    std::optional<std::vector<float>> loop_nest;
    if (auto hit = cached.find(r.id); hit != cached.end()) loop_nest = costmodel::FeaturesFromBlob(hit->second);
    if (loop_nest) {
      ++out.cached;
    } else {
      auto lower_start = std::chrono::steady_clock::now();
      auto config = compiler::ConfigFromJson(r.config_json);
      if (!config.ok()) {
        ++out.skipped;
        continue;
      }
      auto lowered = compiler::LowerWorkload(*w, *t, *config);
      if (!lowered.ok()) {
        ++out.skipped;
        continue;
      }
      auto extract_start = std::chrono::steady_clock::now();
      loop_nest = costmodel::ExtractLoopNestFeatures(*lowered, *t);
      out.extract_seconds += Since(extract_start);
      out.lower_seconds += Since(lower_start);
      ++out.computed;
      if (cache && r.id > 0) computed.emplace_back(r.id, costmodel::FeatureBlob(*loop_nest));
    }
    auto [it, inserted] = group_of.emplace(r.workload_key, static_cast<int>(out.workload_keys.size()));
    if (inserted) {
      out.workload_keys.push_back(r.workload_key);
      out.workload_names.push_back(w->ShortName());
      out.workload_ops.push_back(w->op);
    }
    out.data.Add(costmodel::WithContext(std::move(*loop_nest), *w, options), r.cost(), it->second);
  }
  if (!computed.empty()) {
    if (Status s = cache->AddFeatureBlobs(costmodel::kFeatureVersion, computed); !s.ok())
      out.cache_error = "feature cache not written: " + s.ToString();
  }
  out.seconds = Since(start);
  return out;
}

StatusOr<int64_t> StoreModel(db::Store& store, const costmodel::CostModel& model) {
  PT_ASSIGN_OR_RETURN(std::string blob, model.Save());
  const auto& meta = model.metadata();
  return store.AddModel({0, costmodel::CostModelName(meta.kind), meta.feature_version, meta.target_key,
                         meta.training_set, meta.metrics_json, meta.samples, 0, blob});
}

namespace {

// Other workloads' records on `t` made with today's templates (the ones that can be
// lowered again, so that min_records counts what training and eval-model will use): of
// w's op, or of all ops when those are fewer than min_records. `scope` says which.
StatusOr<std::vector<db::Record>> TransferRecords(db::Store& store, const compiler::Workload& w,
                                                  const compiler::Target& t, int min_records, std::string* scope) {
  auto others = [&](std::vector<db::Record> v) {
    v.erase(std::remove_if(v.begin(), v.end(),
                           [&](const db::Record& r) {
                             auto tmpl = compiler::FindTemplate(r.op);
                             return r.workload_key == w.Key() || !tmpl.ok() || (*tmpl)->version() != r.template_version;
                           }),
            v.end());
    return v;
  };
  PT_ASSIGN_OR_RETURN(std::vector<db::Record> same_op, store.History({"", t.Key(), w.op, 0}));
  std::vector<db::Record> records = others(std::move(same_op));
  *scope = w.op;
  if (static_cast<int>(records.size()) < min_records) {
    PT_ASSIGN_OR_RETURN(std::vector<db::Record> all, store.History({"", t.Key(), "", 0}));
    records = others(std::move(all));
    *scope = "all ops";
  }
  return records;
}

// The models table's key: the same history, templates and settings give the same model.
std::string TrainingSetName(const std::vector<db::Record>& records, const std::string& scope,
                            const compiler::Workload& w, const compiler::Target& t, const TransferOptions& options) {
  std::set<std::string> workloads, versions;
  int64_t max_id = 0;
  for (const auto& r : records) {
    workloads.insert(r.workload_key);
    max_id = std::max(max_id, r.id);
    versions.insert(r.op + " v" + std::to_string(r.template_version));
  }
  std::string templates;
  for (const auto& v : versions) templates += (templates.empty() ? "" : ", ") + v;
  char settings[128];
  std::snprintf(settings, sizeof(settings), "%d rounds, depth %d, eta %g, %d pair samples", options.model.rounds,
                options.model.max_depth, options.model.eta, options.model.pair_samples);
  return options.model.objective + (options.features.workload_context ? " with context" : "") + " (" + settings +
         ") on " + scope + " of target " + t.Key() + ": " + std::to_string(records.size()) + " records (" + templates +
         ") of " + std::to_string(workloads.size()) + " workloads (ids up to " + std::to_string(max_id) +
         "), without workload " + w.Key();
}

// A stored model of out.training_set, if one loads: into `out`, true.
StatusOr<bool> ReuseStoredModel(db::Store& store, const compiler::Target& t, TransferModel& out) {
  PT_ASSIGN_OR_RETURN(std::vector<db::ModelRow> stored,
                      store.Models({costmodel::CostModelName(costmodel::CostModelKind::kXgboost), t.Key(),
                                    out.training_set, 0, 1, true}));
  if (stored.empty()) return false;
  auto loaded = costmodel::LoadCostModel(stored[0].blob, t.Key());
  if (!loaded.ok()) {
    out.notes.push_back({"transfer.refused",
                         "transfer: stored model #" + std::to_string(stored[0].id) + " refused (" +
                             loaded.status().ToString() + "); training a fresh one",
                         {{"error", loaded.status().ToString()}},
                         {{"model_id", static_cast<double>(stored[0].id)}}});
    return false;
  }
  out.model = std::shared_ptr<const costmodel::CostModel>(std::move(loaded).value());
  out.model_id = stored[0].id;
  out.reused = true;
  out.notes.push_back({"transfer.reused",
                       "transfer: reused stored model #" + std::to_string(stored[0].id) + " (" + out.training_set + ")",
                       {{"training_set", out.training_set}},
                       {{"model_id", static_cast<double>(stored[0].id)}}});
  return true;
}

// Trains the XGBoost model on `rf`, stores it (in-sample metrics in its metadata), into `out`.
Status TrainTransferModel(db::Store& store, const compiler::Target& t, const TransferOptions& options,
                          const RecordFeatures& rf, TransferModel& out) {
  PT_ASSIGN_OR_RETURN(std::unique_ptr<costmodel::CostModel> model, costmodel::MakeXGBoostModel(options.model, t.Key()));
  PT_RETURN_IF_ERROR(model->Fit(rf.data));
  auto scores = model->Predict(rf.data.features.data(), rf.data.rows());
  PT_RETURN_IF_ERROR(scores.status());
  costmodel::RankingMetrics in_sample = costmodel::EvaluateRanking(*scores, rf.data);
  model->mutable_metadata().training_set = out.training_set;
  model->mutable_metadata().metrics_json = R"({"in_sample":)" + costmodel::MetricsJson(in_sample) + "}";
  PT_ASSIGN_OR_RETURN(out.model_id, StoreModel(store, *model));
  out.model = std::shared_ptr<const costmodel::CostModel>(std::move(model));
  return OkStatus();
}

}  // namespace

StatusOr<TransferModel> TransferModelFor(db::Store& store, const compiler::Workload& w, const compiler::Target& t,
                                         const TransferOptions& options) {
  auto start = std::chrono::steady_clock::now();
  TransferModel out;
  std::string scope;
  PT_ASSIGN_OR_RETURN(std::vector<db::Record> records, TransferRecords(store, w, t, options.min_records, &scope));
  if (records.empty()) {
    out.notes.push_back({"transfer.no_records",
                         "transfer: the store holds no records of other workloads on this target; the model "
                         "starts from this task's measurements",
                         {},
                         {}});
    return out;
  }
  out.training_set = TrainingSetName(records, scope, w, t, options);
  PT_ASSIGN_OR_RETURN(bool reused, ReuseStoredModel(store, t, out));
  if (reused) {
    out.seconds = Since(start);
    return out;
  }
  RecordFeatures rf = FeaturesOfRecords(records, options.features, &store);
  if (!rf.cache_error.empty())
    out.notes.push_back({"transfer.cache_error", "transfer: " + rf.cache_error, {{"error", rf.cache_error}}, {}});
  if (rf.data.rows() < 2) {
    out.notes.push_back({"transfer.none_lower",
                         "transfer: none of the " + std::to_string(records.size()) +
                             " records of other workloads lowers with today's templates; no transfer",
                         {},
                         {{"records", static_cast<double>(records.size())}}});
    out.training_set.clear();
    out.seconds = Since(start);
    return out;
  }
  PT_RETURN_IF_ERROR(TrainTransferModel(store, t, options, rf, out));
  out.seconds = Since(start);
  char line[320];
  std::snprintf(line, sizeof(line),
                "transfer: trained model #%lld on %zu records of %zu workloads (%s%s) in %.1f s (features: %d from "
                "the store's cache, %d lowered in %.1f s)",
                static_cast<long long>(out.model_id), rf.data.rows(), rf.workload_keys.size(), scope.c_str(),
                rf.skipped > 0 ? (", " + std::to_string(rf.skipped) + " records skipped").c_str() : "", out.seconds,
                rf.cached, rf.computed, rf.lower_seconds);
  out.notes.push_back({"transfer.trained",
                       line,
                       {{"scope", scope}, {"training_set", out.training_set}},
                       {{"model_id", static_cast<double>(out.model_id)},
                        {"records", static_cast<double>(rf.data.rows())},
                        {"workloads", static_cast<double>(rf.workload_keys.size())},
                        {"skipped", static_cast<double>(rf.skipped)},
                        {"cached", static_cast<double>(rf.cached)},
                        {"computed", static_cast<double>(rf.computed)},
                        {"seconds", out.seconds}}});
  return out;
}

StatusOr<HeldOutReport> EvaluateHeldOut(const RecordFeatures& records, const TransferOptions& options, int k) {
  const costmodel::Dataset& d = records.data;
  const int groups = static_cast<int>(records.workload_keys.size());
  if (groups < 2)
    return InvalidArgument("eval-model needs records of at least two workloads to hold one out, the store has " +
                           std::to_string(groups));
  HeldOutReport report;
  auto start = std::chrono::steady_clock::now();
  for (int g = 0; g < groups; ++g) {
    const std::string& op = records.workload_ops[g];
    auto pick = [&](bool same_op) {
      costmodel::Dataset train;
      for (size_t i = 0; i < d.rows(); ++i) {
        int gi = d.groups[i];
        if (gi == g || (same_op && records.workload_ops[gi] != op)) continue;
        train.Add(std::vector<float>(d.row(i), d.row(i) + d.cols), d.costs[i], gi);
      }
      return train;
    };
    costmodel::Dataset train = pick(true);
    std::string scope = op;
    if (static_cast<int>(train.rows()) < options.min_records) {
      train = pick(false);
      scope = "all ops";
    }
    costmodel::Dataset test;
    for (size_t i = 0; i < d.rows(); ++i)
      if (d.groups[i] == g) test.Add(std::vector<float>(d.row(i), d.row(i) + d.cols), d.costs[i], g);
    if (train.rows() < 2 || test.rows() < 2) continue;
    PT_ASSIGN_OR_RETURN(std::unique_ptr<costmodel::CostModel> model, costmodel::MakeXGBoostModel(options.model, ""));
    PT_RETURN_IF_ERROR(model->Fit(train));
    PT_ASSIGN_OR_RETURN(std::vector<float> scores, model->Predict(test.features.data(), test.rows()));
    report.workloads.push_back(
        {records.workload_names[g], costmodel::EvaluateRanking(scores, test, k), train.rows(), test.rows(), scope});
  }
  if (report.workloads.empty()) return InvalidArgument("eval-model: no workload has records to train and test on");
  std::vector<costmodel::RankingMetrics> per;
  for (const auto& w : report.workloads) per.push_back(w.metrics);
  report.mean = costmodel::MeanOverTasks(per);
  report.mean.k = k;
  report.fit_seconds = Since(start);
  return report;
}

StatusOr<GuidedModels> XGBoostGuidedModels(const costmodel::XGBoostOptions& options, const std::string& target_key,
                                           std::shared_ptr<const costmodel::CostModel> prior, int guard_batches) {
  GuidedModels models;
  PT_ASSIGN_OR_RETURN(models.alternative, costmodel::MakeXGBoostModel(options, target_key));
  if (prior) {
    PT_ASSIGN_OR_RETURN(models.primary, costmodel::MakeXGBoostModel(options, target_key, prior));
    std::string how = guard_batches > 0 ? "guarded against a model of this task alone over " +
                                              std::to_string(guard_batches) + " batches"
                                        : "no guard";
    if (options.base_half_life > 0) {
      char fade[96];
      std::snprintf(fade, sizeof(fade), "; its weight halves every %g samples", options.base_half_life);
      how += fade;
    }
    models.intro = "cost model: transferred from history (" + prior->metadata().training_set + "), " + how;
  }
  return models;
}

}  // namespace priortune::tuner

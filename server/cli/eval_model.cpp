// priortune eval-model: offline cost-model metrics on the store's records, one workload
// held out at a time; few-shot metrics of neural models.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <set>

#include "compiler/ops/op_template.h"
#include "compiler/support/median.h"
#include "costmodel/metrics.h"
#include "costmodel/neural_model.h"
#include "costmodel/xgboost_model.h"
#include "db/store.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/cli/model_records.h"
#include "tuner/meta_model.h"
#include "tuner/open_store.h"
#include "tuner/transfer.h"

namespace priortune::server::cli {

namespace {

struct EvalModelOptions {
  std::string db = "priortune.db";
  std::string target = "host";  // whose records: a Target::Parse spec
  int threads = 1;
  std::string op;                   // only this op's records; empty: all
  costmodel::XGBoostOptions model;  // objective and settings (nthread stays 1)
  bool workload_context = false;
  int k = 10;                 // of top-k recall
  bool feature_cache = true;  // read and fill the store's record_features table
  bool save = false;          // train on every record and store the model with these metrics
  std::string csv;            // per held-out workload rows
  // Neural model files (train-model --out): few-shot metrics of each on the store's
  // records instead (each workload: adapt on k of its records, score the rest), beside a
  // neural model and an XGBoost model trained from scratch on the same k.
  std::vector<std::string> neural;
  std::vector<int> ks = {0, 8, 16, 32, 64};
  int repeats = 3;
  uint64_t seed = 1;
};

int RunEvalNeural(const EvalModelOptions& o, db::Store& store, const TargetRecords& tr) {
  if (Status s = CheckKs(o.ks, o.repeats); !s.ok()) return Fail(s);
  costmodel::NeuralOptions no;
  no.seed = o.seed;
  std::vector<std::pair<std::string, std::string>> models;  // name, blob
  for (const auto& path : o.neural) {
    auto text = tuner::ReadModelFile(path);
    if (!text.ok()) return Fail(text.status());
    auto m = costmodel::LoadNeuralModel(*text, "", no);
    if (!m.ok()) return Fail(Status(m.status().code(), path + ": " + m.status().message()));
    std::printf("model %s: %s%s\n", path.c_str(), (*m)->metadata().training_set.c_str(),
                tr.target.IsKey((*m)->metadata().target_key) ? "" : " (trained for another target)");
    std::string name = path.substr(path.find_last_of('/') + 1);
    models.emplace_back(name, std::move(text).value());
  }
  tuner::RecordFeatures rf = tuner::FeaturesOfRecords(tr.records, {}, o.feature_cache ? &store : nullptr);
  PrintFeatureStats(rf, tr.target);
  std::ofstream csv;
  if (!o.csv.empty()) {
    csv.open(o.csv);
    csv << "model,k,tasks,pairwise_accuracy,kendall_tau,top_k_recall,peak_at_1,peak_at_5\n";
  }
  std::printf(
      "few-shot: each workload in turn, adapt (or train) on k of its records drawn at random, score the rest; "
      "%d repeats, mean over workloads:\n",
      o.repeats);
  PrintFewShotHeader();
  std::vector<int> positive;
  for (int k : o.ks)
    if (k > 0) positive.push_back(k);
  auto run = [&](const std::string& name, const costmodel::ModelMaker& make, const std::vector<int>& ks) -> Status {
    if (ks.empty()) return OkStatus();
    auto start = std::chrono::steady_clock::now();
    PT_ASSIGN_OR_RETURN(std::vector<costmodel::FewShotResult> rows,
                        costmodel::EvaluateFewShot(rf.data, make, ks, o.repeats, o.seed, o.k));
    for (const auto& r : rows) PrintFewShot(name, r, &csv);
    std::printf("  (%s: %.1f s)\n", name.c_str(), Since(start));
    std::fflush(stdout);
    return OkStatus();
  };
  const size_t cols = rf.data.cols;
  Status s = run(
      "xgboost (scratch)", [&]() { return costmodel::MakeXGBoostModel(o.model, ""); }, positive);
  if (s.ok())
    s = run(
        "neural (scratch)", [&]() { return costmodel::MakeNeuralModel(no, cols, ""); }, positive);
  for (const auto& [name, blob] : models) {
    if (!s.ok()) break;
    const std::string& b = blob;
    s = run(
        name, [&]() { return costmodel::LoadNeuralModel(b, "", no); }, o.ks);
  }
  if (!s.ok()) return Fail(s, 1);
  return 0;
}

int RunEvalModel(const EvalModelOptions& o) {
  tuner::TransferOptions to;
  to.model = o.model;
  to.features.workload_context = o.workload_context;
  if (Status s = to.model.Validate(); !s.ok()) return Fail(s);
  if (o.k < 1) return Fail(InvalidArgument("--k must be at least 1, got " + std::to_string(o.k)));
  if (!o.op.empty()) {
    if (auto t = compiler::FindTemplate(o.op); !t.ok()) return Fail(t.status());
  }
  if (!db::StoreExists(o.db)) return Fail(NotFound("no store at '" + o.db + "'"));
  auto store = tuner::OpenStore(o.db);
  if (!store.ok()) return Fail(store.status());
  auto tr = RecordsOfTarget(**store, o.db, o.target, o.threads, o.op);
  if (!tr.ok()) return Fail(tr.status(), tr.status().code() == StatusCode::kInternal ? 1 : 2);
  if (!o.neural.empty()) return RunEvalNeural(o, **store, *tr);
  const compiler::Target& target = tr->target;
  tuner::RecordFeatures rf =
      tuner::FeaturesOfRecords(tr->records, to.features, o.feature_cache ? store->get() : nullptr);
  PrintFeatureStats(rf, target);
  auto report = tuner::EvaluateHeldOut(rf, to, o.k);
  if (!report.ok()) return Fail(report.status());
  std::printf(
      "objective %s%s, one workload held out at a time, trained on the others (the same op's when they "
      "hold %d records, else all ops'):\n",
      o.model.objective.c_str(), o.workload_context ? " with workload context" : "", to.min_records);
  std::string recall = "top" + std::to_string(o.k);
  std::printf("  %-34s %-8s %6s %5s  %8s %7s %8s %7s %7s\n", "held-out workload", "trained", "train", "test",
              "pairwise", "tau", recall.c_str(), "peak@1", "peak@5");
  std::ofstream csv;
  if (!o.csv.empty()) {
    csv.open(o.csv);
    csv << "workload,scope,train,test,pairwise_accuracy,kendall_tau,top_k_recall,peak_at_1,peak_at_5\n";
  }
  for (const auto& w : report->workloads) {
    const auto& m = w.metrics;
    std::printf("  %-34s %-8s %6zu %5zu  %8.3f %7.3f %8.3f %7.3f %7.3f\n", w.workload.c_str(), w.scope.c_str(),
                w.train_rows, w.test_rows, m.pairwise_accuracy, m.kendall_tau, m.top_k_recall, m.peak_at_1,
                m.peak_at_5);
    if (csv.is_open())
      csv << w.workload << "," << w.scope << "," << w.train_rows << "," << w.test_rows << "," << m.pairwise_accuracy
          << "," << m.kendall_tau << "," << m.top_k_recall << "," << m.peak_at_1 << "," << m.peak_at_5 << "\n";
  }
  const auto& m = report->mean;
  std::printf("  %-34s %-8s %6s %5s  %8.3f %7.3f %8.3f %7.3f %7.3f\n", "mean over held-out workloads", "", "", "",
              m.pairwise_accuracy, m.kendall_tau, m.top_k_recall, m.peak_at_1, m.peak_at_5);
  std::printf("(training of %zu folds: %.1f s, 1 thread)\n", report->workloads.size(), report->fit_seconds);
  if (o.save) {
    auto model = costmodel::MakeXGBoostModel(to.model, target.Key());
    if (!model.ok()) return Fail(model.status(), 1);
    if (Status s = (*model)->Fit(rf.data); !s.ok()) return Fail(s, 1);
    (*model)->mutable_metadata().training_set = "eval-model: " + std::to_string(rf.data.rows()) + " records of " +
                                                std::to_string(rf.workload_keys.size()) + " workloads" +
                                                (o.op.empty() ? "" : " of " + o.op) + " on target " + target.Key();
    (*model)->mutable_metadata().metrics_json = R"({"held_out_mean":)" + costmodel::MetricsJson(m) + "}";
    auto id = tuner::StoreModel(**store, **model);
    if (!id.ok()) return Fail(id.status(), 1);
    std::printf("saved model #%lld (%s) with these held-out metrics\n", static_cast<long long>(*id),
                (*model)->metadata().training_set.c_str());
  }
  return 0;
}

}  // namespace

void AddEvalModel(Commands& commands) {
  auto o = std::make_shared<EvalModelOptions>();
  CLI::App* cmd = commands.app().add_subcommand(
      "eval-model", "offline cost-model metrics on the store's records, holding out one workload at a time");
  cmd->add_option("--db", o->db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  cmd->add_option("--target", o->target, "whose records: host (default), a CPU name or target JSON");
  cmd->add_option("--threads", o->threads, "the thread count of the records' target (default 1)");
  cmd->add_option("--op", o->op, "only this op's records (default: all)");
  cmd->add_option("--model-objective", o->model.objective, "rank:pairwise (default) | reg:throughput");
  cmd->add_flag("--workload-context", o->workload_context, "append op, FLOPs and dims to the features");
  cmd->add_option("--rounds", o->model.rounds, "XGBoost boosting rounds (default 80)")->group("Model settings");
  cmd->add_option("--max-depth", o->model.max_depth, "XGBoost tree depth (default 6)")->group("Model settings");
  cmd->add_option("--eta", o->model.eta, "XGBoost learning rate (default 0.2)")->group("Model settings");
  cmd->add_option("--pair-samples", o->model.pair_samples,
                  "rank:pairwise: pairs sampled per record and round (default 4)")
      ->group("Model settings");
  cmd->add_option("--min-child-weight", o->model.min_child_weight, "XGBoost min_child_weight (default 1)")
      ->group("Model settings");
  cmd->add_option("--subsample", o->model.subsample, "XGBoost row subsample (default 1)")->group("Model settings");
  cmd->add_option("--colsample", o->model.colsample, "XGBoost colsample_bytree (default 1)")->group("Model settings");
  cmd->add_option("--k", o->k, "k of top-k recall (default 10)");
  cmd->add_flag("!--no-feature-cache", o->feature_cache,
                "lower every record again instead of reading (and filling) the store's feature cache");
  cmd->add_flag("--save", o->save, "train on every record and store the model with the held-out metrics");
  cmd->add_option("--csv", o->csv, "write the per-workload rows here (with --neural: the per-k rows)");
  cmd->add_option("--neural", o->neural,
                  "neural model files (train-model --out): few-shot metrics of each (adapt on k records of a "
                  "workload, score the rest) beside XGBoost and a neural model from scratch")
      ->group("Neural models");
  cmd->add_option("--ks", o->ks, "with --neural: the k values (default 0,8,16,32,64)")
      ->delimiter(',')
      ->group("Neural models");
  cmd->add_option("--repeats", o->repeats, "with --neural: random draws of k records per workload (default 3)")
      ->group("Neural models");
  cmd->add_option("--seed", o->seed, "with --neural: seed of the draws (default 1)")->group("Neural models");
  commands.Add(cmd, [o] { return RunEvalModel(*o); });
}

}  // namespace priortune::server::cli

// train-model, and eval-model's few-shot branch for neural models.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "compiler/median.h"
#include "costmodel/metrics.h"
#include "costmodel/neural_model.h"
#include "costmodel/xgboost_model.h"
#include "server/commands.h"
#include "server/internal/model_cli.h"
#include "tuner/meta_model.h"
#include "tuner/open_store.h"
#include "tuner/transfer.h"

namespace priortune::server {
namespace {

int Fail(const Status& s, int code = 2) { return ReportError(s, code); }

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double PeakRssMb() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // kilobytes on Linux
}

Status CheckKs(const std::vector<int>& ks, int repeats) {
  if (ks.empty()) return InvalidArgument("--ks needs at least one k");
  for (int k : ks)
    if (k < 0) return InvalidArgument("--ks: k must be >= 0, got " + std::to_string(k));
  if (repeats < 1) return InvalidArgument("--repeats must be >= 1, got " + std::to_string(repeats));
  return OkStatus();
}

void PrintFewShotHeader() {
  std::printf("  %-26s %4s %6s  %8s %7s %7s %7s %7s\n", "model", "k", "tasks", "pairwise", "tau", "top10", "peak@1",
              "peak@5");
}

void PrintFewShot(const std::string& name, const costmodel::FewShotResult& r, std::ofstream* csv) {
  const auto& m = r.mean;
  std::printf("  %-26s %4d %6d  %8.3f %7.3f %7.3f %7.3f %7.3f\n", name.c_str(), r.k, r.tasks, m.pairwise_accuracy,
              m.kendall_tau, m.top_k_recall, m.peak_at_1, m.peak_at_5);
  if (csv && csv->is_open())
    *csv << name << "," << r.k << "," << r.tasks << "," << m.pairwise_accuracy << "," << m.kendall_tau << ","
         << m.top_k_recall << "," << m.peak_at_1 << "," << m.peak_at_5 << "\n";
}

// Median milliseconds to score 1,000 candidates (rows of `data`, repeated if fewer).
StatusOr<double> InferenceMsPer1000(const costmodel::CostModel& model, const costmodel::Dataset& data) {
  std::vector<float> rows;
  for (size_t i = 0; i < 1000; ++i) rows.insert(rows.end(), data.row(i % data.rows()), data.row(i % data.rows()) + data.cols);
  std::vector<double> times;
  for (int r = 0; r < 11; ++r) {
    auto t = std::chrono::steady_clock::now();
    PT_ASSIGN_OR_RETURN(std::vector<float> s, model.Predict(rows.data(), 1000));
    times.push_back(Since(t) * 1e3);
  }
  return Median(times);
}

Status WriteFile(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) return InvalidArgument("cannot write '" + path + "'");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) return Internal("writing '" + path + "' failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Internal("cannot rename to '" + path + "'");
  return OkStatus();
}

// Rows of `from` whose group is in `keep`.
costmodel::Dataset Subset(const costmodel::Dataset& from, const std::set<int>& keep) {
  costmodel::Dataset out;
  out.cols = from.cols;
  for (size_t i = 0; i < from.rows(); ++i)
    if (keep.count(from.groups[i])) out.Add(std::vector<float>(from.row(i), from.row(i) + from.cols), from.costs[i], from.groups[i]);
  return out;
}

}  // namespace

int RunTrainModel(const TrainModelOptions& o) {
  if (Status s = o.model.Validate(); !s.ok()) return Fail(s);
  if (Status s = o.train.Validate(); !s.ok()) return Fail(s);
  if (Status s = CheckKs(o.ks, o.repeats); !s.ok()) return Fail(s);
  if (!(o.hold_out >= 0 && o.hold_out < 1))
    return Fail(InvalidArgument("--hold-out must be in [0, 1), got " + std::to_string(o.hold_out)));
  if (!o.op.empty()) {
    if (auto t = compiler::FindTemplate(o.op); !t.ok()) return Fail(t.status());
  }
  if (o.logs.empty() && !db::StoreExists(o.db)) return Fail(NotFound("no store at '" + o.db + "' (and no --log to fill one)"));
  for (const auto& log : o.logs)
    if (!FileExists(log)) return Fail(NotFound("cannot read '" + log + "'"));
  auto store = tuner::OpenStore(o.db);
  if (!store.ok()) return Fail(store.status());
  for (const auto& log : o.logs) {
    auto stats = ImportLogFile(**store, log);
    if (!stats.ok()) return Fail(stats.status());
    std::printf("imported %lld records from %s (%lld already there)\n", static_cast<long long>(stats->imported),
                log.c_str(), static_cast<long long>(stats->duplicates));
  }
  auto tr = RecordsOfTarget(**store, o.db, o.target, o.threads, o.op);
  if (!tr.ok()) return Fail(tr.status(), tr.status().code() == StatusCode::kInternal ? 1 : 2);
  if (!tr->note.empty()) std::printf("%s\n", tr->note.c_str());
  tuner::RecordFeatures rf = tuner::FeaturesOfRecords(tr->records, {}, o.feature_cache ? store->get() : nullptr);
  PrintFeatureStats(rf, tr->target);

  // Hold out whole workloads, drawn with the seed.
  const int groups = static_cast<int>(rf.workload_keys.size());
  std::vector<int> order(groups);
  for (int g = 0; g < groups; ++g) order[g] = g;
  std::mt19937_64 rng(o.model.seed);
  std::shuffle(order.begin(), order.end(), rng);
  int held = o.hold_out > 0 ? std::max(1, static_cast<int>(std::lround(o.hold_out * groups))) : 0;
  held = std::min(held, groups - 2);
  if (groups < 2 || held < 0)
    return Fail(InvalidArgument("train-model needs records of at least two workloads (two more than it holds out), "
                                "the store has " + std::to_string(groups)));
  std::set<int> test_groups(order.begin(), order.begin() + held), train_groups(order.begin() + held, order.end());
  costmodel::Dataset train = Subset(rf.data, train_groups), test = Subset(rf.data, test_groups);
  std::string held_names;
  std::vector<std::string> held_list;
  for (int g : test_groups) {
    held_names += (held_names.empty() ? "" : ", ") + rf.workload_names[g];
    held_list.push_back(rf.workload_names[g]);
  }
  std::set<std::string> ops;
  for (int g : train_groups) ops.insert(rf.workload_ops[g]);
  std::string op_list;
  for (const auto& op : ops) op_list += (op_list.empty() ? "" : ", ") + op;
  std::printf("training (%s) on %zu records of %zu workloads (%s)%s%s\n", o.train.method.c_str(), train.rows(),
              train_groups.size(), op_list.c_str(), held > 0 ? "; held out: " : "", held_names.c_str());

  costmodel::NeuralTrainOptions t = o.train;
  t.log = [](const std::string& line) { std::printf("  %s\n", line.c_str()); std::fflush(stdout); };
  if (t.log_every == 0) t.log_every = std::max(1, (t.method == "meta" ? t.meta_iterations : t.steps) / 10);
  char training_set[512];
  std::snprintf(training_set, sizeof(training_set), "train-model %s: %zu records of %zu workloads (%s) on target %s",
                o.train.method.c_str(), train.rows(), train_groups.size(), op_list.c_str(), tr->target.Key().c_str());
  auto start = std::chrono::steady_clock::now();
  auto model = costmodel::TrainNeuralModel(train, o.model, t, tr->target.Key(), training_set);
  if (!model.ok()) return Fail(model.status(), model.status().code() == StatusCode::kInvalidArgument ? 2 : 1);
  double train_seconds = Since(start);
  double peak_mb = PeakRssMb();
  std::printf("trained in %.1f s (%d thread%s); peak memory of the process %.0f MB\n", train_seconds,
              o.model.threads, o.model.threads == 1 ? "" : "s", peak_mb);
  auto inference = InferenceMsPer1000(**model, rf.data);
  if (!inference.ok()) return Fail(inference.status(), 1);
  std::printf("inference: %.2f ms per 1,000 candidates (median of 11, %d thread%s)\n", *inference, o.model.threads,
              o.model.threads == 1 ? "" : "s");

  nlohmann::json metrics;
  metrics["train_seconds"] = train_seconds;
  metrics["peak_rss_mb"] = peak_mb;
  metrics["inference_ms_per_1000"] = *inference;
  metrics["held_out_workloads"] = held_list;
  auto blob = (*model)->Save();
  if (!blob.ok()) return Fail(blob.status(), 1);
  if (held > 0) {
    costmodel::ModelMaker make = [&]() { return costmodel::LoadNeuralModel(*blob, "", o.model); };
    auto few = costmodel::EvaluateFewShot(test, make, o.ks, o.repeats, o.model.seed);
    if (!few.ok()) return Fail(few.status(), 1);
    std::printf("few-shot on the %d held-out workloads (adapt on k records of each, score the rest; %d repeats):\n",
                held, o.repeats);
    PrintFewShotHeader();
    for (const auto& r : *few) {
      PrintFewShot(o.train.method, r, nullptr);
      metrics["held_out_k" + std::to_string(r.k)] = nlohmann::json::parse(costmodel::MetricsJson(r.mean));
    }
  }
  (*model)->mutable_metadata().metrics_json = metrics.dump();
  auto id = tuner::StoreModel(**store, **model);
  if (!id.ok()) return Fail(id.status(), 1);
  std::printf("saved model #%lld in %s (%s)\n", static_cast<long long>(*id), o.db.c_str(),
              (*model)->metadata().training_set.c_str());
  if (!o.out.empty()) {
    auto final_blob = (*model)->Save();  // with the metrics
    if (!final_blob.ok()) return Fail(final_blob.status(), 1);
    if (Status s = WriteFile(o.out, *final_blob); !s.ok()) return Fail(s);
    std::printf("wrote %s (%zu bytes)\n", o.out.c_str(), final_blob->size());
  }
  return 0;
}

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
  std::printf("few-shot: each workload in turn, adapt (or train) on k of its records drawn at random, score the rest; "
              "%d repeats, mean over workloads:\n", o.repeats);
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
  Status s = run("xgboost (scratch)", [&]() { return costmodel::MakeXGBoostModel(o.model, ""); }, positive);
  if (s.ok()) s = run("neural (scratch)", [&]() { return costmodel::MakeNeuralModel(no, cols, ""); }, positive);
  for (const auto& [name, blob] : models) {
    if (!s.ok()) break;
    const std::string& b = blob;
    s = run(name, [&]() { return costmodel::LoadNeuralModel(b, "", no); }, o.ks);
  }
  if (!s.ok()) return Fail(s, 1);
  return 0;
}

}  // namespace priortune::server

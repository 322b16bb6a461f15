// priortune train-model: meta-train the neural cost model on the store's records, report
// few-shot metrics on held-out workloads, save it in the store.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "compiler/ops/op_template.h"
#include "compiler/support/median.h"
#include "costmodel/metrics.h"
#include "costmodel/neural_model.h"
#include "costmodel/xgboost_model.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/cli/model_records.h"
#include "tuner/log_import.h"
#include "tuner/meta_model.h"
#include "tuner/open_store.h"
#include "tuner/transfer.h"

namespace priortune::server::cli {

namespace {

struct TrainModelOptions {
  std::string db = "priortune.db";           // records from here; the model is saved here
  std::vector<std::string> logs;             // tuning logs (.jsonl, .jsonl.gz) imported into db first
  std::string target;                        // whose records (Target::Parse spec); empty: the host's if
                                             // the store has them, else the target with the most
  int threads = 1;                           // the thread count of that target
  std::string op;                            // only this op's records; empty: all
  double hold_out = 0.2;                     // share of workloads held out of training, for the metrics
  std::vector<int> ks = {0, 8, 16, 32, 64};  // few-shot metrics on the held-out workloads
  int repeats = 3;
  costmodel::NeuralOptions model;
  costmodel::NeuralTrainOptions train;
  bool feature_cache = true;
  std::string out;  // also write the model blob to this file
};

double PeakRssMb() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // kilobytes on Linux
}

// Median milliseconds to score 1,000 candidates (rows of `data`, repeated if fewer).
StatusOr<double> InferenceMsPer1000(const costmodel::CostModel& model, const costmodel::Dataset& data) {
  std::vector<float> rows;
  for (size_t i = 0; i < 1000; ++i)
    rows.insert(rows.end(), data.row(i % data.rows()), data.row(i % data.rows()) + data.cols);
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
    if (keep.count(from.groups[i]))
      out.Add(std::vector<float>(from.row(i), from.row(i) + from.cols), from.costs[i], from.groups[i]);
  return out;
}

// The command line's checks, and the logs imported into the store it opens.
StatusOr<std::unique_ptr<db::Store>> OpenTrainingStore(const TrainModelOptions& o) {
  PT_RETURN_IF_ERROR(o.model.Validate());
  PT_RETURN_IF_ERROR(o.train.Validate());
  PT_RETURN_IF_ERROR(CheckKs(o.ks, o.repeats));
  if (!(o.hold_out >= 0 && o.hold_out < 1))
    return InvalidArgument("--hold-out must be in [0, 1), got " + std::to_string(o.hold_out));
  if (!o.op.empty()) PT_RETURN_IF_ERROR(compiler::FindTemplate(o.op).status());
  if (o.logs.empty() && !db::StoreExists(o.db))
    return NotFound("no store at '" + o.db + "' (and no --log to fill one)");
  for (const auto& log : o.logs)
    if (!FileExists(log)) return NotFound("cannot read '" + log + "'");
  PT_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> store, tuner::OpenStore(o.db));
  for (const auto& log : o.logs) {
    PT_ASSIGN_OR_RETURN(db::ImportStats stats, tuner::ImportLogFile(*store, log));
    std::printf("imported %lld records from %s (%lld already there)\n", static_cast<long long>(stats.imported),
                log.c_str(), static_cast<long long>(stats.duplicates));
  }
  return store;
}

// Whole workloads held out, drawn with the seed: the training and the test groups.
struct Split {
  std::set<int> train, test;
  std::string op_list, held_names;
  std::vector<std::string> held_list;
};

StatusOr<Split> HoldOut(const tuner::RecordFeatures& rf, double hold_out, uint64_t seed) {
  const int groups = static_cast<int>(rf.workload_keys.size());
  std::vector<int> order(groups);
  for (int g = 0; g < groups; ++g) order[g] = g;
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  int held = hold_out > 0 ? std::max(1, static_cast<int>(std::lround(hold_out * groups))) : 0;
  held = std::min(held, groups - 2);
  if (groups < 2 || held < 0)
    return InvalidArgument(
        "train-model needs records of at least two workloads (two more than it holds out), "
        "the store has " +
        std::to_string(groups));
  Split s;
  s.test = std::set<int>(order.begin(), order.begin() + held);
  s.train = std::set<int>(order.begin() + held, order.end());
  for (int g : s.test) {
    s.held_names += (s.held_names.empty() ? "" : ", ") + rf.workload_names[g];
    s.held_list.push_back(rf.workload_names[g]);
  }
  std::set<std::string> ops;
  for (int g : s.train) ops.insert(rf.workload_ops[g]);
  for (const auto& op : ops) s.op_list += (s.op_list.empty() ? "" : ", ") + op;
  return s;
}

// Few-shot metrics on the held-out workloads, printed and into `metrics`.
Status EvaluateHeldOut(const TrainModelOptions& o, const costmodel::Dataset& test, int held, const std::string& blob,
                       nlohmann::json& metrics) {
  costmodel::ModelMaker make = [&]() { return costmodel::LoadNeuralModel(blob, "", o.model); };
  PT_ASSIGN_OR_RETURN(auto few, costmodel::EvaluateFewShot(test, make, o.ks, o.repeats, o.model.seed));
  std::printf("few-shot on the %d held-out workloads (adapt on k records of each, score the rest; %d repeats):\n", held,
              o.repeats);
  PrintFewShotHeader();
  for (const auto& r : few) {
    PrintFewShot(o.train.method, r, nullptr);
    metrics["held_out_k" + std::to_string(r.k)] = nlohmann::json::parse(costmodel::MetricsJson(r.mean));
  }
  return OkStatus();
}

int RunTrainModel(const TrainModelOptions& o) {
  auto store = OpenTrainingStore(o);
  if (!store.ok()) return Fail(store.status());
  auto tr = RecordsOfTarget(**store, o.db, o.target, o.threads, o.op);
  if (!tr.ok()) return Fail(tr.status(), tr.status().code() == StatusCode::kInternal ? 1 : 2);
  if (!tr->note.empty()) std::printf("%s\n", tr->note.c_str());
  tuner::RecordFeatures rf = tuner::FeaturesOfRecords(tr->records, {}, o.feature_cache ? store->get() : nullptr);
  PrintFeatureStats(rf, tr->target);
  auto split = HoldOut(rf, o.hold_out, o.model.seed);
  if (!split.ok()) return Fail(split.status());
  const int held = static_cast<int>(split->test.size());
  costmodel::Dataset train = Subset(rf.data, split->train), test = Subset(rf.data, split->test);
  std::printf("training (%s) on %zu records of %zu workloads (%s)%s%s\n", o.train.method.c_str(), train.rows(),
              split->train.size(), split->op_list.c_str(), held > 0 ? "; held out: " : "", split->held_names.c_str());

  costmodel::NeuralTrainOptions t = o.train;
  t.log = [](const std::string& line) {
    std::printf("  %s\n", line.c_str());
    std::fflush(stdout);
  };
  if (t.log_every == 0) t.log_every = std::max(1, (t.method == "meta" ? t.meta_iterations : t.steps) / 10);
  char training_set[512];
  std::snprintf(training_set, sizeof(training_set), "train-model %s: %zu records of %zu workloads (%s) on target %s",
                o.train.method.c_str(), train.rows(), split->train.size(), split->op_list.c_str(),
                tr->target.Key().c_str());
  auto start = std::chrono::steady_clock::now();
  auto model = costmodel::TrainNeuralModel(train, o.model, t, tr->target.Key(), training_set);
  if (!model.ok()) return Fail(model.status(), model.status().code() == StatusCode::kInvalidArgument ? 2 : 1);
  double train_seconds = Since(start);
  double peak_mb = PeakRssMb();
  std::printf("trained in %.1f s (%d thread%s); peak memory of the process %.0f MB\n", train_seconds, o.model.threads,
              o.model.threads == 1 ? "" : "s", peak_mb);
  auto inference = InferenceMsPer1000(**model, rf.data);
  if (!inference.ok()) return Fail(inference.status(), 1);
  std::printf("inference: %.2f ms per 1,000 candidates (median of 11, %d thread%s)\n", *inference, o.model.threads,
              o.model.threads == 1 ? "" : "s");

  nlohmann::json metrics = {{"train_seconds", train_seconds},
                            {"peak_rss_mb", peak_mb},
                            {"inference_ms_per_1000", *inference},
                            {"held_out_workloads", split->held_list}};
  auto blob = (*model)->Save();
  if (!blob.ok()) return Fail(blob.status(), 1);
  if (held > 0)
    if (Status s = EvaluateHeldOut(o, test, held, *blob, metrics); !s.ok()) return Fail(s, 1);
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

}  // namespace

void AddTrainModel(Commands& commands) {
  auto o = std::make_shared<TrainModelOptions>();
  CLI::App* cmd = commands.app().add_subcommand(
      "train-model",
      "train the neural cost model on the store's records (meta-training by default), report "
      "few-shot metrics on held-out workloads and save it in the store");
  cmd->add_option(
      "--db", o->db,
      "the store (SQLite file or postgresql:// URL): records from it, the model into it (default ./priortune.db)");
  cmd->add_option("--log", o->logs, "tuning logs (.jsonl or .jsonl.gz) to import into the store first");
  cmd->add_option("--target", o->target,
                  "whose records (host, a CPU name or target JSON; default: the host's if the store has them, "
                  "else the target with the most records)");
  cmd->add_option("--threads", o->threads, "the thread count of the records' target (default 1)");
  cmd->add_option("--op", o->op, "only this op's records (default: all)");
  cmd->add_option("--hold-out", o->hold_out,
                  "share of workloads held out of training for the few-shot metrics (default 0.2; 0: none)");
  cmd->add_option("--ks", o->ks, "k values of the few-shot metrics (default 0,8,16,32,64)")->delimiter(',');
  cmd->add_option("--repeats", o->repeats, "random draws of k records per held-out workload (default 3)");
  cmd->add_option("--method", o->train.method, "meta (joint pretraining, then Reptile; default) | joint");
  cmd->add_option("--steps", o->train.steps, "joint (pre)training steps (default 3000)")->group("Training");
  cmd->add_option("--lr", o->train.lr, "joint training learning rate (default 7e-4)")->group("Training");
  cmd->add_option("--meta-iterations", o->train.meta_iterations, "Reptile iterations (default 600)")->group("Training");
  cmd->add_option("--meta-batch", o->train.meta_batch, "tasks per Reptile iteration (default 4)")->group("Training");
  cmd->add_option("--meta-lr", o->train.meta_lr, "Reptile step size, annealed to 0 (default 0.1)")->group("Training");
  cmd->add_option("--support", o->train.support_size, "Reptile support set: 8 to this many records (default 32)")
      ->group("Training");
  cmd->add_option("--hidden", o->model.hidden, "network width (default 128)")->group("Training");
  cmd->add_option("--loss", o->model.loss, "lambdarank (default) | pairwise")->group("Training");
  cmd->add_option("--adapt-steps", o->model.adapt_steps, "Adam steps of an adaptation to a task's samples (default 20)")
      ->group("Training");
  cmd->add_option("--adapt-lr", o->model.adapt_lr, "adaptation learning rate (default 3e-4)")->group("Training");
  cmd->add_option("--adapt-scope", o->model.adapt_scope,
                  "what adaptation changes: all (default) | head (the decoder; the slot encoder stays)")
      ->group("Training");
  cmd->add_option("--train-threads", o->model.threads, "LibTorch threads while training (default 1)")
      ->group("Training");
  cmd->add_option("--seed", o->model.seed, "seed of the split, the weights and the sampling (default 1)");
  cmd->add_flag("!--no-feature-cache", o->feature_cache,
                "lower every record again instead of reading (and filling) the store's feature cache");
  cmd->add_option("--out", o->out, "also write the model to this file (data/models/*.ptm is shipped)");
  commands.Add(cmd, [o] { return RunTrainModel(*o); });
}

}  // namespace priortune::server::cli
